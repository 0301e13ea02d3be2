/**
 * Capture files as streams: bytes in (a file, stdin, a socket, an HTTP body — any Readable, chunks of any
 * size), PacketRecord objects out. A thin wrapper over lib/formats/detect.ts.
 *
 * Besides 'data', the reader emits 'section', 'interface', 'stats' (pcapng ISB), 'names' (pcapng NRB),
 * 'decryption-secrets' (pcapng DSB: { type, data }) and 'skipped-block' events. A damaged input ends with an 'error' (CaptureError with a code such as
 * PCAP_TRUNCATED) after every complete packet has been pushed.
 */
import * as fs from 'node:fs';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { CaptureParser, type CaptureParserOptions } from '../lib/formats/detect';
import { CaptureError } from '../lib/core/errors';
import type { CaptureFormat, InterfaceInfo, PacketSkipper, ParserSink, SectionInfo } from '../lib/formats/format';
import type { PcapFileHeader } from '../lib/formats/pcap';
import type { PacketRecord } from '../lib/core/record';
import { BatchQueueBound, DEFAULT_STAGE_HIGH_WATER_MARK, readableQueueState } from './batch';
import type { TypedReadableSide } from './typed';

export interface ReadCaptureOptions extends CaptureParserOptions {
  /** Records buffered on the readable side before backpressure (default 256; in batch mode counted in records, see BatchQueueBound). */
  highWaterMark?: number;
  /**
   * When given, a damaged input (truncated, malformed) does not error the stream: the reader calls this,
   * ends normally after every complete packet, and ignores the rest of its input. Commands use it so
   * the stages after the reader still finish their work (`pcap-pipe read` writes every complete packet).
   */
  onError?: (e: CaptureError) => void;
  /**
   * Emit arrays of records (one array per input chunk, often hundreds of packets) instead of single
   * records. A stream chunk costs ~100 ns per stage whatever it holds, so this is the fast mode for long
   * pipelines: pcap-pipe's own stages (decode, tcp, ...) accept both forms and keep batches batched.
   */
  batch?: boolean;
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
  /** Input bytes taken in so far (parsed, or ignored after a failure): what a progress line counts. */
  bytes = 0;
  skippedBlocks = 0;
  /** pcapng Decryption Secrets Blocks read so far (TLS key logs: SECRETS_TYPE_TLS), in file order. */
  readonly secrets: { type: number; data: Buffer }[] = [];
  private readonly batchMode: boolean;
  private batch: PacketRecord[] = [];
  private readonly queueBound: BatchQueueBound;
  private readonly sink: ParserSink;
  private skipper: PacketSkipper | undefined;
  /** Records and events that left the parser (they may hold views of the chunk being parsed). */
  private handedOn = 0;
  /**
   * Where an input chunk nothing kept a view of goes back for the next read (set by readCaptureFile):
   * with a skipper most chunks yield no record, and reusing their memory saves the page faults of a
   * fresh buffer per read.
   */
  recycle: ((chunk: Buffer) => void) | undefined;
  /** Asks the source for chunks of this size (set by readCaptureFile; see SKIPPER_FILE_CHUNK). */
  chunkSizeHint: ((bytes: number) => void) | undefined;
  /**
   * Called once, when a second input chunk is kept (not given back through `recycle`: records or events
   * refer to it; the first always is, it holds the file header): the reader has stopped reusing its
   * memory. bin/cli.ts tunes the allocator then for grep (openSkippedCapture).
   */
  onChunksKept: (() => void) | undefined;
  private keptChunks = 0;

