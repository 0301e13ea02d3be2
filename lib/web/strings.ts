/**
 * Strings the web view's table keeps for every row of a file (up to FILE_MAX_ROWS of them), made to cost
 * their own characters only.
 *
 * The HTTP parser's strings are slices of the message's whole header block (lib/http/head.ts reads it as
 * one latin1 string): a row holding its url or host that way keeps the whole block, a few hundred bytes,
 * alive with it. And a method, a reason phrase or a content type is one string per message though a
 * capture has a handful of them. On the 1M packet bench capture (61,792 rows) that was about 15 MiB of
 * header blocks and 5 MiB of copies, growing with the file.
 */

/** A copy of `s` that does not keep the string it was sliced from (same characters). */
export function ownString(s: string): string {
  // The concatenation is flattened into a new string by slice(); the result is (a slice of) that copy.
  return (' ' + s).slice(1);
}

/** One copy of each distinct string, for the few values many rows share; at most `max` distinct ones. */
export class StringPool {
  private readonly map = new Map<string, string>();

  constructor(private readonly max = 4096) {}

  get(s: string): string {
    const kept = this.map.get(s);
    if (kept !== undefined) return kept;
    // A capture with more distinct values than that (hosts of a proxy's log) starts a new pool: a string
    // is then at worst kept by its rows and here, never more than `max` here.
    if (this.map.size >= this.max) this.map.clear();
    const own = ownString(s);
    this.map.set(own, own);
    return own;
  }
}
