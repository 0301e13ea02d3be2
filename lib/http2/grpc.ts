/**
 * gRPC over HTTP/2 (the PROTOCOL-HTTP2 document of grpc/grpc): the service and method named by the path,
 * the length-prefixed messages inside the DATA of a stream, and the call's status from the trailers.
 *
 * A message on the wire: 1 octet Compressed-Flag, 4 octets Message-Length (big endian), the message. The
 * messages are counted and sized here, never parsed (protobuf schemas are not on the wire); a compressed
 * message is decompressed (grpc-encoding gzip / deflate, bounded) only to report its decoded size.
 */
import * as zlib from 'node:zlib';
import type { HeaderField } from '../http/events.js';

/** Status code names (grpc/grpc doc/statuscodes.md). */
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

export function grpcStatusName(code: number): string {
  return STATUS_NAMES[code] ?? `UNKNOWN_STATUS(${code})`;
}

/** application/grpc, application/grpc+proto, application/grpc+json ... (not grpc-web, which is HTTP/1-able). */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  // Most content types are not gRPC: turned down without the split/trim/lower-case copies below.
  if (!/^\s*application\/grpc/i.test(value)) return false;
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/grpc' || type.startsWith('application/grpc+');
}

/** "/package.Service/Method" → service and method; undefined for any other shape. */
export function parseGrpcPath(path: string): { service: string; method: string } | undefined {
  const match = /^\/([^/?#]+)\/([^/?#]+)$/.exec(path);
  if (!match) return undefined;
  return { service: match[1]!, method: match[2]! };
}

/** grpc-message is percent-encoded (RFC 3986 style, UTF-8); a bad escape is left as it was. */
export function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(Buffer.from(value, 'latin1').toString('utf8'));
  } catch {
    return value;
  }
}

/** What one direction of a gRPC call carried. */
export interface GrpcMessageStats {
  /** Complete length-prefixed messages. */
  messages: number;
  /** Messages with the Compressed-Flag set. */
  compressedMessages: number;
  /** Sum of Message-Length over the messages (wire size, compressed when compressed). */
  messageBytes: number;
  /** Sizes of the first `maxListed` messages: wire length and, when compressed and decodable, decoded length. */
  sizes: Array<{ length: number; compressed: boolean; decodedLength?: number }>;
  /** Bytes of a message cut off by the end of the stream (or missing from the capture). */
  partialBytes?: number;
  /** Why a compressed message could not be sized after decompression. */
  decodeError?: string;
}

export interface GrpcLimits {
  /** Message sizes listed per stream direction (all are counted). */
  maxListed: number;
  /** A compressed message larger than this is not decompressed to size it. */
  maxDecompress: number;
}

export const DEFAULT_GRPC_LIMITS: Readonly<GrpcLimits> = { maxListed: 64, maxDecompress: 4 * 1024 * 1024 };

/**
 * Counts the length-prefixed messages of one direction of a stream, fed DATA content piece by piece. Holds
 * at most the 5-octet prefix plus, for a compressed message to size, its bytes (bounded by maxDecompress).
 */
export class GrpcMessageCounter {
  readonly stats: GrpcMessageStats = { messages: 0, compressedMessages: 0, messageBytes: 0, sizes: [] };
  private readonly _limits: GrpcLimits;
  private readonly _encoding: string | undefined;
  private readonly _prefix = Buffer.alloc(5);
  private _prefixHave = 0;
  /** Bytes of the current message still to come; -1 while reading a prefix. */
  private _remaining = -1;
  private _compressed = false;
  private _length = 0;
  private _collected: Buffer[] = [];
  private _collecting = false;
  private _broken = false;

  constructor(encoding: string | undefined, limits: GrpcLimits = DEFAULT_GRPC_LIMITS) {
    this._encoding = encoding?.trim().toLowerCase();
    this._limits = limits;
  }

  push(data: Buffer): void {
    if (this._broken) return;
    let pos = 0;
    while (pos < data.length) {
      if (this._remaining < 0) {
        const n = Math.min(5 - this._prefixHave, data.length - pos);
        data.copy(this._prefix, this._prefixHave, pos, pos + n);
        this._prefixHave += n;
        pos += n;
        if (this._prefixHave < 5) return;
        this._compressed = this._prefix[0]! !== 0;
        this._length = this._prefix.readUInt32BE(1);
        this._remaining = this._length;
        this._collecting = this._compressed && this._length <= this._limits.maxDecompress;
        this._collected = [];
        this._prefixHave = 0;
      }
      const n = Math.min(this._remaining, data.length - pos);
      if (this._collecting && n > 0) this._collected.push(Buffer.from(data.subarray(pos, pos + n)));
      pos += n;
      this._remaining -= n;
      if (this._remaining === 0) this.complete();
    }
  }