  constructor(opts: ReadCaptureOptions = {}) {
    super({ writableObjectMode: false, readableObjectMode: true, readableHighWaterMark: opts.highWaterMark ?? DEFAULT_STAGE_HIGH_WATER_MARK });
    this.queueBound = new BatchQueueBound(opts.highWaterMark ?? DEFAULT_STAGE_HIGH_WATER_MARK);
    this.sink = {
      packet: opts.batch
        ? (rec: PacketRecord) => { this.packets++; this.handedOn++; this.batch.push(rec); }
        : (rec: PacketRecord) => { this.packets++; this.handedOn++; this.push(rec); },
      section: (s) => { this.handedOn++; this.sections.push(s); this.emit('section', s); },
      interface: (i) => { this.handedOn++; this.interfaces.push(i); this.emit('interface', i); },
      stats: (s) => { this.handedOn++; this.emit('stats', s); },
      names: (n) => { this.handedOn++; this.emit('names', n); },
      decryptionSecrets: (type, data) => { this.handedOn++; this.secrets.push({ type, data }); this.emit('decryption-secrets', { type, data }); },
      skippedBlock: (type, length) => { this.handedOn++; this.skippedBlocks++; this.emit('skipped-block', { type, length }); },
      skip: undefined,
      skipUntil: undefined,
      skippedRun: (count) => { this.packets += count; },
    };
    this.parser = new CaptureParser(this.sink, opts);
    this.onError = opts.onError;
    this.batchMode = !!opts.batch;
  }

  /**
   * Packets the skipper says no to are left out before their record is made (still counted in
   * `packets`, and frame numbers stay those of the file). Set it before the first chunk is read; grep's
   * fast path (runGrep in streams/trace.ts) uses it. undefined: every packet comes out (the default).
   */
  setSkipper(skipper: PacketSkipper | undefined): void {
    this.skipper = skipper;
    if (skipper !== undefined) this.chunkSizeHint?.(SKIPPER_FILE_CHUNK);
    this.sink.skip = skipper === undefined ? undefined : (data, offset, caplen, linkType, fcsLength) => {
      if (!skipper.skip(data, offset, caplen, linkType, fcsLength)) return false;
      this.packets++;
      return true;
    };
    this.sink.skipUntil = skipper?.skipUntil === undefined ? undefined : (data, from, end) => skipper.skipUntil!(data, from, end);
  }

  private pushBatch(): void {
    if (this.batch.length === 0) return;
    // Records are views into their read chunk: a queue of 256 batches would pin 128 MiB of file.
    this.queueBound.fit(readableQueueState(this), this.batch.length);
    this.push(this.batch);
    this.batch = [];
  }

