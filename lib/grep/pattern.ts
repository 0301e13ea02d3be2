/**
 * Grep patterns: a regular expression over the payload as latin1 text (one character per byte), with
 * ngrep's conventions (`.` matches newlines, POSIX bracket classes, -i, -w), or raw bytes in hex (-x).
 */
import { GrepPatternError } from '../core/errors';

export { GrepPatternError };

/** ngrep's (and Wireshark's) word characters, for -w. */
const WORD_CLASS = '[A-Za-z0-9_]';

export interface PatternOptions {
  /** The pattern is hex bytes ("474554", "0x47 45 54", "47:45:54"), matched exactly. */
  hex?: boolean;
  /** Case-insensitive (ASCII letters; regex only). */
  ignoreCase?: boolean;
  /** Match only as a whole word: not preceded or followed by [A-Za-z0-9_] (regex only). */
  word?: boolean;
}

/** Where a match is: byte offsets [start, end) in the searched buffer. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface Matcher {
  /** The pattern as given, for messages. */
  readonly source: string;
  /**
   * True when a match's end depends on the byte after it (-w): in stream mode a match that ends at the
   * end of the data seen so far waits for the next bytes (or the end of the stream) before it counts.
   */
  readonly needsRightContext: boolean;
  /** The longest match possible, when the pattern fixes it (literal and hex patterns). */
  readonly maxLength?: number;
  /** The exact bytes matched, when the pattern is a byte string (literal and hex patterns). */
  readonly needle?: Buffer;
  /** First match that starts at or after `from` in buf[0, end) (bytes before `from` are context only). */
  find(buf: Buffer, from: number, end?: number): ByteRange | null;
  /**
   * A search over one buffer for repeated finds (optional; see searcher()): what `find` prepares per
   * call (the regex's latin1 text) is prepared once, so finding every match costs the buffer's length,
   * not its length times the number of matches.
   */
  over?(buf: Buffer, end?: number): Search;
}

/** The finds over one buffer: the first match at or after `from`, or null. */
export type Search = (from: number) => ByteRange | null;

/** Repeated finds over `buf[0, end)`: the matcher's own `over` when it has one, else `find` per call. */
export function searcher(matcher: Matcher, buf: Buffer, end = buf.length): Search {
  return matcher.over ? matcher.over(buf, end) : (from) => matcher.find(buf, from, end);
}

/** Parses hex bytes: optional 0x prefix, optional spaces, colons or dashes between bytes. */
export function parseHexPattern(text: string): Buffer {
  let s = text.trim();
  if (/^0x/i.test(s)) s = s.slice(2);
  const compact = s.replace(/[\s:-]/g, '');
  if (compact.length === 0) throw new GrepPatternError('empty hex pattern');
  if (!/^[0-9a-fA-F]*$/.test(compact)) throw new GrepPatternError(`invalid hex pattern ${JSON.stringify(text)}: only hex digits (0-9, a-f) allowed`);
  if (compact.length % 2 !== 0) throw new GrepPatternError(`invalid hex pattern ${JSON.stringify(text)}: odd number of hex digits`);
  return Buffer.from(compact, 'hex');
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z', digit: '0-9', alnum: 'A-Za-z0-9', upper: 'A-Z', lower: 'a-z', space: ' \\t\\n\\v\\f\\r',
  blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', print: ' -~', graph: '!-~', cntrl: '\\x00-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f', word: 'A-Za-z0-9_',
};

/** POSIX bracket classes ([[:digit:]]) as JS ranges; an unknown class name is an error, as in POSIX. */
function translatePosixClasses(source: string): string {
  return source.replace(/\[:([a-z]+):\]/g, (_m, name: string) => {
    const js = POSIX_CLASSES[name];
    if (js === undefined) throw new GrepPatternError(`invalid regular expression ${JSON.stringify(source)}: unknown character class [:${name}:]`);
    return js;
  });
}

/** Regex characters that make a pattern more than a literal. */
const REGEX_SPECIAL = /[\\^$.|?*+()[\]{}]/;

