/**
 * pcapng to classic pcap without PacketRecords: what `pcap-pipe read` does with one pcapng input when the
 * output is classic pcap. PcapngParser still reads and validates every block (the same errors, at the
 * same packet); each packet comes through ParserSink.rawPacket as fields and a view, and its 16-byte
 * record header and bytes are written straight into the output buffer, as CaptureWriter's classic pcap
 * encoding does (little-endian, the file header from the first packet's link type, FCS length and
 * timestamp precision, the same PCAP_WRITE error when a later packet has another link type).
 *
 * The output leaves through the `emit` callback (a full output region, drain()).
 * Whether the output is classic pcap at all is the caller's to decide (bin/read-copy.ts): the ordinary
 * path writes pcapng when the interfaces described by the time of the first packet span several link
 * types, so `linkTypes` and `sawPacket` say what it needs.
 */
import { CaptureError } from '../core/errors';
import { DEFAULT_MAX_RECORD_BYTES } from './format';
import { PcapngParser } from './pcapng';
import { BlockType, EPB_FIXED_BYTES, MIN_BLOCK_BYTES, type InterfaceState, OPT_ENDOFOPT, type TimeSlot, padTo4, splitDecimalTimestamp, splitTimestampBig } from './pcapng-blocks';
import { PcapWriter } from './pcap';

const RECORD_HEADER_LENGTH = 16;
/** An EPB's bytes before its packet data: type, total length, interface, timestamp (2 words), caplen, len. */
const EPB_DATA_OFFSET = 28;
/**
 * Blocks per read the walker hands to the parser one at a time before it gives it the rest of the read:
 * a file made of blocks the walker does not take (SPBs, ...) then costs a few calls per read, not one a block.
 */
const MAX_PARSER_BLOCKS = 64;
/**
 * The largest block cut by the end of a read that the walker carries over to the next read (PcapngToPcap.carried)
 * rather than handing its first part to the parser. Bigger blocks are the parser's to gather, as before.
 */
const MAX_CARRY_BYTES = 256 << 10;

/**
 * Whether an EPB's options (start..end) are what OptionCursor reads without an error: each option's value
 * within the block, up to opt_endofopt or fewer than 4 bytes left. The parser's packetOptions throws only there.
 */
function optionsFit(view: DataView, start: number, end: number, le: boolean): boolean {
  let pos = start;
  while (end - pos >= 4) {
    if (view.getUint16(pos, le) === OPT_ENDOFOPT) return true;
    const valueStart = pos + 4;
    const length = view.getUint16(pos + 2, le);
    if (valueStart + length > end) return false;
    pos = valueStart + padTo4(length);
  }
  return true;
}

export class PcapngToPcap {
  private readonly parser: PcapngParser;
  /** Link types of the interfaces described so far (all sections), as CaptureReader.linkTypes. */
  readonly linkTypes = new Set<number>();
  /**
   * One ArrayBuffer for the input (`input`, where the caller reads) and the output after it: a packet's
   * bytes move with copyWithin, a memmove. Buffer.copy between two buffers makes a typed-array view per
   * call, which cost more than the rest of the conversion (15 % of the run).
   */
  private readonly memory: ArrayBuffer;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** Where the caller reads input to (then write(input.subarray(0, n))). */
  readonly input: Buffer;
  /** The output region: memory from outStart on, `fill` bytes of it used. */
  private readonly outStart: number;
  private fill = 0;
  /** Takes the output when the region is full and at drain() (a view: used before the next write()). */
  private readonly emit: (out: Buffer) => void;
  /** The first packet's link type (-1 before it): the file header's, and the only one classic pcap can hold. */
  private linkType = -1;
  private nanosecond = false;
  private readonly time: TimeSlot = { sec: 0, nsec: 0 };
  /**
   * Once set, a packet of another link type is the writer's error. Before (the first packet's read chunk,
   * while the caller has not decided on classic pcap) it is not: the caller then goes the ordinary way.
   */
  enforceLinkType = false;
  /** Packets converted. */
  packets = 0;
  /** Packets of walkRun's last run. */
  private runPackets = 0;
  /**
   * Bytes at the start of `input` that the last write() kept for the next one: the first part of a block the
   * read ended in. The caller reads after them and writes the two together (input.subarray(0, carried + n)).
   */
  carried = 0;
  /** Why the input cannot be read further (as the ordinary reader reports it); null while it can. */
  failure: CaptureError | null = null;
  /** The writer's error (a second link type): the command fails with it, as the ordinary path does. */
  writeError: CaptureError | null = null;

