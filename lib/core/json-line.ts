/**
 * The one JSON writer for everything printed as JSON (NDJSON lines, `info --json`, `devices --json`).
 *
 * JSON.stringify already escapes C0 controls, quotes and lone surrogates, but leaves DEL, the C1
 * controls (U+0080..U+009F: U+009B is a one-byte CSI that some terminals act on) and the line/paragraph
 * separators U+2028/U+2029 (line breaks for JavaScript and some log viewers) raw. Captured text reaches
 * these strings, so they are escaped too; the output stays valid JSON meaning the same values.
 * BigInt values (exact 64-bit counters and lengths) become numbers when they are safe integers and
 * decimal strings beyond 2^53, never a rounded float.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g;

function escapeUnsafe(c: string): string {
  return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
}

function exactBigInt(_key: string, value: unknown): unknown {
  if (typeof value !== 'bigint') return value;
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** `value` as JSON text safe for a terminal (no raw control or separator characters). */
export function jsonText(value: unknown, indent?: number): string {
  let text: string | undefined;
  try {
    // Without a replacer V8 serialises on its fast path; with one it calls back into JS for every value
    // (measured: 15 % of an NDJSON http_trace run). Values that hold a BigInt make the plain call throw
    // and take the replacer (which changes nothing else, so the text is the same either way).
    text = JSON.stringify(value, undefined, indent);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    text = JSON.stringify(value, exactBigInt, indent);
  }
  if (text === undefined) return 'null';
  // Most lines are ASCII: then DEL is the only character to escape. Counting UTF-8 bytes and looking for
  // DEL is faster than the regex's scan (measured on the bench capture's 116k NDJSON lines: 17-47 ms vs
  // 94-115 ms a pass). Same text either way: a character >= U+0080 makes the UTF-8 length exceed the
  // length (JSON.stringify has escaped lone surrogates already).
  if (Buffer.byteLength(text, 'utf8') === text.length && !text.includes('\x7f')) return text;
  // Outside strings JSON text is ASCII, so every match is inside a string literal.
  return text.replace(UNSAFE_IN_JSON, escapeUnsafe);
}

/** One NDJSON line: jsonText(value) and a newline. */
export function jsonLine(value: unknown): string {
  return jsonText(value) + '\n';
}

/** A length or counter as an exact JSON value: a number up to 2^53, a decimal string beyond. */
export function exactInteger(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}
