/**
 * Stream state of the HTTP/2 parser (RFC 9113 5.1), as an observer sees both ends:
 *
 *   Idle ──HEADERS──► Open ──END_STREAM from client──► HalfClosedClient ──END_STREAM from server──► Closed
 *     │                 └───END_STREAM from server──► HalfClosedServer ──END_STREAM from client──┘   ▲
 *     └──PUSH_PROMISE──► Reserved ──server HEADERS──► HalfClosedClient                 RST_STREAM ──┘
 *
 * Streams are opened by decoded header blocks (a request, a push promise; mid-connection, whatever
 * arrives first), tracked up to maxStreams, and each one's request and response message is built here;
 * reporting them is the subclass's (lib/http2/connection.ts, with lib/http2/event-build.ts).
 */
import { ContentDecoder, parseContentEncoding } from '../http/content-decoding.js';
import type { CaptureAt, HeaderField } from '../http/events.js';
import type { TcpSide as Direction } from '../tcp/events.js';
import type { Http2Event } from './events.js';
import { errorCodeName, parseRstStreamPayload, type FrameHeader } from './frames.js';
import type { DirectionState, OpenBlock } from './frame-reader.js';
import { GrpcMessageCounter, isGrpcContentType } from './grpc.js';
import { Http2HeaderBlocks, type SplitFields } from './header-block.js';

export const enum Phase {
  Idle,
  Reserved,
  Open,
  HalfClosedClient,
  HalfClosedServer,
  Closed,
}

export type Role = 'request' | 'response';

/** One request or response being received on a stream. */
export interface Message {
  role: Role;
  headers: HeaderField[];
  method: string;
  url: string;
  authority?: string;
  scheme?: string;
  connectProtocol?: string;
  status: number;
  startAt: CaptureAt;
  headersIncomplete: number;
  bodyLength: number;
  missingBytes: number;
  codings: string[];
  decoder?: ContentDecoder;
  kept: Buffer[];
  keptLength: number;
  /** Octets counted against maxConnectionBodyBytes (released when the message is emitted). */
  held: number;
  trailers?: HeaderField[];
  grpc?: GrpcMessageCounter;
  done: boolean;
}

export interface Stream {
  id: number;
  phase: Phase;
  request?: Message;
  response?: Message;
  /** Request number on the connection (pushed requests count), 0 when its request was never seen. */
  index: number;
  requestStart?: CaptureAt;
  requestSent?: CaptureAt;
  pushedBy?: number;
  /** HEADERS never seen (mid-stream join, skipped block): only DATA is reported. */
  unseen: boolean;
  /** The request came from HTTP/1.1 (h2c upgrade) and was reported there. */
  upgraded: boolean;
  requestEmitted: boolean;
  responseEmitted: boolean;
  reset?: { from: Direction; errorCode: number; error: string };
}

/** The header values a message needs at its start (as headerValue() gives them: case-insensitive, joined). */
interface MessageHeaders {
  encoding: string | undefined;
  contentType: string | undefined;
  grpcEncoding: string | undefined;
}

/**
 * content-encoding, content-type and grpc-encoding in one pass over the fields. Three headerValue() calls
 * lower-cased every name three times per message; names are compared by length first, and lower-cased
 * only when the length fits (HTTP/2 names are lower case on the wire, but a peer may break the rule).
 */
function messageHeaders(regular: HeaderField[]): MessageHeaders {
  const out: MessageHeaders = { encoding: undefined, contentType: undefined, grpcEncoding: undefined };
  for (let i = 0; i < regular.length; i++) {
    const [name, value] = regular[i]!;
    switch (name.length) {
      case 16:
        if (name === 'content-encoding' || name.toLowerCase() === 'content-encoding') out.encoding = joinValue(out.encoding, value);
        break;
      case 12:
        if (name === 'content-type' || name.toLowerCase() === 'content-type') out.contentType = joinValue(out.contentType, value);
        break;
      case 13:
        if (name === 'grpc-encoding' || name.toLowerCase() === 'grpc-encoding') out.grpcEncoding = joinValue(out.grpcEncoding, value);
        break;
      default:
        break;
    }
  }
  return out;
}

