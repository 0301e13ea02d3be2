/**
 * Merges the output of the workers of a sharded run (`--workers N`) back into the order one thread prints.
 *
 * Every output item of a worker carries a tag (index, sub): `index` is the global index of the packet
 * that caused it, `sub` orders the items of one index that come from different connections (see
 * streams/shard-worker.ts). Items of one worker come in tag order, and ties within a worker keep their
 * order (the outputs of one packet, or of one connection's release). Each batch a worker sends also says
 * up to which packet index it has handled everything (its watermark): an item is final once every
 * worker's watermark has reached its index, and the merge emits items in tag order up to the smallest
 * watermark (a k-way merge of the workers' queues).
 *
 * Connection numbers: a worker numbers its connections 0, 1, ... and reports each new one with a marker
 * item at the packet that made it; one thread numbers connections in the order of those packets, so the
 * merge gives each marker the next global number, and puts the global number in each line at the
 * positions the worker reported (where its own number was).
 *
 * Blocks (`pcap-pipe follow`): one thread prints a connection's bytes under a header, and writes a new
 * header (after closing the open block) only when another connection's bytes come in between — state
 * across flows. A worker marks such items: ITEM_OPEN (the header of connection id1: printed only when
 * that connection's block is not the open one, after the closing text of the open one) and ITEM_CLOSE
 * (the closing text of connection id1's block: printed only when it is the open one). The merge keeps
 * the open block, and closes it at the very end.
 *
 * Everything stays bytes: the lines come as one transferred buffer per batch, and what is emitted is
 * ranges of those buffers (consecutive lines of one batch as one range) and the renumbered lines.
 */

/** Numbers per item in WorkerOutput.meta: index, sub, length (-1: a new-connection marker), pos1, id1, pos2, id2, flags. */
export const OUT_FIELDS = 8;
/** flags: the item opens connection id1's block (see above). */
export const ITEM_OPEN = 1;
/** flags: the item closes connection id1's block. */
export const ITEM_CLOSE = 2;

/** What a worker's printer emits for a block item (streams/follow-items.ts). */
export interface BlockLine {
  text: string;
  block: typeof ITEM_OPEN | typeof ITEM_CLOSE;
  /** The worker's number of the connection. */
  connection: number;
  /** The text before the connection's number in `text`, when it holds it (renumbered by the merge). */
  at?: string;
}

/** One item of takeItems(): its bytes, and the global numbers of its connection ids (-1: none). */
export interface MergedItem {
  data: Uint8Array;
  connection: number;
  previous: number;
}

/** One batch of a worker's output. */
export interface WorkerOutput {
  /** The items' UTF-8 bytes, back to back. */
  data: Uint8Array;
  /** OUT_FIELDS numbers per item. */
  meta: Float64Array;
  /** Every packet up to this global index has been handled (Infinity: the worker is done). */
  watermark: number;
}

interface Queue {
  batches: WorkerOutput[];
  /** Item and byte position in batches[0]. */
  item: number;
  textAt: number;
  watermark: number;
  /** Local connection number → global one. */
  globalIds: number[];
}

export class OrderedMerge {
  private readonly queues: Queue[];
  /** One worker: its connection numbers are the whole capture's (it sends no markers). */
  private readonly identity: boolean;
  private nextConnection = 0;
  /** The global number of the connection whose block is open (-1: none). */
  private block = -1;

  /** `blockEnd`: what closes an open block (see ITEM_OPEN), written before another opens and at the end. */
  constructor(workers: number, private readonly blockEnd?: Uint8Array) {
    this.queues = Array.from({ length: workers }, () => ({ batches: [], item: 0, textAt: 0, watermark: -Infinity, globalIds: [] }));
    this.identity = workers === 1;
  }

  /** A worker's batch (in the order the worker sent them). */
  add(worker: number, out: WorkerOutput): void {
    const q = this.queues[worker]!;
    if (out.meta.length > 0) q.batches.push(out);
    if (out.watermark > q.watermark) q.watermark = out.watermark;
  }

