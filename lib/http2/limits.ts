/**
 * The HTTP/2 parser's options and named caps (lib/http2/connection.ts and the files it is built from):
 * every bound on what one connection can make us hold is here, with its default.
 */
import { DEFAULT_CONTENT_DECODING_LIMITS } from '../http/content-decoding.js';
import type { CaptureAt } from '../http/events.js';
import { DEFAULT_GRPC_LIMITS, type GrpcLimits } from './grpc.js';
import { DEFAULT_HPACK_LIMITS, type HpackLimits } from './hpack.js';

export interface Http2ParserOptions {
  /**
   * How the connection starts: 'preface' (prior knowledge, or ALPN h2 after TLS: the client's first
   * bytes are the preface), 'upgrade' (after an HTTP/1.1 `Upgrade: h2c` and its 101: stream 1 is the
   * upgraded request, see `upgradeRequest`), 'midstream' (the capture joined an established connection).
   */
  start: 'preface' | 'upgrade' | 'midstream';
  /** The HTTP/1.1 request that asked for h2c: its response comes on stream 1. */
  upgradeRequest?: { method: string; url: string; index: number; requestStart: CaptureAt; requestSent?: CaptureAt };
  /** Compressed octets of one header block (HEADERS/PUSH_PROMISE + CONTINUATION); more: the block is skipped. */
  maxHeaderBlockBytes: number;
  hpack: HpackLimits;
  /** Streams tracked at once; past it the oldest is forgotten (reported). */
  maxStreams: number;
  /** Decoded body bytes kept per message (the rest is counted, `bodyTruncated` set). */
  maxBody: number;
  /** Encoded body bytes collected for content decoding per message. */
  maxEncodedBody: number;
  /** Content decoding stops here (decompression bombs). */
  maxDecodedLength: number;
  /** Body bytes (kept or collected for decoding) held over all open streams of the connection at once. */
  maxConnectionBodyBytes: number;
  decodeContent: boolean;
  /** Emit a `body` event for every piece of DATA as it arrives. */
  bodyEvents: boolean;
  /** Bytes searched for a frame boundary before older ones are dropped (mid-stream joins, desyncs). */
  maxHuntBytes: number;
  grpc: GrpcLimits;
}

export const DEFAULT_HTTP2_OPTIONS: Readonly<Http2ParserOptions> = {
  start: 'preface',
  maxHeaderBlockBytes: 256 * 1024,
  hpack: DEFAULT_HPACK_LIMITS,
  maxStreams: 1024,
  maxBody: 16 * 1024 * 1024,
  maxEncodedBody: DEFAULT_CONTENT_DECODING_LIMITS.maxEncodedLength,
  maxDecodedLength: DEFAULT_CONTENT_DECODING_LIMITS.maxDecodedLength,
  maxConnectionBodyBytes: 64 * 1024 * 1024,
  decodeContent: true,
  bodyEvents: true,
  maxHuntBytes: 64 * 1024,
  grpc: DEFAULT_GRPC_LIMITS,
};

/** Payload octets of non-DATA frames kept: SETTINGS (many settings are odd), GOAWAY debug data. */
export const MAX_SETTINGS_KEPT = 6 * 64;
export const MAX_GOAWAY_KEPT = 8 + 1024;
/** SETTINGS awaiting their ACK, per direction (a peer that never ACKs cannot grow this). */
export const MAX_PENDING_SETTINGS = 16;
/** Complete frames that must check out in a row for a hunted boundary to count (unless the bytes end with one). */
export const HUNT_CHAIN = 4;
