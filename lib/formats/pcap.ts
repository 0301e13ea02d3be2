/**
 * Classic pcap (libpcap) files: a push-style reader and a writer.
 *
 * Format: a 24-byte file header (magic, version, thiszone, sigfigs, snaplen, link type + FCS bits), then
 * records of a 16-byte header (ts_sec, ts_frac, incl_len, orig_len) and incl_len bytes. The magic gives the
 * byte order and whether ts_frac is microseconds (a1b2c3d4) or nanoseconds (a1b23c4d). The rare Kuznetzov
 * "modified" format (a1b2cd34) has 8 more bytes per record header, which we skip.
 */
import { bufferViewOf } from '../core/buffer-view';
import { CaptureError } from '../core/errors';
import { DEFAULT_MAX_RECORD_BYTES, type InterfaceInfo, type ParserSink, type SectionInfo } from './format';
import type { PacketRecord } from '../core/record';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
export const PCAP_FILE_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const MODIFIED_EXTRA_LENGTH = 8;
/** libpcap refuses records larger than this for most link types (MAXIMUM_SNAPLEN). */
export const PCAP_MAX_SNAPLEN = 262144;

/** Link-type field layout (libpcap's LT_* macros): low 16 bits link type, bit 26 "FCS length present", top 4 bits FCS length in 16-bit words. */
export function splitLinkTypeField(field: number): { linkType: number; fcsLength: number | undefined } {
  const linkType = field & 0xffff;
  const fcsPresent = (field & 0x04000000) !== 0;
  return { linkType, fcsLength: fcsPresent ? ((field >>> 28) & 0xf) * 2 : undefined };
}

/** The parsed classic file header, kept raw so a writer can reproduce it byte for byte. */
export interface PcapFileHeader {
  littleEndian: boolean;
  nanosecond: boolean;
  modified: boolean;
  versionMajor: number;
  versionMinor: number;
  thiszone: number;
  sigfigs: number;
  snaplen: number;
  linkTypeField: number;
  linkType: number;
  fcsLength: number | undefined;
  raw: Buffer;
}

/** Reads a magic number in either byte order; null when it is not classic pcap. */
export function pcapMagicInfo(b: Buffer, offset = 0): { littleEndian: boolean; nanosecond: boolean; modified: boolean } | null {
  const le = b.readUInt32LE(offset);
  const be = b.readUInt32BE(offset);
  for (const [value, littleEndian] of [[le, true], [be, false]] as const) {
    if (value === PCAP_MAGIC_US) return { littleEndian, nanosecond: false, modified: false };
    if (value === PCAP_MAGIC_NS) return { littleEndian, nanosecond: true, modified: false };
    if (value === PCAP_MAGIC_MODIFIED) return { littleEndian, nanosecond: false, modified: true };
  }
  return null;
}

