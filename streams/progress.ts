/**
 * The progress line on stderr while a command reads a capture (the logic, what it says and when, is in
 * lib/core/progress.ts). A hook rather than a stage: the commands' readers count their bytes and packets
 * (CaptureReader.bytes/.packets) and a timer samples them ~4 times a second, so nothing is added on the
 * packets' path. A reader that blocks the event loop (pcap-pipe read's synchronous copy) calls tick().
 *
 * While the line is drawn, anything else written to stderr (a damaged input's line, a warning) first
 * clears it, and it is redrawn at the next tick; stop() (and the process's exit) clears it for good.
 */
import * as fs from 'node:fs';
import { descriptorPosition } from './read';
import { formatProgress, ProgressMeter, progressWanted, type ProgressSample } from '../lib/core/progress';

/** ANSI: carriage return and erase to the end of the line. */
const CLEAR = '\r\x1b[K';

export interface ProgressOptions {
  /** The command's name, the line's prefix. */
  name: string;
  /** Input size in bytes; undefined when unknown (a pipe): no % and no ETA then. */
  total: number | undefined;
  /** Bytes read and packets so far. */
  sample: () => ProgressSample;
  /** -q. */
  quiet: boolean;
  /** False when the command's output does not go to stdout (-w FILE, -o DIR): a terminal there is no reason to hide. */
  stdoutUsed?: boolean;
}

export interface Progress {
  /** Redraws when due (for readers that keep the event loop busy; the timer does it otherwise). */
  tick(): void;
  /** Clears the line and stops the timer. */
  stop(): void;
}

const NONE: Progress = { tick: () => undefined, stop: () => undefined };

/** True when descriptors 1 and 2 are the same terminal (or that cannot be told: then assume so). */
function sameTerminal(): boolean {
  try {
    const a = fs.fstatSync(1);
    const b = fs.fstatSync(2);
    return a.rdev === b.rdev && a.ino === b.ino;
  } catch {
    return true;
  }
}

/** Whether a progress line would be shown now, for these options (see progressWanted). */
export function progressShown(quiet: boolean, stdoutUsed = true): boolean {
  const stderrIsTTY = process.stderr.isTTY === true;
  const stdoutIsTTY = stdoutUsed && process.stdout.isTTY === true;
  return progressWanted({ quiet, stderrIsTTY, stdoutIsTTY, sameTerminal: stdoutIsTTY && stderrIsTTY && sameTerminal() });
}

/**
 * The size of a capture input: a file's size, stdin's when it is a regular file (from where its offset
 * is), undefined for a pipe, a terminal or anything that cannot be told.
 */
export function inputSize(path: string | undefined): number | undefined {
  try {
    if (path !== undefined && path !== '-') {
      const st = fs.statSync(path);
      return st.isFile() ? st.size : undefined;
    }
    const st = fs.fstatSync(0);
    if (!st.isFile()) return undefined;
    return Math.max(0, st.size - (descriptorPosition(0) ?? 0));
  } catch {
    return undefined;
  }
}

/** Starts the progress line when it is wanted (see progressShown); a handle that does nothing otherwise. */
export function startProgress(opts: ProgressOptions): Progress {
  if (!progressShown(opts.quiet, opts.stdoutUsed ?? true)) return NONE;
  const stderr = process.stderr;
  const meter = new ProgressMeter(opts.total, Date.now());
  let drawn = false;
  let stopped = false;
  const ownWrite = stderr.write;
  // others' stderr lines clear the line first, so they start at column 0 and are not overwritten
  const write = function (this: unknown, ...args: unknown[]): boolean {
    if (drawn) { drawn = false; ownWrite.call(stderr, CLEAR); }
    return (ownWrite as (...a: unknown[]) => boolean).apply(stderr, args);
  };
  stderr.write = write as typeof stderr.write;
  const draw = (): void => {
    if (stopped) return;
    const view = meter.update(Date.now(), opts.sample());
    if (view === null) return;
    // written synchronously: a blocked event loop (the synchronous copy) would otherwise hold the line back
    try {
      fs.writeSync(2, `\r${formatProgress(opts.name, view, stderr.columns ?? 80)}\x1b[K`);
      drawn = true;
    } catch { /* a terminal gone: nothing to show it on */ }
  };
  const timer = setInterval(draw, 50);
  timer.unref();
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    process.off('exit', stop);
    if (stderr.write === write) stderr.write = ownWrite;
    if (drawn) {
      drawn = false;
      try { fs.writeSync(2, CLEAR); } catch { /* as above */ }
    }
  };
  process.on('exit', stop);
  return { tick: draw, stop };
}
