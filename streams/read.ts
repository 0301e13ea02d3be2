/**
 * Capture files as streams: bytes in (a file, stdin, a socket, an HTTP body — any Readable, chunks of any
 * size), PacketRecord objects out. A thin wrapper over lib/capture.ts.
 *
 * Besides 'data', the reader emits 'section', 'interface', 'stats' (pcapng ISB), 'names' (pcapng NRB) and
 * 'skipped-block' events. A damaged input ends with an 'error' (CaptureError with a code such as
 * PCAP_TRUNCATED) after every complete packet has been pushed.
 */
import * as fs from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { CaptureParser, type CaptureParserOptions } from '../lib/capture';
import { CaptureError } from '../lib/errors';
import type { CaptureFormat, InterfaceInfo, SectionInfo } from '../lib/format';
import type { PcapFileHeader } from '../lib/pcap';
import type { PacketRecord } from '../lib/record';

export interface ReadCaptureOptions extends CaptureParserOptions {
  /** Objects buffered on the readable side before backpressure (default 256). */
  highWaterMark?: number;
  /**
   * When given, a damaged input (truncated, malformed) does not error the stream: the reader calls this,
   * ends normally after every complete packet, and ignores the rest of its input. Commands use it so
   * the stages after the reader still finish their work (`pcap-pipe read` writes every complete packet).
   */
  onError?: (e: CaptureError) => void;
}

export class CaptureReader extends Transform {
  private readonly parser: CaptureParser;
  private readonly onError: ((e: CaptureError) => void) | undefined;
  /** Set once the input was found damaged (with onError): the rest of the input is ignored. */
  failure: CaptureError | null = null;
  readonly interfaces: InterfaceInfo[] = [];
  readonly sections: SectionInfo[] = [];
  /** Number of packets pushed so far. */
  packets = 0;
  skippedBlocks = 0;

  constructor(opts: ReadCaptureOptions = {}) {
    super({ writableObjectMode: false, readableObjectMode: true, readableHighWaterMark: opts.highWaterMark ?? 256 });
    this.parser = new CaptureParser({
      packet: (rec: PacketRecord) => { this.packets++; this.push(rec); },
      section: (s) => { this.sections.push(s); this.emit('section', s); },
      interface: (i) => { this.interfaces.push(i); this.emit('interface', i); },
      stats: (s) => this.emit('stats', s),
      names: (n) => this.emit('names', n),
      skippedBlock: (type, length) => { this.skippedBlocks++; this.emit('skipped-block', { type, length }); },
    }, opts);
    this.onError = opts.onError;
  }

  get format(): CaptureFormat | null { return this.parser.format; }
  /** The classic pcap file header, once read (null for pcapng). */
  get pcapHeader(): PcapFileHeader | null { return this.parser.pcapHeader; }
  /** True when some interface has sub-microsecond timestamps. */
  get nanosecond(): boolean { return this.interfaces.some((i) => i.tsUnitsPerSecond > 1_000_000n); }
  /** Distinct link types seen in interface descriptions. */
  get linkTypes(): number[] { return [...new Set(this.interfaces.map((i) => i.linkType))]; }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.failure) { cb(); return; }
    try {
      this.parser.write(chunk);
      cb();
    } catch (e) {
      this.fail(e, cb);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.failure) { cb(); return; }
    try {
      this.parser.end();
      cb();
    } catch (e) {
      this.fail(e, cb);
    }
  }

  private fail(e: unknown, cb: TransformCallback): void {
    if (!(e instanceof CaptureError) || !this.onError) { cb(e as Error); return; }
    this.failure = e;
    this.onError(e);
    this.push(null);
    cb();
  }
}

/** A Transform from capture bytes to PacketRecord objects. */
export function readCapture(opts: ReadCaptureOptions = {}): CaptureReader {
  return new CaptureReader(opts);
}

/** Reads a capture file (pcap or pcapng) as a stream of PacketRecord objects. */
export function readCaptureFile(path: string, opts: ReadCaptureOptions = {}): CaptureReader {
  const reader = new CaptureReader(opts);
  const file = fs.createReadStream(path, { highWaterMark: 1 << 20 });
  file.on('error', (e) => reader.destroy(e)); // a missing or unreadable file errors the reader
  reader.on('close', () => file.destroy());
  file.pipe(reader);
  return reader;
}
