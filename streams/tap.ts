/**
 * A stage that lets every item through unchanged (arrays stay arrays) and shows each to a function: how
 * the closing counts of a trace (lib/trace/summary.ts) see the decoded packets without a stage of their own
 * in the output's path. Only put in a chain when something counts.
 */
import { Transform, type TransformCallback } from 'node:stream';

export class Tap<T> extends Transform {
  constructor(private readonly see: (item: T) => void) {
    // small: the stage holds nothing; the queues before and after it do the buffering
    super({ objectMode: true, highWaterMark: 2 });
  }

  override _transform(chunk: T | T[], _enc: BufferEncoding, cb: TransformCallback): void {
    if (Array.isArray(chunk)) for (let i = 0; i < chunk.length; i++) this.see(chunk[i] as T);
    else this.see(chunk);
    cb(null, chunk);
  }

  /** Synchronous use (a sharded run's workers; see BatchTransform.runSync): sees the item, passes it on. */
  runSync(item: T, next: (out: T) => void): void {
    this.see(item);
    next(item);
  }

  finishSync(): void {
    // holds nothing
  }
}

export function tap<T>(see: (item: T) => void): Tap<T> {
  return new Tap(see);
}
