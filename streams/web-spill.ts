/**
 * The web view's temp files. TempFileRecords (below) holds the HAR store's entries. TempFileDetailStore:
 * where the web view puts the headers and bodies of exchanges that left memory while a file is shown
 * (lib/web/model.ts DetailStore): an append-only temp file, unlinked as soon as it is opened so that nothing
 * is left behind however the process ends. Rows stay in memory (small); their details come back from here
 * when the page asks for one.
 *
 * Bounded: at most `maxBytes` on disk (MAX_SPILL_BYTES by default); past it `put` says no and the model
 * counts the exchange as one whose details were not kept. The index is two typed arrays by exchange id
 * (12 bytes per exchange).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DetailStore, ExchangeDetail } from '../lib/web/model';

/** Disk the spilled details of one web view may take. */
export const MAX_SPILL_BYTES = 2 * 1024 * 1024 * 1024;
/** Details are written in chunks of about this size (one write per chunk, not per exchange). */
const FLUSH_BYTES = 1024 * 1024;

export class TempFileDetailStore implements DetailStore {
  private fd: number | null;
  /** Bytes already in the file. */
  private written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private offsets = new Float64Array(1024);
  private lengths = new Uint32Array(1024);

  constructor(readonly maxBytes: number = MAX_SPILL_BYTES, dir: string = os.tmpdir()) {
    const folder = fs.mkdtempSync(path.join(dir, 'pcap-pipe-web-'));
    const file = path.join(folder, 'details.ndjson');
    this.fd = fs.openSync(file, 'w+', 0o600);
    fs.unlinkSync(file);
    fs.rmdirSync(folder);
  }

  /** Bytes stored (written and waiting to be written). */
  get bytes(): number {
    return this.written + this.pendingBytes;
  }

  put(id: number, detail: ExchangeDetail): boolean {
    if (this.fd === null || !Number.isInteger(id) || id < 0) return false;
    const buf = Buffer.from(JSON.stringify(detail), 'utf8');
    if (this.bytes + buf.length > this.maxBytes) return false;
    this.ensureIndex(id);
    this.offsets[id] = this.bytes;
    this.lengths[id] = buf.length;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    return true;
  }

  get(id: number): ExchangeDetail | undefined {
    if (this.fd === null || !Number.isInteger(id) || id < 0 || id >= this.lengths.length) return undefined;
    const length = this.lengths[id] as number;
    if (length === 0) return undefined;
    const offset = this.offsets[id] as number;
    if (offset + length > this.written) this.flush();
    const buf = Buffer.allocUnsafe(length);
    fs.readSync(this.fd, buf, 0, length, offset);
    return JSON.parse(buf.toString('utf8')) as ExchangeDetail;
  }

  /** Closes the file (its space is freed); later puts fail, gets find nothing. */
  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
    this.pending = [];
    this.pendingBytes = 0;
  }

  private flush(): void {
    if (this.fd === null || this.pendingBytes === 0) return;
    this.written += writeAllAt(this.fd, this.pending, this.pendingBytes, this.written);
    this.pending = [];
    this.pendingBytes = 0;
  }

  private ensureIndex(id: number): void {
    if (id < this.lengths.length) return;
    let size = this.lengths.length;
    while (size <= id) size *= 2;
    const offsets = new Float64Array(size);
    offsets.set(this.offsets);
    const lengths = new Uint32Array(size);
    lengths.set(this.lengths);
    this.offsets = offsets;
    this.lengths = lengths;
  }
}

/** Byte records appended and read back by offset, dropped from the front. */
export interface RecordRun {
  append(record: Buffer): number;
  read(offset: number, length: number): Buffer;
  dropBefore(offset: number): void;
  close(): void;
}

/** A RecordRun in memory: where no temp file can be made. */
export class MemoryRecords implements RecordRun {
  private readonly records = new Map<number, Buffer>();
  private end = 0;

  append(record: Buffer): number {
    const offset = this.end;
    this.records.set(offset, record);
    this.end += record.length;
    return offset;
  }

