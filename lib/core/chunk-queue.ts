/**
 * A FIFO of byte chunks from which exact byte counts are taken: the input queue of an incremental parser
 * that reads fixed-size fields out of captured segments without copying when a field lies in one segment.
 */

/** A FIFO of captured chunks from which exact byte counts are taken (views when possible). */
export class ChunkQueue {
  private _chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this._chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Takes n bytes (n <= length): a view when they lie in one chunk, else a new buffer. */
  take(n: number): Buffer {
    this.length -= n;
    const first = this._chunks[0]!;
    if (n === first.length) {
      this._chunks.shift();
      return first;
    }
    if (n < first.length) {
      this._chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this._chunks[0]!;
      const want = n - filled;
      if (chunk.length <= want) {
        chunk.copy(out, filled);
        filled += chunk.length;
        this._chunks.shift();
      } else {
        chunk.copy(out, filled, 0, want);
        this._chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    return out;
  }

  /** Drops n bytes (n <= length) without copying them. */
  discard(n: number): void {
    this.length -= n;
    while (n > 0) {
      const first = this._chunks[0]!;
      if (first.length <= n) {
        n -= first.length;
        this._chunks.shift();
      } else {
        this._chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  clear(): void {
    this._chunks = [];
    this.length = 0;
  }
}
