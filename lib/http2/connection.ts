/**
 * HTTP/2 over one reassembled TCP connection (RFC 9113), for a passive observer: the connection
 * preface, a frame parser per direction, HPACK per direction, stream states, and request / response
 * events paired by stream id.
 *
 * Input is what a TCP reassembler delivers (each direction's bytes in order, gaps as byte counts, the
 * end); output is typed events (lib/http2/events.ts) shaped like the HTTP/1.x ones.
 *
 * The parser is built in layers, one file each, every layer a class the next one extends:
 *   lib/http2/frame-reader.ts   framing per direction: preface, frame headers, payloads, DATA streamed,
 *                               hunting for a frame boundary after a gap or a mid-connection join
 *   lib/http2/header-block.ts   HEADERS / PUSH_PROMISE / CONTINUATION assembled, bounded, HPACK-decoded
 *   lib/http2/stream-state.ts   streams per RFC 9113 5.1, request and response messages
 *   lib/http2/connection.ts     (this file) the public parser: connection frames (SETTINGS, RST_STREAM,
 *                               GOAWAY, WINDOW_UPDATE), bodies, and reporting (lib/http2/event-build.ts)
 * with the options and named caps in lib/http2/limits.ts.
 *
 * Nothing throws on bad input: every problem is an `h2-error` event, the frame is skipped by its length
 * when the length can be trusted, and the direction hunts for the next frame boundary when it cannot.
 */
import type { CaptureAt, HttpBodyInfo } from '../http/events.js';
import type { TcpSide as Direction } from '../tcp/events.js';
import type { Http2Event } from './events.js';
import { requestHead, responseHead, responseTiming, setBodyInfo, takeBody } from './event-build.js';
import { contentView, Mode, type DirectionState } from './frame-reader.js';
import {
  Flag,
  FrameType,
  Setting,
  checkSetting,
  errorCodeName,
  frameTypeName,
  parseGoawayPayload,
  parseSettingsPayload,
  parseWindowUpdatePayload,
  type FrameHeader,
} from './frames.js';
import { GrpcMessageCounter, grpcRequestInfo, grpcResponseInfo } from './grpc.js';
import { MAX_PENDING_SETTINGS, type Http2ParserOptions } from './limits.js';
import { Http2Streams, Phase, type Message, type Stream } from './stream-state.js';

export { DEFAULT_HTTP2_OPTIONS, type Http2ParserOptions } from './limits.js';
export { looksLikeHttp2Frames, matchClientPreface } from './frame-reader.js';

/** The HTTP/2 parser of one TCP connection. Feed each direction's bytes in order; events come synchronously. */
export class Http2ConnectionParser extends Http2Streams {
  private _heldBodyBytes = 0;

  constructor(emit: (ev: Http2Event) => void, opts?: Partial<Http2ParserOptions>) {
    super(emit, opts);
    const upgrade = this._opts.upgradeRequest;
    if (this._opts.start === 'upgrade' && upgrade) {
      // RFC 9113 3.3 (RFC 7540 3.2): the upgraded request is stream 1, half-closed from the client.
      this._requestCount = upgrade.index;
      this._lastClientStream = 1;
      const stream = this.newStream(1, Phase.HalfClosedClient, upgrade.requestStart);
      stream.upgraded = true;
      stream.requestEmitted = true;
      stream.index = upgrade.index;
      stream.requestStart = upgrade.requestStart;
      if (upgrade.requestSent) stream.requestSent = upgrade.requestSent;
      stream.request = this.newMessage('request', { regular: [], method: upgrade.method, path: upgrade.url, hasPseudo: true }, 0, upgrade.requestStart);
      stream.request.done = true;
    }
  }

  /** Streams tracked right now (bounded by maxStreams). */
  get openStreams(): number {
    return this._streams.size;
  }

  /**
   * Input bytes held (partial frame headers, buffered frame payloads, open header blocks, hunting
   * buffers). Body bytes kept for events are bounded separately (maxBody, maxConnectionBodyBytes).
   */
  get bufferedBytes(): number {
    let n = 0;
    for (const d of [this._client, this._server]) n += d.have + d.hunt.length + (d.block?.bytes ?? 0) + d.headerHave;
    return n;
  }

  /** Body octets held for events over all open streams. */
  get heldBodyBytes(): number {
    return this._heldBodyBytes;
  }

  data(from: Direction, bytes: Buffer, at: CaptureAt): void {
    if (this._closed || bytes.length === 0) return;
    this.feed(from === 'client' ? this._client : this._server, bytes, at);
  }

