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
import { PcapngWriter } from '../lib/formats/pcapng';
import type { PacketRecord } from '../lib/core/record';

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

export class CaptureWriter extends Transform {
  private opts: WriteCaptureOptions;
  private configured = false;
  private pcap: PcapWriter | null = null;
  private pcapng: PcapngWriter | null = null;
  private linkType = -1;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private readonly chunkBytes: number;
  packets = 0;

  constructor(opts: WriteCaptureOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: 256 });
    this.opts = opts;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  override _transform(rec: PacketRecord, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (!this.configured) this.configure(rec);
      this.add(this.encode(rec));
      this.packets++;
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (!this.configured) this.configure(null);
    // An empty input still makes a valid (empty) capture file, as tcpdump -w does.
    if (!this.pcap && !this.pcapng) {
      if ((this.opts.format ?? 'pcap') === 'pcap') this.add(this.pcapWriter(false).fileHeader(this.opts.sourceHeader?.linkType ?? 1));
      else this.startPcapng();
    }
    this.push(this.takePending());
    cb();
  }

  private configure(first: PacketRecord | null): void {
    this.configured = true;
    if (this.opts.configure) this.opts = { ...this.opts, ...this.opts.configure(first) };
  }

  private encode(rec: PacketRecord): Buffer {
    if ((this.opts.format ?? 'pcap') === 'pcapng') {
      if (!this.pcapng) this.startPcapng();
      const iface = this.opts.interfaces?.find((i) => i.id === rec.interfaceId && i.linkType === rec.linkType);
      return (this.pcapng as PcapngWriter).packet(rec, iface);
    }
    if (!this.pcap) {
      const nano = this.opts.nanosecond === undefined || this.opts.nanosecond === 'auto' ? !!rec.nanoPrecision : this.opts.nanosecond;
      this.linkType = rec.linkType;
      this.add(this.pcapWriter(nano).fileHeader(rec.linkType, rec.fcsLength));
    } else if (rec.linkType !== this.linkType) {
      throw new CaptureError('PCAP_WRITE', `classic pcap holds one link type: frame ${rec.frame} has link type ${rec.linkType} after ${this.linkType}; write pcapng instead`);
    }
    return (this.pcap as PcapWriter).record(rec);
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
    this.pcapng = new PcapngWriter();
    return this.pcapng;
  }

  private add(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (this.pendingBytes >= this.chunkBytes) this.push(this.takePending());
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        if (this.pendingBytes > 0 && !this.destroyed && !this.writableFinished) this.push(this.takePending());
      });
    }
  }

  private takePending(): Buffer {
    const b = this.pending.length === 1 ? this.pending[0] as Buffer : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return b;
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
