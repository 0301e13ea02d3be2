/**
 * Events of the HTTP/1.x connection parser (lib/http/parser.ts). Every event carries the capture time and frame
 * number of the segment that caused it and the direction (`from`) whose bytes it describes. Connection
 * metadata (connection number, client, server) is added by the stream wrapper.
 */
import type { HttpErrorCode } from '../core/errors.js';
import type { ConnectionFields, TcpSide } from '../tcp/events.js';
import type { WsEvent } from './ws-events.js';

/** Where in the capture a piece of input came from: the segment's timestamp and frame number. */
export interface CaptureAt {
  /** Capture time, seconds with 9 decimals (formatTimestamp). */
  ts: string;
  tsSec: number;
  tsNsec: number;
  /** 1-based frame number of the packet. */
  frame: number;
}

export interface HttpEventBase {
  ts: string;
  frame: number;
  from: TcpSide;
}

/** A header or trailer field, name in its original case, value with surrounding whitespace removed. */
export type HeaderField = [name: string, value: string];

/** Body facts shared by requests and responses. */
export interface HttpBodyInfo {
  /**
   * Bytes of the start line and header fields on the wire, up to and including the empty line ending them.
   * The parser always sets it; events made from elsewhere (a HAR without sizes) may lack it.
   */
  headerBytes?: number;
  /** Body bytes after de-chunking, as they were on the wire (still content-coded). */
  bodyLength: number;
  /** Body bytes after content decoding (equals bodyLength when there is no content coding). */
  decodedLength: number;
  /** The decoded content, kept up to `maxBody` bytes; absent when the message has no body. */
  body?: Buffer;
  /** The decoded content was longer than `maxBody`: `body` holds only its beginning. */
  bodyTruncated?: true;
  /** Content codings applied, outermost last, as in the Content-Encoding header (lower case). */
  contentEncoding?: string[];
  /** Why the content could not be (fully) decoded: unknown coding, corrupt data, too large to keep. */
  decodeError?: string;
  /** Decoding stopped at `maxDecodedLength`: a decompression bomb or simply a huge body. */
  decodeLimitExceeded?: true;
  /** Bytes of the body the capture does not have (TCP gaps inside a body of known length). */
  missingBytes?: number;
  /** Trailer fields of a chunked body, in order. */
  trailers?: HeaderField[];
  /** The connection ended before the message was complete; the fields describe what was seen. */
  incomplete?: true;
  /** Capture time and frame of the message's first byte. */
  startTs: string;
  startFrame: number;
}

export interface HttpRequestEvent extends HttpEventBase, HttpBodyInfo {
  type: 'request';
  method: string;
  url: string;
  /** "HTTP/1.1", "HTTP/1.0". */
  version: string;
  headers: HeaderField[];
  /** 1-based number of this request on its connection. */
  index: number;
}

/** Capture-time seconds (tsSec + tsNsec / 1e9) of the exchange's milestones, and the deltas between them. */
export interface HttpTiming {
  /** First byte of the request. */
  requestStart?: number;
  /** Last byte of the request (the request was completely sent). */
  requestSent?: number;
  /** First byte of this response. */
  firstByte: number;
  /** Last byte of this response. */
  complete: number;
  /** firstByte - requestSent: the server's think time as seen on the wire. */
  wait?: number;
  /** complete - firstByte: transfer time of the response. */
  transfer: number;
  /** complete - requestStart: the whole exchange. */
  total?: number;
}

export interface HttpResponseEvent extends HttpEventBase, HttpBodyInfo {
  type: 'response';
  status: number;
  reason: string;
  version: string;
  headers: HeaderField[];
  /** The request this response answers, when it was seen. */
  request?: { method: string; url: string; index: number };
  /** A 1xx response other than 101: the final response follows. */
  interim?: true;
  timing: HttpTiming;
}

/** A piece of a message body as it arrives: de-chunked, still content-coded (see `contentEncoding`). */
export interface HttpBodyEvent extends HttpEventBase {
  type: 'body';
  message: 'request' | 'response';
  /** Index of the request this body belongs to (for responses: the request answered), when known. */
  index?: number;
  data: Buffer;
  contentEncoding?: string[];
}

/** The connection left HTTP: a 101 upgrade or a successful CONNECT. */
export interface HttpUpgradeEvent extends HttpEventBase {
  type: 'http-upgrade';
  /** The Upgrade header of the 101 ("websocket", "tcp", ...), or "CONNECT". */
  protocol: string;
  /** True when the rest of the connection is decoded as WebSocket; otherwise it is opaque (or `decodedAs`). */
  websocket: boolean;
  /** Why a websocket-looking upgrade is treated as opaque (e.g. a wrong Sec-WebSocket-Accept). */
  reason?: string;
  /** The rest of the connection is decoded by another parser: "h2c" (HTTP/2 events follow). */
  decodedAs?: string;
  /** permessage-deflate parameters agreed in the handshake, when any. */
  extensions?: string;
}

/** Codes of http-error events: defined with every other code in lib/core/errors.ts. */
export type { HttpErrorCode };

export interface HttpErrorEvent extends HttpEventBase {
  type: 'http-error';
  code: HttpErrorCode;
  message: string;
}

export type HttpEvent = HttpRequestEvent | HttpResponseEvent | HttpBodyEvent | HttpUpgradeEvent | HttpErrorEvent;

/** Everything an HttpConnectionParser emits: HTTP events, then WebSocket events after an upgrade. */
export type HttpParserEvent = HttpEvent | WsEvent;

/** A parser event with its connection: what the HTTP stage (streams/http.ts) emits. */
export type HttpStreamEvent = HttpParserEvent & ConnectionFields;
