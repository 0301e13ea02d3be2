/**
 * HAR 1.2 out of an http() stream (lib/har/build.ts does the work):
 *
 * - `har(path)`: a sink (Writable, object mode) writing the document to a file. Entries go out as their
 *   exchanges complete, to a temporary file beside `path` that is renamed to `path` when the document is
 *   closed; it is closed on the end of input, on an error upstream and on destroy() (Ctrl-C in a command),
 *   so `path` only ever holds a complete, valid HAR.
 * - `harText()`: a Transform, events in, the document's text out (to stdout, a socket, an HTTP response);
 *   the text is a complete document once the stream ends.
 *
 *   await pipeline(httpEvents(readCaptureFile('x.pcap')), har('x.har'))
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { HarBuilder, type HarBuildCounts, type HarBuildOptions } from '../lib/har/build';
import { harClosing, harEntryText, harOpening, type HarDocumentInfo } from '../lib/har/document';
import type { HttpTraceEvent } from '../lib/trace/output';
import type { HarCreator, HarEntry } from '../lib/har/types';
import { isTcpEvent } from '../lib/tcp/events';
import { pcapPipeVersion } from './version';

export interface HarStreamOptions extends Partial<HarBuildOptions> {
  /** log.creator (default: pcap-pipe and its version). */
  creator?: HarCreator;
  /** log.comment, e.g. the capture file's name. */
  comment?: string;
}

/** Output gathered before it is written (a live capture with few exchanges still writes each at once). */
const WRITE_CHUNK_BYTES = 64 * 1024;

// Its own module (bin/cli.ts needs it at start-up, not the HAR writer); exported here as before.
export { pcapPipeVersion } from './version';

function documentInfo(opts: HarStreamOptions): HarDocumentInfo {
  return {
    creator: opts.creator ?? { name: 'pcap-pipe', version: pcapPipeVersion() },
    ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
  };
}

/** Events → the document's text, in pieces: the opening at once, entries as they complete, the closing. */
class HarTextEncoder {
  private readonly builder: HarBuilder;
  private readonly info: HarDocumentInfo;
  private text: string;
  private first = true;
  closed = false;

  constructor(opts: HarStreamOptions) {
    this.info = documentInfo(opts);
    this.builder = new HarBuilder((entry: HarEntry) => this.add(entry), opts);
    this.text = harOpening(this.info);
  }

  get counts(): Readonly<HarBuildCounts> {
    return this.builder.summary;
  }

  push(chunk: unknown): void {
    if (Array.isArray(chunk)) for (const ev of chunk) this.pushOne(ev);
    else this.pushOne(chunk);
  }

  /** Text waiting to be written. */
  get pending(): number {
    return this.text.length;
  }

  take(): string {
    const t = this.text;
    this.text = '';
    return t;
  }

  /** Open exchanges come out, then the closing; `note` (why the input stopped) joins the log comment. */
  close(note?: string): string {
    if (this.closed) return this.take();
    this.closed = true;
    this.builder.finish();
    const info = note === undefined ? this.info : { ...this.info, comment: this.info.comment !== undefined ? `${this.info.comment}; ${note}` : note };
    this.text += harClosing(info, this.builder.summary);
    return this.take();
  }

  private pushOne(ev: unknown): void {
    if (typeof ev !== 'object' || ev === null || typeof (ev as { type?: unknown }).type !== 'string') return;
    this.builder.push(ev as HttpTraceEvent);
  }

  private add(entry: HarEntry): void {
    this.text += harEntryText(entry, this.first);
    this.first = false;
  }
}

/**
 * A HAR document being written to a file: entries to a temporary file beside it, renamed into place when
 * closed, so `path` only ever holds a complete document.
 */
class HarFile {
  readonly path: string;
  private readonly tmp: string;
  readonly encoder: HarTextEncoder;
  private fd: number | undefined;

  constructor(file: string, opts: HarStreamOptions) {
    this.path = file;
    this.tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
    this.encoder = new HarTextEncoder(opts);
    // opened now: an unwritable place fails at once, before any capture runs
    try {
      this.fd = fs.openSync(this.tmp, 'w');
    } catch (e) {
      // the user named `file`, not our temporary name beside it: the error says the name they know
      if ((e as NodeJS.ErrnoException).path === this.tmp) (e as NodeJS.ErrnoException).path = file;
      throw e;
    }
    // a process that exits before the stream ends (process.exit on EPIPE, an uncaught error) still
    // leaves a complete document: 'exit' handlers run synchronously, and so does close()
    process.once('exit', this.onExit);
  }