  /** Bytes of the stream are missing: message boundaries are lost for the rest of it. */
  gap(): void {
    this._broken = true;
    this.stats.partialBytes = (this.stats.partialBytes ?? 0) + 1;
  }

  /** The direction ended: a message still open is reported as partial. */
  finish(): GrpcMessageStats {
    if (!this._broken && (this._prefixHave > 0 || this._remaining > 0)) {
      this.stats.partialBytes = this._prefixHave > 0 ? this._prefixHave : this._length - this._remaining + 5;
    }
    this._collected = [];
    return this.stats;
  }

  private complete(): void {
    const stats = this.stats;
    stats.messages++;
    stats.messageBytes += this._length;
    if (this._compressed) stats.compressedMessages++;
    if (stats.sizes.length < this._limits.maxListed) {
      const entry: GrpcMessageStats['sizes'][number] = { length: this._length, compressed: this._compressed };
      if (this._collecting) {
        const decoded = this.decompress(Buffer.concat(this._collected));
        if (decoded !== undefined) entry.decodedLength = decoded;
      }
      stats.sizes.push(entry);
    }
    this._collected = [];
    this._collecting = false;
    this._remaining = -1;
  }

  private decompress(data: Buffer): number | undefined {
    const opts = { maxOutputLength: this._limits.maxDecompress };
    try {
      switch (this._encoding) {
        case 'gzip': return zlib.gunzipSync(data, opts).length;
        case 'deflate': return zlib.inflateSync(data, opts).length;
        default:
          this.stats.decodeError ??= `compressed message with grpc-encoding ${JSON.stringify(this._encoding ?? '')}: not decoded`;
          return undefined;
      }
    } catch (e) {
      this.stats.decodeError ??= `${this._encoding}: ${(e as Error).message}`;
      return undefined;
    }
  }
}

/** The gRPC facts of a request (client side). */
export interface GrpcRequestInfo {
  service?: string;
  method?: string;
  /** grpc-encoding of the request messages. */
  encoding?: string;
  /** grpc-timeout as sent (e.g. "10S"). */
  timeout?: string;
  stats: GrpcMessageStats;
}

/** The gRPC facts of a response: its messages and the call's status (from trailers or Trailers-Only). */
export interface GrpcResponseInfo {
  /** grpc-status; absent when the server never sent one (the call broke off). */
  status?: number;
  statusName?: string;
  /** grpc-message, percent-decoded. */
  message?: string;
  encoding?: string;
  stats: GrpcMessageStats;
}

function field(fields: readonly HeaderField[] | undefined, name: string): string | undefined {
  if (!fields) return undefined;
  for (const [n, v] of fields) if (n === name) return v;
  return undefined;
}

export function grpcRequestInfo(path: string, headers: readonly HeaderField[], stats: GrpcMessageStats): GrpcRequestInfo {
  const info: GrpcRequestInfo = { stats };
  const named = parseGrpcPath(path);
  if (named) {
    info.service = named.service;
    info.method = named.method;
  }
  const encoding = field(headers, 'grpc-encoding');
  if (encoding !== undefined) info.encoding = encoding;
  const timeout = field(headers, 'grpc-timeout');
  if (timeout !== undefined) info.timeout = timeout;
  return info;
}

/** Status from the trailers, else from the headers (a Trailers-Only response carries it there). */
export function grpcResponseInfo(headers: readonly HeaderField[], trailers: readonly HeaderField[] | undefined, stats: GrpcMessageStats): GrpcResponseInfo {
  const info: GrpcResponseInfo = { stats };
  const statusText = field(trailers, 'grpc-status') ?? field(headers, 'grpc-status');
  if (statusText !== undefined && /^\d{1,3}$/.test(statusText.trim())) {
    info.status = Number(statusText.trim());
    info.statusName = grpcStatusName(info.status);
  }
  const message = field(trailers, 'grpc-message') ?? field(headers, 'grpc-message');
  if (message !== undefined) info.message = decodeGrpcMessage(message);
  const encoding = field(headers, 'grpc-encoding');
  if (encoding !== undefined) info.encoding = encoding;
  return info;
}
