/**
 * What `pcap-pipe grep` and network_grep share: grep's exit statuses, the matcher from the flags, and
 * stopping a file reader after -n matches. A helper module, not a command. The chain itself is runGrep()
 * in streams/trace.ts.
 */
import { CaptureError } from '../lib/core/errors';
import { compileMatcher, MATCH_EVERYTHING, type Matcher } from '../lib/grep/pattern';
import type { CaptureReader } from '../streams/read';
import { TimeFormatter } from '../lib/core/time';
import type { PayloadLayout } from '../lib/grep/report';
import { UsageError, type ParsedArgs } from './cli';

/** The help lines of ngrep's text letters, shared by network_grep and `pcap-pipe grep`. */
export const NGREP_TEXT_HELP = `  -W MODE     payload layout, as ngrep: normal (lines split at LF, CR shown as \\x0d), byline
              (CR LF ends a line: the lines read as lines), single (the packet on one line)
  -t          print each packet's time as YYYY/MM/DD HH:MM:SS.UUUUUU (local time, as ngrep -t)
  -T          print the time since the previous match as +S.UUUUUU (as ngrep -T)
              (neither: local time of day HH:MM:SS.UUUUUU, like tcpdump)`;

/** ngrep's -W, -t, -T from parsed arguments. */
export function ngrepTextOptions(args: ParsedArgs, usage: string): { layout: PayloadLayout; time: TimeFormatter } {
  const w = args.W === undefined ? 'normal' : String(args.W);
  if (w !== 'normal' && w !== 'byline' && w !== 'single') throw new UsageError(`-W takes normal, byline or single, not ${JSON.stringify(w)}`, usage);
  if (args.t && args.T) throw new UsageError('give -t or -T, not both', usage);
  return { layout: w, time: new TimeFormatter(args.t ? 'ngrep-date' : args.T ? 'ngrep-delta' : 'time') };
}

/** Exit status when nothing was selected (grep's convention). */
export const EXIT_NO_MATCH = 1;
/** Exit status for usage errors, bad patterns, unreadable input. */
export const EXIT_ERROR = 2;

/** Builds the matcher, turning a bad pattern into a message and exit status 2 for the caller. */
export function matcherFrom(pattern: string | undefined, hex: boolean, ignoreCase: boolean, word: boolean): Matcher {
  if (pattern === undefined) return MATCH_EVERYTHING;
  return compileMatcher(pattern, { hex, ignoreCase, word });
}

/** -n reached: the reader ends as if its input had ended (no error), so the pipeline flushes. */
export function stopReader(reader: CaptureReader): void {
  if (reader.failure) return;
  reader.failure = new CaptureError('PCAP_TRUNCATED', 'stopped after -n matches'); // ignore the rest of the input
  reader.push(null);
  process.stdin.unpipe(reader);
  process.stdin.pause();
}
