/**
 * Where the web view puts the headers and bodies of exchanges that left memory while a file is shown
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
    const chunk = Buffer.concat(this.pending, this.pendingBytes);
    let done = 0;
    while (done < chunk.length) done += fs.writeSync(this.fd, chunk, done, chunk.length - done, this.written + done);
    this.written += chunk.length;
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
