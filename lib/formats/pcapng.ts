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
import type { PacketOptions } from '../core/record';
import {
  BlockType, EPB_DROPCOUNT, EPB_FIXED_BYTES, EPB_FLAGS, EPB_HASH, EPB_PACKETID, EPB_QUEUE, EPB_VERDICT,
  IDB_FIXED_BYTES, IF_DESCRIPTION, IF_FCSLEN, IF_FILTER, IF_HARDWARE, IF_NAME, IF_OS, IF_SPEED,
  IF_TSOFFSET, IF_TSRESOL, ISB_ENDTIME, ISB_FILTERACCEPT, ISB_FIXED_BYTES, ISB_IFDROP, ISB_IFRECV, ISB_OSDROP,
  ISB_STARTTIME, ISB_USRDELIV, type InterfaceState, MIN_BLOCK_BYTES, MIN_SHB_BYTES, NRB_RECORD_END, NRB_RECORD_IPV4, NRB_RECORD_IPV6,
  OPT_COMMENT, OptionCursor, PACK_FLAGS, PACK_HASH, PB_DROPS_UNKNOWN, PB_FIXED_BYTES, PCAPNG_BYTE_ORDER_MAGIC, SHB_HARDWARE,
  SHB_OS, SHB_USERAPPL, SPB_FIXED_BYTES, type TimeSlot, blockTypeName, makeInterfaceState, padTo4, splitDecimalTimestamp,
  splitTimestampBig, tsresolToUnitsPerSecond, u16, u32,
} from './pcapng-blocks';
import { PcapngWriter, type PcapngHeaderOptions } from './pcapng-writer';

export { BlockType, PCAPNG_BYTE_ORDER_MAGIC, tsresolToUnitsPerSecond } from './pcapng-blocks';
export { PcapngWriter, type PcapngHeaderOptions };


export interface PcapngParserOptions {
  /** A block longer than this is an error (PCAP_RECORD_TOO_LARGE); default DEFAULT_MAX_RECORD_BYTES. */
  maxRecordBytes?: number;
}

/**
 * Where the parser is between two chunks:
 *
 *   BlockStart ──chunk ends inside a block's first 12 bytes──► Header ──12 bytes──► Gather
 *       ▲  │                                                                         │
 *       │  └──chunk ends inside a block (its length known)──────────────────────────► │
 *       └───────────────────────────────the block's last byte: process it─────────────┘
 *
 * Blocks that lie inside one chunk never leave BlockStart: they are parsed in place.
 */
const enum ReadState {
  /** At a block boundary: the next byte starts a block. */
  BlockStart,
  /** Inside a block's first 12 bytes (type, total length, and an SHB's byte-order magic): in headerBuf. */
  Header,
  /** Inside a block of known length that spans chunks: collected in `gather`. */
  Gather,
}

export class PcapngParser {
  private readonly sink: ParserSink;
  private readonly maxRecordBytes: number;

  /** Where the next byte falls (see ReadState). */
  private state = ReadState.BlockStart;
  /** ReadState.Header: the first bytes of a block, collected when a chunk ended inside its first 12. */
  private readonly headerBuf = Buffer.alloc(MIN_BLOCK_BYTES);
  private headerFilled = 0;
  /** ReadState.Gather: the block being gathered across chunks (exactly its total length). */
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
    const state = this.state;
    const blockStart = this.streamOffset - (state === ReadState.Gather ? this.gatherFilled : state === ReadState.Header ? this.headerFilled : 0);
    if (state === ReadState.Gather) {
      const gather = this.gather!;
      const type = u32(gather, 0, this.littleEndianFor(gather));
      err = new CaptureError(
        'PCAP_TRUNCATED',
        `pcapng input ended inside a ${blockTypeName(type)} at offset ${blockStart}: ${this.gatherFilled} of its ${gather.length} bytes present`,
        blockStart,
      );
    } else if (state === ReadState.Header) {
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
    // first finish the block the previous chunk left open
    if (this.state === ReadState.Header) {
      off = this.continueHeader(chunk, base);
      if (this.state === ReadState.Header) return; // chunk used up
    }
    if (this.state === ReadState.Gather) {
      off = this.continueGather(chunk, off, base);
      if (this.state === ReadState.Gather) return; // chunk used up
    }
    // BlockStart: whole blocks are parsed in place
    const len = chunk.length;
    while (len - off >= MIN_BLOCK_BYTES) {
      const total = this.readBlockLength(chunk, off, base + off);
      if (off + total > len) {
        this.startGather(chunk, off, total);
        return;
      }
      this.processBlock(chunk, off, total, base + off);
      off += total;
      this.consumed += total;
    }
    if (off < len) {
      chunk.copy(this.headerBuf, 0, off, len);
      this.headerFilled = len - off;
      this.state = ReadState.Header;
    }
  }