  private readonly onExit = (): void => {
    try {
      this.close('the process exited before the input ended');
    } catch {
      // nothing more can be done at exit
    }
  };

  push(chunk: unknown): void {
    this.encoder.push(chunk);
    if (this.encoder.pending >= WRITE_CHUNK_BYTES) this.writeOut(this.encoder.take());
  }

  /** Writes the rest and the closing, then renames into place (once; later calls do nothing). */
  close(note?: string): void {
    if (this.fd === undefined) return;
    process.off('exit', this.onExit);
    const fd = this.fd;
    this.fd = undefined;
    const bytes = Buffer.from(this.encoder.close(note), 'utf8');
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.closeSync(fd);
    fs.renameSync(this.tmp, this.path);
  }

  private writeOut(text: string): void {
    if (text.length === 0 || this.fd === undefined) return;
    const bytes = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(this.fd, bytes, off, bytes.length - off);
  }
}

/** Why the input stopped, for the log comment of a document closed by destroy(). */
function stoppedNote(err: Error | null): string {
  return err ? `input stopped early: ${err.message}` : 'input stopped early';
}

/** The sink of `har(path)`. */
export class HarFileWriter extends Writable {
  private readonly file: HarFile;

  constructor(file: string, opts: HarStreamOptions = {}) {
    super({ objectMode: true, highWaterMark: 256 });
    this.file = new HarFile(file, opts);
  }

  get path(): string {
    return this.file.path;
  }

  /** Entries written so far, and what was left out. */
  get counts(): Readonly<HarBuildCounts> {
    return this.file.encoder.counts;
  }

  override _write(chunk: unknown, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    try {
      this.file.push(chunk);
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _final(done: (e?: Error | null) => void): void {
    try {
      this.file.close();
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _destroy(err: Error | null, done: (e?: Error | null) => void): void {
    // Destroyed before the end (an upstream error, Ctrl-C): close the document with what it has.
    try {
      this.file.close(stoppedNote(err));
    } catch (e) {
      done(err ?? (e as Error));
      return;
    }
    done(err);
  }
}

/**
 * Passes the events on and writes their HAR to a file on the way (the commands' --har): the document is
 * closed when the stream ends or is destroyed. TCP events are taken (the handshake, the connection's end)
 * and passed on only when `passTcp`.
 */
export class HarTee extends Transform {
  private readonly file: HarFile;
  private readonly passTcp: boolean;

  constructor(file: string, opts: HarStreamOptions & { passTcp?: boolean } = {}) {
    super({ objectMode: true, highWaterMark: 256 });
    this.file = new HarFile(file, opts);
    this.passTcp = opts.passTcp ?? true;
  }

  get counts(): Readonly<HarBuildCounts> {
    return this.file.encoder.counts;
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.file.push(chunk);
    } catch (e) {
      done(e as Error);
      return;
    }
    if (this.passTcp) {
      done(null, chunk);
      return;
    }
    if (Array.isArray(chunk)) {
      const kept = chunk.filter((ev) => !isTcpEvent(ev));
      if (kept.length > 0) this.push(kept);
    } else if (!isTcpEvent(chunk)) {
      this.push(chunk);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    try {
      this.file.close();
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _destroy(err: Error | null, done: (e?: Error | null) => void): void {
    try {
      this.file.close(stoppedNote(err));
    } catch (e) {
      done(err ?? (e as Error));
      return;
    }
    done(err);
  }
}

export function harTee(file: string, opts: HarStreamOptions & { passTcp?: boolean } = {}): HarTee {
  return new HarTee(file, opts);
}

/** A sink writing a HAR document to `file` (see the module comment). */
export function har(file: string, opts: HarStreamOptions = {}): HarFileWriter {
  return new HarFileWriter(file, opts);
}

/** Events in, HAR text out. */
export class HarTextStream extends Transform {
  private readonly encoder: HarTextEncoder;

  constructor(opts: HarStreamOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: 256 });
    this.encoder = new HarTextEncoder(opts);
  }

  get counts(): Readonly<HarBuildCounts> {
    return this.encoder.counts;
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    this.encoder.push(chunk);
    // each completed entry goes out at once: a reader of a live capture sees it without delay
    if (this.encoder.pending > 0) this.push(this.encoder.take());
    done();
  }

  override _flush(done: TransformCallback): void {
    this.push(this.encoder.close());
    done();
  }
}

export function harText(opts: HarStreamOptions = {}): HarTextStream {
  return new HarTextStream(opts);
}
