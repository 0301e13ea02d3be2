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
 *   body modes: BodyLength | ChunkSize ► ChunkData ► ChunkEnd ► ... ► Trailers | BodyUntilClose
 *   after a request that asked to switch protocols: AwaitUpgrade (bytes held until the response decides)
 *   after a 101 / CONNECT 2xx: WebSocket | Opaque
 *
 * Malformed input never throws: every problem is an `http-error` event and the direction resynchronises
 * at the next request line or status line it can recognise.
 */
import { bufferView } from '../core/buffer-view.js';
import type { TcpSide } from '../tcp/events.js';
import { timestampSeconds } from '../core/record.js';
import { ContentDecoder, DEFAULT_CONTENT_DECODING_LIMITS, parseContentEncoding } from './content-decoding.js';
import type {
  CaptureAt,
  HeaderField,
  HttpBodyInfo,
  HttpErrorCode,
  HttpParserEvent,
  HttpRequestEvent,
  HttpResponseEvent,
  HttpTiming,
} from './events.js';
import {
  KnownFields, MAX_START_LINE, TOKEN_CHAR, blockLines, contentLength, findBlockEnd, findMessageStart, hasToken,
  methodIs, parseFields, parseFieldsText, parseStartLine,
} from './head.js';
import type { ParsedFields, RequestLine, StartLine, StatusLine } from './head.js';
export { headerValue } from './head.js';
import { DEFAULT_WEBSOCKET_LIMITS, WebSocketConnection, parsePerMessageDeflate, websocketAccept } from './websocket.js';
import type { WebSocketLimits } from './websocket.js';

export type { CaptureAt } from './events.js';

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

const MAX_CHUNK_LINE = 4 * 1024;
/** Hex digits of a chunk size: 13 reach 2^52, enough for any real body and exact in a double. */
const MAX_CHUNK_SIZE_DIGITS = 13;

const enum Mode {
  Detect,
  Hunt,
  Head,
  BodyLength,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  BodyUntilClose,
  AwaitUpgrade,
  WebSocket,
  /** After a switch to another protocol whose receiver (onSwitch) takes the bytes. */
  Handed,
  Opaque,
  Ignored,
  Closed,
}

type Role = 'request' | 'response';

const EMPTY = Buffer.alloc(0);

/** A request whose response has not been seen yet. */
interface PendingRequest {
  method: string;
  url: string;
  index: number;
  requestStart: CaptureAt;
  requestSent?: CaptureAt;
  /** The request asked to switch protocols (Upgrade header) or is a CONNECT. */
  switching: boolean;
  upgrade?: string;
  wsKey?: string;
}


/** A message whose head was parsed and whose body is being read. */
interface Message {
  start: StartLine;
  headers: HeaderField[];
  startAt: CaptureAt;
  /** Bytes of the start line and header block, up to and including the empty line. */
  headerBytes: number;
  /** Requests: their pending entry; responses: the request they answer. */
  pending?: PendingRequest;
  bodyLength: number;
  missingBytes: number;
  codings: string[];
  decoder?: ContentDecoder;
  /** Identity bodies: the pieces kept (up to maxBody). */
  kept: Buffer[];
  keptLength: number;
  /** The block small pieces are being packed into (the last entry of `kept`), if any. */
  keptBlock?: { buffer: Buffer; used: number };
  trailers?: HeaderField[];
}

/**
 * Pieces below this size are copied into shared blocks instead of being kept as views: a body of
 * millions of one-byte chunks then costs its bytes, not millions of Buffer objects each pinning the
 * packet it came in (12M one-byte chunks held 1.6 GB).
 */
const SMALL_PIECE_BYTES = 1024;
const KEPT_BLOCK_BYTES = 64 * 1024;

/** Adds a body piece to `message.kept`, small pieces packed into blocks (see SMALL_PIECE_BYTES). */
function keepPiece(message: Message, piece: Buffer): void {
  message.keptLength += piece.length;
  if (piece.length >= SMALL_PIECE_BYTES) {
    message.kept.push(piece);
    message.keptBlock = undefined;
    return;
  }
  let block = message.keptBlock;
  if (block === undefined || block.used + piece.length > block.buffer.length) {
    // Blocks grow with the body (4 KiB to 64 KiB), so a short body does not hold a large block.
    const size = Math.min(KEPT_BLOCK_BYTES, Math.max(4 * SMALL_PIECE_BYTES, message.keptLength));
    block = { buffer: Buffer.allocUnsafe(size), used: 0 };
    message.keptBlock = block;
    message.kept.push(block.buffer.subarray(0, 0));
  }
  piece.copy(block.buffer, block.used);
  block.used += piece.length;
  message.kept[message.kept.length - 1] = block.buffer.subarray(0, block.used);
}