  constructor(emit: (out: Buffer) => void, inputBytes = 1 << 20) {
    this.emit = emit;
    // a read's packets fit the output region whole, unless a block gathered across reads makes it overflow
    const outBytes = inputBytes + (64 << 10);
    this.memory = new ArrayBuffer(inputBytes + outBytes);
    this.bytes = new Uint8Array(this.memory);
    this.view = new DataView(this.memory);
    this.input = Buffer.from(this.memory, 0, inputBytes);
    this.outStart = inputBytes;
    const ignore = (): void => undefined;
    // every handler the ordinary reader has, so the parser validates exactly the same (a DSB is parsed only
    // when someone takes its secrets)
    this.parser = new PcapngParser({
      packet: () => { throw new Error('PcapngToPcap: rawPacket takes every packet'); },
      rawPacket: (data, offset, caplen, len, linkType, tsSec, tsNsec, fcsLength, nanoPrecision, frame) =>
        this.record(data, offset, caplen, len, linkType, tsSec, tsNsec, fcsLength, nanoPrecision, frame),
      section: ignore,
      interface: (i) => { this.linkTypes.add(i.linkType); },
      stats: ignore,
      names: ignore,
      decryptionSecrets: ignore,
      skippedBlock: ignore,
    });
  }

  /** True once a packet was read. */
  get sawPacket(): boolean { return this.linkType !== -1; }

  /** Feeds input bytes (not kept after the call). Parse errors land in `failure`; the write error is thrown. */
  write(chunk: Buffer): void {
    // what the last write carried is at the start of this chunk
    this.carried = 0;
    if (this.failure !== null) return;
    try {
      // after the first packet's read (the format decided), reads into `input` go through the walker
      if (this.enforceLinkType && this.linkType !== -1 && chunk.buffer === this.memory) this.walk(chunk);
      else this.parser.write(chunk);
    } catch (e) {
      if (e === this.writeError) throw e;
      if (!(e instanceof CaptureError)) throw e;
      this.failure = e;
    }
  }

  /** The end of the input: a block cut short (or no section at all) lands in `failure`. */
  end(): void {
    if (this.failure !== null) return;
    try {
      if (this.carried > 0) {
        // the input ended inside the carried block: the parser says so, as it would have (offsets included)
        const rest = this.input.subarray(0, this.carried);
        this.carried = 0;
        this.parser.write(rest);
      }
      this.parser.end();
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      this.failure = e;
    }
  }

  /** Emits the output gathered so far. */
  drain(): void {
    if (this.fill === 0) return;
    const out = Buffer.from(this.memory, this.outStart, this.fill);
    this.fill = 0;
    this.emit(out);
  }

