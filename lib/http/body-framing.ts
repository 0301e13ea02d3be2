/**
 * Body framing of HTTP/1.x messages (RFC 9112 6 and 7): a Content-Length body, a chunked body (size line,
 * data, CRLF, ..., last chunk, trailers) and a body read until the connection closes. The body modes of
 * the per-direction state machine (direction.ts):
 *
 *   BodyLength ──remaining 0──► (message complete)
 *   ChunkSize ──size > 0──► ChunkData ──remaining 0──► ChunkEnd ──CRLF──► ChunkSize ...
 *       └──size 0──► Trailers ──empty line──► (message complete)
 *   BodyUntilClose ──connection end──► (message complete)
 *
 * Each read* method consumes what it can of `bytes` and returns the rest, like the head modes in
 * parser.ts, which extends this class and says what completing a message and losing sync mean.
 */
import { bufferView } from '../core/buffer-view.js';
import type { CaptureAt, HttpErrorCode, HttpParserEvent } from './events.js';
import { blockLines, findBlockEnd, parseFields } from './head.js';
import { EMPTY, Mode, keepPiece } from './direction.js';
import type { DirectionState, Message } from './direction.js';
import { DEFAULT_HTTP_OPTIONS } from './parser-options.js';
import type { HttpParserOptions } from './parser-options.js';

const MAX_CHUNK_LINE = 4 * 1024;
/** Hex digits of a chunk size: 13 reach 2^52, enough for any real body and exact in a double. */
const MAX_CHUNK_SIZE_DIGITS = 13;

export type Emit = (ev: HttpParserEvent) => void;

export abstract class BodyFraming {
  protected readonly _emit: Emit;
  protected readonly _opts: HttpParserOptions;

  constructor(emit: Emit, opts?: Partial<HttpParserOptions>) {
    this._emit = emit;
    this._opts = { ...DEFAULT_HTTP_OPTIONS, ...opts };
  }

  /** Emits the message's event and returns the direction to its next message start. */
  protected abstract completeMessage(d: DirectionState, at: CaptureAt, incomplete?: boolean): void;
  /** The bytes are not what the mode expects: report, and hunt for the next message start in `resume`. */
  protected abstract lostSync(d: DirectionState, at: CaptureAt, code: HttpErrorCode, message: string, resume: Buffer): Buffer;
  protected abstract error(d: DirectionState, at: CaptureAt, code: HttpErrorCode, message: string): void;

  protected startLength(d: DirectionState, length: number, rest: Buffer, at: CaptureAt): Buffer {
    if (length === 0) {
      this.completeMessage(d, at);
      return rest;
    }
    d.remaining = length;
    d.mode = Mode.BodyLength;
    return rest;
  }

  protected startChunked(d: DirectionState, rest: Buffer): Buffer {
    d.mode = Mode.ChunkSize;
    d.resetPending();
    return rest;
  }

  protected readBodyLength(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    const n = Math.min(d.remaining, bytes.length);
    this.bodyBytes(d, n === bytes.length ? bytes : bufferView(bytes, 0, n), at);
    d.remaining -= n;
    if (d.remaining === 0) this.completeMessage(d, at);
    return n === bytes.length ? EMPTY : bufferView(bytes, n, bytes.length - n);
  }