/**
 * The capture position alone, for keeping past the call. The `at` a caller passes is often the TCP data
 * event itself, whose bytes are a view into a whole read chunk: keeping it would keep that chunk alive
 * for as long as the message (or the connection) lasts.
 */
function position(at: CaptureAt): CaptureAt {
  return { ts: at.ts, tsSec: at.tsSec, tsNsec: at.tsNsec, frame: at.frame };
}

function seconds(at: CaptureAt): number {
  return timestampSeconds(at);
}

/** Seconds from `a` to `b`, computed on the integer parts first so small deltas stay exact. */
function elapsed(a: CaptureAt, b: CaptureAt): number {
  return b.tsSec - a.tsSec + (b.tsNsec - a.tsNsec) / 1e9;
}

/** Parser state of one direction of the connection. */
class DirectionState {
  readonly from: TcpSide;
  mode: Mode = Mode.Detect;
  role: Role | undefined;
  /** Head / trailer / chunk-line bytes gathered so far (a copy when gathered across segments). */
  pending: Buffer = EMPTY;
  /** Where to resume the search for the end of the block in `pending`. */
  scanFrom = 0;
  /** The start line of the head being gathered was already found valid. */
  startLineChecked = false;
  message: Message | undefined;
  /** Bytes left in the current Content-Length body or chunk. */
  remaining = 0;
  /** Bytes skipped while hunting (reported once a message start is found). */
  skipped = 0;
  /** Segment of the first byte of the head being gathered. */
  headAt: CaptureAt | undefined;
  /** Bytes looked at while this direction has never shown HTTP. */
  detectBytes = 0;
  everSynced = false;
  /** AwaitUpgrade: the bytes held, with where each came from. */
  held: Array<[Buffer, CaptureAt]> = [];
  heldBytes = 0;
  heldGap = false;

  constructor(from: TcpSide) {
    this.from = from;
  }

  gather(bytes: Buffer): void {
    this.pending = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
  }

  resetPending(): void {
    this.pending = EMPTY;
    this.scanFrom = 0;
    this.startLineChecked = false;
  }
}

type Emit = (ev: HttpParserEvent) => void;

/**
 * The HTTP/1.x parser of one TCP connection. Feed it each direction's bytes in order; it emits events
 * synchronously from the calls.
 */
export class HttpConnectionParser {
  private readonly _emit: Emit;
  private readonly _opts: HttpParserOptions;
  private readonly _client = new DirectionState('client');
  private readonly _server = new DirectionState('server');
  private readonly _pending: PendingRequest[] = [];
  private _requestCount = 0;
  private _ws: WebSocketConnection | undefined;
  /** Who takes the bytes after a switch to another protocol (onSwitch), when one does. */
  private _handedTo: ProtocolReceiver | undefined;
  private _closed = false;

  constructor(emit: (ev: HttpParserEvent) => void, opts?: Partial<HttpParserOptions>) {
    this._emit = emit;
    this._opts = { ...DEFAULT_HTTP_OPTIONS, ...opts };
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
          this.hold(d, rest, at);
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
    d.message = this.newMessage(start, head, startAt, pairedWith);
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
  private lostSync(d: DirectionState, at: CaptureAt, code: HttpErrorCode, message: string, resume: Buffer): Buffer {
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
    d.message = this.newMessage(line, head, startAt, entry);
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
    d.message = this.newMessage(line, head, startAt, request);
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

  private newMessage(start: StartLine, head: ParsedFields, startAt: CaptureAt, pending: PendingRequest | undefined): Message {
    const encoding = head.known.get('content-encoding');
    const codings = this._opts.decodeContent && encoding !== undefined ? parseContentEncoding(encoding) : [];
    const message: Message = {
      start,
      headers: head.fields,
      startAt,
      headerBytes: head.size ?? 0,
      bodyLength: 0,
      missingBytes: 0,
      codings,
      kept: [],
      keptLength: 0,
      ...(pending !== undefined ? { pending } : {}),
    };
    if (codings.length > 0) {
      message.decoder = new ContentDecoder(codings, {
        maxEncodedLength: this._opts.maxEncodedBody,
        maxDecodedLength: this._opts.maxDecodedLength,
      });
    }
    return message;
  }

  // ---------------------------------------------------------------------------------------------
  // Bodies

  private startLength(d: DirectionState, length: number, rest: Buffer, at: CaptureAt): Buffer {
    if (length === 0) {
      this.completeMessage(d, at);
      return rest;
    }
    d.remaining = length;
    d.mode = Mode.BodyLength;
    return rest;
  }

  private startChunked(d: DirectionState, rest: Buffer): Buffer {
    d.mode = Mode.ChunkSize;
    d.resetPending();
    return rest;
  }

  private readBodyLength(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    const n = Math.min(d.remaining, bytes.length);
    this.bodyBytes(d, n === bytes.length ? bytes : bufferView(bytes, 0, n), at);
    d.remaining -= n;
    if (d.remaining === 0) this.completeMessage(d, at);
    return n === bytes.length ? EMPTY : bufferView(bytes, n, bytes.length - n);
  }

  private readChunkSize(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    const lf = bytes.indexOf(0x0a);
    if (lf < 0) {
      d.gather(bytes);
      if (d.pending.length > MAX_CHUNK_LINE) {
        return this.lostSync(d, at, 'HTTP_BAD_CHUNK', `chunk-size line longer than ${MAX_CHUNK_LINE} bytes`, d.pending.subarray(1));
      }
      if (d.pending === bytes) d.pending = Buffer.from(bytes);
      return EMPTY;
    }
    d.gather(bytes.subarray(0, lf + 1));
    const lineBuf = d.pending;
    d.resetPending();
    const line = lineBuf.toString('latin1').replace(/\r?\n$/, '');
    // chunk-size [ chunk-ext ] : extensions (";name=value") are ignored, as RFC 9112 7.1.1 allows.
    const sizeText = line.split(';', 1)[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText) || sizeText.replace(/^0+(?=.)/, '').length > MAX_CHUNK_SIZE_DIGITS) {
      // Hunt from the line itself: a message without the framing it announced may start right here.
      const resume = Buffer.concat([lineBuf, bytes.subarray(lf + 1)]);
      return this.lostSync(d, at, 'HTTP_BAD_CHUNK', `bad chunk size line ${JSON.stringify(line.slice(0, 40))}`, resume);
    }
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      d.mode = Mode.Trailers;
    } else {
      d.remaining = size;
      d.mode = Mode.ChunkData;
    }
    return bytes.subarray(lf + 1);
  }

