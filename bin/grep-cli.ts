/**
 * What `pcap-pipe grep` and network_grep share: grep's exit statuses, the matcher from the flags, and
 * stopping a file reader after -n matches. A helper module, not a command. The chain itself is runGrep()
 * in streams/trace.ts.
 */
import { CaptureError } from '../lib/core/errors';
import { compileMatcher, MATCH_EVERYTHING, type Matcher } from '../lib/grep/grep';
import type { CaptureReader } from '../streams/read';

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