  get format(): CaptureFormat | null { return this.parser.format; }
  /** The classic pcap file header, once read (null for pcapng). */
  get pcapHeader(): PcapFileHeader | null { return this.parser.pcapHeader; }
  /** True when some interface has sub-microsecond timestamps. */
  get nanosecond(): boolean { return this.interfaces.some((i) => i.tsUnitsPerSecond > 1_000_000n); }
  /** Distinct link types seen in interface descriptions. */
  get linkTypes(): number[] { return [...new Set(this.interfaces.map((i) => i.linkType))]; }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.failure) { cb(); return; }
    try {
      this.skipper?.reset?.();
      const before = this.handedOn;
      this.parser.write(chunk);
      if (this.batchMode) this.pushBatch();
      // The parsers copy what they keep across chunks (a split record, a file header), so a chunk that
      // gave out nothing is referenced by nobody once write() returned.
      if (this.handedOn === before && this.recycle !== undefined) {
        this.skipper?.reset?.();
        this.recycle(chunk);
      } else if (this.onChunksKept !== undefined && ++this.keptChunks === 2) {
        const kept = this.onChunksKept;
        this.onChunksKept = undefined;
        kept();
      }
      cb();
    } catch (e) {
      if (this.batchMode) this.pushBatch();
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

/** A reader whose chunks are typed: PacketRecord, or PacketRecord[] in batch mode (streams/typed.ts). */
export type TypedCaptureReader<Chunk extends PacketRecord | PacketRecord[] = PacketRecord> = TypedReadableSide<Chunk> & CaptureReader;

/** A Transform from capture bytes to PacketRecord objects. */
export function readCapture(opts: ReadCaptureOptions & { batch: true }): TypedCaptureReader<PacketRecord[]>;
export function readCapture(opts?: ReadCaptureOptions & { batch?: false }): TypedCaptureReader<PacketRecord>;
export function readCapture(opts?: ReadCaptureOptions): TypedCaptureReader<PacketRecord | PacketRecord[]>;
export function readCapture(opts: ReadCaptureOptions = {}): TypedCaptureReader<PacketRecord | PacketRecord[]> {
  return new CaptureReader(opts) as TypedCaptureReader<PacketRecord | PacketRecord[]>;
}

/**
 * Bytes per file read. Every chunk is a fresh buffer (records are views into it, so it cannot be reused),
 * and fresh memory costs page faults; measured on the 1 GB benchmark capture, 512 KiB chunks read fastest
 * (256 KiB: +2 %, 1 MiB: +23 %, 4 MiB: +33 %).
 */
export const DEFAULT_FILE_CHUNK = 512 * 1024;

/**
 * Bytes per file read when a skipper leaves most packets unbuilt (grep's fast path): its chunks mostly
 * yield no record and are reused (recycle), so a bigger read costs no fresh memory, and there are a quarter
 * of the thread-pool hand-overs. Measured on the 1M bench capture, `grep -X` with no match, 6 pairs at load
 * ~9: cpu 0.61 -> 0.53 s (pair ratio median 0.87), wall unchanged, peak +3 MiB. (The full pipeline with 2 MiB
 * reads: cpu -4 % but wall +12 % and peak +22 MiB, so it keeps DEFAULT_FILE_CHUNK.)
 */
export const SKIPPER_FILE_CHUNK = 2 * 1024 * 1024;

/** A capture file to read: a path, or an open descriptor (e.g. stdin redirected from a file) and the offset to start at. */
export type CaptureFileSource = string | { fd: number; position: number };

/**
 * File bytes with reads kept in flight ahead of the consumer. fs.createReadStream issues its next read only
 * after the previous chunk was consumed, so reading and parsing take turns and the CPU idles during every
 * read; here up to `depth` reads are outstanding while the parser works, and chunks are pushed in order.
 */
export class PrefetchFileReader extends Readable {
  private readonly path: string | null;
  /** Our own descriptor is closed at the end; one we were given (stdin) is left open. */
  private readonly ownFd: boolean;
  private chunkSize: number;
  private readonly depth: number;
  private fd = -1;
  private position = 0;
  private eof = false;
  /** Reads in file order: their buffers once complete (null while in flight). */
  private readonly slots: { buf: Buffer | null; done: boolean }[] = [];
  /** Chunk buffers given back (recycle()), reused before allocating. */
  private readonly spare: Buffer[] = [];

  /** `source`: a path, or an open descriptor of a regular file and the offset to read it from. */
  constructor(source: CaptureFileSource, opts: { chunkSize?: number; depth?: number } = {}) {
    super({ highWaterMark: (opts.chunkSize ?? DEFAULT_FILE_CHUNK) * 2 });
    if (typeof source === 'string') {
      this.path = source;
      this.ownFd = true;
    } else {
      this.path = null;
      this.ownFd = false;
      this.fd = source.fd;
      this.position = source.position;
    }
    this.chunkSize = opts.chunkSize ?? DEFAULT_FILE_CHUNK;
    this.depth = opts.depth ?? 3;
  }

  override _construct(cb: (e?: Error | null) => void): void {
    if (this.path === null) { cb(); return; }
    fs.open(this.path, 'r', (err, fd) => {
      this.fd = fd;
      cb(err);
    });
  }

  override _read(): void { this.fill(); }

  private fill(): void {
    while (!this.eof && this.slots.length < this.depth && !this.destroyed) {
      const slot: { buf: Buffer | null; done: boolean } = { buf: null, done: false };
      this.slots.push(slot);
      const size = this.chunkSize;
      const buf = this.spare.pop() ?? Buffer.allocUnsafe(size);
      fs.read(this.fd, buf, 0, size, this.position, (err, n) => {
        if (err) { this.destroy(err); return; }
        slot.done = true;
        slot.buf = n > 0 ? buf.subarray(0, n) : null;
        if (n < size) this.eof = true;
        this.drainSlots();
      });
      this.position += size;
    }
  }

  /**
   * Bytes per read from now on (reads in flight keep their size). Chunks of the old size given back
   * afterwards are not reused.
   */
  setChunkSize(bytes: number): void {
    if (bytes === this.chunkSize) return;
    this.chunkSize = bytes;
    this.spare.length = 0;
  }

  /**
   * Gives back a chunk this reader pushed, once nothing refers to its bytes any more: the next read goes
   * into it. Only the consumer can know that (see CaptureReader.recycle); chunks not given back are
   * simply left to the garbage collector.
   */
  recycle(chunk: Buffer): void {
    const ab = chunk.buffer;
    if (chunk.byteOffset !== 0 || ab.byteLength !== this.chunkSize || this.spare.length >= this.depth) return;
    this.spare.push(Buffer.from(ab, 0, this.chunkSize));
  }

  private drainSlots(): void {
    let more = true;
    while (this.slots.length && (this.slots[0] as { done: boolean }).done) {
      const slot = this.slots.shift() as { buf: Buffer | null };
      if (slot.buf) more = this.push(slot.buf);
    }
    if (this.eof && this.slots.length === 0) this.push(null);
    else if (more) this.fill();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.fd >= 0 && this.ownFd) fs.close(this.fd, () => cb(err));
    else cb(err);
  }
}