  /** Header: copies up to the block's 12th byte; once there, the length is known and gathering starts. */
  private continueHeader(chunk: Buffer, base: number): number {
    const take = Math.min(MIN_BLOCK_BYTES - this.headerFilled, chunk.length);
    chunk.copy(this.headerBuf, this.headerFilled, 0, take);
    this.headerFilled += take;
    if (this.headerFilled < MIN_BLOCK_BYTES) return take;
    const total = this.readBlockLength(this.headerBuf, 0, base + take - MIN_BLOCK_BYTES);
    this.headerFilled = 0;
    this.startGather(this.headerBuf, 0, total, MIN_BLOCK_BYTES);
    return take;
  }

  /** A block spans chunks: gather only this block, into a Buffer of exactly its length. */
  private startGather(from: Buffer, off: number, total: number, have = from.length - off): void {
    const block = Buffer.allocUnsafe(total);
    from.copy(block, 0, off, off + have);
    this.gather = block;
    this.gatherFilled = have;
    this.state = ReadState.Gather;
  }

  /** Gather: copies from chunk into the gathered block; processes it when complete. Returns the new offset. */
  private continueGather(chunk: Buffer, off: number, base: number): number {
    const block = this.gather!;
    const take = Math.min(block.length - this.gatherFilled, chunk.length - off);
    chunk.copy(block, this.gatherFilled, off, off + take);
    this.gatherFilled += take;
    off += take;
    if (this.gatherFilled === block.length) {
      this.gather = null;
      this.gatherFilled = 0;
      this.state = ReadState.BlockStart;
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
      case BlockType.DECRYPTION_SECRETS:
        if (this.sink.decryptionSecrets) { this.decryptionSecrets(buf, off, total, streamPos); break; }
        this.skippedCount++;
        if (this.sink.skippedBlock) this.sink.skippedBlock(type, total);
        break;
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
    const sink = this.sink;
    if (sink.skip !== undefined && sink.skip(buf, dataStart, caplen, iface.linkType, iface.fcsLength, timestamped ? this.time.sec : 0, timestamped ? this.time.nsec : 0)) { ++this.frameCount; return; }
    const raw = sink.rawPacket;
    if (raw !== undefined) {
      raw(buf, dataStart, caplen, len, iface.linkType, timestamped ? this.time.sec : 0, timestamped ? this.time.nsec : 0, iface.fcsLength, iface.nanoPrecision, ++this.frameCount);
      return;
    }
    sink.packet({
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

  /** DSB: secrets type, secrets length, the secrets, padding, options (pcapng spec §4.7). */
  private decryptionSecrets(buf: Buffer, off: number, total: number, streamPos: number): void {
    const le = this.littleEndian;
    if (total < 20) throw this.badBlock(BlockType.DECRYPTION_SECRETS, streamPos, `total length ${total} is below the 20 bytes of its fixed part`);
    const secretsType = u32(buf, off + 8, le);
    const length = u32(buf, off + 12, le);
    if (16 + padTo4(length) + 4 > total) {
      throw this.badBlock(BlockType.DECRYPTION_SECRETS, streamPos, `secrets length ${length} runs past the end of the block`);
    }
    (this.sink.decryptionSecrets as (t: number, d: Buffer) => void)(secretsType, Buffer.from(buf.subarray(off + 16, off + 16 + length)));
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

