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
import { PcapngParser } from './pcapng';
import { PcapWriter } from './pcap';

const RECORD_HEADER_LENGTH = 16;

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
  /**
   * Once set, a packet of another link type is the writer's error. Before (the first packet's read chunk,
   * while the caller has not decided on classic pcap) it is not: the caller then goes the ordinary way.
   */
  enforceLinkType = false;
  /** Packets converted. */
  packets = 0;
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
    if (this.failure !== null) return;
    try {
      this.parser.write(chunk);
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
