/**
 * HTTP/1.x over one reassembled TCP connection: an incremental state machine per direction, request /
 * response pairing, RFC 9112 message framing, content decoding, and the hand-over to WebSocket (or to
 * "opaque") after an upgrade or a CONNECT tunnel.
 *
 * Input is what a TCP reassembler delivers: each direction's bytes in order and exactly once, gaps as byte
 * counts, and the end of the connection. Output is typed events (lib/http/events.ts, lib/http/ws-events.ts).
 *
 * A direction goes through these modes:
 *
 *   Detect ──first line is a start line──► Head ──► (body modes) ──► Head ...
 *     │                                     │  ▲
 *     └──not HTTP yet──► Hunt ──start line──┘  └── violation / gap / overflow: Hunt (resynchronise)
 *
 *   body modes (body-framing.ts): BodyLength | ChunkSize ► ChunkData ► ChunkEnd ► ... ► Trailers | BodyUntilClose
 *   after a request that asked to switch protocols: AwaitUpgrade (bytes held until the response decides)
 *   after a 101 / CONNECT 2xx: WebSocket | Opaque
 *
 * Malformed input never throws: every problem is an `http-error` event and the direction resynchronises
 * at the next request line or status line it can recognise.
 *
 * This file is the connection state machine: the driver, heads, hunting, request/response pairing, the
 * protocol switch, gaps and the end. Around it: parser-options.ts (limits and the named leniencies),
 * direction.ts (per-direction state and message records), body-framing.ts (the body modes, a base class
 * of the parser), message-events.ts (building the request/response events), head.ts (start lines, fields).
 */
import type { TcpSide } from '../tcp/events.js';
import { bufferView } from '../core/buffer-view.js';
import type { CaptureAt, HttpErrorCode, HttpParserEvent } from './events.js';
import {
  KnownFields, MAX_START_LINE, TOKEN_CHAR, blockLines, contentLength, findBlockEnd, findMessageStart,
  methodIs, parseFieldsText, parseStartLine,
} from './head.js';
import type { ParsedFields, RequestLine, StatusLine } from './head.js';
import { WebSocketConnection, parsePerMessageDeflate } from './websocket.js';
import { DirectionState, EMPTY, Mode, newMessage, position } from './direction.js';
import type { PendingRequest, Role } from './direction.js';
import { BodyFraming } from './body-framing.js';
import { switchInfo, websocketRefusal } from './upgrade.js';
import { fillBodyInfo, requestEvent, responseEvent, responseTiming } from './message-events.js';
import type { HttpParserOptions, ProtocolReceiver } from './parser-options.js';

export { headerValue } from './head.js';
export type { CaptureAt } from './events.js';
export { DEFAULT_HTTP_OPTIONS } from './parser-options.js';
export type { HttpParserOptions, ProtocolReceiver, ProtocolSwitch } from './parser-options.js';

/**
 * The HTTP/1.x parser of one TCP connection. Feed it each direction's bytes in order; it emits events
 * synchronously from the calls.
 */
export class HttpConnectionParser extends BodyFraming {
  private readonly _client = new DirectionState('client');
  private readonly _server = new DirectionState('server');
  private readonly _pending: PendingRequest[] = [];
  private _requestCount = 0;
  private _ws: WebSocketConnection | undefined;
  /** Who takes the bytes after a switch to another protocol (onSwitch), when one does. */
  private _handedTo: ProtocolReceiver | undefined;
  private _closed = false;

  constructor(emit: (ev: HttpParserEvent) => void, opts?: Partial<HttpParserOptions>) {
    super(emit, opts);
  }

  /** True once the connection was upgraded to WebSocket. */
  get websocket(): boolean {
    return this._ws !== undefined;
  }

  /**
   * Input bytes held right now (partial heads, chunk lines, bytes awaiting an upgrade decision, partial
   * WebSocket frames). Bounded by the named limits; exposed so tests and stream wrappers can check it.
   * Collected body/message content is not counted (it is bounded by maxBody / maxEncodedBody / maxMessageSize).
   */
  get bufferedBytes(): number {
    return this._client.pending.length + this._server.pending.length + this._client.heldBytes + this._server.heldBytes + (this._ws?.bufferedBytes ?? 0);
  }

  data(from: TcpSide, bytes: Buffer, at: CaptureAt): void {
    if (this._closed || bytes.length === 0) return;
    this.feed(this.dir(from), bytes, at);
  }