  private readChunkData(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    const n = Math.min(d.remaining, bytes.length);
    this.bodyBytes(d, n === bytes.length ? bytes : bufferView(bytes, 0, n), at);
    d.remaining -= n;
    if (d.remaining === 0) {
      d.mode = Mode.ChunkEnd;
      d.resetPending();
    }
    return n === bytes.length ? EMPTY : bufferView(bytes, n, bytes.length - n);
  }

  /** The CRLF after chunk data (a bare LF with lenientBareLfAfterChunk). `pending` holds a CR already seen. */
  private readChunkEnd(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    let i = 0;
    let sawCr = d.pending.length > 0;
    if (!sawCr && bytes[0] === 0x0d) {
      i = 1;
      sawCr = true;
      d.pending = Buffer.from([0x0d]);
      if (bytes.length === 1) return EMPTY;
    }
    if (bytes[i] !== 0x0a || (!sawCr && !this._opts.lenientBareLfAfterChunk)) {
      return this.lostSync(d, at, 'HTTP_BAD_CHUNK', 'chunk data not followed by CRLF', bytes.subarray(i));
    }
    d.resetPending();
    d.mode = Mode.ChunkSize;
    return bytes.subarray(i + 1);
  }

  private readTrailers(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    d.gather(bytes);
    const end = findBlockEnd(d.pending, Math.max(0, d.scanFrom - 3));
    if (end < 0) {
      if (d.pending.length > this._opts.maxHeaderBytes) {
        return this.lostSync(d, at, 'HTTP_HEADER_OVERFLOW', `trailers longer than maxHeaderBytes ${this._opts.maxHeaderBytes}`, d.pending.subarray(1));
      }
      d.scanFrom = d.pending.length;
      if (d.pending === bytes) d.pending = Buffer.from(bytes);
      return EMPTY;
    }
    const block = d.pending;
    d.resetPending();
    const { fields, bad } = parseFields(blockLines(block, end), 0);
    for (const line of bad) this.error(d, at, 'HTTP_BAD_HEADER', `malformed trailer line ignored: ${JSON.stringify(line.slice(0, 80))}`);
    if (fields.length > 0 && d.message) d.message.trailers = fields;
    this.completeMessage(d, at);
    return block.subarray(end);
  }