class BytesMatcher implements Matcher {
  readonly needsRightContext = false;
  readonly maxLength: number;
  constructor(readonly source: string, readonly needle: Buffer) {
    this.maxLength = needle.length;
  }
  find(buf: Buffer, from: number, end = buf.length): ByteRange | null {
    return this.over(buf, end)(from);
  }
  over(buf: Buffer, end = buf.length): Search {
    const hay = end === buf.length ? buf : buf.subarray(0, end);
    return (from) => {
      const i = hay.indexOf(this.needle, from);
      return i < 0 ? null : { start: i, end: i + this.needle.length };
    };
  }
}

class RegexMatcher implements Matcher {
  readonly needsRightContext: boolean;
  private readonly re: RegExp;
  constructor(readonly source: string, opts: PatternOptions) {
    let body = translatePosixClasses(source);
    if (opts.word) body = `(?<!${WORD_CLASS})(?:${body})(?!${WORD_CLASS})`;
    this.needsRightContext = !!opts.word || /\(\?[=!]|\$|\\b|\\B/.test(source);
    try {
      // s: '.' matches newlines (ngrep's default multi-line match); g: iterate with lastIndex
      this.re = new RegExp(body, opts.ignoreCase ? 'gsi' : 'gs');
    } catch (e) {
      throw new GrepPatternError(`invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
    }
  }
  find(buf: Buffer, from: number, end = buf.length): ByteRange | null {
    return this.over(buf, end)(from);
  }
  /**
   * The buffer becomes text once per search, not once per find: converting it for every match made a
   * pattern that matches every byte quadratic in the payload (a 1,400-byte payload converted 1,400 times).
   */
  over(buf: Buffer, end = buf.length): Search {
    // latin1: one UTF-16 unit per byte, so string indices are byte offsets
    const text = buf.toString('latin1', 0, end);
    return (from) => {
      this.re.lastIndex = from;
      const m = this.re.exec(text);
      return m === null ? null : { start: m.index, end: m.index + m[0].length };
    };
  }
}

/** Compiles a pattern; throws GrepPatternError on an invalid regex or hex string. */
export function compileMatcher(pattern: string, opts: PatternOptions = {}): Matcher {
  if (opts.hex) {
    if (opts.ignoreCase || opts.word) throw new GrepPatternError('-i and -w cannot be used with a hex pattern');
    return new BytesMatcher(pattern, parseHexPattern(pattern));
  }
  if (pattern === '') throw new GrepPatternError('empty pattern');
  if (!opts.ignoreCase && !opts.word && !REGEX_SPECIAL.test(pattern)) return new BytesMatcher(pattern, Buffer.from(pattern, 'latin1'));
  return new RegexMatcher(pattern, opts);
}

/** ngrep without a pattern: every packet with payload matches (an empty match at its start). */
export const MATCH_EVERYTHING: Matcher = Object.freeze({
  source: '',
  needsRightContext: false,
  find(buf: Buffer, from: number, end = buf.length): ByteRange | null {
    return from <= end ? { start: from, end: from } : null;
  },
});

/** Every non-overlapping, non-empty match in buf (and a single empty one if that is all there is). */
export function findAll(matcher: Matcher, buf: Buffer): ByteRange[] {
  return findMatches(matcher, buf, Infinity).ranges;
}

/**
 * As findAll, but at most `max` ranges are kept: the matches after them are only counted (`more`).
 * One pass over the buffer whatever the number of matches.
 */
export function findMatches(matcher: Matcher, buf: Buffer, max: number): { ranges: ByteRange[]; more: number } {
  const ranges: ByteRange[] = [];
  let more = 0;
  const find = searcher(matcher, buf);
  let from = 0;
  while (from <= buf.length) {
    const m = find(from);
    if (m === null) break;
    if (m.end === m.start) {
      if (ranges.length === 0 && from === 0 && max > 0) ranges.push(m);
      from = m.start + 1;
      continue;
    }
    if (ranges.length < max) ranges.push(m);
    else more++;
    from = m.end;
  }
  return { ranges, more };
}
