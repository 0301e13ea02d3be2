/**
 * Building the HTTP/2 parser's request and response events from a stream's messages
 * (lib/http2/stream-state.ts): the same shape as the HTTP/1.x events (lib/http/events.ts) plus the
 * protocol, stream id and what HTTP/2 adds. The order fields are set in is the order they are printed
 * in the NDJSON: keep it.
 */
import { timestampSeconds } from '../core/record.js';
import type { CaptureAt, HttpBodyInfo, HttpTiming } from '../http/events.js';
import type { Http2RequestEvent, Http2ResponseEvent } from './events.js';
import { EMPTY } from './frame-reader.js';
import type { Message, Stream } from './stream-state.js';

export function elapsed(a: CaptureAt, b: CaptureAt): number {
  return b.tsSec - a.tsSec + (b.tsNsec - a.tsNsec) / 1e9;
}

/** A request event's head: everything but the body information and gRPC. */
export function requestHead(stream: Stream, message: Message, at: CaptureAt): Http2RequestEvent {
  const event = {
    type: 'request', ts: at.ts, frame: at.frame, from: 'client', method: message.method, url: message.url,
    version: 'HTTP/2', headers: message.headers, index: stream.index, protocol: 'HTTP/2', streamId: stream.id,
  } as Http2RequestEvent;
  if (message.authority !== undefined) event.authority = message.authority;
  if (message.scheme !== undefined) event.scheme = message.scheme;
  if (message.connectProtocol !== undefined) event.connectProtocol = message.connectProtocol;
  if (message.headersIncomplete > 0) event.headersIncomplete = message.headersIncomplete;
  return event;
}

/** A response event's head: everything but the body information, timing, gRPC and reset. */
export function responseHead(stream: Stream, message: Message, at: CaptureAt, interim: boolean): Http2ResponseEvent {
  const event = {
    type: 'response', ts: at.ts, frame: at.frame, from: 'server', status: message.status, reason: '',
    version: 'HTTP/2', headers: message.headers, protocol: 'HTTP/2', streamId: stream.id,
  } as Http2ResponseEvent;
  const request = stream.request;
  if (request && stream.index > 0) event.request = { method: request.method, url: request.url, index: stream.index };
  if (interim) event.interim = true;
  if (message.headersIncomplete > 0) event.headersIncomplete = message.headersIncomplete;
  return event;
}

/** A response's timing: from its first byte to `at`, and from its request when the request was seen. */
export function responseTiming(stream: Stream, message: Message, at: CaptureAt): HttpTiming {
  const timing: HttpTiming = {
    firstByte: timestampSeconds(message.startAt),
    complete: timestampSeconds(at),
    transfer: elapsed(message.startAt, at),
  };
  if (stream.requestStart) {
    timing.requestStart = timestampSeconds(stream.requestStart);
    timing.total = elapsed(stream.requestStart, at);
    if (stream.requestSent) {
      timing.requestSent = timestampSeconds(stream.requestSent);
      timing.wait = elapsed(stream.requestSent, message.startAt);
    }
  }
  return timing;
}

/** A message's body as it will be reported: decoded (or kept), cut to maxBody. */
export interface TakenBody {
  decoded: Buffer | undefined;
  decodedLength: number;
  decodeError?: string;
  limitExceeded: boolean;
  truncated: boolean;
}

/** Finish the message's content decoder, or join its kept pieces (which are let go). */
export function takeBody(message: Message, maxBody: number): TakenBody {
  let decoded: Buffer | undefined;
  let decodedLength = message.bodyLength;
  let decodeError: string | undefined;
  let limitExceeded = false;
  if (message.decoder) {
    const result = message.bodyLength > 0 ? message.decoder.finish() : { data: EMPTY };
    decoded = result.data;
    decodedLength = decoded ? decoded.length : 0;
    if ('error' in result && result.error !== undefined) decodeError = result.error;
    if ('limitExceeded' in result && result.limitExceeded) limitExceeded = true;
  } else {
    decoded = message.kept.length === 1 ? message.kept[0]! : message.kept.length === 0 ? EMPTY : Buffer.concat(message.kept, message.keptLength);
  }
  message.kept = [];
  let truncated = false;
  if (decoded && decoded.length > maxBody) {
    decoded = decoded.subarray(0, maxBody);
    truncated = true;
  } else if (!message.decoder && message.bodyLength > message.keptLength) {
    truncated = true;
  }
  const body: TakenBody = { decoded, decodedLength, limitExceeded, truncated };
  if (decodeError !== undefined) body.decodeError = decodeError;
  return body;
}

/** The body information of a request or response event, from its message and taken body. */
export function setBodyInfo(info: HttpBodyInfo, message: Message, body: TakenBody, incomplete: boolean): void {
  info.bodyLength = message.bodyLength;
  info.decodedLength = body.decodedLength;
  info.startTs = message.startAt.ts;
  info.startFrame = message.startAt.frame;
  if (message.bodyLength > 0 && body.decoded) info.body = body.decoded;
  if (body.truncated) info.bodyTruncated = true;
  if (message.codings.length > 0) info.contentEncoding = message.codings;
  if (body.decodeError !== undefined) info.decodeError = body.decodeError;
  if (body.limitExceeded) info.decodeLimitExceeded = true;
  if (message.missingBytes > 0) info.missingBytes = message.missingBytes;
  if (message.trailers) info.trailers = message.trailers;
  if (incomplete) info.incomplete = true;
}
