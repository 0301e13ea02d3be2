/**
 * Capture writers: PacketRecord objects in, pcap or pcapng bytes out (pipe them to a file, stdout, a
 * socket). Output is gathered into chunks: under load many records share one chunk, and whatever is
 * pending goes out on the next turn of the event loop, so a live capture piped to tshark is not delayed.
 */
import * as fs from 'node:fs';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { CaptureError } from '../lib/core/errors';
import type { InterfaceInfo } from '../lib/formats/format';
import { PcapWriter, type PcapFileHeader } from '../lib/formats/pcap';
import type { PcapngWriter } from '../lib/formats/pcapng';
import type { PacketRecord } from '../lib/core/record';
import { BatchQueueBound, DEFAULT_STAGE_HIGH_WATER_MARK, ReadableGate, writableQueueState } from './batch';

export interface WriteCaptureOptions {
  format?: 'pcap' | 'pcapng';
  /** Nanosecond timestamps: true, false, or 'auto' (default): ns when the first record has nanoPrecision. */
  nanosecond?: boolean | 'auto';
  snaplen?: number;
  /** Classic pcap: reproduce this file header exactly (byte-identical rewrites). */
  sourceHeader?: PcapFileHeader;
  /** pcapng: interface descriptions to copy names/snaplen from, keyed by interface id. */
  interfaces?: InterfaceInfo[];
  /** pcapng: Decryption Secrets Blocks written right after the section header (e.g. a TLS key log). */
  secrets?: { type: number; data: Buffer }[];
  /** Bytes gathered before a chunk is pushed regardless of timing (default 256 KiB). */
  chunkBytes?: number;
  /**
   * Called once, at the first record (or at the end of an empty input, with null), before anything is
   * written; the options it returns override these. Lets a command choose the format when it knows what
   * the sources hold (see `pcap-pipe read`).
   */
  configure?: (first: PacketRecord | null) => Partial<WriteCaptureOptions>;
}

const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** A classic pcap record header: seconds, fraction, captured length, original length. */
const RECORD_HEADER_LENGTH = 16;

export class CaptureWriter extends Transform {
  private opts: WriteCaptureOptions;
  private configured = false;
  private pcap: PcapWriter | null = null;
  private pcapng: PcapngWriter | null = null;
  private linkType = -1;
  /**
   * The output chunk being filled: records are encoded straight into it (no Buffer per record, no
   * concatenation), and it is pushed when the next record does not fit or on the next turn of the loop.
   */
  private out: Buffer | null = null;
  private outFill = 0;
  private flushScheduled = false;
  private readonly chunkBytes: number;
  packets = 0;

  /** Records queued on the writable side, counted in records when batches come (see BatchQueueBound). */
  private readonly inBound = new BatchQueueBound(DEFAULT_STAGE_HIGH_WATER_MARK);
  /** Output is gathered and pushed later (setImmediate): the gate keeps backpressure working. */
  private readonly gate = new ReadableGate(this);