  /** True when every worker said it is done and everything was emitted. */
  get done(): boolean {
    return this.queues.every((q) => q.watermark === Infinity && q.batches.length === 0);
  }

  /** The bytes that are final now, in one-thread order (an empty list when none are). */
  take(): Buffer[] {
    let low = Infinity;
    for (const q of this.queues) if (q.watermark < low) low = q.watermark;
    const out: Buffer[] = [];
    const queues = this.queues;
    const n = queues.length;
    for (;;) {
      // the queue whose head has the smallest tag, among heads at or below the low watermark, and the
      // smallest tag of the other heads (the run of `best` goes on while its tags stay below it)
      let best = -1, bestIndex = 0, bestSub = 0, nextIndex = Infinity, nextSub = Infinity;
      for (let w = 0; w < n; w++) {
        const q = queues[w]!;
        if (q.batches.length === 0) continue;
        const m = q.batches[0]!.meta, o = q.item * OUT_FIELDS;
        const index = m[o]!, sub = m[o + 1]!;
        if (index > low) continue;
        if (best < 0 || index < bestIndex || (index === bestIndex && sub < bestSub)) {
          if (best >= 0) { nextIndex = bestIndex; nextSub = bestSub; }
          best = w;
          bestIndex = index;
          bestSub = sub;
        } else if (index < nextIndex || (index === nextIndex && sub < nextSub)) {
          nextIndex = index;
          nextSub = sub;
        }
      }
      if (best < 0) {
        if (this.block >= 0 && this.done) {
          this.block = -1;
          if (this.blockEnd !== undefined) out.push(Buffer.from(this.blockEnd));
        }
        return out;
      }
      this.emitRun(queues[best]!, bestIndex, bestSub, low, nextIndex, nextSub, out);
    }
  }

  /**
   * Object mode (shard(): each item is one serialised object): the items that are final now, in one-thread
   * order, each with its connection numbers made global (-1: none). Block flags do not apply here.
   */
  takeItems(): MergedItem[] {
    let low = Infinity;
    for (const q of this.queues) if (q.watermark < low) low = q.watermark;
    const out: MergedItem[] = [];
    for (;;) {
      let best: Queue | undefined, bestIndex = 0, bestSub = 0;
      for (const q of this.queues) {
        if (q.batches.length === 0) continue;
        const m = q.batches[0]!.meta, o = q.item * OUT_FIELDS;
        const index = m[o]!, sub = m[o + 1]!;
        if (index > low) continue;
        if (best === undefined || index < bestIndex || (index === bestIndex && sub < bestSub)) {
          best = q;
          bestIndex = index;
          bestSub = sub;
        }
      }
      if (best === undefined) return out;
      // the run of items with this tag (they cannot interleave with another worker's)
      const q = best;
      for (;;) {
        const batch = q.batches[0]!, m = batch.meta, o = q.item * OUT_FIELDS;
        const length = m[o + 2]!;
        if (length < 0) q.globalIds[m[o + 4]!] = this.nextConnection++;
        else {
          const id1 = m[o + 4]!, id2 = m[o + 6]!;
          out.push({
            data: batch.data.subarray(q.textAt, q.textAt + length),
            connection: id1 >= 0 ? this.globalOf(q, id1) : -1, previous: id2 >= 0 ? this.globalOf(q, id2) : -1,
          });
          q.textAt += length;
        }
        q.item++;
        if (q.item * OUT_FIELDS >= m.length) {
          q.batches.shift();
          q.item = 0;
          q.textAt = 0;
          if (q.batches.length === 0) break;
        }
        const nm = q.batches[0]!.meta, no = q.item * OUT_FIELDS;
        if (nm[no] !== bestIndex || nm[no + 1] !== bestSub) break;
      }
    }
  }

