/**
 * What the HTTP/1.x parser (parser.ts) can be told: its limits, its leniencies (named flags, each one a
 * point where real traffic departs from RFC 9112 and the parser accepts it by default), and the hook that
 * takes over a connection after a switch to a protocol other than WebSocket.
 */
import type { TcpSide } from '../tcp/events.js';
import { DEFAULT_CONTENT_DECODING_LIMITS } from './content-decoding.js';
import type { CaptureAt } from './events.js';
import { DEFAULT_WEBSOCKET_LIMITS } from './websocket.js';
import type { WebSocketLimits } from './websocket.js';

export interface HttpParserOptions {
  /** Start line plus header fields (and, separately, a chunked body's trailers) at most this long. */
  maxHeaderBytes: number;
  /** Decoded body bytes kept on a request/response event; the rest is counted and `bodyTruncated` set. */
  maxBody: number;
  /** Encoded body bytes collected for content decoding; a longer coded body is not decoded (flagged). */
  maxEncodedBody: number;
  /** Content decoding stops here: a decompression bomb is cut off and flagged. */
  maxDecodedLength: number;
  /** Decode Content-Encoding (gzip, deflate, br). When false, `body` is the de-chunked wire content. */
  decodeContent: boolean;
  /** Emit a `body` event for every piece of body as it arrives. */
  bodyEvents: boolean;
  /** A direction that has never shown an HTTP message start within this many bytes is ignored. */
  maxDetectBytes: number;
  /** Requests waiting for their response; older ones are forgotten (and reported) past this. */
  maxPendingRequests: number;
  /** Bytes a client may send after an upgrade request before the server's answer, held meanwhile. */
  maxUpgradeBuffer: number;
  /** Limits of the WebSocket parser started by a 101. */
  websocket: Partial<WebSocketLimits>;
  // Leniencies, named like llhttp's `lenient*` flags. Each default (true) is what real traffic needs and
  // what this parser has always done; false makes the parser strict on that point (the bytes then count
  // as a violation: an http-error event and a resynchronisation).
  /** Empty lines (CR, LF) before a start line are skipped: RFC 9112 2.2 asks servers to allow it. */
  lenientLeadingEmptyLines: boolean;
  /** Chunk data may end with a bare LF instead of CRLF. */
  lenientBareLfAfterChunk: boolean;
  /**
   * A request line that is not valid but starts with a known method ("GET /path" HTTP/0.9 style,
   * "GET / HTTP/1.", "OPTIONS") is read, flagged with HTTP_BAD_START_LINE, as tshark shows it.
   */
  lenientRequestLine: boolean;
  /**
   * A 101 to a protocol other than WebSocket (e.g. `Upgrade: h2c`): return a receiver to take the
   * connection's bytes from there on (the client's held bytes first), or undefined to leave them opaque.
   */
  onSwitch?: (info: ProtocolSwitch) => ProtocolReceiver | undefined;
}

/** What a 101 switched to, and the request that asked for it. */
export interface ProtocolSwitch {
  /** The 101's Upgrade header. */
  protocol: string;
  request?: { method: string; url: string; index: number; requestStart: CaptureAt; requestSent?: CaptureAt };
  at: CaptureAt;
}

/** Takes over a connection after a protocol switch (same calls as the parser's own). */
export interface ProtocolReceiver {
  data(from: TcpSide, bytes: Buffer, at: CaptureAt): void;
  gap(from: TcpSide, length: number, at: CaptureAt): void;
  end(at: CaptureAt): void;
}

export const DEFAULT_HTTP_OPTIONS: Readonly<HttpParserOptions> = {
  maxHeaderBytes: 64 * 1024,
  maxBody: 16 * 1024 * 1024,
  maxEncodedBody: DEFAULT_CONTENT_DECODING_LIMITS.maxEncodedLength,
  maxDecodedLength: DEFAULT_CONTENT_DECODING_LIMITS.maxDecodedLength,
  decodeContent: true,
  bodyEvents: true,
  maxDetectBytes: 64 * 1024,
  maxPendingRequests: 1024,
  maxUpgradeBuffer: 1024 * 1024,
  websocket: DEFAULT_WEBSOCKET_LIMITS,
  lenientLeadingEmptyLines: true,
  lenientBareLfAfterChunk: true,
  lenientRequestLine: true,
};