function joinValue(before: string | undefined, value: string): string {
  return before === undefined ? value : `${before}, ${value}`;
}

/** A `:status` of exactly three ASCII digits as a number; anything else is 0. */
function threeDigitStatus(status: string): number {
  if (status.length !== 3) return 0;
  for (let i = 0; i < 3; i++) {
    const c = status.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return 0;
  }
  return Number(status);
}

/** Streams of one connection: opened, moved through their states, closed; messages built. */
export abstract class Http2Streams extends Http2HeaderBlocks {
  protected readonly _streams = new Map<number, Stream>();
  /** Highest stream ids opened by each side (client: odd; server pushes: even). */
  protected _lastClientStream = 0;
  protected _lastServerStream = 0;
  protected _requestCount = 0;

  /** True when `id` is above every stream its initiator has opened (so it can be a new stream). */
  protected isFutureStream(id: number): boolean {
    return id % 2 === 1 ? id > this._lastClientStream : id > this._lastServerStream;
  }

  protected newStream(id: number, phase: Phase, at: CaptureAt): Stream {
    if (this._streams.size >= this._opts.maxStreams) {
      const [oldestId, oldest] = this._streams.entries().next().value as [number, Stream];
      this._emit({
        type: 'h2-error', ts: at.ts, frame: at.frame, from: 'client', protocol: 'HTTP/2', streamId: oldestId,
        code: 'H2_TOO_MANY_STREAMS', message: `more than maxStreams ${this._opts.maxStreams} streams open: stream ${oldestId} forgotten`,
      });
      this.releaseMessage(oldest.request);
      this.releaseMessage(oldest.response);
      this._streams.delete(oldestId);
    }
    const stream: Stream = {
      id, phase, index: 0, unseen: false, upgraded: false, requestEmitted: false, responseEmitted: false,
    };
    this._streams.set(id, stream);
    if (id % 2 === 1) this._lastClientStream = Math.max(this._lastClientStream, id);
    else this._lastServerStream = Math.max(this._lastServerStream, id);
    return stream;
  }

  protected newMessage(role: Role, fields: SplitFields, unknown: number, at: CaptureAt): Message {
    const { encoding, contentType, grpcEncoding } = messageHeaders(fields.regular);
    const grpc = isGrpcContentType(contentType);
    const codings = this._opts.decodeContent && encoding !== undefined && !grpc ? parseContentEncoding(encoding) : [];
    const message: Message = {
      role, headers: fields.regular, method: fields.method ?? '', url: fields.path ?? '', status: 0,
      startAt: at, headersIncomplete: unknown, bodyLength: 0, missingBytes: 0, codings, kept: [], keptLength: 0,
      held: 0, done: false,
    };
    if (fields.authority !== undefined) message.authority = fields.authority;
    if (fields.scheme !== undefined) message.scheme = fields.scheme;
    if (fields.protocol !== undefined) message.connectProtocol = fields.protocol;
    if (fields.status !== undefined) message.status = threeDigitStatus(fields.status);
    if (codings.length > 0) {
      message.decoder = new ContentDecoder(codings, { maxEncodedLength: this._opts.maxEncodedBody, maxDecodedLength: this._opts.maxDecodedLength });
    }
    if (grpc) message.grpc = new GrpcMessageCounter(grpcEncoding, this._opts.grpc);
    return message;
  }