  constructor(opts: WriteCaptureOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: DEFAULT_STAGE_HIGH_WATER_MARK });
    this.opts = opts;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  /** Takes single records or arrays of them (a reader in batch mode). */
  override _transform(chunk: PacketRecord | PacketRecord[], _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (Array.isArray(chunk)) {
        this.inBound.fit(writableQueueState(this), chunk.length);
        for (let i = 0; i < chunk.length; i++) this.write1(chunk[i] as PacketRecord);
      } else {
        this.write1(chunk);
      }
      this.scheduleFlush();
    } catch (e) {
      cb(e as Error);
      return;
    }
    this.gate.done(cb);
  }

  override _read(size: number): void {
    this.gate.release();
    super._read(size);
  }

  private write1(rec: PacketRecord): void {
    if (!this.configured) this.configure(rec);
    this.encode(rec);
    this.packets++;
  }

  override _flush(cb: TransformCallback): void {
    if (!this.configured) this.configure(null);
    // An empty input still makes a valid (empty) capture file, as tcpdump -w does.
    if (!this.pcap && !this.pcapng) {
      if ((this.opts.format ?? 'pcap') === 'pcap') this.add(this.pcapWriter(false).fileHeader(this.opts.sourceHeader?.linkType ?? 1));
      else this.startPcapng();
    }
    this.pushOut();
    cb();
  }

  private configure(first: PacketRecord | null): void {
    this.configured = true;
    if (this.opts.configure) this.opts = { ...this.opts, ...this.opts.configure(first) };
  }

  private encode(rec: PacketRecord): void {
    if ((this.opts.format ?? 'pcap') === 'pcapng') {
      if (!this.pcapng) this.startPcapng();
      const iface = this.opts.interfaces?.find((i) => i.id === rec.interfaceId && i.linkType === rec.linkType);
      this.add((this.pcapng as PcapngWriter).packet(rec, iface));
      return;
    }
    if (!this.pcap) {
      const nano = this.opts.nanosecond === undefined || this.opts.nanosecond === 'auto' ? !!rec.nanoPrecision : this.opts.nanosecond;
      this.linkType = rec.linkType;
      this.add(this.pcapWriter(nano).fileHeader(rec.linkType, rec.fcsLength));
    } else if (rec.linkType !== this.linkType) {
      throw new CaptureError('PCAP_WRITE', `classic pcap holds one link type: frame ${rec.frame} has link type ${rec.linkType} after ${this.linkType}; write pcapng instead`);
    }
    // the record header and the data copied into the output chunk: one copy, no allocation
    const n = RECORD_HEADER_LENGTH + rec.data.length;
    const out = this.reserve(n);
    (this.pcap as PcapWriter).recordHeaderInto(rec, out, this.outFill);
    out.set(rec.data, this.outFill + RECORD_HEADER_LENGTH);
    this.outFill += n;
  }

  private pcapWriter(nanosecond: boolean): PcapWriter {
    this.pcap = new PcapWriter({ nanosecond, snaplen: this.opts.snaplen, sourceHeader: this.opts.sourceHeader });
    return this.pcap;
  }

  private startPcapng(): void {
    const w = this.pcapngWriter();
    this.add(w.header());
    for (const s of this.opts.secrets ?? []) this.add(w.decryptionSecrets(s.type, s.data));
  }

  private pcapngWriter(): PcapngWriter {
    // required here: classic pcap output (most runs) does not load the pcapng modules
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    this.pcapng = new (require('../lib/formats/pcapng') as typeof import('../lib/formats/pcapng')).PcapngWriter();
    return this.pcapng;
  }

  /** Copies encoded bytes (file header, pcapng blocks) into the output. */
  private add(b: Buffer): void {
    const out = this.reserve(b.length);
    out.set(b, this.outFill);
    this.outFill += b.length;
  }

  /** The output chunk, with room for `n` more bytes at outFill (the full one is pushed first). */
  private reserve(n: number): Buffer {
    const out = this.out;
    if (out !== null && out.length - this.outFill >= n) return out;
    this.pushOut();
    const fresh = Buffer.allocUnsafe(Math.max(this.chunkBytes, n));
    this.out = fresh;
    return fresh;
  }

  /** Pushes what the output chunk holds; the chunk is not written to again (the reader owns it now). */
  private pushOut(): void {
    if (this.out === null || this.outFill === 0) return;
    const b = this.out.subarray(0, this.outFill);
    this.out = null;
    this.outFill = 0;
    this.push(b);
  }

  /**
   * What is gathered goes out on the next turn of the event loop if no more records came: a live capture
   * piped to tshark is not held back. A small remainder is copied out so the big chunk is filled further.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.outFill === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.outFill === 0 || this.destroyed || this.writableFinished) return;
      if (this.outFill < this.chunkBytes / 4) {
        const out = this.out as Buffer;
        this.push(Buffer.from(out.subarray(0, this.outFill)));
        this.outFill = 0;
      } else {
        this.pushOut();
      }
    });
  }
}

/** A Transform from PacketRecord objects to capture-file bytes. */
export function writeCapture(opts: WriteCaptureOptions = {}): CaptureWriter {
  return new CaptureWriter(opts);
}

export function writePcap(opts: Omit<WriteCaptureOptions, 'format'> = {}): CaptureWriter {
  return new CaptureWriter({ ...opts, format: 'pcap' });
}

export function writePcapng(opts: Omit<WriteCaptureOptions, 'format'> = {}): CaptureWriter {
  return new CaptureWriter({ ...opts, format: 'pcapng' });
}

/**
 * Convenience: a writer whose bytes go to a file, the two joined with stream.pipeline (a file error
 * destroys the writer with it, and the other way round). Returns the writer; listen for the file's 'finish'.
 */
export function writeCaptureFile(path: string, opts: WriteCaptureOptions = {}): { writer: CaptureWriter; file: fs.WriteStream } {
  const writer = new CaptureWriter(opts);
  const file = fs.createWriteStream(path);
  pipeline(writer, file, () => undefined);
  return { writer, file };
}