  /**
   * Emits the head item of `q` and the items after it with the same tag (they cannot interleave with
   * another worker's), and on while the next item's tag is at or below the low watermark `low` and below
   * (nextIndex, nextSub), the smallest head of the other queues, into `out`: consecutive lines of one batch
   * go out as one range (with one worker, a whole batch; a range per tag cost the reading thread a Buffer
   * and a copy per packet).
   */
  private emitRun(q: Queue, index: number, sub: number, low: number, nextIndex: number, nextSub: number, out: Buffer[]): void {
    let batch = q.batches[0]!;
    let rangeStart = q.textAt;
    const flushRange = (): void => {
      if (q.textAt > rangeStart) out.push(Buffer.from(batch.data.buffer, batch.data.byteOffset + rangeStart, q.textAt - rangeStart));
    };
    for (;;) {
      const m = batch.meta, o = q.item * OUT_FIELDS;
      const length = m[o + 2]!;
      if (length < 0) {
        q.globalIds[m[o + 4]!] = this.nextConnection++;
      } else if (m[o + 7]! !== 0) {
        flushRange();
        this.blockItem(q, batch, m, o, length, out);
        rangeStart = q.textAt;
      } else {
        const p1 = m[o + 3]!;
        if (p1 >= 0) {
          flushRange();
          out.push(this.renumber(q, batch.data, q.textAt, q.textAt + length, p1, m[o + 4]!, m[o + 5]!, m[o + 6]!));
          q.textAt += length;
          rangeStart = q.textAt;
        } else {
          q.textAt += length;
        }
      }
      q.item++;
      if (q.item * OUT_FIELDS >= m.length) {
        flushRange();
        q.batches.shift();
        q.item = 0;
        q.textAt = 0;
        if (q.batches.length === 0) return;
        batch = q.batches[0]!;
        rangeStart = 0;
      }
      const nm = batch.meta, no = q.item * OUT_FIELDS;
      const ni = nm[no]!, ns = nm[no + 1]!;
      if ((ni !== index || ns !== sub) && (ni > low || ni > nextIndex || (ni === nextIndex && ns >= nextSub))) {
        flushRange();
        return;
      }
    }
  }

  /** An ITEM_OPEN or ITEM_CLOSE item: printed or left out by the open block; q.textAt moves past it. */
  private blockItem(q: Queue, batch: WorkerOutput, m: Float64Array, o: number, length: number, out: Buffer[]): void {
    const g = this.globalOf(q, m[o + 4]!);
    const open = m[o + 7]! === ITEM_OPEN;
    const print = open ? this.block !== g : this.block === g;
    if (print) {
      if (open && this.block >= 0 && this.blockEnd !== undefined) out.push(Buffer.from(this.blockEnd));
      const p1 = m[o + 3]!;
      out.push(p1 >= 0 ? this.renumber(q, batch.data, q.textAt, q.textAt + length, p1, m[o + 4]!, m[o + 5]!, m[o + 6]!)
        : Buffer.from(batch.data.buffer, batch.data.byteOffset + q.textAt, length));
      this.block = open ? g : -1;
    }
    q.textAt += length;
  }

  /** The line [start, end) of `data` with the local connection numbers at p1 (and p2) made global. */
  private renumber(q: Queue, data: Uint8Array, start: number, end: number, p1: number, id1: number, p2: number, id2: number): Buffer {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const g1 = this.globalOf(q, id1);
    const a = bytes.subarray(start, start + p1);
    if (p2 < 0) return Buffer.concat([a, Buffer.from(String(g1)), bytes.subarray(start + p1 + String(id1).length, end)]);
    const g2 = this.globalOf(q, id2);
    // p1 < p2 in every line the workers make ("connection" comes before "previous")
    return Buffer.concat([a, Buffer.from(String(g1)), bytes.subarray(start + p1 + String(id1).length, start + p2), Buffer.from(String(g2)),
      bytes.subarray(start + p2 + String(id2).length, end)]);
  }

  private globalOf(q: Queue, local: number): number {
    if (this.identity) return local;
    const g = q.globalIds[local];
    if (g === undefined) throw new Error(`shard merge: connection ${local} printed before it was made`);
    return g;
  }
}