/**
 * Reads a capture file (pcap or pcapng), by path or from an open descriptor at a position, as a stream of PacketRecord objects. The file and the reader are
 * one pipeline: a missing or unreadable file errors the reader, and the reader destroyed closes the file.
 */
export function readCaptureFile(path: CaptureFileSource, opts: ReadCaptureOptions & { batch: true }): TypedCaptureReader<PacketRecord[]>;
export function readCaptureFile(path: CaptureFileSource, opts?: ReadCaptureOptions & { batch?: false }): TypedCaptureReader<PacketRecord>;
export function readCaptureFile(path: CaptureFileSource, opts?: ReadCaptureOptions): TypedCaptureReader<PacketRecord | PacketRecord[]>;
export function readCaptureFile(path: CaptureFileSource, opts: ReadCaptureOptions = {}): TypedCaptureReader<PacketRecord | PacketRecord[]> {
  const reader = new CaptureReader(opts);
  const file = new PrefetchFileReader(path);
  reader.recycle = (chunk) => file.recycle(chunk);
  reader.chunkSizeHint = (bytes) => file.setChunkSize(bytes);
  // The callback has nothing to do: a failure has destroyed the reader with the error, which its reader sees.
  pipeline(file, reader, () => undefined);
  return reader as TypedCaptureReader<PacketRecord | PacketRecord[]>;
}

/** The file offset of an open descriptor (Linux: /proc/self/fdinfo), or undefined when it cannot be told. */
export function descriptorPosition(fd: number): number | undefined {
  try {
    const m = /^pos:\s*(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a capture from stdin. When stdin is a regular file (`cmd < file`) it is read like a file: big
 * reads, several in flight, from where the shell left its offset. process.stdin would read a file 64 KiB
 * at a time, one thread-pool round trip each, with the main thread idle in between (measured on 1 M
 * packets: 16 k round trips, a third of grep's time). Pipes, terminals and sockets go through
 * process.stdin: event-driven reads on the main thread, and a pipe never holds more than its 64 KiB.
 */
export function readCaptureStdin(opts: ReadCaptureOptions & { batch: true }): TypedCaptureReader<PacketRecord[]>;
export function readCaptureStdin(opts?: ReadCaptureOptions & { batch?: false }): TypedCaptureReader<PacketRecord>;
export function readCaptureStdin(opts?: ReadCaptureOptions): TypedCaptureReader<PacketRecord | PacketRecord[]>;
export function readCaptureStdin(opts: ReadCaptureOptions = {}): TypedCaptureReader<PacketRecord | PacketRecord[]> {
  let regular = false;
  try { regular = fs.fstatSync(0).isFile(); } catch { /* not a file: read it as a stream */ }
  const position = regular ? descriptorPosition(0) : undefined;
  if (position !== undefined) return readCaptureFile({ fd: 0, position }, opts);
  const reader = new CaptureReader(opts);
  // One pipeline: a stdin error errors the reader, and the reader destroyed stops reading stdin.
  pipeline(process.stdin, reader, () => undefined);
  return reader as TypedCaptureReader<PacketRecord | PacketRecord[]>;
}