  gap(from: Direction, length: number, at: CaptureAt): void {
    if (this._closed) return;
    this.onGap(from === 'client' ? this._client : this._server, length, at);
  }

  /** The connection closed: streams still open are reported incomplete. */
  end(at: CaptureAt): void {
    if (this._closed) return;
    for (const d of [this._client, this._server]) {
      if (d.mode === Mode.Payload || d.mode === Mode.Data || d.mode === Mode.DataPadLength || d.mode === Mode.DataPadding || d.headerHave > 0) {
        this.error(d, at, 'H2_INCOMPLETE', `the connection ended inside a ${frameTypeName(d.frame.type)} frame`, d.frame.streamId);
      } else if (d.block) {
        this.error(d, at, 'H2_INCOMPLETE', 'the connection ended inside a header block', d.block.streamId);
      }
      d.mode = Mode.Closed;
    }
    for (const stream of [...this._streams.values()]) {
      const waiting = (stream.request !== undefined && !stream.requestEmitted) || !stream.responseEmitted;
      if (!stream.unseen && waiting && stream.phase !== Phase.Reserved) {
        this.error(this._client, at, 'H2_INCOMPLETE', `the connection ended with stream ${stream.id} open`, stream.id);
      }
      this.finishStream(stream, at, true);
    }
    this._closed = true;
  }

  reset(at: CaptureAt): void {
    this.end(at);
  }

  // ---------------------------------------------------------------------------------------------
  // Connection frames

  protected override frameComplete(d: DirectionState, payload: Buffer, at: CaptureAt): void {
    const f = d.frame;
    const frameAt = d.frameAt ?? at;
    this.nextFrame(d);
    switch (f.type) {
      case FrameType.HEADERS: return this.onHeadersFrame(d, f, payload, frameAt, at);
      case FrameType.PUSH_PROMISE: return this.onPushPromiseFrame(d, f, payload, frameAt, at);
      case FrameType.CONTINUATION: return this.onContinuation(d, f, payload, at);
      case FrameType.SETTINGS: return this.onSettings(d, f, payload, at);
      case FrameType.RST_STREAM: return this.onRstStream(d, f, payload, at);
      case FrameType.GOAWAY: return this.onGoaway(d, payload, at);
      case FrameType.WINDOW_UPDATE:
        if (parseWindowUpdatePayload(payload) === 0) this.error(d, at, 'H2_FRAME', 'PROTOCOL_ERROR: WINDOW_UPDATE with an increment of 0', f.streamId);
        return;
      default:
        return; // PRIORITY, PING: nothing to report
    }
  }

  protected onGoaway(d: DirectionState, payload: Buffer, at: CaptureAt): void {
    const goaway = parseGoawayPayload(payload);
    const event = {
      type: 'h2-goaway', ts: at.ts, frame: at.frame, from: d.from, protocol: 'HTTP/2', streamId: 0,
      lastStreamId: goaway.lastStreamId, errorCode: goaway.errorCode, error: errorCodeName(goaway.errorCode),
    } as Http2Event & { type: 'h2-goaway' };
    if (goaway.debugData.length > 0) event.debug = goaway.debugData.toString('latin1');
    this._emit(event);
  }

  protected onSettings(d: DirectionState, f: FrameHeader, payload: Buffer, at: CaptureAt): void {
    const other = d === this._client ? this._server : this._client;
    if ((f.flags & Flag.ACK) !== 0) {
      // d acknowledges the other side's SETTINGS: the other side's HEADER_TABLE_SIZE bounds the table of
      // its decoder, which decodes the blocks d sends (d.hpack mirrors that decoder).
      if (other.pendingTableSizes.length > 0) {
        const size = other.pendingTableSizes.shift();
        if (size !== undefined) d.hpack.setAllowedMaxSize(size);
      }
      return;
    }
    let tableSize: number | undefined;
    for (const [id, value] of parseSettingsPayload(payload)) {
      const bad = checkSetting(id, value);
      if (bad !== undefined) {
        this.error(d, at, 'H2_FRAME', `PROTOCOL_ERROR: ${bad}`, 0);
        continue;
      }
      if (id === Setting.HEADER_TABLE_SIZE) tableSize = value;
      // Frames the other side sends may be this large from now on (applied at once: an ACK is a formality here).
      if (id === Setting.MAX_FRAME_SIZE) d.maxFrameSize = value;
    }
    if (d.pendingTableSizes.length < MAX_PENDING_SETTINGS) d.pendingTableSizes.push(tableSize);
  }

  // ---------------------------------------------------------------------------------------------
  // DATA content: bodies

