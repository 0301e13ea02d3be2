/**
 * The tcpdump and ngrep habits the commands share (a helper module, not a command): `-r FILE` next to the
 * positional FILE, tcpdump's -t letters, and telling a capture file from a filter expression among the
 * positional words.
 */
import * as fs from 'node:fs';
import { UsageError, type ParsedArgs } from './cli';
import { countLetterFlag, tcpdumpTimeStyle, TimeFormatter } from '../lib/core/time';

/** File names that are captures even when they do not exist (so a typo gets "no such file", not a filter error). */
const CAPTURE_NAME = /\.(pcap|pcapng|cap|dmp|pcap\.gz|pcapng\.gz)$/i;

/** True when `word` names the capture input: '-', an existing file or directory, or a capture file name. */
export function looksLikeFile(word: string): boolean {
  return word === '-' || CAPTURE_NAME.test(word) || fs.existsSync(word);
}

/**
 * The input of a command that reads one capture: `-r FILE` (tcpdump) or the positional FILE; both is a
 * usage error. `words` are the positional words; returns undefined for stdin.
 */
export function inputFile(args: ParsedArgs, words: readonly string[], usage: string): string | undefined {
  const r = typeof args.r === 'string' ? args.r : undefined;
  if (r !== undefined && words.length > 0) throw new UsageError(`give the FILE once: -r ${r} or ${words[0]}`, usage);
  if (words.length > 1) throw new UsageError('at most one FILE', usage);
  return r ?? words[0];
}

/**
 * tcpdump's form: `[-r FILE] [EXPRESSION ...]`, and ours: `[FILE] [EXPRESSION ...]`. Without -r, a first
 * word that looks like a file (see looksLikeFile) is the FILE; the other words are the filter expression.
 */
export function fileAndExpression(args: ParsedArgs, words: readonly string[]): { file: string | undefined; expression: string | undefined } {
  let file = typeof args.r === 'string' ? args.r : undefined;
  let rest = [...words];
  if (file === undefined && rest.length > 0 && looksLikeFile(rest[0] as string)) {
    file = rest[0];
    rest = rest.slice(1);
  }
  const expression = rest.join(' ').trim();
  return { file, expression: expression === '' ? undefined : expression };
}

/** The time formatter for tcpdump's -t letters as given in argv (time of day when none). */
export function timeFormatterFrom(argv: readonly string[]): TimeFormatter {
  return new TimeFormatter(tcpdumpTimeStyle(countLetterFlag(argv, 't')));
}