  /** A piece of de-chunked body: count it, keep or decode it, and announce it. */
  private bodyBytes(d: DirectionState, piece: Buffer, at: CaptureAt): void {
    const message = d.message;
    if (!message || piece.length === 0) return;
    message.bodyLength += piece.length;
    if (message.decoder) {
      message.decoder.push(piece);
    } else if (message.keptLength < this._opts.maxBody) {
      const room = this._opts.maxBody - message.keptLength;
      const kept = piece.length <= room ? piece : piece.subarray(0, room);
      keepPiece(message, kept);
    }
    if (this._opts.bodyEvents) {
      this._emit({
        type: 'body',
        ts: at.ts,
        frame: at.frame,
        from: d.from,
        message: message.start.kind,
        ...(message.pending !== undefined ? { index: message.pending.index } : {}),
        data: piece,
        ...(message.codings.length > 0 ? { contentEncoding: message.codings } : {}),
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Completion

  /** Emits the message's event and returns the direction to its next message start. */
  private completeMessage(d: DirectionState, at: CaptureAt, incomplete = false): void {
    const message = d.message;
    d.message = undefined;
    d.mode = Mode.Head;
    d.resetPending();
    if (!message) return;
    // Events are built by plain assignments in a fixed order (no spreads: this runs once per message).
    if (message.start.kind === 'request') {
      const line = message.start;
      const pending = message.pending;
      const event = {
        type: 'request', ts: at.ts, frame: at.frame, from: d.from, method: line.method, url: line.url,
        version: line.version, headers: message.headers, index: pending?.index ?? 0,
      } as HttpRequestEvent;
      this.fillBodyInfo(event, message, d, at, incomplete);
      if (pending && !incomplete) pending.requestSent = position(at);
      this._emit(event);
      if (pending?.switching && !incomplete && this._pending.includes(pending)) {
        d.mode = Mode.AwaitUpgrade; // the server's answer decides what the next bytes are
      }
      return;
    }
    const line = message.start;
    const request = message.pending;
    const event = {
      type: 'response', ts: at.ts, frame: at.frame, from: d.from, status: line.status, reason: line.reason,
      version: line.version, headers: message.headers,
    } as HttpResponseEvent;
    if (request) event.request = { method: request.method, url: request.url, index: request.index };
    if (line.status >= 100 && line.status < 200 && line.status !== 101) event.interim = true;
    this.fillBodyInfo(event, message, d, at, incomplete);
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
    event.timing = timing;
    this._emit(event);
  }

  /** Sets the HttpBodyInfo fields of a message's event (finishing its content decoding). */
  private fillBodyInfo(info: HttpBodyInfo, message: Message, d: DirectionState, at: CaptureAt, incomplete: boolean): void {
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
    const maxBody = this._opts.maxBody;
    if (decoded && decodedLength > maxBody) {
      if (decoded.length > maxBody) decoded = decoded.subarray(0, maxBody);
      bodyTruncated = true;
    } else if (!message.decoder && message.bodyLength > message.keptLength) {
      bodyTruncated = true;
    }
    if (decodeError !== undefined) this.error(d, at, 'HTTP_DECODE', decodeError);
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
    const wsReason = line.status === 101 ? this.websocketRefusal(known, request) : 'CONNECT tunnel';
    const extensions = known.get('sec-websocket-extensions');
    const receiver = wsReason !== undefined && line.status === 101 ? this._opts.onSwitch?.(this.switchInfo(protocol, request, at)) : undefined;
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

  private switchInfo(protocol: string, request: PendingRequest | undefined, at: CaptureAt): ProtocolSwitch {
    if (!request) return { protocol, at };
    const info: ProtocolSwitch = { protocol, at, request: { method: request.method, url: request.url, index: request.index, requestStart: request.requestStart } };
    if (request.requestSent) info.request!.requestSent = request.requestSent;
    return info;
  }

  /** Why a 101 is not a WebSocket handshake we can follow, or undefined when it is one. */
  private websocketRefusal(known: KnownFields, request: PendingRequest | undefined): string | undefined {
    if (!hasToken(known.get('upgrade'), 'websocket')) return 'not a websocket upgrade';
    if (!request || !hasToken(request.upgrade, 'websocket')) return 'no websocket upgrade request seen';
    if (request.wsKey === undefined) return 'request has no Sec-WebSocket-Key';
    const accept = known.get('sec-websocket-accept');
    if (accept === undefined) return 'response has no Sec-WebSocket-Accept';
    if (accept.trim() !== websocketAccept(request.wsKey)) return 'Sec-WebSocket-Accept does not match Sec-WebSocket-Key';
    return undefined;
  }

  /** Bytes a client sent after an upgrade request, before the server answered. */
  private hold(d: DirectionState, bytes: Buffer, at: CaptureAt): void {
    if (d.heldBytes + bytes.length > this._opts.maxUpgradeBuffer) {
      d.held = [];
      d.heldBytes = 0;
      d.heldGap = true;
      return;
    }
    d.held.push([Buffer.from(bytes), position(at)]);
    d.heldBytes += bytes.length;
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

  private missing(message: Message, length: number): void {
    message.missingBytes += length;
    message.decoder?.markBroken(`${message.missingBytes} body bytes missing from the capture`);
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

  private error(d: DirectionState, at: CaptureAt, code: HttpErrorCode, message: string): void {
    this._emit({ type: 'http-error', ts: at.ts, frame: at.frame, from: d.from, code, message });
  }
}
