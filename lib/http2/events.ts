/**
 * Events of the HTTP/2 connection parser (lib/http2/connection.ts). Requests and responses are the
 * HTTP/1.x events (lib/http/events.ts) with `version` and `protocol` "HTTP/2" and the stream id, so
 * whatever prints or filters HTTP/1.x exchanges shows HTTP/2 ones the same way; HTTP/2 adds `h2-push`,
 * `h2-rst`, `h2-goaway` and `h2-error`. Every event names its stream (0 for the connection).
 */
import type { HeaderField, HttpBodyEvent, HttpEventBase, HttpRequestEvent, HttpResponseEvent } from '../http/events.js';
import type { Http2ErrorCode } from '../core/errors.js';
import type { GrpcRequestInfo, GrpcResponseInfo } from './grpc.js';

export type { CaptureAt, HeaderField } from '../http/events.js';
export type { TcpSide } from '../tcp/events.js';
import type { ConnectionFields } from '../tcp/events.js';

export const HTTP2 = 'HTTP/2';

/** What every HTTP/2 event adds. */
export interface Http2Fields {
  protocol: 'HTTP/2';
  /** The stream the event is about; 0 for connection-wide ones. */
  streamId: number;
}

/**
 * A request: `method`, `url` (the :path), `headers` without the pseudo-header fields (they are the
 * fields below), `version` "HTTP/2", `index` counting requests on the connection (pushed ones included).
 */
export interface Http2RequestEvent extends HttpRequestEvent, Http2Fields {
  /** :authority (HTTP/2's Host). */
  authority?: string;
  /** :scheme */
  scheme?: string;
  /** :protocol (extended CONNECT, RFC 8441). */
  connectProtocol?: string;
  /** The request of a server push: announced by PUSH_PROMISE on `associatedStreamId`. */
  pushed?: { associatedStreamId: number };
  /** Header fields that referenced HPACK table entries the capture never saw (count); see h2-error H2_HPACK. */
  headersIncomplete?: number;
  grpc?: GrpcRequestInfo;
}

export interface Http2ResponseEvent extends HttpResponseEvent, Http2Fields {
  headersIncomplete?: number;
  grpc?: GrpcResponseInfo;
  /** The stream was reset (RST_STREAM) before the response completed; `incomplete` is set too. */
  reset?: { from: 'client' | 'server'; errorCode: number; error: string };
}

export interface Http2BodyEvent extends HttpBodyEvent, Http2Fields {}

/** PUSH_PROMISE: the server announces a request it will answer on `promisedStreamId`. */
export interface Http2PushEvent extends HttpEventBase, Http2Fields {
  type: 'h2-push';
  promisedStreamId: number;
  /** Request number on the connection, as the `request.index` of the pushed response. */
  index: number;
  method: string;
  url: string;
  authority?: string;
  headers: HeaderField[];
}

/** RST_STREAM: one side ended a stream abnormally. */
export interface Http2RstEvent extends HttpEventBase, Http2Fields {
  type: 'h2-rst';
  errorCode: number;
  /** The code's name: CANCEL, REFUSED_STREAM, ... */
  error: string;
}

/** GOAWAY: one side is closing the connection; streams above `lastStreamId` were not processed. */
export interface Http2GoawayEvent extends HttpEventBase, Http2Fields {
  type: 'h2-goaway';
  lastStreamId: number;
  errorCode: number;
  error: string;
  /** Debug data, as latin1 text (escape before printing), at most 1024 octets of it. */
  debug?: string;
}

export type { Http2ErrorCode };

export interface Http2ErrorEvent extends HttpEventBase, Http2Fields {
  type: 'h2-error';
  code: Http2ErrorCode;
  message: string;
}

export type Http2Event =
  | Http2RequestEvent
  | Http2ResponseEvent
  | Http2BodyEvent
  | Http2PushEvent
  | Http2RstEvent
  | Http2GoawayEvent
  | Http2ErrorEvent;

/** An HTTP/2 event with its TCP connection, as streams/http.ts emits it. */
export type Http2StreamEvent = Http2Event & ConnectionFields;
