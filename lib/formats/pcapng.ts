/**
 * pcapng reader and writer (draft-ietf-opsawg-pcapng).
 *
 * `PcapngParser` is a push-style state machine: `write(chunk)` with chunks of any size (1 byte to
 * megabytes), then `end()`. A block that lies inside one chunk is parsed in place and its packet
 * `data` is a zero-copy view into that chunk; a block that spans chunks is gathered into a Buffer of
 * exactly its own length (bounded by `maxRecordBytes`), so the carry-over never grows beyond one block.
 *
 * `PcapngWriter` turns PacketRecords into little-endian pcapng: one SHB, one IDB per distinct
 * (source interface, link type), and EPBs with nanosecond timestamps.
 */
import { formatIPv4, formatIPv6 } from '../core/addresses';
import { bufferView } from '../core/buffer-view';
import { CaptureError } from '../core/errors';
import {
  DEFAULT_MAX_RECORD_BYTES,
  type InterfaceInfo,
  type InterfaceStats,
  type NameRecord,
  type ParserSink,
  type SectionInfo,
} from './format';
import type { PacketOptions, PacketRecord } from '../core/record';

/** Block type codes (pcapng spec section 11.1). */
export const BlockType = {
  /** Obsolete Packet Block. */
  PACKET: 0x00000002,
  INTERFACE_DESCRIPTION: 0x00000001,
  SIMPLE_PACKET: 0x00000003,
  NAME_RESOLUTION: 0x00000004,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
  SYSTEMD_JOURNAL: 0x00000009,
  DECRYPTION_SECRETS: 0x0000000a,
  CUSTOM: 0x00000bad,
  CUSTOM_NO_COPY: 0x40000bad,
  SECTION_HEADER: 0x0a0d0d0a,
} as const;

/** Byte-order magic of the Section Header Block, as written by the host that made the section. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Smallest possible block: type, total length, trailing total length. */
const MIN_BLOCK_BYTES = 12;
/** SHB: type, length, BOM, major, minor, section length (8), trailing length. */
const MIN_SHB_BYTES = 28;
/** EPB fixed part: type, length, interface id, ts high, ts low, caplen, len, trailing length. */
const EPB_FIXED_BYTES = 32;
/** SPB fixed part: type, length, original length, trailing length. */
const SPB_FIXED_BYTES = 16;
/** Obsolete Packet Block fixed part: same layout size as EPB. */
const PB_FIXED_BYTES = 32;
/** IDB fixed part: type, length, linktype(2), reserved(2), snaplen, trailing length. */
const IDB_FIXED_BYTES = 20;
/** ISB fixed part: type, length, interface id, ts high, ts low, trailing length. */
const ISB_FIXED_BYTES = 24;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;

const SHB_HARDWARE = 2;
const SHB_OS = 3;
const SHB_USERAPPL = 4;

const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_SPEED = 8;
const IF_TSRESOL = 9;
const IF_FILTER = 11;
const IF_OS = 12;
const IF_FCSLEN = 13;
const IF_TSOFFSET = 14;
const IF_HARDWARE = 15;

const EPB_FLAGS = 2;
const EPB_HASH = 3;
const EPB_DROPCOUNT = 4;
const EPB_PACKETID = 5;
const EPB_QUEUE = 6;
const EPB_VERDICT = 7;

/** Obsolete Packet Block options: pack_flags and pack_hash use the same layout as the EPB ones. */
const PACK_FLAGS = 2;
const PACK_HASH = 3;
/** Obsolete Packet Block: "drops count not available". */
const PB_DROPS_UNKNOWN = 0xffff;

const ISB_STARTTIME = 2;
const ISB_ENDTIME = 3;
const ISB_IFRECV = 4;
const ISB_IFDROP = 5;
const ISB_FILTERACCEPT = 6;
const ISB_OSDROP = 7;
const ISB_USRDELIV = 8;

const NRB_RECORD_END = 0;
const NRB_RECORD_IPV4 = 1;
const NRB_RECORD_IPV6 = 2;

const TWO_POW_32 = 4294967296;
const NS_PER_SECOND = 1_000_000_000;

export interface PcapngParserOptions {
  /** A block longer than this is an error (PCAP_RECORD_TOO_LARGE); default DEFAULT_MAX_RECORD_BYTES. */
  maxRecordBytes?: number;
}

/** Per-interface state the packet path needs, precomputed once per IDB. */
interface InterfaceState {
  info: InterfaceInfo;
  linkType: number;
  /** 0 = no limit. */
  snaplen: number;
  /**
   * Units per second when it is 10^k with k <= 9: the fast exact path (no BigInt) applies.
   * 0 when the resolution needs the BigInt path (powers of two, 10^k with k > 9).
   */
  decimalUnits: number;
  /** Nanoseconds per unit for the fast path (10^(9-k)). */
  nsPerUnit: number;
  unitsPerSecond: bigint;
  tsOffsetSec: number;
  fcsLength: number | undefined;
  /** Resolution finer than microseconds: records say so (writers then keep nanoseconds). */
  nanoPrecision: boolean;
}

/** Timestamp result slot, reused to avoid an object per packet. */
interface TimeSlot { sec: number; nsec: number; }