  protected readChunkSize(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    const lf = bytes.indexOf(0x0a);
    if (lf < 0) {
      d.gather(bytes);
      if (d.pending.length > MAX_CHUNK_LINE) {
        return this.lostSync(d, at, 'HTTP_BAD_CHUNK', `chunk-size line longer than ${MAX_CHUNK_LINE} bytes`, d.pending.subarray(1));
      }
      if (d.pending === bytes) d.pending = Buffer.from(bytes);
      return EMPTY;
    }
    d.gather(bytes.subarray(0, lf + 1));
    const lineBuf = d.pending;
    d.resetPending();
    const line = lineBuf.toString('latin1').replace(/\r?\n$/, '');
    // chunk-size [ chunk-ext ] : extensions (";name=value") are ignored, as RFC 9112 7.1.1 allows.
    const sizeText = line.split(';', 1)[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText) || sizeText.replace(/^0+(?=.)/, '').length > MAX_CHUNK_SIZE_DIGITS) {
      // Hunt from the line itself: a message without the framing it announced may start right here.
      const resume = Buffer.concat([lineBuf, bytes.subarray(lf + 1)]);
      return this.lostSync(d, at, 'HTTP_BAD_CHUNK', `bad chunk size line ${JSON.stringify(line.slice(0, 40))}`, resume);
    }
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      d.mode = Mode.Trailers;
    } else {
      d.remaining = size;
      d.mode = Mode.ChunkData;
    }
    return bytes.subarray(lf + 1);
  }

  protected readChunkData(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    const n = Math.min(d.remaining, bytes.length);
    this.bodyBytes(d, n === bytes.length ? bytes : bufferView(bytes, 0, n), at);
    d.remaining -= n;
    if (d.remaining === 0) {
      d.mode = Mode.ChunkEnd;
      d.resetPending();
    }
    return n === bytes.length ? EMPTY : bufferView(bytes, n, bytes.length - n);
  }

  /** The CRLF after chunk data (a bare LF with lenientBareLfAfterChunk). `pending` holds a CR already seen. */
  protected readChunkEnd(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    let i = 0;
    let sawCr = d.pending.length > 0;
    if (!sawCr && bytes[0] === 0x0d) {
      i = 1;
      sawCr = true;
      d.pending = Buffer.from([0x0d]);
      if (bytes.length === 1) return EMPTY;
    }
    if (bytes[i] !== 0x0a || (!sawCr && !this._opts.lenientBareLfAfterChunk)) {
      return this.lostSync(d, at, 'HTTP_BAD_CHUNK', 'chunk data not followed by CRLF', bytes.subarray(i));
    }
    d.resetPending();
    d.mode = Mode.ChunkSize;
    return bytes.subarray(i + 1);
  }

  protected readTrailers(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    d.gather(bytes);
    const end = findBlockEnd(d.pending, Math.max(0, d.scanFrom - 3));
    if (end < 0) {
      if (d.pending.length > this._opts.maxHeaderBytes) {
        return this.lostSync(d, at, 'HTTP_HEADER_OVERFLOW', `trailers longer than maxHeaderBytes ${this._opts.maxHeaderBytes}`, d.pending.subarray(1));
      }
      d.scanFrom = d.pending.length;
      if (d.pending === bytes) d.pending = Buffer.from(bytes);
      return EMPTY;
    }
    const block = d.pending;
    d.resetPending();
    const { fields, bad } = parseFields(blockLines(block, end), 0);
    for (const line of bad) this.error(d, at, 'HTTP_BAD_HEADER', `malformed trailer line ignored: ${JSON.stringify(line.slice(0, 80))}`);
    if (fields.length > 0 && d.message) d.message.trailers = fields;
    this.completeMessage(d, at);
    return block.subarray(end);
  }

  /** A piece of de-chunked body: count it, keep or decode it, and announce it. */
  protected bodyBytes(d: DirectionState, piece: Buffer, at: CaptureAt): void {
    const message = d.message;
    if (!message || piece.length === 0) return;
    message.bodyLength += piece.length;
    if (message.decoder) {
      message.decoder.push(piece);
    } else if (message.keptLength < this._opts.maxBody) {
      const room = this._opts.maxBody - message.keptLength;
      const kept = piece.length <= room ? piece : piece.subarray(0, room);
      keepPiece(message, kept);
    }
    if (this._opts.bodyEvents) {
      this._emit({
        type: 'body',
        ts: at.ts,
        frame: at.frame,
        from: d.from,
        message: message.start.kind,
        ...(message.pending !== undefined ? { index: message.pending.index } : {}),
        data: piece,
        ...(message.codings.length > 0 ? { contentEncoding: message.codings } : {}),
      });
    }
  }

  protected missing(message: Message, length: number): void {
    message.missingBytes += length;
    message.decoder?.markBroken(`${message.missingBytes} body bytes missing from the capture`);
  }
}