  /**
   * The common case without the parser's per-block calls: a run of EPBs, each whole in the read, of an
   * interface the section declared with the first packet's link type, lengths and options that the parser
   * accepts, becomes records here (the same timestamp arithmetic and record header as record()); the
   * parser is then told to pass over those bytes and packets (PcapngParser.walked). Any other block (SHB,
   * IDB, SPB, a damaged EPB, one that goes on in the next read) is the parser's, on its own, so every check,
   * error message, offset and frame number stays the parser's; then the walk goes on after it.
   */
  private walk(chunk: Buffer): void {
    const len = chunk.length;
    const base = chunk.byteOffset;
    let off = 0;
    let parserBlocks = 0;
    while (off < len) {
      const pending = this.parser.pendingBytes;
      if (pending > 0) {
        // the block the previous read ended in: the parser finishes it (a block's header first, then the block)
        const next = Math.min(len, off + pending);
        this.parser.write(chunk.subarray(off, next));
        off = next;
        continue;
      }
      const interfaces = this.parser.walkable();
      if (interfaces === null || parserBlocks === MAX_PARSER_BLOCKS) { this.parser.write(chunk.subarray(off)); return; }
      const le = this.parser.sectionLittleEndian;
      const stop = this.walkRun(base + off, base + len, interfaces, le) - base;
      if (this.runPackets > 0) {
        this.parser.walked(stop - off, this.runPackets);
        this.packets += this.runPackets;
      }
      off = stop;
      if (off >= len || this.carry(chunk, off, le)) return;
      const next = this.blockEnd(chunk, off, le);
      parserBlocks++;
      this.parser.write(chunk.subarray(off, next));
      off = next;
    }
  }

  /**
   * walk()'s loop over a run of EPBs from `p` (a position in memory) to `end`: returns where the run stops,
   * and how many packets it converted in `runPackets`. A function of its own, with no parser call, so that
   * V8 optimizes it once: as part of walk() it was compiled three times on the 1M bench capture (a deopt
   * on the parser calls' feedback, a recompile, an on-stack replacement), ~110 ms of compiler time.
   */
  private walkRun(p: number, end: number, interfaces: readonly InterfaceState[], le: boolean): number {
    const view = this.view;
    const bytes = this.bytes;
    const t = this.time;
    const linkType = this.linkType;
    const nanosecond = this.nanosecond;
    const outEnd = this.memory.byteLength;
    let at = this.outStart + this.fill;
    let packets = 0;
    while (end - p >= EPB_FIXED_BYTES) {
      if (view.getUint32(p, le) !== BlockType.ENHANCED_PACKET) break;
      const total = view.getUint32(p + 4, le);
      if (total < EPB_FIXED_BYTES || (total & 3) !== 0 || total > DEFAULT_MAX_RECORD_BYTES || total > end - p) break;
      const blockEnd = p + total - 4;
      if (view.getUint32(blockEnd, le) !== total) break;
      const iface: InterfaceState | undefined = interfaces[view.getUint32(p + 8, le)];
      if (iface === undefined || iface.linkType !== linkType) break;
      const caplen = view.getUint32(p + 20, le);
      const dataStart = p + EPB_DATA_OFFSET;
      if (dataStart + caplen > blockEnd || !optionsFit(view, dataStart + padTo4(caplen), blockEnd, le)) break;
      const n = RECORD_HEADER_LENGTH + caplen;
      if (at + n > outEnd) {
        // the output region is full: out it goes (a record bigger than the whole region is record()'s)
        this.fill = at - this.outStart;
        if (!this.room(n)) break;
        at = this.outStart + this.fill;
      }
      const high = view.getUint32(p + 12, le);
      const low = view.getUint32(p + 16, le);
      if (iface.decimalUnits !== 0) splitDecimalTimestamp(high, low, iface.decimalUnits, iface.nsPerUnit, t);
      else splitTimestampBig(high, low, iface.unitsPerSecond, t);
      // record()'s header (PcapWriter.recordHeaderInto, little-endian)
      view.setUint32(at, (t.sec + iface.tsOffsetSec) >>> 0, true);
      view.setUint32(at + 4, nanosecond ? t.nsec : Math.floor(t.nsec / 1000), true);
      view.setUint32(at + 8, caplen, true);
      view.setUint32(at + 12, view.getUint32(p + 24, le), true);
      bytes.copyWithin(at + RECORD_HEADER_LENGTH, dataStart, dataStart + caplen);
      at += n;
      packets++;
      p += total;
    }
    this.fill = at - this.outStart;
    this.runPackets = packets;
    return p;
  }

