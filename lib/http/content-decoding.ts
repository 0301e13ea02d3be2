/**
 * HTTP content-coding decoding (gzip, x-gzip, deflate, br) with Node's zlib, bounded.
 *
 * Why "collect, then decode once with the *Sync functions" and not a zlib stream:
 * - Node's streaming zlib is asynchronous: output arrives in later ticks, so events of a synchronous
 *   parser would come out of order with the rest of the connection's events.
 * - Node's synchronous entry points (`gunzipSync`, and `ZlibBase#_processChunk` without a callback,
 *   which they use) close the native handle after one call, so there is no synchronous way to feed one
 *   zlib context chunk after chunk with public (or even semi-public) API.
 * So a message's encoded bytes are collected (bounded by `maxEncodedLength`) and decoded once when the
 * message completes, with `finishFlush: Z_SYNC_FLUSH` (a body cut short by the capture still yields what
 * it holds) and `maxOutputLength` (a decompression bomb stops at `maxDecodedLength` and is flagged
 * instead of filling memory). The `body` events of lib/http/parser.ts therefore carry de-chunked but still
 * coded bytes; the decoded content rides on the request/response event.
 */
import * as zlib from 'node:zlib';

export interface ContentDecodingLimits {
  /** Encoded body bytes collected for decoding; a longer body is not decoded (flagged). */
  maxEncodedLength: number;
  /** Decoded bytes produced at most; more is a decompression bomb (or just huge) and is cut and flagged. */
  maxDecodedLength: number;
}

export const DEFAULT_CONTENT_DECODING_LIMITS: Readonly<ContentDecodingLimits> = {
  maxEncodedLength: 16 * 1024 * 1024,
  maxDecodedLength: 64 * 1024 * 1024,
};

export type ContentCoding = 'gzip' | 'deflate' | 'br' | 'identity';

export interface ContentDecodeResult {
  /** The decoded bytes; absent when decoding failed or was cut off. */
  data?: Buffer;
  /** Why decoding failed; absent on success. */
  error?: string;
  /** The output reached maxDecodedLength. */
  limitExceeded?: true;
}

/**
 * The codings of a Content-Encoding header in the order they were applied (first applied first),
 * lower-cased, `x-gzip` normalised to `gzip`, `identity` dropped. Several header lines are joined by ','.
 */
export function parseContentEncoding(headerValue: string | undefined): string[] {
  if (headerValue === undefined) return [];
  const codings: string[] = [];
  for (const part of headerValue.split(',')) {
    const coding = part.trim().toLowerCase();
    if (coding === '' || coding === 'identity') continue;
    codings.push(coding === 'x-gzip' ? 'gzip' : coding);
  }
  return codings;
}

export function isSupportedCoding(coding: string): boolean {
  return coding === 'gzip' || coding === 'deflate' || coding === 'br';
}

/**
 * True when the first two bytes are a zlib (RFC 1950) header: CM = 8 and the check bits. "deflate" is
 * supposed to be zlib-wrapped, but some servers send raw deflate (RFC 1951); browsers accept both.
 */
export function looksLikeZlibHeader(data: Buffer): boolean {
  if (data.length < 2) return false;
  const cmf = data[0]!;
  const flg = data[1]!;
  return (cmf & 0x0f) === 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

const SYNC_ZLIB: zlib.ZlibOptions = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

function decodeOne(coding: string, data: Buffer, maxOutputLength: number): Buffer {
  switch (coding) {
    case 'gzip':
      return zlib.gunzipSync(data, { ...SYNC_ZLIB, maxOutputLength });
    case 'deflate':
      return looksLikeZlibHeader(data)
        ? zlib.inflateSync(data, { ...SYNC_ZLIB, maxOutputLength })
        : zlib.inflateRawSync(data, { ...SYNC_ZLIB, maxOutputLength });
    case 'br':
      return zlib.brotliDecompressSync(data, {
        finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
        maxOutputLength,
      });
    default:
      throw new Error(`unsupported content coding "${coding}"`);
  }
}

function isBufferTooLarge(e: unknown): boolean {
  return e instanceof RangeError && (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * Decodes `data`, coded with `codings` in the order given (so decoding runs from the last to the first).
 * Never throws: failures and the size limit come back in the result.
 */
export function decodeContent(data: Buffer, codings: readonly string[], maxDecodedLength: number): ContentDecodeResult {
  let current = data;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    if (!isSupportedCoding(coding)) return { error: `unsupported content coding "${coding}"` };
    if (current.length === 0) continue; // an empty coded body decodes to nothing
    try {
      current = decodeOne(coding, current, maxDecodedLength);
    } catch (e) {
      if (isBufferTooLarge(e)) {
        return { error: `decoded ${coding} content exceeds ${maxDecodedLength} bytes`, limitExceeded: true };
      }
      return { error: `${coding}: ${(e as Error).message}` };
    }
  }
  return { data: current };
}

/** Collects one message's encoded body (bounded) and decodes it when the message completes. */
export class ContentDecoder {
  readonly codings: readonly string[];
  private readonly _limits: ContentDecodingLimits;
  private _chunks: Buffer[] = [];
  private _collected = 0;
  private _overflow = false;
  private _broken: string | undefined;

  constructor(codings: readonly string[], limits: ContentDecodingLimits = DEFAULT_CONTENT_DECODING_LIMITS) {
    this.codings = codings;
    this._limits = limits;
  }

  /** Adds encoded bytes. Past maxEncodedLength the bytes are dropped and the result will say so. */
  push(chunk: Buffer): void {
    if (this._overflow || this._broken !== undefined) return;
    if (this._collected + chunk.length > this._limits.maxEncodedLength) {
      this._overflow = true;
      this._chunks = [];
      return;
    }
    this._chunks.push(chunk);
    this._collected += chunk.length;
  }

  /** Part of the body is missing (TCP gap): the coded stream cannot be decoded past it. */
  markBroken(reason: string): void {
    if (this._broken === undefined) this._broken = reason;
  }

  finish(): ContentDecodeResult {
    if (this._overflow) {
      return { error: `encoded body longer than ${this._limits.maxEncodedLength} bytes: not decoded` };
    }
    const data = this._chunks.length === 1 ? this._chunks[0]! : Buffer.concat(this._chunks, this._collected);
    this._chunks = [];
    const result = decodeContent(data, this.codings, this._limits.maxDecodedLength);
    if (this._broken !== undefined && result.error === undefined) {
      // What decoded before the hole is still worth keeping, but say why it may be short.
      return { ...result, error: this._broken };
    }
    return result;
  }
}