  protected override onHeaders(d: DirectionState, block: OpenBlock, fields: SplitFields, unknown: number, at: CaptureAt): void {
    const id = block.streamId;
    let stream = this._streams.get(id);
    if (d.from === 'client') {
      if (stream === undefined) {
        if (id % 2 === 0 || (!this._midstream && !this.isFutureStream(id))) {
          this.error(d, at, 'H2_STREAM_STATE', `client HEADERS on ${id % 2 === 0 ? 'even' : 'closed'} stream ${id}`, id);
          return;
        }
        if (!fields.hasPseudo && this._midstream) {
          // Trailers of a request whose HEADERS came before the capture.
          stream = this.newStream(id, Phase.Open, at);
          stream.unseen = true;
          this.error(d, at, 'H2_STREAM_UNSEEN', `trailers on stream ${id} whose HEADERS the capture did not see`, id);
          if (block.endStream) this.endStreamFrom(d, id, at);
          return;
        }
        stream = this.newStream(id, Phase.Open, at);
        stream.index = ++this._requestCount;
        stream.requestStart = block.at;
        stream.request = this.newMessage('request', fields, unknown, block.at);
      } else if (stream.unseen) {
        if (block.endStream) this.endStreamFrom(d, id, at);
        return;
      } else if (stream.request && !stream.request.done && !stream.upgraded) {
        // Trailers (RFC 9113 8.1): must end the stream.
        stream.request.trailers = fields.regular;
        if (!block.endStream) this.error(d, at, 'H2_STREAM_STATE', `client trailers on stream ${id} without END_STREAM`, id);
      } else {
        this.error(d, at, 'H2_STREAM_STATE', `client HEADERS on stream ${id} after its request ended`, id);
        return;
      }
      if (block.endStream) this.endStreamFrom(d, id, at);
      return;
    }
    // From the server: a response head, an interim (1xx) head, or trailers.
    if (stream === undefined) {
      if (!this._midstream) {
        this.error(d, at, 'H2_STREAM_STATE', `server HEADERS on stream ${id} that no request opened`, id);
        return;
      }
      stream = this.newStream(id, Phase.Open, at);
      if (!fields.hasPseudo) {
        stream.unseen = true;
        this.error(d, at, 'H2_STREAM_UNSEEN', `trailers on stream ${id} whose HEADERS the capture did not see`, id);
        if (block.endStream) this.endStreamFrom(d, id, at);
        return;
      }
    }
    if (stream.unseen) {
      if (block.endStream) this.endStreamFrom(d, id, at);
      return;
    }
    if (stream.phase === Phase.Reserved) stream.phase = Phase.HalfClosedClient;
    if (stream.response === undefined) {
      const message = this.newMessage('response', fields, unknown, block.at);
      if (message.status >= 100 && message.status < 200) {
        this.emitResponse(stream, message, at, true);
        return;
      }
      stream.response = message;
    } else if (!stream.response.done) {
      stream.response.trailers = fields.regular;
      if (!block.endStream) this.error(d, at, 'H2_STREAM_STATE', `server trailers on stream ${id} without END_STREAM`, id);
    } else {
      this.error(d, at, 'H2_STREAM_STATE', `server HEADERS on stream ${id} after its response ended`, id);
      return;
    }
    if (block.endStream) this.endStreamFrom(d, id, at);
  }

  protected override onPushPromise(d: DirectionState, block: OpenBlock, fields: SplitFields, unknown: number, at: CaptureAt): void {
    const promised = block.promisedStreamId;
    if (promised === 0) return;
    if (this._streams.has(promised) || (!this._midstream && !this.isFutureStream(promised))) {
      this.error(d, at, 'H2_STREAM_STATE', `PUSH_PROMISE of stream ${promised}, which is not idle`, block.streamId);
      return;
    }
    const stream = this.newStream(promised, Phase.Reserved, at);
    stream.index = ++this._requestCount;
    stream.pushedBy = block.streamId;
    stream.requestStart = block.at;
    stream.requestSent = at;
    const request = this.newMessage('request', fields, unknown, block.at);
    request.done = true;
    stream.request = request;
    stream.requestEmitted = true; // reported as the h2-push event
    const event = {
      type: 'h2-push', ts: at.ts, frame: at.frame, from: d.from, protocol: 'HTTP/2', streamId: block.streamId,
      promisedStreamId: promised, index: stream.index, method: request.method, url: request.url, headers: request.headers,
    } as Http2Event & { type: 'h2-push' };
    if (request.authority !== undefined) event.authority = request.authority;
    this._emit(event);
  }