  /**
   * When the block at `off` goes on past the end of the read (its header, or its length, cut), and is at
   * most MAX_CARRY_BYTES, moves its bytes to the start of `input` (`carried`) for the next read to complete,
   * so the walker takes it whole. Handing the parser the part instead made it gather the block at every read
   * boundary (a few parser functions hot enough for V8 to optimize them: more compiler time than they saved).
   * Not an SHB (its length is in its own byte order). The parser gets the bytes back at the end of the input.
   */
  private carry(chunk: Buffer, off: number, le: boolean): boolean {
    const rest = chunk.length - off;
    if (chunk.byteOffset !== 0 || rest > MAX_CARRY_BYTES) return false;
    if (rest >= 4 && this.view.getUint32(off, le) === BlockType.SECTION_HEADER) return false;
    if (rest >= 8) {
      const total = this.view.getUint32(off + 4, le);
      if (total <= rest || total > MAX_CARRY_BYTES) return false;
    }
    this.bytes.copyWithin(0, off, chunk.length);
    this.carried = rest;
    return true;
  }

  /** Where the block at `off` ends when it is whole in the chunk and not an SHB (a new byte order); else the chunk's end. */
  private blockEnd(chunk: Buffer, off: number, le: boolean): number {
    const len = chunk.length;
    if (len - off < MIN_BLOCK_BYTES) return len;
    const p = chunk.byteOffset + off;
    if (this.view.getUint32(p, le) === BlockType.SECTION_HEADER) return len;
    const total = this.view.getUint32(p + 4, le);
    return total < MIN_BLOCK_BYTES || total > len - off ? len : off + total;
  }

  private record(data: Buffer, offset: number, caplen: number, len: number, linkType: number, tsSec: number, tsNsec: number,
    fcsLength: number | undefined, nanoPrecision: boolean, frame: number): void {
    if (this.linkType === -1) {
      this.linkType = linkType;
      this.nanosecond = nanoPrecision;
      const header = new PcapWriter({ nanosecond: nanoPrecision }).fileHeader(linkType, fcsLength);
      this.room(header.length);
      this.bytes.set(header, this.outStart + this.fill);
      this.fill += header.length;
    } else if (linkType !== this.linkType && this.enforceLinkType) {
      this.writeError = new CaptureError('PCAP_WRITE', `classic pcap holds one link type: frame ${frame} has link type ${linkType} after ${this.linkType}; write pcapng instead`);
      throw this.writeError;
    }
    const n = RECORD_HEADER_LENGTH + caplen;
    if (!this.room(n)) {
      // bigger than the whole output region: on its own
      const rec = Buffer.allocUnsafe(n);
      this.header(new DataView(rec.buffer, rec.byteOffset, RECORD_HEADER_LENGTH), 0, caplen, len, tsSec, tsNsec);
      data.copy(rec, RECORD_HEADER_LENGTH, offset, offset + caplen);
      this.emit(rec);
    } else {
      const at = this.outStart + this.fill;
      this.header(this.view, at, caplen, len, tsSec, tsNsec);
      if (data.buffer === this.memory) {
        const from = data.byteOffset + offset;
        this.bytes.copyWithin(at + RECORD_HEADER_LENGTH, from, from + caplen);
      } else {
        // the first read (the caller's buffer) or a block the parser gathered across reads
        data.copy(this.bytes, at + RECORD_HEADER_LENGTH, offset, offset + caplen);
      }
      this.fill += n;
    }
    this.packets++;
  }

  /** PcapWriter.recordHeaderInto, little-endian. */
  private header(view: DataView, at: number, caplen: number, len: number, tsSec: number, tsNsec: number): void {
    view.setUint32(at, tsSec >>> 0, true);
    view.setUint32(at + 4, this.nanosecond ? tsNsec : Math.floor(tsNsec / 1000), true);
    view.setUint32(at + 8, caplen, true);
    view.setUint32(at + 12, len >>> 0, true);
  }

  /** Makes room for `n` bytes in the output region (emitting what it holds); false when it can never hold them. */
  private room(n: number): boolean {
    const size = this.memory.byteLength - this.outStart;
    if (size - this.fill >= n) return true;
    this.drain();
    return size >= n;
  }
}