  gap(from: TcpSide, length: number, at: CaptureAt): void {
    if (this._closed) return;
    this.onGap(this.dir(from), length, at);
  }

  /** The connection closed: completes read-until-close bodies and reports what was left unfinished. */
  end(at: CaptureAt): void {
    if (this._closed) return;
    this.finishDirection(this._client, at);
    this.finishDirection(this._server, at);
    this._ws?.end(at);
    this._handedTo?.end(at);
    this._closed = true;
  }

  /** The connection was reset. A body delimited by the close ends here as well. */
  reset(at: CaptureAt): void {
    this.end(at);
  }

  private dir(from: TcpSide): DirectionState {
    return from === 'client' ? this._client : this._server;
  }

  private other(d: DirectionState): DirectionState {
    return d === this._client ? this._server : this._client;
  }

  // ---------------------------------------------------------------------------------------------
  // The driver: each mode consumes what it can and returns the bytes it did not use.

  private feed(d: DirectionState, bytes: Buffer, at: CaptureAt): void {
    let rest = bytes;
    while (rest.length > 0) {
      switch (d.mode) {
        case Mode.Detect:
        case Mode.Head:
          rest = this.readHead(d, rest, at);
          break;
        case Mode.Hunt:
          rest = this.hunt(d, rest);
          break;
        case Mode.BodyLength:
          rest = this.readBodyLength(d, rest, at);
          break;
        case Mode.ChunkSize:
          rest = this.readChunkSize(d, rest, at);
          break;
        case Mode.ChunkData:
          rest = this.readChunkData(d, rest, at);
          break;
        case Mode.ChunkEnd:
          rest = this.readChunkEnd(d, rest, at);
          break;
        case Mode.Trailers:
          rest = this.readTrailers(d, rest, at);
          break;
        case Mode.BodyUntilClose:
          this.bodyBytes(d, rest, at);
          return;
        case Mode.AwaitUpgrade:
          d.hold(rest, at, this._opts.maxUpgradeBuffer);
          return;
        case Mode.WebSocket:
          this._ws!.data(d.from, rest, at);
          return;
        case Mode.Handed:
          this._handedTo!.data(d.from, rest, at);
          return;
        case Mode.Opaque:
        case Mode.Ignored:
        case Mode.Closed:
          return;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Start line and header fields

  private readHead(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    if (d.pending.length === 0) {
      // RFC 9112 2.2: empty lines before a request line are ignored (also tolerated before a status line).
      let skip = 0;
      if (this._opts.lenientLeadingEmptyLines) {
        while (skip < bytes.length && (bytes[skip] === 0x0d || bytes[skip] === 0x0a)) skip++;
      }
      if (skip === bytes.length) return EMPTY;
      if (skip > 0) bytes = bytes.subarray(skip);
      if (TOKEN_CHAR[bytes[0]!] !== 1) {
        return this.lostSync(d, at, 'HTTP_BAD_START_LINE', 'a message must start with a method or "HTTP/"', bytes.subarray(1));
      }
      d.headAt = position(at);
    }
    d.gather(bytes);
    const end = findBlockEnd(d.pending, Math.max(0, d.scanFrom - 3));
    if (end < 0) {
      // Incomplete head: judge the start line as soon as it is complete, so garbage is not gathered
      // up to maxHeaderBytes before resynchronising.
      if (!d.startLineChecked) {
        const firstLineEnd = d.pending.indexOf(0x0a);
        if (firstLineEnd < 0 && d.pending.length > MAX_START_LINE) {
          return this.lostSync(d, at, 'HTTP_BAD_START_LINE', `no line end within ${MAX_START_LINE} bytes`, d.pending.subarray(1));
        }
        if (firstLineEnd >= 0) {
          const problem = this.startLineProblem(d, blockLines(d.pending, firstLineEnd + 1)[0] ?? '');
          if (problem !== undefined) return this.lostSync(d, at, 'HTTP_BAD_START_LINE', problem, d.pending.subarray(1));
          d.startLineChecked = true;
        }
      }
      if (d.pending.length > this._opts.maxHeaderBytes) return this.headOverflow(d, at);
      d.scanFrom = d.pending.length;
      if (d.pending === bytes) d.pending = Buffer.from(bytes); // keep a copy, not a view pinning the segment
      return EMPTY;
    }
    if (end > this._opts.maxHeaderBytes) return this.headOverflow(d, at);
    const block = d.pending;
    // the block as one string, scanned in place (see parseFieldsText): cheaper than a string per line
    const text = block.toString('latin1', 0, end);
    let firstLineEnd = text.indexOf('\n');
    if (firstLineEnd < 0) firstLineEnd = text.length;
    const firstLine = text.charCodeAt(firstLineEnd - 1) === 0x0d ? text.slice(0, firstLineEnd - 1) : text.slice(0, firstLineEnd);
    const start = parseStartLine(firstLine, this._opts.lenientRequestLine);
    if (start === undefined || (d.role !== undefined && start.kind !== d.role)) {
      return this.lostSync(d, at, 'HTTP_BAD_START_LINE', this.startLineProblem(d, firstLine) ?? 'bad start line', block.subarray(1));
    }
    const rest = end === block.length ? EMPTY : bufferView(block, end, block.length - end);
    const startAt = d.headAt ?? position(at);
    d.resetPending();
    const head = parseFieldsText(text, firstLineEnd + 1);
    for (const line of head.bad) this.error(d, at, 'HTTP_BAD_HEADER', `malformed header line ignored: ${JSON.stringify(line.slice(0, 80))}`);
    this.synced(d, start.kind, at);
    if (start.kind === 'request' && start.malformed) {
      this.error(d, at, 'HTTP_BAD_START_LINE', `malformed request line: ${JSON.stringify(firstLine.slice(0, 80))}`);
    }
    if (start.kind === 'request') return this.onRequestHead(d, start, head, startAt, at, rest);
    return this.onResponseHead(d, start, head, startAt, at, rest);
  }

  /**
   * A header block longer than maxHeaderBytes. When it starts with a valid start line the message is
   * still reported, like tshark does: its start line and the complete header lines within the limit,
   * flagged incomplete (a request also takes its place in the queue its response pairs with). Its
   * body cannot be framed, so the parser then hunts for the next start line on the connection, and
   * the HTTP_DESYNC that follows says how many bytes were skipped: a huge first head cannot hide the
   * requests after it.
   */
  private headOverflow(d: DirectionState, at: CaptureAt): Buffer {
    const limit = this._opts.maxHeaderBytes;
    const what = `header block longer than maxHeaderBytes ${limit}`;
    const text = d.pending.toString('latin1', 0, Math.min(d.pending.length, limit));
    const firstLineEnd = text.indexOf('\n');
    const firstLine = firstLineEnd < 0 ? '' : text.slice(0, text.charCodeAt(firstLineEnd - 1) === 0x0d ? firstLineEnd - 1 : firstLineEnd);
    const start = firstLineEnd < 0 ? undefined : parseStartLine(firstLine);
    if (start === undefined || (d.role !== undefined && start.kind !== d.role)) {
      return this.lostSync(d, at, 'HTTP_HEADER_OVERFLOW', what, d.pending.subarray(1));
    }
    const head = parseFieldsText(text.slice(0, text.lastIndexOf('\n') + 1), firstLineEnd + 1);
    const startAt = d.headAt ?? at;
    this.synced(d, start.kind, at);
    let pairedWith: PendingRequest | undefined;
    if (start.kind === 'request') pairedWith = this.queueRequest(d, start, head.known, startAt, at);
    else if (!(start.status >= 100 && start.status < 200)) pairedWith = this._pending.shift();
    d.message = newMessage(this._opts, start, head, startAt, pairedWith);
    const resume = d.pending.subarray(firstLineEnd + 1);
    return this.lostSync(d, at, 'HTTP_HEADER_OVERFLOW',
      `${what} (${JSON.stringify(firstLine.slice(0, 80))}): reported with the header lines within the limit; its body cannot be framed, skipping to the next message`, resume);
  }

  /** Why `line` cannot start a message in this direction, or undefined when it can. */
  private startLineProblem(d: DirectionState, line: string): string | undefined {
    const start = parseStartLine(line, this._opts.lenientRequestLine);
    if (start !== undefined && (d.role === undefined || start.kind === d.role)) return undefined;
    return `not a ${d.role ?? 'request or status'} line: ${JSON.stringify(line.slice(0, 80))}`;
  }

  /** A message start was recognised: note the role, report bytes skipped to get here. */
  private synced(d: DirectionState, role: Role, at: CaptureAt): void {
    if (d.role === undefined) d.role = role;
    if (d.skipped > 0) {
      const code: HttpErrorCode = d.everSynced ? 'HTTP_DESYNC' : 'HTTP_MIDSTREAM';
      this.error(d, at, code, `resynchronised after skipping ${d.skipped} bytes`);
      d.skipped = 0;
    }
    d.everSynced = true;
    d.detectBytes = 0;
  }

  /**
   * The bytes are not what the current mode expects: report (unless this direction was never HTTP, where
   * silence is right for non-HTTP traffic), emit what was seen of the current message, and hunt for the
   * next message start in `resume` (the caller drops at least one byte, so hunting always makes progress).
   */
  protected lostSync(d: DirectionState, at: CaptureAt, code: HttpErrorCode, message: string, resume: Buffer): Buffer {
    if (d.everSynced) this.error(d, at, code, message);
    this.abandonMessage(d, at);
    d.resetPending();
    d.mode = Mode.Hunt;
    return resume;
  }

  // ---------------------------------------------------------------------------------------------
  // Hunting: find the next request line or status line in arbitrary bytes.

  private hunt(d: DirectionState, bytes: Buffer): Buffer {
    d.gather(bytes);
    const buf = d.pending;
    const found = findMessageStart(buf, d.role);
    if (found >= 0) {
      d.skipped += found;
      d.resetPending();
      d.mode = Mode.Head;
      return buf.subarray(found);
    }
    // Keep what may begin a start line cut by the segment boundary: a start line has no LF in it, so
    // only the bytes after the last LF (at most MAX_START_LINE of them) can be part of one.
    const keep = Math.min(buf.length - (buf.lastIndexOf(0x0a) + 1), MAX_START_LINE);
    const dropped = buf.length - keep;
    d.skipped += dropped;
    if (!d.everSynced) {
      d.detectBytes += dropped;
      if (d.detectBytes > this._opts.maxDetectBytes) {
        d.mode = Mode.Ignored; // not HTTP (TLS, SSH, ...): stop looking
        d.resetPending();
        return EMPTY;
      }
    }
    d.pending = Buffer.from(buf.subarray(dropped));
    d.scanFrom = 0;
    return EMPTY;
  }
  // ---------------------------------------------------------------------------------------------
  // Requests and responses

  private onRequestHead(d: DirectionState, line: RequestLine, head: ParsedFields, startAt: CaptureAt, at: CaptureAt, rest: Buffer): Buffer {
    const known = head.known;
    const entry = this.queueRequest(d, line, known, startAt, at);
    d.message = newMessage(this._opts, line, head, startAt, entry);
    // Request framing (RFC 9112 6.3): Transfer-Encoding (chunked last) or Content-Length, else no body.
    const te = known.get('transfer-encoding');
    if (te !== undefined) {
      const codings = te.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
      if (codings[codings.length - 1] !== 'chunked') {
        return this.lostSync(d, at, 'HTTP_BAD_TRANSFER_ENCODING', `request Transfer-Encoding "${te}" does not end in chunked: length unknown`, rest);
      }
      return this.startChunked(d, rest);
    }
    const length = contentLength(known.get('content-length'));
    if (length === null) return this.lostSync(d, at, 'HTTP_BAD_CONTENT_LENGTH', `bad Content-Length "${known.get('content-length')}"`, rest);
    return this.startLength(d, length ?? 0, rest, at);
  }

  /** A request's place in the queue its response pairs with (the oldest is forgotten beyond maxPendingRequests). */
  private queueRequest(d: DirectionState, line: RequestLine, known: KnownFields, startAt: CaptureAt, at: CaptureAt): PendingRequest {
    const upgrade = known.get('upgrade');
    const isConnect = methodIs(line.method, 'CONNECT');
    const wsKey = known.get('sec-websocket-key');
    const entry: PendingRequest = {
      method: line.method,
      url: line.url,
      index: ++this._requestCount,
      requestStart: startAt,
      switching: upgrade !== undefined || isConnect,
      ...(upgrade !== undefined ? { upgrade } : {}),
      ...(wsKey !== undefined ? { wsKey } : {}),
    };
    if (this._pending.length >= this._opts.maxPendingRequests) {
      const dropped = this._pending.shift()!;
      this.error(d, at, 'HTTP_UNPAIRED', `more than ${this._opts.maxPendingRequests} requests without a response: forgot request #${dropped.index}`);
    }
    this._pending.push(entry);
    return entry;
  }

  private onResponseHead(d: DirectionState, line: StatusLine, head: ParsedFields, startAt: CaptureAt, at: CaptureAt, rest: Buffer): Buffer {
    const known = head.known;
    const request = this._pending[0];
    const interim = line.status >= 100 && line.status < 200 && line.status !== 101;
    if (request === undefined && this.other(d).role === 'request') {
      this.error(d, at, 'HTTP_UNPAIRED', `response ${line.status} with no request waiting for it`);
    }
    if (!interim && request !== undefined) this._pending.shift();
    d.message = newMessage(this._opts, line, head, startAt, request);
    if (interim) {
      this.completeMessage(d, at);
      return rest;
    }
    if (line.status === 101 || (request !== undefined && methodIs(request.method, 'CONNECT') && line.status >= 200 && line.status < 300)) {
      this.completeMessage(d, at);
      this.switchProtocols(d, line, known, request, rest, at);
      return EMPTY;
    }
    if (request?.switching) this.releaseHeld(at);
    // Response framing (RFC 9112 6.3).
    if (line.status === 204 || line.status === 304 || (request !== undefined && methodIs(request.method, 'HEAD'))) {
      return this.startLength(d, 0, rest, at);
    }
    const te = known.get('transfer-encoding');
    if (te !== undefined) {
      const codings = te.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
      if (codings[codings.length - 1] === 'chunked') return this.startChunked(d, rest);
      d.mode = Mode.BodyUntilClose;
      return rest;
    }
    const length = contentLength(known.get('content-length'));
    if (length === null) return this.lostSync(d, at, 'HTTP_BAD_CONTENT_LENGTH', `bad Content-Length "${known.get('content-length')}"`, rest);
    if (length === undefined) {
      d.mode = Mode.BodyUntilClose;
      return rest;
    }
    return this.startLength(d, length, rest, at);
  }
  // ---------------------------------------------------------------------------------------------
  // Completion

  /** Emits the message's event and returns the direction to its next message start. */
  protected completeMessage(d: DirectionState, at: CaptureAt, incomplete = false): void {
    const message = d.message;
    d.message = undefined;
    d.mode = Mode.Head;
    d.resetPending();
    if (!message) return;
    if (message.start.kind === 'request') {
      const pending = message.pending;
      const event = requestEvent(d.from, message.start, message, at);
      const decodeError = fillBodyInfo(event, message, this._opts.maxBody, incomplete);
      if (decodeError !== undefined) this.error(d, at, 'HTTP_DECODE', decodeError);
      if (pending && !incomplete) pending.requestSent = position(at);
      this._emit(event);
      if (pending?.switching && !incomplete && this._pending.includes(pending)) {
        d.mode = Mode.AwaitUpgrade; // the server's answer decides what the next bytes are
      }
      return;
    }
    const event = responseEvent(d.from, message.start, message, at);
    const decodeError = fillBodyInfo(event, message, this._opts.maxBody, incomplete);
    if (decodeError !== undefined) this.error(d, at, 'HTTP_DECODE', decodeError);
    event.timing = responseTiming(message, at);
    this._emit(event);
  }

  /** A message whose framing is lost: emit what was seen of it, flagged incomplete. */
  private abandonMessage(d: DirectionState, at: CaptureAt): void {
    if (!d.message) return;
    const mode = d.mode;
    this.completeMessage(d, at, true);
    d.mode = mode;
  }

  // ---------------------------------------------------------------------------------------------
  // Switching protocols

  private switchProtocols(d: DirectionState, line: StatusLine, known: KnownFields, request: PendingRequest | undefined, rest: Buffer, at: CaptureAt): void {
    const requestSide = this.other(d);
    const protocol = line.status === 101 ? known.get('upgrade') ?? '' : 'CONNECT';
    const wsReason = line.status === 101 ? websocketRefusal(known, request) : 'CONNECT tunnel';
    const extensions = known.get('sec-websocket-extensions');
    const receiver = wsReason !== undefined && line.status === 101 ? this._opts.onSwitch?.(switchInfo(protocol, request, at)) : undefined;
    this._emit({
      type: 'http-upgrade',
      ts: at.ts,
      frame: at.frame,
      from: d.from,
      protocol,
      websocket: wsReason === undefined,
      ...(wsReason !== undefined && receiver === undefined ? { reason: wsReason } : {}),
      ...(receiver !== undefined ? { decodedAs: protocol } : {}),
      ...(wsReason === undefined && extensions !== undefined ? { extensions } : {}),
    });
    const held = requestSide.mode === Mode.AwaitUpgrade ? requestSide.held : [];
    const heldGap = requestSide.heldGap;
    requestSide.held = [];
    requestSide.heldBytes = 0;
    if (receiver !== undefined) {
      this._handedTo = receiver;
      d.mode = Mode.Handed;
      requestSide.mode = Mode.Handed;
      if (heldGap) receiver.gap(requestSide.from, 0, at);
      for (const [bytes, heldAt] of held) receiver.data(requestSide.from, bytes, heldAt);
      if (rest.length > 0) receiver.data(d.from, rest, at);
      return;
    }
    if (wsReason !== undefined) {
      d.mode = Mode.Opaque;
      requestSide.mode = Mode.Opaque;
      return;
    }
    const deflate = parsePerMessageDeflate(extensions);
    this._ws = new WebSocketConnection((ev) => this._emit(ev), {
      clientSide: requestSide.from,
      ...(deflate ? { deflate } : {}),
      limits: this._opts.websocket,
    });
    d.mode = Mode.WebSocket;
    requestSide.mode = Mode.WebSocket;
    if (heldGap) this._ws.gap(requestSide.from, 0, at);
    for (const [bytes, heldAt] of held) this._ws.data(requestSide.from, bytes, heldAt);
    if (rest.length > 0) this._ws.data(d.from, rest, at);
  }

  /** The server refused to switch: what the client sent meanwhile is HTTP again. */
  private releaseHeld(at: CaptureAt): void {
    const requestSide = this._client.role === 'request' ? this._client : this._server.role === 'request' ? this._server : undefined;
    if (!requestSide || requestSide.mode !== Mode.AwaitUpgrade) return;
    const held = requestSide.held;
    const heldGap = requestSide.heldGap;
    requestSide.held = [];
    requestSide.heldBytes = 0;
    requestSide.heldGap = false;
    requestSide.mode = Mode.Head;
    if (heldGap) {
      this.onGap(requestSide, 0, at);
      return;
    }
    for (const [bytes, heldAt] of held) this.feed(requestSide, bytes, heldAt);
  }

  // ---------------------------------------------------------------------------------------------
  // Gaps and the end of the connection

  private onGap(d: DirectionState, length: number, at: CaptureAt): void {
    switch (d.mode) {
      case Mode.BodyLength:
      case Mode.ChunkData:
        if (length <= d.remaining && d.message) {
          // The hole is inside a body of known length: framing survives, only content is missing.
          this.error(d, at, 'HTTP_GAP', `${length} body bytes missing`);
          this.missing(d.message, length);
          d.remaining -= length;
          if (d.remaining === 0) {
            if (d.mode === Mode.BodyLength) this.completeMessage(d, at);
            else d.mode = Mode.ChunkEnd;
          }
          return;
        }
        break;
      case Mode.BodyUntilClose:
        if (d.message) {
          this.error(d, at, 'HTTP_GAP', `${length} body bytes missing`);
          this.missing(d.message, length);
        }
        return;
      case Mode.WebSocket:
        this._ws!.gap(d.from, length, at);
        return;
      case Mode.Handed:
        this._handedTo!.gap(d.from, length, at);
        return;
      case Mode.AwaitUpgrade:
        d.held = [];
        d.heldBytes = 0;
        d.heldGap = true;
        return;
      case Mode.Opaque:
      case Mode.Ignored:
      case Mode.Closed:
        return;
      case Mode.Detect:
      case Mode.Hunt:
        d.resetPending();
        d.mode = Mode.Hunt;
        d.skipped += length;
        return;
      default:
        break;
    }
    this.error(d, at, 'HTTP_GAP', `${length} bytes missing: resynchronising at the next message start`);
    this.abandonMessage(d, at);
    d.resetPending();
    d.mode = Mode.Hunt;
  }

  private finishDirection(d: DirectionState, at: CaptureAt): void {
    switch (d.mode) {
      case Mode.BodyUntilClose:
        this.completeMessage(d, at);
        break;
      case Mode.BodyLength:
      case Mode.ChunkSize:
      case Mode.ChunkData:
      case Mode.ChunkEnd:
      case Mode.Trailers:
        this.error(d, at, 'HTTP_INCOMPLETE', 'the connection ended inside a message body');
        this.completeMessage(d, at, true);
        break;
      case Mode.Head:
        if (d.pending.length > 0) this.error(d, at, 'HTTP_INCOMPLETE', `the connection ended inside a message head (${d.pending.length} bytes)`);
        break;
      default:
        break;
    }
    d.resetPending();
    d.held = [];
    if (d.mode !== Mode.WebSocket) d.mode = Mode.Closed;
  }

  protected error(d: DirectionState, at: CaptureAt, code: HttpErrorCode, message: string): void {
    this._emit({ type: 'http-error', ts: at.ts, frame: at.frame, from: d.from, code, message });
  }
}
