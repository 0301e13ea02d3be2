/**
 * Format detection in front of the two capture-file parsers. The first four bytes decide: a classic pcap
 * magic in either byte order, or the pcapng Section Header Block type 0x0A0D0D0A. Anything else is a clear
 * PCAP_BAD_MAGIC error naming what was seen (e.g. "this looks like text", "gzip-compressed").
 */
import { CaptureError } from '../core/errors';
import type { CaptureFormat, InterfaceInfo, InterfaceStats, NameRecord, ParserSink, SectionInfo } from './format';
import { PcapParser, pcapMagicInfo, type PcapFileHeader } from './pcap';
import type { PcapngParser } from './pcapng';
import type { PacketRecord } from '../core/record';

export const PCAPNG_SHB_TYPE = 0x0a0d0d0a;

export interface CaptureParserOptions { maxRecordBytes?: number; }

/** Detects the format from the first 4 bytes; null when it is neither. */
export function detectFormat(first4: Buffer): CaptureFormat | null {
  if (first4.readUInt32BE(0) === PCAPNG_SHB_TYPE) return 'pcapng';
  return pcapMagicInfo(first4, 0) ? 'pcap' : null;
}

/** A human description of bytes that are not a capture, for the error message. */
export function describeNonCapture(head: Buffer): string {
  const hex = head.subarray(0, 8).toString('hex').replace(/(..)/g, '$1 ').trim();
  if (head[0] === 0x1f && head[1] === 0x8b) return `gzip-compressed data (${hex}): decompress it first (zcat FILE | ...)`;
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'PK\u0003\u0004') return `a zip archive (${hex})`;
  const printable = [...head.subarray(0, 16)].every((c) => (c >= 0x20 && c < 0x7f) || c === 0x0a || c === 0x0d || c === 0x09);
  if (printable) return `text ${JSON.stringify(head.subarray(0, 16).toString('latin1'))}`;
  return `bytes ${hex}`;
}

/** Reads pcap or pcapng, whichever the first bytes say. Same interface as the two parsers. */
export class CaptureParser {
  private readonly sink: ParserSink;
  private readonly opts: CaptureParserOptions;
  private inner: PcapParser | PcapngParser | null = null;
  private head: Buffer | null = null;
  format: CaptureFormat | null = null;

  constructor(sink: ParserSink, opts: CaptureParserOptions = {}) {
    this.sink = sink;
    this.opts = opts;
  }

  /** The classic pcap file header, when the input is classic pcap. */
  get pcapHeader(): PcapFileHeader | null {
    return this.inner instanceof PcapParser ? this.inner.fileHeader : null;
  }

  get bytesConsumed(): number { return this.inner ? this.inner.bytesConsumed : 0; }

  write(chunk: Buffer): void {
    if (this.inner) { this.inner.write(chunk); return; }
    const head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    if (head.length < 4) { this.head = Buffer.from(head); return; }
    this.head = null;
    const format = detectFormat(head);
    if (!format) throw new CaptureError('PCAP_BAD_MAGIC', `input is neither pcap nor pcapng: it starts with ${describeNonCapture(head)}`, 0);
    this.format = format;
    // pcapng's parser (4 modules) is required only for a pcapng input: start-up is per process
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    this.inner = format === 'pcap' ? new PcapParser(this.sink, this.opts) : new (require('./pcapng') as typeof import('./pcapng')).PcapngParser(this.sink, this.opts);
    this.inner.write(head);
  }

  end(): void {
    if (!this.inner) {
      const n = this.head ? this.head.length : 0;
      if (n === 0) throw new CaptureError('PCAP_TRUNCATED', 'input is empty: no capture file header', 0);
      throw new CaptureError('PCAP_TRUNCATED', `input ended after ${n} bytes, inside the capture file header`, 0);
    }
    this.inner.end();
  }
}

/** Everything a whole in-memory capture holds, for tests and small tools. */
export interface ParsedCapture {
  format: CaptureFormat | null;
  packets: PacketRecord[];
  sections: SectionInfo[];
  interfaces: InterfaceInfo[];
  stats: InterfaceStats[];
  names: NameRecord[];
  skippedBlocks: number;
  /** The error that stopped reading, if any; the packets before it are in `packets`. */
  error: CaptureError | null;
}

/** Parses a whole capture held in memory, in chunks of `chunkSize` bytes (default: all at once). */
export function parseCapture(buf: Buffer, chunkSize = buf.length || 1): ParsedCapture {
  const out: ParsedCapture = { format: null, packets: [], sections: [], interfaces: [], stats: [], names: [], skippedBlocks: 0, error: null };
  const parser = new CaptureParser({
    packet: (r) => out.packets.push(r),
    section: (s) => out.sections.push(s),
    interface: (i) => out.interfaces.push(i),
    stats: (s) => out.stats.push(s),
    names: (n) => out.names.push(...n),
    skippedBlock: () => { out.skippedBlocks++; },
  });
  try {
    for (let off = 0; off < buf.length; off += chunkSize) parser.write(buf.subarray(off, off + chunkSize));
    parser.end();
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    out.error = e;
  }
  out.format = parser.format;
  return out;
}

/** The packets of an in-memory capture; throws the reader's CaptureError if the capture is damaged. */
export function parseCaptureBuffer(buf: Buffer): PacketRecord[] {
  const r = parseCapture(buf);
  if (r.error) throw r.error;
  return r.packets;
}