/** Reads a u16/u32 in the section's byte order. */
function u16(buf: Buffer, off: number, le: boolean): number {
  return le ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
}
function u32(buf: Buffer, off: number, le: boolean): number {
  return le
    ? (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 0x1000000
    : buf[off]! * 0x1000000 + ((buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!);
}
function u64(buf: Buffer, off: number, le: boolean): bigint {
  return le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
}
function i64(buf: Buffer, off: number, le: boolean): bigint {
  return le ? buf.readBigInt64LE(off) : buf.readBigInt64BE(off);
}

function padTo4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Converts a 64-bit timestamp in units of 1/`units` s (units = 10^k, k <= 9) to seconds + ns, exactly,
 * without BigInt. The double estimate of the seconds can be off by one; the remainder is then
 * recomputed modulo 2^32 (exact with Math.imul), which identifies and corrects the off-by-one because
 * the true remainder lies in (-units, 2*units) and that range is narrower than 2^32.
 */
function splitDecimalTimestamp(high: number, low: number, units: number, nsPerUnit: number, out: TimeSlot): void {
  let sec = Math.floor((high * TWO_POW_32 + low) / units);
  // remainder = value - sec*units, taken mod 2^32 (the high word contributes 0 mod 2^32).
  const rem = (low - Math.imul(sec, units)) >>> 0;
  let r: number;
  if (rem >= 0x80000000) {
    // negative remainder: the estimate was one too high
    sec -= 1;
    r = rem - TWO_POW_32 + units;
  } else if (rem >= units) {
    sec += 1;
    r = rem - units;
  } else {
    r = rem;
  }
  out.sec = sec;
  out.nsec = r * nsPerUnit;
}

/** General case (powers of two, finer than ns): exact BigInt division, ns truncated toward zero. */
function splitTimestampBig(high: number, low: number, units: bigint, out: TimeSlot): void {
  const value = (BigInt(high) << 32n) | BigInt(low);
  const sec = value / units;
  const rest = value - sec * units;
  out.sec = Number(sec);
  out.nsec = Number((rest * 1_000_000_000n) / units);
}

/** Reads the 1-byte if_tsresol value: MSB clear = 10^-v s, MSB set = 2^-(v & 0x7f) s. */
export function tsresolToUnitsPerSecond(v: number): bigint {
  return v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
}

function makeInterfaceState(info: InterfaceInfo): InterfaceState {
  const units = info.tsUnitsPerSecond;
  let decimalUnits = 0;
  let nsPerUnit = 0;
  for (let k = 0, p = 1; k <= 9; k++, p *= 10) {
    if (units === BigInt(p)) {
      decimalUnits = p;
      nsPerUnit = NS_PER_SECOND / p;
      break;
    }
  }
  return {
    info,
    linkType: info.linkType,
    snaplen: info.snaplen,
    decimalUnits,
    nsPerUnit,
    unitsPerSecond: units,
    tsOffsetSec: Number(info.tsOffset),
    fcsLength: info.fcsLength,
    nanoPrecision: units > 1_000_000n,
  };
}

/**
 * Walks the options of one block. One instance per parser, reused for every block (no closures or
 * objects per option). `next()` returns false at opt_endofopt or at the end of the option area.
 */
class OptionCursor {
  buf: Buffer = Buffer.alloc(0);
  le = true;
  private pos = 0;
  private end = 0;
  private blockOffset = 0;
  code = 0;
  valueStart = 0;
  valueLength = 0;

  /** Offset of the block start inside `buf`, for messages. */
  private blockStartInBuf = 0;

  reset(buf: Buffer, blockStartInBuf: number, start: number, end: number, le: boolean, blockOffset: number): void {
    this.buf = buf;
    this.blockStartInBuf = blockStartInBuf;
    this.pos = start;
    this.end = end;
    this.le = le;
    this.blockOffset = blockOffset;
  }

  /** @throws CaptureError PCAP_BAD_BLOCK when an option's length runs past the block. */
  next(): boolean {
    if (this.end - this.pos < 4) return false; // fewer bytes than an option header: no more options
    const code = u16(this.buf, this.pos, this.le);
    if (code === OPT_ENDOFOPT) return false;
    const length = u16(this.buf, this.pos + 2, this.le);
    const valueStart = this.pos + 4;
    if (valueStart + length > this.end) {
      throw new CaptureError(
        'PCAP_BAD_BLOCK',
        `pcapng option ${code} of length ${length} at block offset ${this.pos - this.blockStartInBuf} runs past the end of its block (block at offset ${this.blockOffset})`,
        this.blockOffset,
      );
    }
    this.code = code;
    this.valueStart = valueStart;
    this.valueLength = length;
    this.pos = valueStart + padTo4(length);
    return true;
  }

  string(): string {
    return this.buf.toString('utf8', this.valueStart, this.valueStart + this.valueLength);
  }
  /** A string option without trailing NULs (some writers include the terminator). */
  cleanString(): string {
    let end = this.valueStart + this.valueLength;
    while (end > this.valueStart && this.buf[end - 1] === 0) end--;
    return this.buf.toString('utf8', this.valueStart, end);
  }
  u8(): number { return this.buf[this.valueStart]!; }
  u32(): number { return u32(this.buf, this.valueStart, this.le); }
  u64(): bigint { return u64(this.buf, this.valueStart, this.le); }
  i64(): bigint { return i64(this.buf, this.valueStart, this.le); }
  /** A copy of the value bytes (options kept by the caller must not pin the chunk). */
  bytes(): Buffer { return Buffer.from(this.buf.subarray(this.valueStart, this.valueStart + this.valueLength)); }
}

function blockTypeName(type: number): string {
  switch (type) {
    case BlockType.SECTION_HEADER: return 'Section Header Block';
    case BlockType.INTERFACE_DESCRIPTION: return 'Interface Description Block';
    case BlockType.PACKET: return 'Packet Block';
    case BlockType.SIMPLE_PACKET: return 'Simple Packet Block';
    case BlockType.NAME_RESOLUTION: return 'Name Resolution Block';
    case BlockType.INTERFACE_STATISTICS: return 'Interface Statistics Block';
    case BlockType.ENHANCED_PACKET: return 'Enhanced Packet Block';
    case BlockType.SYSTEMD_JOURNAL: return 'systemd Journal Export Block';
    case BlockType.DECRYPTION_SECRETS: return 'Decryption Secrets Block';
    case BlockType.CUSTOM: return 'Custom Block';
    case BlockType.CUSTOM_NO_COPY: return 'Custom Block (do not copy)';
    default: return `block type 0x${type.toString(16).padStart(8, '0')}`;
  }
}

export class PcapngParser {
  private readonly sink: ParserSink;
  private readonly maxRecordBytes: number;

  /** Header bytes collected when a chunk ended inside the first 12 bytes of a block. */
  private readonly headerBuf = Buffer.alloc(MIN_BLOCK_BYTES);
  private headerFilled = 0;
  /** The block being gathered across chunks (exactly its total length), or null. */
  private gather: Buffer | null = null;
  private gatherFilled = 0;
  private failure: CaptureError | null = null;

  /** Offset in the stream of the next byte write() will see. */
  private streamOffset = 0;
  /** Bytes of complete blocks processed so far. */
  private consumed = 0;

  private sawSection = false;
  private littleEndian = true;
  private sectionIndex = -1;
  private interfaces: InterfaceState[] = [];
  private frameCount = 0;
  private skippedCount = 0;

  private readonly options = new OptionCursor();
  private readonly time: TimeSlot = { sec: 0, nsec: 0 };

  constructor(sink: ParserSink, opts?: PcapngParserOptions) {
    this.sink = sink;
    this.maxRecordBytes = opts?.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** Bytes of complete blocks parsed so far (a block being gathered is not counted yet). */
  get bytesConsumed(): number { return this.consumed; }
  /** Packets delivered so far. */
  get packets(): number { return this.frameCount; }
  /** Blocks skipped (custom, DSB, journal, unknown). */
  get skippedBlocks(): number { return this.skippedCount; }
  /** Current section index (0-based), -1 before the first SHB. */
  get section(): number { return this.sectionIndex; }

  /**
   * Parses `chunk`. Packets and other blocks are reported to the sink synchronously.
   * @throws CaptureError on malformed input; after that the parser stays failed and rethrows.
   */
  write(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    try {
      this.parse(chunk);
    } catch (e) {
      if (e instanceof CaptureError) this.failure = e;
      throw e;
    }
  }

  /**
   * Signals the end of input.
   * @throws CaptureError PCAP_TRUNCATED when the input stopped inside a block, or was empty.
   */
  end(): void {
    if (this.failure) throw this.failure;
    let err: CaptureError | null = null;
    const blockStart = this.streamOffset - (this.gather ? this.gatherFilled : this.headerFilled);
    if (this.gather) {
      const type = u32(this.gather, 0, this.littleEndianFor(this.gather));
      err = new CaptureError(
        'PCAP_TRUNCATED',
        `pcapng input ended inside a ${blockTypeName(type)} at offset ${blockStart}: ${this.gatherFilled} of its ${this.gather.length} bytes present`,
        blockStart,
      );
    } else if (this.headerFilled > 0) {
      err = new CaptureError(
        'PCAP_TRUNCATED',
        `pcapng input ended inside a block header at offset ${blockStart}: ${this.headerFilled} of at least ${MIN_BLOCK_BYTES} bytes present`,
        blockStart,
      );
    } else if (!this.sawSection) {
      err = new CaptureError('PCAP_TRUNCATED', 'pcapng input is empty: no Section Header Block', 0);
    }
    if (err) {
      this.failure = err;
      throw err;
    }
  }

  /** SHBs are the same in both byte orders except for their BOM; other blocks use the section's order. */
  private littleEndianFor(block: Buffer): boolean {
    if (block.length >= 12 && block.readUInt32LE(0) === BlockType.SECTION_HEADER) {
      return block.readUInt32LE(8) === PCAPNG_BYTE_ORDER_MAGIC;
    }
    return this.littleEndian;
  }

  private parse(chunk: Buffer): void {
    const base = this.streamOffset;
    this.streamOffset += chunk.length;
    let off = 0;

    if (this.gather) {
      off = this.continueGather(chunk, 0, base);
      if (this.gather) return; // chunk used up
    } else if (this.headerFilled > 0) {
      const take = Math.min(MIN_BLOCK_BYTES - this.headerFilled, chunk.length);
      chunk.copy(this.headerBuf, this.headerFilled, 0, take);
      this.headerFilled += take;
      off = take;
      if (this.headerFilled < MIN_BLOCK_BYTES) return;
      const blockStart = base + off - MIN_BLOCK_BYTES;
      const total = this.readBlockLength(this.headerBuf, 0, blockStart);
      this.headerFilled = 0;
      const block = Buffer.allocUnsafe(total);
      this.headerBuf.copy(block, 0, 0, MIN_BLOCK_BYTES);
      this.gather = block;
      this.gatherFilled = MIN_BLOCK_BYTES;
      off = this.continueGather(chunk, off, base);
      if (this.gather) return;
    }

    const len = chunk.length;
    while (len - off >= MIN_BLOCK_BYTES) {
      const total = this.readBlockLength(chunk, off, base + off);
      if (off + total <= len) {
        this.processBlock(chunk, off, total, base + off);
        off += total;
        this.consumed += total;
      } else {
        // Block spans chunks: gather only this block.
        const block = Buffer.allocUnsafe(total);
        chunk.copy(block, 0, off, len);
        this.gather = block;
        this.gatherFilled = len - off;
        return;
      }
    }
    if (off < len) {
      chunk.copy(this.headerBuf, 0, off, len);
      this.headerFilled = len - off;
    }
  }

  /** Copies from chunk into the gathered block; processes it when complete. Returns the new offset. */
  private continueGather(chunk: Buffer, off: number, base: number): number {
    const block = this.gather!;
    const take = Math.min(block.length - this.gatherFilled, chunk.length - off);
    chunk.copy(block, this.gatherFilled, off, off + take);
    this.gatherFilled += take;
    off += take;
    if (this.gatherFilled === block.length) {
      this.gather = null;
      this.gatherFilled = 0;
      this.processBlock(block, 0, block.length, base + off - block.length);
      this.consumed += block.length;
    }
    return off;
  }

  /**
   * Reads and validates a block's total length from its first 12 bytes. For an SHB this also fixes
   * the byte order of the new section (its BOM is at offset 8).
   */
  private readBlockLength(buf: Buffer, off: number, streamPos: number): number {
    // The SHB type code reads the same in both byte orders, so the current order can test for it.
    const type = u32(buf, off, this.littleEndian);
    if (type === BlockType.SECTION_HEADER) this.startSection(buf, off, streamPos);
    else if (!this.sawSection) {
      throw new CaptureError(
        'PCAP_BAD_MAGIC',
        `pcapng input does not start with a Section Header Block (block type 0x${type.toString(16)})`,
        streamPos,
      );
    }
    const total = u32(buf, off + 4, this.littleEndian);
    if (total < MIN_BLOCK_BYTES || (total & 3) !== 0 || total > this.maxRecordBytes) this.rejectLength(type, total, streamPos);
    return total;
  }

  /** Reads the BOM of an SHB: the byte order of everything up to the next SHB. */
  private startSection(buf: Buffer, off: number, streamPos: number): void {
    const bom = buf.readUInt32LE(off + 8);
    if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = true;
    else if (bom === 0x4d3c2b1a) this.littleEndian = false;
    else {
      throw new CaptureError(
        'PCAP_BAD_MAGIC',
        `pcapng Section Header Block at offset ${streamPos} has byte-order magic 0x${bom.toString(16)}, neither 1a2b3c4d nor 4d3c2b1a`,
        streamPos,
      );
    }
    const total = u32(buf, off + 4, this.littleEndian);
    if (total < MIN_SHB_BYTES) this.rejectLength(BlockType.SECTION_HEADER, total, streamPos);
    this.sawSection = true;
  }

  private rejectLength(type: number, total: number, streamPos: number): never {
    const min = type === BlockType.SECTION_HEADER ? MIN_SHB_BYTES : MIN_BLOCK_BYTES;
    if (total < min || total % 4 !== 0) {
      throw new CaptureError(
        'PCAP_BAD_BLOCK',
        `pcapng ${blockTypeName(type)} at offset ${streamPos} has total length ${total} (must be a multiple of 4 and at least ${min})`,
        streamPos,
      );
    }
    throw new CaptureError(
      'PCAP_RECORD_TOO_LARGE',
      `pcapng ${blockTypeName(type)} at offset ${streamPos} is ${total} bytes, over the limit of ${this.maxRecordBytes} (maxRecordBytes)`,
      streamPos,
    );
  }

  private processBlock(buf: Buffer, off: number, total: number, streamPos: number): void {
    const le = this.littleEndian;
    const type = u32(buf, off, le);
    const trailing = u32(buf, off + total - 4, le);
    if (trailing !== total) {
      throw new CaptureError(
        'PCAP_BAD_BLOCK',
        `pcapng ${blockTypeName(type)} at offset ${streamPos}: trailing length ${trailing} differs from total length ${total}`,
        streamPos,
      );
    }
    switch (type) {
      case BlockType.ENHANCED_PACKET: this.enhancedPacket(buf, off, total, streamPos); break;
      case BlockType.SIMPLE_PACKET: this.simplePacket(buf, off, total, streamPos); break;
      case BlockType.PACKET: this.obsoletePacket(buf, off, total, streamPos); break;
      case BlockType.SECTION_HEADER: this.sectionHeader(buf, off, total, streamPos); break;
      case BlockType.INTERFACE_DESCRIPTION: this.interfaceDescription(buf, off, total, streamPos); break;
      case BlockType.INTERFACE_STATISTICS: this.interfaceStatistics(buf, off, total, streamPos); break;
      case BlockType.NAME_RESOLUTION: this.nameResolution(buf, off, total, streamPos); break;
      default:
        // Custom blocks, DSB, systemd journal, reserved and local-use types: skipped by length.
        this.skippedCount++;
        if (this.sink.skippedBlock) this.sink.skippedBlock(type, total);
    }
  }

  private startOptions(buf: Buffer, off: number, start: number, end: number, streamPos: number): OptionCursor {
    const cursor = this.options;
    cursor.reset(buf, off, start, end, this.littleEndian, streamPos);
    return cursor;
  }

  private badBlock(type: number, streamPos: number, what: string): CaptureError {
    return new CaptureError('PCAP_BAD_BLOCK', `pcapng ${blockTypeName(type)} at offset ${streamPos}: ${what}`, streamPos);
  }

  private interfaceFor(id: number, type: number, streamPos: number): InterfaceState {
    const iface = this.interfaces[id];
    if (iface === undefined) {
      throw new CaptureError(
        'PCAP_NO_INTERFACE',
        `pcapng ${blockTypeName(type)} at offset ${streamPos} names interface ${id}, but section ${this.sectionIndex} declared ${this.interfaces.length}`,
        streamPos,
      );
    }
    return iface;
  }

  private sectionHeader(buf: Buffer, off: number, total: number, streamPos: number): void {
    const le = this.littleEndian;
    const versionMajor = u16(buf, off + 12, le);
    const versionMinor = u16(buf, off + 14, le);
    if (versionMajor !== 1) {
      throw new CaptureError(
        'PCAP_BAD_VERSION',
        `pcapng Section Header Block at offset ${streamPos} has version ${versionMajor}.${versionMinor}; only major version 1 is defined`,
        streamPos,
      );
    }
    this.sectionIndex++;
    this.interfaces = [];
    const info: SectionInfo = {
      format: 'pcapng',
      section: this.sectionIndex,
      littleEndian: le,
      versionMajor,
      versionMinor,
    };
    const opt = this.startOptions(buf, off, off + 24, off + total - 4, streamPos);
    while (opt.next()) {
      switch (opt.code) {
        case SHB_HARDWARE: info.hardware = opt.cleanString(); break;
        case SHB_OS: info.os = opt.cleanString(); break;
        case SHB_USERAPPL: info.userAppl = opt.cleanString(); break;
        case OPT_COMMENT: (info.comments ??= []).push(opt.cleanString()); break;
      }
    }
    if (this.sink.section) this.sink.section(info);
  }

  private interfaceDescription(buf: Buffer, off: number, total: number, streamPos: number): void {
    if (total < IDB_FIXED_BYTES) throw this.badBlock(BlockType.INTERFACE_DESCRIPTION, streamPos, `total length ${total} < ${IDB_FIXED_BYTES}`);
    const le = this.littleEndian;
    const info: InterfaceInfo = {
      id: this.interfaces.length,
      section: this.sectionIndex,
      linkType: u16(buf, off + 8, le),
      snaplen: u32(buf, off + 12, le),
      tsUnitsPerSecond: 1_000_000n,
      tsOffset: 0n,
    };
    const opt = this.startOptions(buf, off, off + 16, off + total - 4, streamPos);
    while (opt.next()) {
      switch (opt.code) {
        case IF_NAME: info.name = opt.cleanString(); break;
        case IF_DESCRIPTION: info.description = opt.cleanString(); break;
        case IF_FILTER:
          // first byte: 0 = libpcap filter string, 1 = BPF bytecode (not representable as text)
          if (opt.valueLength >= 1 && opt.u8() === 0) {
            info.filter = buf.toString('utf8', opt.valueStart + 1, opt.valueStart + opt.valueLength).replace(/\0+$/, '');
          }
          break;
        case IF_OS: info.os = opt.cleanString(); break;
        case IF_HARDWARE: info.hardware = opt.cleanString(); break;
        case IF_TSRESOL: if (opt.valueLength >= 1) info.tsUnitsPerSecond = tsresolToUnitsPerSecond(opt.u8()); break;
        case IF_TSOFFSET: if (opt.valueLength >= 8) info.tsOffset = opt.i64(); break;
        case IF_FCSLEN: if (opt.valueLength >= 1) info.fcsLength = opt.u8(); break;
        case IF_SPEED: if (opt.valueLength >= 8) info.speed = opt.u64(); break;
        case OPT_COMMENT: (info.comments ??= []).push(opt.cleanString()); break;
      }
    }
    if (info.tsUnitsPerSecond === 0n) {
      throw this.badBlock(BlockType.INTERFACE_DESCRIPTION, streamPos, 'if_tsresol gives 0 units per second');
    }
    this.interfaces.push(makeInterfaceState(info));
    if (this.sink.interface) this.sink.interface(info);
  }

  /** Converts a block's timestamp words using the interface resolution; result in this.time. */
  private timestamp(iface: InterfaceState, high: number, low: number): void {
    const t = this.time;
    if (iface.decimalUnits !== 0) splitDecimalTimestamp(high, low, iface.decimalUnits, iface.nsPerUnit, t);
    else splitTimestampBig(high, low, iface.unitsPerSecond, t);
    t.sec += iface.tsOffsetSec;
  }

  private enhancedPacket(buf: Buffer, off: number, total: number, streamPos: number): void {
    if (total < EPB_FIXED_BYTES) throw this.badBlock(BlockType.ENHANCED_PACKET, streamPos, `total length ${total} < ${EPB_FIXED_BYTES}`);
    this.timestampedPacket(buf, off, total, streamPos, BlockType.ENHANCED_PACKET, u32(buf, off + 8, this.littleEndian), -1);
  }

  private obsoletePacket(buf: Buffer, off: number, total: number, streamPos: number): void {
    if (total < PB_FIXED_BYTES) throw this.badBlock(BlockType.PACKET, streamPos, `total length ${total} < ${PB_FIXED_BYTES}`);
    const le = this.littleEndian;
    this.timestampedPacket(buf, off, total, streamPos, BlockType.PACKET, u16(buf, off + 8, le), u16(buf, off + 10, le));
  }

  /**
   * EPB and the obsolete PB share their layout after the interface field: timestamp high/low, captured
   * and original length, data padded to 4, options. `drops` is the PB's drops count (-1 for an EPB).
   */
  private timestampedPacket(buf: Buffer, off: number, total: number, streamPos: number, type: number, interfaceId: number, drops: number): void {
    const le = this.littleEndian;
    const iface = this.interfaceFor(interfaceId, type, streamPos);
    const caplen = u32(buf, off + 20, le);
    const len = u32(buf, off + 24, le);
    const dataStart = off + 28;
    const optionsStart = dataStart + padTo4(caplen);
    const blockEnd = off + total - 4;
    if (dataStart + caplen > blockEnd) {
      throw this.badBlock(type, streamPos, `captured length ${caplen} does not fit the block (${total} bytes)`);
    }
    this.timestamp(iface, u32(buf, off + 12, le), u32(buf, off + 16, le));
    let options = optionsStart < blockEnd ? this.packetOptions(buf, off, optionsStart, blockEnd, streamPos, drops >= 0) : undefined;
    if (drops >= 0 && drops !== PB_DROPS_UNKNOWN) (options ??= {}).dropCount = BigInt(drops);
    this.emitPacket(iface, interfaceId, buf, dataStart, caplen, len, options, true);
  }

  private simplePacket(buf: Buffer, off: number, total: number, streamPos: number): void {
    if (total < SPB_FIXED_BYTES) throw this.badBlock(BlockType.SIMPLE_PACKET, streamPos, `total length ${total} < ${SPB_FIXED_BYTES}`);
    const iface = this.interfaceFor(0, BlockType.SIMPLE_PACKET, streamPos);
    const len = u32(buf, off + 8, this.littleEndian);
    // The SPB has no captured-length field: min(original length, snaplen, room in the block).
    let caplen = total - SPB_FIXED_BYTES;
    if (len < caplen) caplen = len;
    if (iface.snaplen !== 0 && iface.snaplen < caplen) caplen = iface.snaplen;
    this.emitPacket(iface, 0, buf, off + 12, caplen, len, undefined, false);
  }

  /** One record literal for every packet block, always the same shape (fast property access downstream). */
  private emitPacket(iface: InterfaceState, interfaceId: number, buf: Buffer, dataStart: number, caplen: number, len: number,
    options: PacketOptions | undefined, timestamped: boolean): void {
    this.sink.packet({
      frame: ++this.frameCount,
      linkType: iface.linkType,
      tsSec: timestamped ? this.time.sec : 0,
      tsNsec: timestamped ? this.time.nsec : 0,
      caplen,
      len,
      interfaceId,
      data: bufferView(buf, dataStart, caplen),
      noTimestamp: timestamped ? undefined : true,
      options,
      fcsLength: iface.fcsLength,
      nanoPrecision: iface.nanoPrecision,
    });
  }

  /** EPB (or obsolete PB) options; undefined when the option area holds only opt_endofopt. */
  private packetOptions(buf: Buffer, off: number, start: number, end: number, streamPos: number, obsolete: boolean): PacketOptions | undefined {
    const opt = this.startOptions(buf, off, start, end, streamPos);
    let result: PacketOptions | undefined;
    while (opt.next()) {
      const code = opt.code;
      if (code === OPT_COMMENT) {
        ((result ??= {}).comments ??= []).push(opt.cleanString());
      } else if (code === EPB_FLAGS || (obsolete && code === PACK_FLAGS)) {
        if (opt.valueLength >= 4) {
          const flags = opt.u32();
          result ??= {};
          result.flags = flags;
          const dir = flags & 3;
          if (dir === 1) result.direction = 'in';
          else if (dir === 2) result.direction = 'out';
        }
      } else if (code === EPB_HASH || (obsolete && code === PACK_HASH)) {
        ((result ??= {}).hashes ??= []).push(opt.bytes());
      } else if (obsolete) {
        continue; // the obsolete block defines no other options
      } else if (code === EPB_DROPCOUNT) {
        if (opt.valueLength >= 8) (result ??= {}).dropCount = opt.u64();
      } else if (code === EPB_PACKETID) {
        if (opt.valueLength >= 8) (result ??= {}).packetId = opt.u64();
      } else if (code === EPB_QUEUE) {
        if (opt.valueLength >= 4) (result ??= {}).queue = opt.u32();
      } else if (code === EPB_VERDICT) {
        ((result ??= {}).verdicts ??= []).push(opt.bytes());
      }
    }
    return result;
  }

  private interfaceStatistics(buf: Buffer, off: number, total: number, streamPos: number): void {
    if (total < ISB_FIXED_BYTES) throw this.badBlock(BlockType.INTERFACE_STATISTICS, streamPos, `total length ${total} < ${ISB_FIXED_BYTES}`);
    const le = this.littleEndian;
    const interfaceId = u32(buf, off + 8, le);
    // Statistics for an undeclared interface are not worth failing the read: fall back to µs.
    const iface = this.interfaces[interfaceId] ?? makeInterfaceState({
      id: interfaceId, section: this.sectionIndex, linkType: 0, snaplen: 0, tsUnitsPerSecond: 1_000_000n, tsOffset: 0n,
    });
    this.timestamp(iface, u32(buf, off + 12, le), u32(buf, off + 16, le));
    const stats: InterfaceStats = { interfaceId, section: this.sectionIndex, tsSec: this.time.sec, tsNsec: this.time.nsec };
    const opt = this.startOptions(buf, off, off + 20, off + total - 4, streamPos);
    while (opt.next()) {
      const code = opt.code;
      if (code === OPT_COMMENT) {
        (stats.comments ??= []).push(opt.cleanString());
        continue;
      }
      if (opt.valueLength < 8) continue;
      switch (code) {
        case ISB_STARTTIME:
        case ISB_ENDTIME: {
          this.timestamp(iface, opt.u32(), u32(buf, opt.valueStart + 4, le));
          const t = { tsSec: this.time.sec, tsNsec: this.time.nsec };
          if (code === ISB_STARTTIME) stats.startTime = t;
          else stats.endTime = t;
          break;
        }
        case ISB_IFRECV: stats.ifRecv = opt.u64(); break;
        case ISB_IFDROP: stats.ifDrop = opt.u64(); break;
        case ISB_FILTERACCEPT: stats.filterAccept = opt.u64(); break;
        case ISB_OSDROP: stats.osDrop = opt.u64(); break;
        case ISB_USRDELIV: stats.userDeliv = opt.u64(); break;
      }
    }
    if (this.sink.stats) this.sink.stats(stats);
  }

  private nameResolution(buf: Buffer, off: number, total: number, streamPos: number): void {
    const le = this.littleEndian;
    const end = off + total - 4;
    const records: NameRecord[] = [];
    let pos = off + 8;
    while (end - pos >= 4) {
      const type = u16(buf, pos, le);
      const length = u16(buf, pos + 2, le);
      const valueStart = pos + 4;
      if (type === NRB_RECORD_END) { pos = valueStart; break; }
      if (valueStart + length > end) {
        throw this.badBlock(BlockType.NAME_RESOLUTION, streamPos, `record of length ${length} runs past the end of the block`);
      }
      const addrLen = type === NRB_RECORD_IPV4 ? 4 : type === NRB_RECORD_IPV6 ? 16 : 0;
      if (addrLen !== 0 && length >= addrLen) {
        const address = addrLen === 4 ? formatIPv4(buf, valueStart) : formatIPv6(buf, valueStart);
        const names = buf
          .toString('utf8', valueStart + addrLen, valueStart + length)
          .split('\0')
          .filter((n) => n.length > 0);
        records.push({ address, names });
      }
      pos = valueStart + padTo4(length);
    }
    // NRB options (ns_dnsname...) are read only to validate their lengths.
    const opt = this.startOptions(buf, off, pos, end, streamPos);
    while (opt.next()) { /* validated by next() */ }
    if (this.sink.names) this.sink.names(records);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface PcapngHeaderOptions {
  /** shb_userappl: the application that wrote the file. */
  userAppl?: string;
  hardware?: string;
  os?: string;
  comment?: string;
}

/** Default IDB snaplen when the source does not say (what dumpcap uses). */
const WRITER_DEFAULT_SNAPLEN = 262144;
/** Largest whole second an unsigned 64-bit count of nanoseconds can hold (2^64 ns = 18446744073.7 s). */
const WRITER_MAX_SECONDS = 18446744072;
/** if_tsresol value the writer always uses: 10^-9 s. */
const WRITER_TSRESOL_NS = 9;

interface OptionSpec { code: number; value: Buffer; }

function stringOption(code: number, s: string): OptionSpec {
  return { code, value: Buffer.from(s, 'utf8') };
}

function optionsBytes(opts: OptionSpec[]): number {
  if (opts.length === 0) return 0;
  let n = 4; // opt_endofopt
  for (const o of opts) n += 4 + padTo4(o.value.length);
  return n;
}

/** Writes options (LE) at `pos`, followed by opt_endofopt; returns the new position. */
function writeOptions(out: Buffer, pos: number, opts: OptionSpec[]): number {
  if (opts.length === 0) return pos;
  for (const o of opts) {
    if (o.value.length > 0xffff) throw new CaptureError('PCAP_WRITE', `pcapng option ${o.code} is ${o.value.length} bytes, over 65535`);
    out.writeUInt16LE(o.code, pos);
    out.writeUInt16LE(o.value.length, pos + 2);
    o.value.copy(out, pos + 4);
    const padded = padTo4(o.value.length);
    out.fill(0, pos + 4 + o.value.length, pos + 4 + padded);
    pos += 4 + padded;
  }
  out.writeUInt32LE(0, pos); // opt_endofopt, length 0
  return pos + 4;
}

function u32Value(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}
function u64Value(n: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n), 0);
  return b;
}

/** Splits sec*1e9+nsec into 32-bit words exactly, without BigInt (see splitDecimalTimestamp). */
function nsTimestampWords(tsSec: number, tsNsec: number): { high: number; low: number } {
  const low = (Math.imul(tsSec, NS_PER_SECOND) + tsNsec) >>> 0;
  // The double value of sec*1e9+nsec is within a few hundred ns of the exact one, and the exact
  // value minus `low` is a multiple of 2^32: rounding recovers the high word exactly.
  const high = Math.round((tsSec * NS_PER_SECOND - low + tsNsec) / TWO_POW_32);
  return { high, low };
}

/**
 * Serialises PacketRecords as little-endian pcapng. Stateful: remembers which IDBs it has written.
 * Call `header()` once, then `packet()` per record; concatenate the Buffers in order.
 */
export class PcapngWriter {
  private readonly interfaceIndex = new Map<string, number>();

  /** The Section Header Block (section length -1 = not given). */
  header(opts?: PcapngHeaderOptions): Buffer {
    const options: OptionSpec[] = [];
    if (opts?.comment !== undefined) options.push(stringOption(OPT_COMMENT, opts.comment));
    if (opts?.hardware !== undefined) options.push(stringOption(SHB_HARDWARE, opts.hardware));
    if (opts?.os !== undefined) options.push(stringOption(SHB_OS, opts.os));
    if (opts?.userAppl !== undefined) options.push(stringOption(SHB_USERAPPL, opts.userAppl));
    const total = MIN_SHB_BYTES + optionsBytes(options);
    const out = Buffer.alloc(total);
    out.writeUInt32LE(BlockType.SECTION_HEADER, 0);
    out.writeUInt32LE(total, 4);
    out.writeUInt32LE(PCAPNG_BYTE_ORDER_MAGIC, 8);
    out.writeUInt16LE(1, 12);
    out.writeUInt16LE(0, 14);
    out.writeBigInt64LE(-1n, 16);
    writeOptions(out, 24, options);
    out.writeUInt32LE(total, total - 4);
    return out;
  }

  /** Number of IDBs written so far. */
  get interfaceCount(): number { return this.interfaceIndex.size; }

  /**
   * The EPB for `rec`, preceded by an IDB the first time its (interfaceId, linkType) is seen.
   * @throws CaptureError PCAP_WRITE for a timestamp before 1970 or after 2554 (unsigned 64-bit ns).
   */
  packet(rec: PacketRecord, iface?: Partial<InterfaceInfo>): Buffer {
    const key = `${rec.interfaceId}/${rec.linkType}`;
    let idb: Buffer | null = null;
    let id = this.interfaceIndex.get(key);
    if (id === undefined) {
      id = this.interfaceIndex.size;
      this.interfaceIndex.set(key, id);
      idb = this.interfaceBlock(rec, iface);
    }
    if (rec.tsSec < 0 || rec.tsSec > WRITER_MAX_SECONDS) {
      throw new CaptureError('PCAP_WRITE', `frame ${rec.frame}: timestamp ${rec.tsSec} s does not fit an unsigned 64-bit nanosecond count`);
    }

    const data = rec.data;
    const options = this.packetOptionSpecs(rec.options);
    const epbTotal = EPB_FIXED_BYTES + padTo4(data.length) + optionsBytes(options);
    const idbTotal = idb ? idb.length : 0;
    const out = Buffer.allocUnsafe(idbTotal + epbTotal);
    if (idb) idb.copy(out, 0);
    let p = idbTotal;
    const { high, low } = rec.noTimestamp ? { high: 0, low: 0 } : nsTimestampWords(rec.tsSec, rec.tsNsec);
    out.writeUInt32LE(BlockType.ENHANCED_PACKET, p);
    out.writeUInt32LE(epbTotal, p + 4);
    out.writeUInt32LE(id, p + 8);
    out.writeUInt32LE(high, p + 12);
    out.writeUInt32LE(low, p + 16);
    out.writeUInt32LE(data.length, p + 20);
    out.writeUInt32LE(Math.max(rec.len, data.length), p + 24);
    data.copy(out, p + 28);
    const padEnd = p + 28 + padTo4(data.length);
    out.fill(0, p + 28 + data.length, padEnd);
    writeOptions(out, padEnd, options);
    out.writeUInt32LE(epbTotal, p + epbTotal - 4);
    return out;
  }

  private interfaceBlock(rec: PacketRecord, iface?: Partial<InterfaceInfo>): Buffer {
    const options: OptionSpec[] = [];
    if (iface?.name !== undefined) options.push(stringOption(IF_NAME, iface.name));
    if (iface?.description !== undefined) options.push(stringOption(IF_DESCRIPTION, iface.description));
    options.push({ code: IF_TSRESOL, value: Buffer.from([WRITER_TSRESOL_NS]) });
    const fcs = rec.fcsLength ?? iface?.fcsLength;
    if (fcs !== undefined) options.push({ code: IF_FCSLEN, value: Buffer.from([fcs]) });
    if (iface?.os !== undefined) options.push(stringOption(IF_OS, iface.os));
    if (iface?.hardware !== undefined) options.push(stringOption(IF_HARDWARE, iface.hardware));
    const total = IDB_FIXED_BYTES + optionsBytes(options);
    const out = Buffer.alloc(total);
    out.writeUInt32LE(BlockType.INTERFACE_DESCRIPTION, 0);
    out.writeUInt32LE(total, 4);
    out.writeUInt16LE(rec.linkType, 8);
    out.writeUInt16LE(0, 10);
    out.writeUInt32LE(iface?.snaplen ?? WRITER_DEFAULT_SNAPLEN, 12);
    writeOptions(out, 16, options);
    out.writeUInt32LE(total, total - 4);
    return out;
  }

  private packetOptionSpecs(o: PacketOptions | undefined): OptionSpec[] {
    if (o === undefined) return [];
    const specs: OptionSpec[] = [];
    if (o.comments) for (const c of o.comments) specs.push(stringOption(OPT_COMMENT, c));
    let flags = o.flags;
    if (flags === undefined && o.direction !== undefined) flags = o.direction === 'in' ? 1 : 2;
    if (flags !== undefined) specs.push({ code: EPB_FLAGS, value: u32Value(flags) });
    if (o.hashes) for (const h of o.hashes) specs.push({ code: EPB_HASH, value: h });
    if (o.dropCount !== undefined) specs.push({ code: EPB_DROPCOUNT, value: u64Value(o.dropCount) });
    if (o.packetId !== undefined) specs.push({ code: EPB_PACKETID, value: u64Value(o.packetId) });
    if (o.queue !== undefined) specs.push({ code: EPB_QUEUE, value: u32Value(o.queue) });
    if (o.verdicts) for (const v of o.verdicts) specs.push({ code: EPB_VERDICT, value: v });
    return specs;
  }
}
