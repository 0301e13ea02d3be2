/**
 * The progress line of a command reading a capture (issue #15: "long work shows progress"): when it is
 * shown, what it says, and how often it is redrawn. Pure: the clock is passed in, so tests drive it with a
 * fake one. The stream side (a timer, the terminal, stderr) is streams/progress.ts.
 *
 *   pcap-pipe read: 12.3 MiB / 100.0 MiB  12%  81.2 k packets  45.2 k packets/s  ETA 0:07
 *   pcap-pipe read: 12.3 MiB  81.2 k packets  45.2 k packets/s          (stdin of unknown size)
 */

/** Where the command runs, for the decision to show the line. */
export interface ProgressSituation {
  /** -q / --quiet. */
  quiet: boolean;
  /** stderr is a terminal: the line goes there. */
  stderrIsTTY: boolean;
  /** stdout is a terminal and the command writes its output there (false with -w FILE, -o DIR). */
  stdoutIsTTY: boolean;
  /** stdout and stderr are the same terminal (a line redrawn in place would garble the output). */
  sameTerminal: boolean;
}

/**
 * Shown only on a terminal's stderr, never with -q, and never when the output goes to that same terminal
 * (as pv: the line would be torn apart by the lines printed): `cmd f.pcap > out`, `cmd f.pcap | less`.
 */
export function progressWanted(s: ProgressSituation): boolean {
  return !s.quiet && s.stderrIsTTY && !(s.stdoutIsTTY && s.sameTerminal);
}

/** How far the reading got. */
export interface ProgressSample {
  /** Input bytes read (and parsed) so far. */
  bytes: number;
  packets: number;
}

export interface ProgressView extends ProgressSample {
  /** Input size in bytes, when known (a file; not a pipe). */
  total: number | undefined;
  /** Bytes and packets per second over the recent window; undefined until there is a time span. */
  bytesPerSecond: number | undefined;
  packetsPerSecond: number | undefined;
}

/** "812 B", "1.5 KiB", "12.3 MiB", "1.02 GiB": binary units, three significant digits from KiB on. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.max(0, Math.floor(n))} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** "950", "45.2 k", "1.23 M": counts and rates with SI prefixes, three significant digits. */
export function formatCount(n: number): string {
  if (n < 1000) return String(Math.max(0, Math.round(n)));
  const prefixes = ['k', 'M', 'G', 'T'];
  let v = n / 1000;
  let p = 0;
  while (v >= 999.5 && p < prefixes.length - 1) { v /= 1000; p++; }
  return `${v >= 99.95 ? v.toFixed(0) : v >= 9.995 ? v.toFixed(1) : v.toFixed(2)} ${prefixes[p]}`;
}

/** "0:07", "12:34", "1:02:03": whole seconds, rounded up (an ETA of 0:00 with work left would be wrong). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** The line for a view, cut to `width` columns (the terminal's; a line that wraps cannot be redrawn with \r). */
export function formatProgress(name: string, v: ProgressView, width = 80): string {
  const parts: string[] = [];
  if (v.total !== undefined && v.total > 0) {
    const bytes = Math.min(v.bytes, v.total);
    parts.push(`${formatBytes(bytes)} / ${formatBytes(v.total)}`, `${Math.floor((bytes / v.total) * 100)}%`);
  } else {
    parts.push(formatBytes(v.bytes));
  }
  parts.push(`${formatCount(v.packets)} packets`);
  if (v.packetsPerSecond !== undefined) parts.push(`${formatCount(v.packetsPerSecond)} packets/s`);
  if (v.total !== undefined && v.total > 0) {
    const left = Math.max(0, v.total - v.bytes);
    parts.push(`ETA ${v.bytesPerSecond !== undefined && v.bytesPerSecond > 0 ? formatDuration(left / v.bytesPerSecond) : '?'}`);
  }
  const line = `${name}: ${parts.join('  ')}`;
  return width > 1 && line.length > width - 1 ? line.slice(0, width - 1) : line;
}

/** Redraws at most this often: ~4 times a second. */
export const PROGRESS_INTERVAL_MS = 250;
/** Rates are measured over the last few seconds, so they follow the input's pace (and the ETA with them). */
export const PROGRESS_WINDOW_MS = 5000;

interface TimedSample extends ProgressSample { t: number }

/**
 * Decides when to redraw and with what rates. `update(now, sample)` returns the view to draw, or null when
 * the last draw is less than `intervalMs` ago (the first one comes `intervalMs` after the start, so a short
 * run shows nothing).
 */
export class ProgressMeter {
  private readonly samples: TimedSample[];
  private lastDraw: number;

  constructor(
    private readonly total: number | undefined,
    start: number,
    private readonly intervalMs = PROGRESS_INTERVAL_MS,
    private readonly windowMs = PROGRESS_WINDOW_MS,
  ) {
    this.samples = [{ t: start, bytes: 0, packets: 0 }];
    this.lastDraw = start;
  }

  update(now: number, sample: ProgressSample): ProgressView | null {
    if (now - this.lastDraw < this.intervalMs) return null;
    this.lastDraw = now;
    this.samples.push({ t: now, bytes: sample.bytes, packets: sample.packets });
    // keep the newest sample at least windowMs old as the base of the rates
    while (this.samples.length > 2 && now - (this.samples[1] as TimedSample).t >= this.windowMs) this.samples.shift();
    const base = this.samples[0] as TimedSample;
    const dt = (now - base.t) / 1000;
    return {
      bytes: sample.bytes,
      packets: sample.packets,
      total: this.total,
      bytesPerSecond: dt > 0 ? (sample.bytes - base.bytes) / dt : undefined,
      packetsPerSecond: dt > 0 ? (sample.packets - base.packets) / dt : undefined,
    };
  }
}
