/**
 * The request and response events of finished messages (lib/http/events.ts), built from the parser's
 * message records (direction.ts): start line, headers, body and its decoding, and the timing of an exchange.
 * Events are built by plain assignments in a fixed order (no spreads: this runs once per message).
 */
import type { TcpSide } from '../tcp/events.js';
import { timestampSeconds } from '../core/record.js';
import type { CaptureAt, HttpBodyInfo, HttpRequestEvent, HttpResponseEvent, HttpTiming } from './events.js';
import type { RequestLine, StatusLine } from './head.js';
import { EMPTY } from './direction.js';
import type { Message } from './direction.js';

function seconds(at: CaptureAt): number {
  return timestampSeconds(at);
}

/** Seconds from `a` to `b`, computed on the integer parts first so small deltas stay exact. */
function elapsed(a: CaptureAt, b: CaptureAt): number {
  return b.tsSec - a.tsSec + (b.tsNsec - a.tsNsec) / 1e9;
}

/** A request's event without its body fields (fillBodyInfo adds them). */
export function requestEvent(from: TcpSide, line: RequestLine, message: Message, at: CaptureAt): HttpRequestEvent {
  return {
    type: 'request', ts: at.ts, frame: at.frame, from, method: line.method, url: line.url,
    version: line.version, headers: message.headers, index: message.pending?.index ?? 0,
  } as HttpRequestEvent;
}

/** A response's event without its body fields and timing (fillBodyInfo, responseTiming add them). */
export function responseEvent(from: TcpSide, line: StatusLine, message: Message, at: CaptureAt): HttpResponseEvent {
  const request = message.pending;
  const event = {
    type: 'response', ts: at.ts, frame: at.frame, from, status: line.status, reason: line.reason,
    version: line.version, headers: message.headers,
  } as HttpResponseEvent;
  if (request) event.request = { method: request.method, url: request.url, index: request.index };
  if (line.status >= 100 && line.status < 200 && line.status !== 101) event.interim = true;
  return event;
}

/** When the response's first and last bytes were seen, and its request's, as absolute times and spans. */
export function responseTiming(message: Message, at: CaptureAt): HttpTiming {
  const request = message.pending;
  const timing: HttpTiming = {
    firstByte: seconds(message.startAt),
    complete: seconds(at),
    transfer: elapsed(message.startAt, at),
  };
  if (request) {
    timing.requestStart = seconds(request.requestStart);
    timing.total = elapsed(request.requestStart, at);
    if (request.requestSent !== undefined) {
      timing.requestSent = seconds(request.requestSent);
      timing.wait = elapsed(request.requestSent, message.startAt);
    }
  }
  return timing;
}

/**
 * Sets the HttpBodyInfo fields of a message's event (finishing its content decoding). Returns the
 * decoding error, if any, for the caller to report as an http-error before the event.
 */
export function fillBodyInfo(info: HttpBodyInfo, message: Message, maxBody: number, incomplete: boolean): string | undefined {
  let decoded: Buffer | undefined;
  let decodedLength = message.bodyLength;
  let decodeError: string | undefined;
  let decodeLimitExceeded = false;
  if (message.decoder) {
    const result = message.bodyLength > 0 ? message.decoder.finish() : { data: EMPTY };
    if (result.data) {
      decoded = result.data;
      decodedLength = decoded.length;
    } else {
      decodedLength = 0;
    }
    if (result.error !== undefined) decodeError = result.error;
    if (result.limitExceeded) decodeLimitExceeded = true;
    if (decodeError !== undefined && result.data === undefined) decodedLength = 0;
  } else {
    // One piece: a view of the captured bytes (zero-copy; copy it to keep it beyond the event).
    const kept = message.kept;
    decoded = kept.length === 1 ? kept[0]! : kept.length === 0 ? EMPTY : Buffer.concat(kept, message.keptLength);
  }
  let bodyTruncated = false;
  if (decoded && decodedLength > maxBody) {
    if (decoded.length > maxBody) decoded = decoded.subarray(0, maxBody);
    bodyTruncated = true;
  } else if (!message.decoder && message.bodyLength > message.keptLength) {
    bodyTruncated = true;
  }
  // Optional fields are set only when they apply.
  info.headerBytes = message.headerBytes;
  info.bodyLength = message.bodyLength;
  info.decodedLength = decodedLength;
  info.startTs = message.startAt.ts;
  info.startFrame = message.startAt.frame;
  if (message.bodyLength > 0 && decoded) info.body = decoded;
  if (bodyTruncated) info.bodyTruncated = true;
  if (message.codings.length > 0) info.contentEncoding = message.codings;
  if (decodeError !== undefined) info.decodeError = decodeError;
  if (decodeLimitExceeded) info.decodeLimitExceeded = true;
  if (message.missingBytes > 0) info.missingBytes = message.missingBytes;
  if (message.trailers) info.trailers = message.trailers;
  if (incomplete) info.incomplete = true;
  return decodeError;
}