  protected override dataContent(d: DirectionState, bytes: Buffer, start: number, end: number, at: CaptureAt): void {
    if (end === start) return;
    const id = d.frame.streamId;
    const stream = this._streams.get(id);
    if (stream === undefined) return;
    const message = d.from === 'client' ? stream.request : stream.response;
    if (!stream.unseen && (message === undefined || message.done)) return;
    if (message !== undefined) this.bodyBytes(message, bytes, start, end);
    if (this._opts.bodyEvents) {
      const event = {
        type: 'body', ts: at.ts, frame: at.frame, from: d.from, message: d.from === 'client' ? 'request' : 'response',
        data: contentView(bytes, start, end), protocol: 'HTTP/2', streamId: id,
      } as Http2Event & { type: 'body' };
      if (stream.index > 0) event.index = stream.index;
      if (message !== undefined && message.codings.length > 0) event.contentEncoding = message.codings;
      this._emit(event);
    }
  }

  protected override dataGap(d: DirectionState, length: number): void {
    const stream = this._streams.get(d.frame.streamId);
    const message = stream ? (d.from === 'client' ? stream.request : stream.response) : undefined;
    if (message) {
      message.bodyLength += length;
      message.missingBytes += length;
      message.decoder?.markBroken(`${message.missingBytes} body octets missing from the capture`);
      message.grpc?.gap();
    }
  }

  /** DATA content of a message, bytes [start, end): counted; a view made only for what looks at the bytes. */
  protected bodyBytes(message: Message, bytes: Buffer, start: number, end: number): void {
    message.bodyLength += end - start;
    if (message.grpc === undefined && message.decoder === undefined && message.keptLength >= this._opts.maxBody) return;
    const piece = contentView(bytes, start, end);
    message.grpc?.push(piece);
    if (message.decoder) {
      if (this._heldBodyBytes + piece.length > this._opts.maxConnectionBodyBytes) {
        message.decoder.markBroken(`more than maxConnectionBodyBytes ${this._opts.maxConnectionBodyBytes} of bodies held on the connection`);
        return;
      }
      message.decoder.push(Buffer.from(piece));
      message.held += piece.length;
      this._heldBodyBytes += piece.length;
    } else if (message.keptLength < this._opts.maxBody) {
      const room = Math.min(this._opts.maxBody - message.keptLength, this._opts.maxConnectionBodyBytes - this._heldBodyBytes);
      if (room <= 0) return;
      const kept = piece.length <= room ? piece : piece.subarray(0, room);
      // DATA content is a view of the segment; a body that spans frames is kept as copies.
      message.kept.push(Buffer.from(kept));
      message.keptLength += kept.length;
      message.held += kept.length;
      this._heldBodyBytes += kept.length;
    }
  }

  protected override releaseMessage(message: Message | undefined): void {
    if (!message) return;
    this._heldBodyBytes -= message.held;
    message.held = 0;
  }

  protected override emitRequest(stream: Stream, message: Message, at: CaptureAt, incomplete: boolean): void {
    stream.requestEmitted = true;
    if (stream.unseen) return;
    const event = requestHead(stream, message, at);
    this.fillBodyInfo(event, message, stream, at, incomplete, 'client');
    if (message.grpc) event.grpc = grpcRequestInfo(message.url, message.headers, message.grpc.finish());
    this._emit(event);
  }

  protected override emitResponse(stream: Stream, message: Message, at: CaptureAt, interim: boolean, incomplete = false): void {
    if (!interim) stream.responseEmitted = true;
    if (stream.unseen) return;
    const event = responseHead(stream, message, at, interim);
    this.fillBodyInfo(event, message, stream, at, incomplete, 'server');
    event.timing = responseTiming(stream, message, at);
    if (message.grpc || (stream.request?.grpc !== undefined)) {
      event.grpc = grpcResponseInfo(message.headers, message.trailers, (message.grpc ?? new GrpcMessageCounter(undefined)).finish());
    }
    if (stream.reset && incomplete) event.reset = stream.reset;
    this._emit(event);
  }

  /** The body of a finished message into its event; its octets stop counting against the connection's cap. */
  private fillBodyInfo(info: HttpBodyInfo, message: Message, stream: Stream, at: CaptureAt, incomplete: boolean, from: Direction): void {
    const body = takeBody(message, this._opts.maxBody);
    this.releaseMessage(message);
    if (body.decodeError !== undefined) {
      const d = from === 'client' ? this._client : this._server;
      this.error(d, at, 'H2_DECODE', body.decodeError, stream.id);
    }
    setBodyInfo(info, message, body, incomplete);
  }
}