  /** END_STREAM from `d` on stream `id`: its message is complete; the stream moves on. */
  protected override endStreamFrom(d: DirectionState, id: number, at: CaptureAt): void {
    const stream = this._streams.get(id);
    if (stream === undefined) return;
    const fromClient = d.from === 'client';
    switch (stream.phase) {
      case Phase.Open: stream.phase = fromClient ? Phase.HalfClosedClient : Phase.HalfClosedServer; break;
      case Phase.HalfClosedClient: stream.phase = fromClient ? Phase.HalfClosedClient : Phase.Closed; break;
      case Phase.HalfClosedServer: stream.phase = fromClient ? Phase.Closed : Phase.HalfClosedServer; break;
      default: break;
    }
    if (fromClient) {
      stream.requestSent = at;
      if (stream.request && !stream.request.done) {
        stream.request.done = true;
        this.emitRequest(stream, stream.request, at, false);
      }
    } else if (stream.response && !stream.response.done) {
      stream.response.done = true;
      this.emitResponse(stream, stream.response, at, false);
    }
    if (stream.phase === Phase.Closed) this.finishStream(stream, at, false);
  }

  /** The stream is over (closed, reset, or the connection ended): report what was not yet reported. */
  protected finishStream(stream: Stream, at: CaptureAt, incomplete: boolean): void {
    if (stream.request && !stream.requestEmitted) this.emitRequest(stream, stream.request, at, incomplete || !stream.request.done);
    if (stream.response && !stream.responseEmitted) this.emitResponse(stream, stream.response, at, false, incomplete || !stream.response.done);
    this._streams.delete(stream.id);
  }

  protected onRstStream(d: DirectionState, f: FrameHeader, payload: Buffer, at: CaptureAt): void {
    const errorCode = parseRstStreamPayload(payload);
    const error = errorCodeName(errorCode);
    this._emit({ type: 'h2-rst', ts: at.ts, frame: at.frame, from: d.from, protocol: 'HTTP/2', streamId: f.streamId, errorCode, error });
    const stream = this._streams.get(f.streamId);
    if (stream === undefined) return;
    stream.reset = { from: d.from, errorCode, error };
    stream.phase = Phase.Closed;
    this.finishStream(stream, at, true);
  }

  /** A header block skipped for its size: the stream exists, what it carried is unknown. */
  protected override onSkippedBlock(d: DirectionState, block: OpenBlock, at: CaptureAt): void {
    const stream = this._streams.get(block.streamId) ?? this.newStream(block.streamId, Phase.Open, at);
    if (!stream.request && !stream.response) stream.unseen = true;
    if (block.endStream) this.endStreamFrom(d, block.streamId, at);
  }

  protected override dataTarget(d: DirectionState, at: CaptureAt): Message | undefined {
    const id = d.frame.streamId;
    let stream = this._streams.get(id);
    if (stream === undefined) {
      if (!this._midstream && !this.isFutureStream(id) && d.everSynced) {
        this.error(d, at, 'H2_STREAM_STATE', `DATA on closed stream ${id}`, id);
        return undefined;
      }
      stream = this.newStream(id, Phase.Open, at);
      stream.unseen = true;
      this.error(d, at, 'H2_STREAM_UNSEEN', `DATA on stream ${id} whose HEADERS the capture did not see: only its body is reported`, id);
    }
    if (stream.unseen) return undefined;
    const message = d.from === 'client' ? stream.request : stream.response;
    if (message === undefined || message.done) {
      this.error(d, at, 'H2_STREAM_STATE', `DATA from the ${d.from} on stream ${id} ${message === undefined ? 'before its HEADERS' : 'after END_STREAM'}`, id);
      return undefined;
    }
    return message;
  }

  /** Report a request (once; `incomplete` when its stream ended before END_STREAM). */
  protected abstract emitRequest(stream: Stream, message: Message, at: CaptureAt, incomplete: boolean): void;
  /** Report a response (an interim 1xx one may come before the final one). */
  protected abstract emitResponse(stream: Stream, message: Message, at: CaptureAt, interim: boolean, incomplete?: boolean): void;
  /** A message is done with or forgotten: its body octets no longer count against the connection's cap. */
  protected abstract releaseMessage(message: Message | undefined): void;
}
