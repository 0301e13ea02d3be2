/**
 * Copying a classic pcap file record by record without parsing its packets: the walk `pcap-pipe read`
 * does when it has nothing to decode (one classic pcap input, classic pcap out). It finds the record
 * boundaries from the 16-byte record headers only, so a block of complete records can be copied as it
 * is, and says what PcapParser would have said about the same bytes: the same PCAP_RECORD_TOO_LARGE
 * limit, the same PCAP_TRUNCATED message for a file cut short. The output equals what parsing and
 * re-writing gives: a timestamp fraction out of range (fuzzed files) is carried into the seconds in place,
 * as PcapParser + PcapWriter do; every other byte is the input's.
 */
import { CaptureError } from '../core/errors';
import { DEFAULT_MAX_RECORD_BYTES } from './format';
import { PCAP_FILE_HEADER_LENGTH, PCAP_MAX_SNAPLEN, type PcapFileHeader } from './pcap';

const RECORD_HEADER_LENGTH = 16;

/** Whether a file with this header can be copied by PcapRecordWalker (version 2, not the "modified" format). */
export function copyablePcapHeader(h: PcapFileHeader): boolean {
  return !h.modified && h.versionMajor === 2;
}

export class PcapRecordWalker {
  private readonly le: boolean;
  private readonly limit: number;
  private readonly fracPerSecond: number;
  private readonly snaplen: number;
  /** Complete records walked so far. */
  packets = 0;
  /** Input bytes walked so far, the file header included (PcapParser's bytesConsumed). */
  consumed = PCAP_FILE_HEADER_LENGTH;
  /** Set when a record is larger than allowed: nothing from it on can be read. */
  failure: CaptureError | null = null;

  constructor(header: PcapFileHeader, opts: { maxRecordBytes?: number } = {}) {
    if (!copyablePcapHeader(header)) throw new RangeError('PcapRecordWalker: only version 2 files in the standard record format');
    this.le = header.littleEndian;
    this.snaplen = header.snaplen;
    this.fracPerSecond = header.nanosecond ? 1_000_000_000 : 1_000_000;
    // the limit PcapParser applies (see PcapParser.takeFileHeader)
    this.limit = Math.min(opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES, Math.max(header.snaplen, PCAP_MAX_SNAPLEN));
  }

  /**
   * Walks the complete records of `buf` from `start` to `end` and returns the offset just past the last
   * of them (the bytes from there on are an incomplete record, to be completed by more input). Throws
   * PCAP_RECORD_TOO_LARGE as PcapParser does, once the records before it are counted.
   */
  walk(buf: Buffer, start: number, end: number): number {
    const le = this.le;
    const fps = this.fracPerSecond;
    let off = start;
    if (this.failure !== null) return off;
    while (end - off >= RECORD_HEADER_LENGTH) {
      const caplen = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
      if (caplen > this.limit) { this.failure = this.tooLarge(caplen); break; }
      const total = RECORD_HEADER_LENGTH + caplen;
      if (end - off < total) break;
      const frac = le ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4);
      if (frac >= fps) this.carry(buf, off, frac);
      off += total;
      this.consumed += total;
      this.packets++;
    }
    return off;
  }

  /**
   * The error PcapParser reports when the input ends with `rest` (the bytes after the last complete
   * record, fewer than a whole record) still unused; null when there are none.
   */
  truncation(rest: Buffer): CaptureError | null {
    if (rest.length === 0) return null;
    const hl = RECORD_HEADER_LENGTH;
    const where = rest.length < hl
      ? `inside the header of record ${this.packets + 1} (${rest.length} of ${hl} bytes)`
      : `inside record ${this.packets + 1} (${rest.length - hl} of ${this.le ? rest.readUInt32LE(8) : rest.readUInt32BE(8)} data bytes)`;
    return new CaptureError('PCAP_TRUNCATED', `capture file cut short ${where} after ${this.packets} complete packets`, this.consumed);
  }

  /** A fraction of a second out of range: carried into the seconds, as PcapParser reads it and PcapWriter writes it. */
  private carry(buf: Buffer, off: number, frac: number): void {
    const le = this.le;
    const fps = this.fracPerSecond;
    const sec = (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off)) + Math.floor(frac / fps);
    if (le) {
      buf.writeUInt32LE(sec >>> 0, off);
      buf.writeUInt32LE(frac % fps, off + 4);
    } else {
      buf.writeUInt32BE(sec >>> 0, off);
      buf.writeUInt32BE(frac % fps, off + 4);
    }
  }

  private tooLarge(caplen: number): CaptureError {
    return new CaptureError(
      'PCAP_RECORD_TOO_LARGE',
      `record ${this.packets + 1} claims ${caplen} captured bytes, more than the snaplen allows (snaplen ${this.snaplen}, limit ${this.limit})`,
      this.consumed,
    );
  }
}
