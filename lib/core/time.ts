/**
 * Packet times as the command-line tools print them: tcpdump's -t letters (time of day by default, -t none,
 * -tt epoch, -ttt delta from the previous packet, -tttt date and time, -ttttt delta from the first packet)
 * and ngrep's -t (date and time) / -T (delta from the previous match). Local time, as tcpdump and ngrep
 * print it: set TZ to choose the zone. Microseconds, as tcpdump prints them by default (libpcap hands it
 * microseconds, truncated, even from a nanosecond file); NDJSON keeps the full nanoseconds elsewhere.
 */

/**
 * How times are printed:
 *  'time' HH:MM:SS.ffffff (tcpdump's default), 'none' (-t), 'epoch' SECONDS.ffffff (-tt),
 *  'delta' " HH:MM:SS.ffffff" since the previous packet (-ttt; sign or space first, as tcpdump), 'date'
 *  YYYY-MM-DD HH:MM:SS.ffffff (-tttt), 'since-first' " HH:MM:SS.ffffff" since the first packet (-ttttt),
 *  'ngrep-date' YYYY/MM/DD HH:MM:SS.ffffff (ngrep -t), 'ngrep-delta' +SECONDS.ffffff since the previous (ngrep -T).
 */
export type TimeStyle = 'time' | 'none' | 'epoch' | 'delta' | 'date' | 'since-first' | 'ngrep-date' | 'ngrep-delta';

/** The style for tcpdump's -t given N times (0: time of day). More than five is the same as five. */
export function tcpdumpTimeStyle(count: number): TimeStyle {
  const styles: TimeStyle[] = ['time', 'none', 'epoch', 'delta', 'date', 'since-first'];
  return styles[Math.max(0, Math.min(count, styles.length - 1))] as TimeStyle;
}

/** The help lines for tcpdump's -t letters, the descriptions starting at `column` (as in the command's usage). */
export function tcpdumpTimeHelp(column = 16, what = 'packet'): string {
  const pad = ' '.repeat(column);
  return [
    `  ${'-t'.padEnd(column - 2)}no time;  -tt  seconds since the epoch;  -ttt  delta from the previous ${what};`,
    `${pad}-tttt  date and time of day;  -ttttt  delta from the first ${what}`,
    `${pad}(default: local time of day HH:MM:SS.ffffff, like tcpdump; TZ chooses the zone)`,
  ].join('\n');
}

const two = (n: number): string => (n < 10 ? '0' : '') + String(n);
const six = (n: number): string => String(n).padStart(6, '0');

/** Microseconds since the epoch as a bigint (nanoseconds truncated, as libpcap does). */
function micros(tsSec: number, tsNsec: number): bigint {
  return BigInt(tsSec) * 1_000_000n + BigInt(Math.floor(tsNsec / 1000));
}

/** A duration as tcpdump -ttt prints it: " HH:MM:SS.ffffff" (hours not wrapped at 24), the sign "-" or a space. */
export function formatDuration(us: bigint): string {
  const sign = us < 0n ? '-' : ' ';
  const a = us < 0n ? -us : us;
  const sec = a / 1_000_000n;
  const h = sec / 3600n;
  const m = Number((sec / 60n) % 60n);
  const s = Number(sec % 60n);
  return `${sign}${h < 10n ? '0' : ''}${h}:${two(m)}:${two(s)}.${six(Number(a % 1_000_000n))}`;
}

/**
 * Formats packet times in one style. Stateful: the delta styles remember the previous (or first) time, so
 * use one formatter per output and call it once per printed packet, in order.
 */
export class TimeFormatter {
  readonly style: TimeStyle;
  private previous: bigint | undefined;
  // consecutive packets mostly share their second: the local date/time text is made once per second
  private cachedSec = NaN;
  private cachedText = '';

  constructor(style: TimeStyle = 'time') {
    this.style = style;
  }

  /** The time text (no trailing space); "" for 'none'. */
  format(tsSec: number, tsNsec: number): string {
    const usec = Math.floor(tsNsec / 1000);
    switch (this.style) {
      case 'none': return '';
      case 'time': return `${this.local(tsSec, false)}.${six(usec)}`;
      case 'date': return `${this.local(tsSec, true)}.${six(usec)}`;
      case 'ngrep-date': return `${this.local(tsSec, true).replace(/-/g, '/')}.${six(usec)}`;
      case 'epoch': return `${tsSec}.${six(usec)}`;
      case 'delta': case 'since-first': case 'ngrep-delta': return this.delta(micros(tsSec, tsNsec));
    }
  }

  /** The same for a timestamp text as the events carry it: seconds with up to 9 decimals ("1320329757.458867000"). */
  formatText(ts: string): string {
    const ns = textToNanos(ts);
    if (ns === undefined) return ts; // not a timestamp: shown as it is
    const sec = ns / 1_000_000_000n;
    const rem = ns % 1_000_000_000n;
    // floor division, so -0.5 s is second -1 plus 500 ms, as records store it
    return rem < 0n ? this.format(Number(sec - 1n), Number(rem + 1_000_000_000n)) : this.format(Number(sec), Number(rem));
  }

  private delta(now: bigint): string {
    const base = this.previous ?? now;
    if (this.style !== 'since-first' || this.previous === undefined) this.previous = now;
    const d = now - base;
    if (this.style !== 'ngrep-delta') return formatDuration(d);
    const a = d < 0n ? -d : d;
    return `${d < 0n ? '-' : '+'}${a / 1_000_000n}.${six(Number(a % 1_000_000n))}`;
  }

  /** "HH:MM:SS" or "YYYY-MM-DD HH:MM:SS" in local time (the TZ environment variable's zone). */
  private local(tsSec: number, withDate: boolean): string {
    const key = withDate ? -tsSec - 1 : tsSec; // separate cache keys for the two forms
    if (key === this.cachedSec) return this.cachedText;
    const d = new Date(tsSec * 1000);
    let text = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    if (withDate) text = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${text}`;
    this.cachedSec = key;
    this.cachedText = text;
    return text;
  }
}

/** "SECONDS[.FRACTION]" as nanoseconds, or undefined when it is not such a text. */
function textToNanos(ts: string): bigint | undefined {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(ts);
  if (m === null) return undefined;
  const ns = BigInt(m[2] as string) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] === '-' ? -ns : ns;
}

/** Counts how many times a letter flag was given in argv ("-ttt", "-t -t", "-nttt" all count). */
export function countLetterFlag(argv: readonly string[], letter: string): number {
  let n = 0;
  for (const a of argv) {
    if (a === '--') break;
    if (/^-[A-Za-z]+$/.test(a)) for (const c of a.slice(1)) if (c === letter) n++;
  }
  return n;
}