  read(offset: number, length: number): Buffer {
    const r = this.records.get(offset);
    if (r === undefined || r.length !== length) throw new RangeError(`record at ${offset} (${length} B) not held`);
    return r;
  }

  dropBefore(offset: number): void {
    for (const k of this.records.keys()) {
      if (k >= offset) break;
      this.records.delete(k);
    }
  }

  close(): void {
    this.records.clear();
  }
}

/**
 * An append-only run of byte records in an unlinked temp file, read back by offset: where the web view's
 * HAR store (streams/web-har.ts) keeps its entries' JSON. Records leave only from the front (the oldest
 * first), so what is still wanted is one stretch at the end: `dropBefore(offset)` says where it starts, and
 * once the stretch before it is at least COMPACT_BYTES and as big as the rest, the rest is copied to a new
 * file (the disk held stays under about twice what is wanted plus COMPACT_BYTES).
 */
export class TempFileRecords implements RecordRun {
  private fd: number;
  /** Offset of the file's first byte in the run (records keep their offsets across compactions). */
  private base = 0;
  private written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private wantedFrom = 0;

  constructor(private readonly dir: string = os.tmpdir(), private readonly compactBytes = COMPACT_BYTES) {
    this.fd = openUnlinked(dir);
  }

  /** End of the run: the offset the next record gets. */
  get end(): number {
    return this.base + this.written + this.pendingBytes;
  }

  /** Bytes on disk or waiting to be written. */
  get held(): number {
    return this.written + this.pendingBytes;
  }

  append(record: Buffer): number {
    const offset = this.end;
    this.pending.push(record);
    this.pendingBytes += record.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    return offset;
  }

  read(offset: number, length: number): Buffer {
    if (offset < this.wantedFrom || offset + length > this.end) throw new RangeError(`record at ${offset} (${length} B) not held`);
    if (offset + length > this.base + this.written) this.flush();
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset - this.base + done);
      if (n === 0) throw new Error('temp file shorter than written');
      done += n;
    }
    return buf;
  }

  /** Records before `offset` are no longer wanted. */
  dropBefore(offset: number): void {
    this.wantedFrom = Math.max(this.wantedFrom, offset);
    const dead = this.wantedFrom - this.base;
    if (dead >= this.compactBytes && dead >= this.end - this.wantedFrom) this.compact();
  }

  close(): void {
    fs.closeSync(this.fd);
    this.pending = [];
    this.pendingBytes = 0;
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    this.written += writeAllAt(this.fd, this.pending, this.pendingBytes, this.written);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Copies the wanted stretch to a new file and drops the old one. */
  private compact(): void {
    this.flush();
    const fd = openUnlinked(this.dir);
    const buf = Buffer.allocUnsafe(FLUSH_BYTES);
    const from = this.wantedFrom - this.base;
    let copied = 0;
    while (from + copied < this.written) {
      const n = fs.readSync(this.fd, buf, 0, Math.min(buf.length, this.written - from - copied), from + copied);
      if (n === 0) throw new Error('temp file shorter than written');
      let w = 0;
      while (w < n) w += fs.writeSync(fd, buf, w, n - w, copied + w);
      copied += n;
    }
    fs.closeSync(this.fd);
    this.fd = fd;
    this.base = this.wantedFrom;
    this.written = copied;
  }
}

/** A stretch no longer wanted this big (and as big as the wanted rest) is given back by a compaction. */
const COMPACT_BYTES = 64 * 1024 * 1024;

/** A new temp file, opened and already unlinked (nothing is left behind however the process ends). */
function openUnlinked(dir: string): number {
  const folder = fs.mkdtempSync(path.join(dir, 'pcap-pipe-web-'));
  const file = path.join(folder, 'records');
  const fd = fs.openSync(file, 'w+', 0o600);
  fs.unlinkSync(file);
  fs.rmdirSync(folder);
  return fd;
}

/** Writes `chunks` (`bytes` in all) to `fd` at `position`, as one buffer, all of it; returns the bytes written. */
function writeAllAt(fd: number, chunks: Buffer[], bytes: number, position: number): number {
  const chunk = Buffer.concat(chunks, bytes);
  let done = 0;
  while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done, position + done);
  return chunk.length;
}
