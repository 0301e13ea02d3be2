/**
 * The packed form in which packet records cross from the reading thread to a worker (`--workers N`):
 * one batch is two transferable ArrayBuffers — a Float64Array of RECORD_FIELDS numbers per record and the
 * records' bytes back to back — so a batch of thousands of packets is one postMessage with no structured
 * cloning of objects and no copy on the way (the buffers are moved, not cloned).
 *
 * Per record: its global index in the capture (the merge orders outputs by it), the PacketRecord fields
 * the stages read (frame, link type, timestamps, lengths, interface, FCS length, flags) and the capture
 * clock one thread would have after that packet (lib/shard/clock.ts), which the worker's TCP reassembler
 * runs on instead of its own.
 */
import type { PacketRecord } from '../core/record';

/** Numbers per record in the meta array. */
export const RECORD_FIELDS = 11;
const F_INDEX = 0, F_FRAME = 1, F_TS_SEC = 2, F_TS_NSEC = 3, F_CAPLEN = 4, F_LEN = 5, F_LINK = 6, F_IFACE = 7, F_CLOCK = 8, F_FLAGS = 9, F_BYTES = 10;
const FLAG_NO_TIMESTAMP = 1, FLAG_NANO = 2;
/** fcsLength is kept in the flags above these bits (+1; 0: absent). */
const FCS_SHIFT = 8;

/** One batch as it travels (the buffers are transferred). */
export interface PackedBatch {
  /** RECORD_FIELDS numbers per record, `count` records. */
  meta: Float64Array;
  /** The records' bytes, back to back in record order. */
  data: Uint8Array;
  count: number;
}

/** A meta array of its own ArrayBuffer (transferable), not zero-filled: every field is written. */
function newMeta(records: number): Float64Array {
  const b = Buffer.allocUnsafeSlow(records * RECORD_FIELDS * 8);
  return new Float64Array(b.buffer, b.byteOffset, records * RECORD_FIELDS);
}

/** Fills one batch; `take()` hands it over and starts the next. */
export class BatchPacker {
  private meta: Float64Array;
  private data: Uint8Array;
  private count = 0;
  private bytes = 0;

  constructor(private readonly maxRecords = 2048, private readonly maxBytes = 1024 * 1024) {
    this.meta = newMeta(maxRecords);
    this.data = Buffer.allocUnsafeSlow(maxBytes);
  }

  get length(): number {
    return this.count;
  }

  /** False when the record does not fit: take() the batch first (a record larger than maxBytes always fits an empty batch). */
  fits(rec: PacketRecord): boolean {
    return this.count === 0 || (this.count < this.maxRecords && this.bytes + rec.data.length <= this.data.length);
  }

  add(rec: PacketRecord, index: number, clock: number): void {
    const n = rec.data.length;
    if (this.bytes + n > this.data.length) {
      // only an empty batch gets here (see fits): make its data area as large as the record
      const grown = Buffer.allocUnsafeSlow(Math.max(n, this.data.length));
      grown.set(this.data.subarray(0, this.bytes));
      this.data = grown;
    }
    this.data.set(rec.data, this.bytes);
    this.bytes += n;
    const m = this.meta, o = this.count * RECORD_FIELDS;
    m[o + F_INDEX] = index;
    m[o + F_FRAME] = rec.frame;
    m[o + F_TS_SEC] = rec.tsSec;
    m[o + F_TS_NSEC] = rec.tsNsec;
    m[o + F_CAPLEN] = rec.caplen;
    m[o + F_LEN] = rec.len;
    m[o + F_LINK] = rec.linkType;
    m[o + F_IFACE] = rec.interfaceId;
    m[o + F_CLOCK] = clock;
    m[o + F_FLAGS] = (rec.noTimestamp === true ? FLAG_NO_TIMESTAMP : 0) | (rec.nanoPrecision === true ? FLAG_NANO : 0)
      | (rec.fcsLength !== undefined ? (rec.fcsLength + 1) << FCS_SHIFT : 0);
    m[o + F_BYTES] = n;
    this.count++;
  }

  /** The batch so far (its buffers to be transferred); the packer starts a new one. */
  take(): PackedBatch {
    const batch: PackedBatch = { meta: this.meta.subarray(0, this.count * RECORD_FIELDS), data: this.data.subarray(0, this.bytes), count: this.count };
    this.meta = newMeta(this.maxRecords);
    this.data = Buffer.allocUnsafeSlow(this.maxBytes);
    this.count = 0;
    this.bytes = 0;
    return batch;
  }
}

/** Calls `fn` with each record of a batch, in order; record bytes are views into the batch (no copy). */
export function forEachPacked(batch: PackedBatch, fn: (index: number, clock: number, rec: PacketRecord) => void): void {
  const m = batch.meta;
  const base = Buffer.from(batch.data.buffer, batch.data.byteOffset, batch.data.byteLength);
  let at = 0;
  for (let i = 0; i < batch.count; i++) {
    const o = i * RECORD_FIELDS;
    const n = m[o + F_BYTES]!;
    const flags = m[o + F_FLAGS]!;
    const rec: PacketRecord = {
      frame: m[o + F_FRAME]!, linkType: m[o + F_LINK]!, tsSec: m[o + F_TS_SEC]!, tsNsec: m[o + F_TS_NSEC]!,
      caplen: m[o + F_CAPLEN]!, len: m[o + F_LEN]!, interfaceId: m[o + F_IFACE]!, data: base.subarray(at, at + n),
    };
    if (flags & FLAG_NO_TIMESTAMP) rec.noTimestamp = true;
    if (flags & FLAG_NANO) rec.nanoPrecision = true;
    const fcs = flags >>> FCS_SHIFT;
    if (fcs > 0) rec.fcsLength = fcs - 1;
    at += n;
    fn(m[o + F_INDEX]!, m[o + F_CLOCK]!, rec);
  }
}