export function parsePcapFileHeader(b: Buffer): PcapFileHeader {
  const magic = pcapMagicInfo(b, 0);
  if (!magic) throw new CaptureError('PCAP_BAD_MAGIC', `not a classic pcap file: magic 0x${b.readUInt32BE(0).toString(16).padStart(8, '0')}`, 0);
  const u16 = (o: number) => (magic.littleEndian ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (magic.littleEndian ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const i32 = (o: number) => (magic.littleEndian ? b.readInt32LE(o) : b.readInt32BE(o));
  const versionMajor = u16(4);
  const versionMinor = u16(6);
  if (versionMajor !== 2) {
    throw new CaptureError('PCAP_BAD_VERSION', `classic pcap version ${versionMajor}.${versionMinor} is not supported (only 2.x)`, 4);
  }
  const linkTypeField = u32(20);
  const { linkType, fcsLength } = splitLinkTypeField(linkTypeField);
  return {
    ...magic, versionMajor, versionMinor, thiszone: i32(8), sigfigs: u32(12), snaplen: u32(16),
    linkTypeField, linkType, fcsLength, raw: Buffer.from(b.subarray(0, PCAP_FILE_HEADER_LENGTH)),
  };
}

export interface PcapParserOptions {
  /** A record larger than this is an error (memory stays bounded). Default DEFAULT_MAX_RECORD_BYTES. */
  maxRecordBytes?: number;
}

/**
 * Push-style classic pcap reader: `write(chunk)` with chunks of any size, then `end()`. Records that lie
 * inside one chunk are delivered as zero-copy views of it; a record split across chunks is gathered into a
 * buffer of exactly its size (never more than one record is held).
 */
export class PcapParser {
  private readonly sink: ParserSink;
  private readonly maxRecordBytes: number;
  private header: PcapFileHeader | null = null;
  private recordLimit = 0;
  private recordHeaderLength = RECORD_HEADER_LENGTH;
  private fracToNs = 1000;
  private fracPerSecond = 1_000_000;
  private frame = 0;
  private consumed = 0;
  /** Bytes of an incomplete file header or record, and how many of them are filled. */
  private partial: Buffer | null = null;
  private partialFill = 0;

  constructor(sink: ParserSink, opts: PcapParserOptions = {}) {
    this.sink = sink;
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  get bytesConsumed(): number { return this.consumed; }
  get fileHeader(): PcapFileHeader | null { return this.header; }
  get packets(): number { return this.frame; }

  write(chunk: Buffer): void {
    let off = 0;
    if (this.partial) {
      off = this.fillPartial(chunk);
      if (this.partial) return; // still incomplete: the whole chunk went into it
    }
    if (!this.header) {
      if (chunk.length - off < PCAP_FILE_HEADER_LENGTH) { this.startPartial(chunk, off, PCAP_FILE_HEADER_LENGTH); return; }
      this.takeFileHeader(chunk.subarray(off, off + PCAP_FILE_HEADER_LENGTH));
      off += PCAP_FILE_HEADER_LENGTH;
    }
    this.walkRecords(chunk, off);
  }

  /** Ends the input: an incomplete header or record is reported as PCAP_TRUNCATED. */
  end(): void {
    if (!this.header) {
      const have = this.partial ? this.partialFill : 0;
      throw new CaptureError('PCAP_TRUNCATED', `input ended inside the pcap file header (${have} of ${PCAP_FILE_HEADER_LENGTH} bytes)`, this.consumed);
    }
    if (this.partial) {
      const need = this.partial.length;
      const have = this.partialFill;
      const where = have < this.recordHeaderLength
        ? `inside the header of record ${this.frame + 1} (${have} of ${this.recordHeaderLength} bytes)`
        : `inside record ${this.frame + 1} (${have - this.recordHeaderLength} of ${need - this.recordHeaderLength} data bytes)`;
      throw new CaptureError('PCAP_TRUNCATED', `capture file cut short ${where} after ${this.frame} complete packets`, this.consumed);
    }
  }

  private takeFileHeader(b: Buffer): void {
    const h = parsePcapFileHeader(b);
    this.header = h;
    this.consumed += PCAP_FILE_HEADER_LENGTH;
    this.fracToNs = h.nanosecond ? 1 : 1000;
    this.fracPerSecond = h.nanosecond ? 1_000_000_000 : 1_000_000;
    this.recordHeaderLength = RECORD_HEADER_LENGTH + (h.modified ? MODIFIED_EXTRA_LENGTH : 0);
    // A record may exceed the file's snaplen (buggy writers do that, and libpcap accepts it) but never the
    // larger of snaplen and libpcap's own maximum, nor our memory limit.
    this.recordLimit = Math.min(this.maxRecordBytes, Math.max(h.snaplen, PCAP_MAX_SNAPLEN));
    const section: SectionInfo = {
      format: 'pcap', section: 0, littleEndian: h.littleEndian, versionMajor: h.versionMajor,
      versionMinor: h.versionMinor, nanosecond: h.nanosecond,
    };
    this.sink.section?.(section);
    const iface: InterfaceInfo = {
      id: 0, section: 0, linkType: h.linkType, snaplen: h.snaplen,
      tsUnitsPerSecond: h.nanosecond ? 1_000_000_000n : 1_000_000n, tsOffset: 0n,
    };
    if (h.fcsLength !== undefined) iface.fcsLength = h.fcsLength;
    this.sink.interface?.(iface);
  }

  /** The hot loop: walk every complete record of `chunk` from `off`, keep the tail as a partial. */
  private walkRecords(chunk: Buffer, off: number): void {
    const h = this.header as PcapFileHeader;
    const le = h.littleEndian;
    const hl = this.recordHeaderLength;
    const end = chunk.length;
    const ab = chunk.buffer as ArrayBuffer; // read once: `.buffer` is not free
    const base = chunk.byteOffset;
    const sink = this.sink;
    const bulk = sink.skip !== undefined && sink.skipUntil !== undefined;
    // records wholly before `clean` are left out unasked (ParserSink.skipUntil), `run` of them not yet told
    let clean = bulk ? (sink.skipUntil as NonNullable<ParserSink['skipUntil']>)(chunk, off, end) : off;
    let run = 0;
    while (end - off >= hl) {
      const caplen = le ? chunk.readUInt32LE(off + 8) : chunk.readUInt32BE(off + 8);
      if (caplen > this.recordLimit) { this.skippedRun(run); this.tooLarge(caplen); }
      const total = hl + caplen;
      if (end - off < total) break;
      if (off + total <= clean) {
        this.frame++;
        run++;
      } else {
        run = this.skippedRun(run);
        if (sink.skip !== undefined && this.skipRecord(sink, chunk, off, hl, caplen)) this.frame++;
        else this.emitRecord(chunk, off, bufferViewOf(ab, base + off + hl, caplen));
        if (bulk) clean = (sink.skipUntil as NonNullable<ParserSink['skipUntil']>)(chunk, off + total, end);
      }
      off += total;
      this.consumed += total;
    }
    this.skippedRun(run);
    if (off < end) {
      const need = end - off >= hl ? hl + (le ? chunk.readUInt32LE(off + 8) : chunk.readUInt32BE(off + 8)) : hl;
      this.startPartial(chunk, off, need);
    }
  }

  /** Tells the sink about `count` records skipped unasked (already counted in `frame`); returns 0. */
  private skippedRun(count: number): number {
    if (count > 0) this.sink.skippedRun?.(count);
    return 0;
  }

  /** The sink's skip() asked about the record whose header is at `off`, with its time as emitRecord reads it. */
  private skipRecord(sink: ParserSink, hdr: Buffer, off: number, hl: number, caplen: number): boolean {
    const h = this.header as PcapFileHeader;
    const le = h.littleEndian;
    let tsSec = le ? hdr.readUInt32LE(off) : hdr.readUInt32BE(off);
    let frac = le ? hdr.readUInt32LE(off + 4) : hdr.readUInt32BE(off + 4);
    if (frac >= this.fracPerSecond) {
      tsSec += Math.floor(frac / this.fracPerSecond);
      frac %= this.fracPerSecond;
    }
    return sink.skip!(hdr, off + hl, caplen, h.linkType, h.fcsLength, tsSec, frac * this.fracToNs);
  }

  private emitRecord(hdr: Buffer, off: number, data: Buffer): void {
    const h = this.header as PcapFileHeader;
    const le = h.littleEndian;
    let tsSec = le ? hdr.readUInt32LE(off) : hdr.readUInt32BE(off);
    let frac = le ? hdr.readUInt32LE(off + 4) : hdr.readUInt32BE(off + 4);
    const len = le ? hdr.readUInt32LE(off + 12) : hdr.readUInt32BE(off + 12);
    if (frac >= this.fracPerSecond) { // out-of-range fraction (fuzzed files): carry it into the seconds
      tsSec += Math.floor(frac / this.fracPerSecond);
      frac %= this.fracPerSecond;
    }
    const rec: PacketRecord = {
      frame: ++this.frame,
      linkType: h.linkType,
      tsSec, // thiszone is not applied: libpcap and Wireshark ignore it too (writers always put 0 there)
      tsNsec: frac * this.fracToNs,
      caplen: data.length,
      len,
      interfaceId: 0,
      data,
      noTimestamp: undefined,
      options: undefined,
      fcsLength: h.fcsLength,
      nanoPrecision: h.nanosecond,
    };
    this.sink.packet(rec);
  }

  private tooLarge(caplen: number): never {
    const h = this.header as PcapFileHeader;
    throw new CaptureError(
      'PCAP_RECORD_TOO_LARGE',
      `record ${this.frame + 1} claims ${caplen} captured bytes, more than the snaplen allows (snaplen ${h.snaplen}, limit ${this.recordLimit})`,
      this.consumed,
    );
  }

  private startPartial(chunk: Buffer, off: number, need: number): void {
    this.partial = Buffer.allocUnsafe(need);
    this.partialFill = chunk.copy(this.partial, 0, off);
  }

  /** Moves bytes from `chunk` into the partial buffer; returns how many bytes of `chunk` were used. */
  private fillPartial(chunk: Buffer): number {
    let used = 0;
    for (;;) {
      const p = this.partial as Buffer;
      const n = chunk.copy(p, this.partialFill, used, used + (p.length - this.partialFill));
      used += n;
      this.partialFill += n;
      if (this.partialFill < p.length) return used;
      if (!this.header) {
        this.partial = null;
        this.takeFileHeader(p);
        return used;
      }
      // The record header is complete: grow to the whole record once its length is known.
      const hl = this.recordHeaderLength;
      if (p.length === hl) {
        const caplen = this.header.littleEndian ? p.readUInt32LE(8) : p.readUInt32BE(8);
        if (caplen > this.recordLimit) this.tooLarge(caplen);
        if (caplen > 0) {
          const whole = Buffer.allocUnsafe(hl + caplen);
          p.copy(whole, 0);
          this.partial = whole;
          continue;
        }
      }
      this.partial = null;
      this.partialFill = 0;
      const sink = this.sink;
      if (sink.skip !== undefined && this.skipRecord(sink, p, 0, hl, p.length - hl)) this.frame++;
      else this.emitRecord(p, 0, p.subarray(hl));
      this.consumed += p.length;
      return used;
    }
  }
}

export interface PcapWriterOptions {
  /** Write nanosecond timestamps (magic a1b23c4d). Default false (microseconds, the most widely read). */
  nanosecond?: boolean;
  snaplen?: number;
  /** Write big-endian. Default: little-endian. */
  bigEndian?: boolean;
  /**
   * Reproduce this file header exactly (magic, byte order, version, thiszone, sigfigs, snaplen, link-type
   * field). This is how reading and writing a classic pcap file is byte-identical.
   */
  sourceHeader?: PcapFileHeader;
}

/** Classic pcap writer: `fileHeader(linkType)` once, then `record(rec)` per packet. */
export class PcapWriter {
  readonly nanosecond: boolean;
  readonly littleEndian: boolean;
  private readonly opts: PcapWriterOptions;

  constructor(opts: PcapWriterOptions = {}) {
    this.opts = opts;
    const src = opts.sourceHeader;
    this.nanosecond = src ? src.nanosecond : !!opts.nanosecond;
    this.littleEndian = src ? src.littleEndian : !opts.bigEndian;
  }

  fileHeader(linkType: number, fcsLength?: number): Buffer {
    const src = this.opts.sourceHeader;
    if (src && src.linkType === linkType && !src.modified) {
      return Buffer.from(src.raw);
    }
    const b = Buffer.alloc(PCAP_FILE_HEADER_LENGTH);
    const le = this.littleEndian;
    const w32 = (v: number, o: number) => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
    const w16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
    w32(this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
    w16(2, 4);
    w16(4, 6);
    w32(0, 8);
    w32(0, 12);
    w32(this.opts.snaplen ?? PCAP_MAX_SNAPLEN, 16);
    let field = linkType & 0xffff;
    if (fcsLength !== undefined && fcsLength > 0) field |= 0x04000000 | (((fcsLength / 2) & 0xf) << 28);
    w32(field, 20);
    return b;
  }

  /** The 16-byte record header followed by the data, as one Buffer. */
  record(rec: PacketRecord): Buffer {
    const out = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + rec.data.length);
    this.recordHeaderInto(rec, out, 0);
    rec.data.copy(out, RECORD_HEADER_LENGTH);
    return out;
  }

  /** Writes just the 16-byte record header at `off`. */
  recordHeaderInto(rec: PacketRecord, out: Buffer, off: number): void {
    const sec = rec.tsSec;
    const frac = this.nanosecond ? rec.tsNsec : Math.floor(rec.tsNsec / 1000);
    if (this.littleEndian) {
      out.writeUInt32LE(sec >>> 0, off);
      out.writeUInt32LE(frac, off + 4);
      out.writeUInt32LE(rec.data.length, off + 8);
      out.writeUInt32LE(rec.len >>> 0, off + 12);
    } else {
      out.writeUInt32BE(sec >>> 0, off);
      out.writeUInt32BE(frac, off + 4);
      out.writeUInt32BE(rec.data.length, off + 8);
      out.writeUInt32BE(rec.len >>> 0, off + 12);
    }
  }
}
