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
import { timestampSeconds } from '../core/record.js';
import { ContentDecoder, DEFAULT_CONTENT_DECODING_LIMITS, parseContentEncoding } from './content-decoding.js';
import type {
  CaptureAt,
  Direction,
  HeaderField,
  HttpBodyInfo,
  HttpErrorCode,
  HttpParserEvent,
  HttpRequestEvent,
  HttpResponseEvent,
  HttpTiming,
} from './events.js';
import { DEFAULT_WEBSOCKET_LIMITS, WebSocketConnection, parsePerMessageDeflate, websocketAccept } from './websocket.js';
import type { WebSocketLimits } from './websocket.js';

export type { CaptureAt, Direction } from './events.js';

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
  websocket: WebSocketLimits;
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
};

/** A start line longer than this is not looked for when hunting (nor is a chunk-size line accepted). */
const MAX_START_LINE = 8 * 1024;
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
  Opaque,
  Ignored,
  Closed,
}

type Role = 'request' | 'response';

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

interface RequestLine {
  kind: 'request';
  method: string;
  url: string;
  version: string;
  /** Not a valid request-line (missing or bad version, missing target), but clearly meant as one. */
  malformed?: true;
}
interface StatusLine {
  kind: 'response';
  version: string;
  status: number;
  reason: string;
}
type StartLine = RequestLine | StatusLine;

/** A message whose head was parsed and whose body is being read. */
interface Message {
  start: StartLine;
  headers: HeaderField[];
  startAt: CaptureAt;
  /** Requests: their pending entry; responses: the request they answer. */
  pending?: PendingRequest;
  bodyLength: number;
  missingBytes: number;
  codings: string[];
  decoder?: ContentDecoder;
  /** Identity bodies: the pieces kept (up to maxBody). */
  kept: Buffer[];
  keptLength: number;
  trailers?: HeaderField[];
}

const TOKEN_CHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHAR[ch.charCodeAt(0)] = 1;
}

/** Methods recognised when hunting for a request line inside arbitrary bytes (any token is fine in sync). */
const KNOWN_METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH', 'PURGE',
  'MKCALENDAR', 'ACL', 'BIND', 'UNBIND', 'REBIND', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'NOTIFY',
  'SUBSCRIBE', 'UNSUBSCRIBE', 'M-SEARCH', 'M-POST', 'LINK', 'UNLINK', 'QUERY', 'POLL', 'BPROPFIND',
  'BPROPPATCH', 'BCOPY', 'BDELETE', 'BMOVE', 'RPC_CONNECT', 'RPC_IN_DATA', 'RPC_OUT_DATA', 'CCM_POST',
  'PRI', 'VERSION-CONTROL', 'LABEL', 'UPDATE', 'BASELINE-CONTROL', 'ORDERPATCH',
];
const KNOWN_METHOD_SET = new Set(KNOWN_METHODS);
const LONGEST_METHOD = Math.max(...KNOWN_METHODS.map((m) => m.length));

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +([^ \x00-\x1f\x7f]+) +HTTP\/(\d)\.(\d) *$/;
/** What clients send in practice when they get it wrong: a known method, then up to two words. */
const LENIENT_REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?: +([^ \x00-\x1f\x7f]+))?(?: +([^ \x00-\x1f\x7f]+))? *$/;
const STATUS_LINE = /^HTTP\/(\d)\.(\d) +(\d{3})(?: (.*))?$/;

const HTTP_1_DOT = Buffer.from('HTTP/1.');
const SP_HTTP_1_DOT = Buffer.from(' HTTP/1.');
const EMPTY = Buffer.alloc(0);

/** Is the char a decimal digit. */
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** "HTTP/d.d" at `at` in `line`. */
function isHttpVersionAt(line: string, at: number): boolean {
  return line.startsWith('HTTP/', at) && isDigit(line.charCodeAt(at + 5)) && line.charCodeAt(at + 6) === 0x2e
    && isDigit(line.charCodeAt(at + 7));
}

/**
 * The common shapes of a start line, without regular expressions: "METHOD target HTTP/d.d" and
 * "HTTP/d.d nnn reason" with single spaces. Returns undefined for anything else, which then goes to the
 * regular expressions; what this accepts, they accept with the same fields.
 */
function parseCommonStartLine(line: string): StartLine | undefined {
  const n = line.length;
  if (isHttpVersionAt(line, 0)) {
    // STATUS_LINE with one space before the code; the reason may not hold a CR ('.' does not match it)
    if (n < 12 || line.charCodeAt(8) !== 0x20 || !isDigit(line.charCodeAt(9)) || !isDigit(line.charCodeAt(10))
      || !isDigit(line.charCodeAt(11))) return undefined;
    if (n === 12) return { kind: 'response', version: line.slice(0, 8), status: Number(line.slice(9, 12)), reason: '' };
    if (line.charCodeAt(12) !== 0x20 || line.indexOf('\r', 13) >= 0) return undefined;
    return { kind: 'response', version: line.slice(0, 8), status: Number(line.slice(9, 12)), reason: line.slice(13).trim() };
  }
  // REQUEST_LINE with single spaces and nothing after the version
  let sp1 = 0;
  while (sp1 < n && TOKEN_CHAR[line.charCodeAt(sp1)] === 1) sp1++;
  if (sp1 === 0 || sp1 >= n || line.charCodeAt(sp1) !== 0x20) return undefined;
  let sp2 = sp1 + 1;
  for (; sp2 < n; sp2++) {
    const c = line.charCodeAt(sp2);
    if (c <= 0x20 || c === 0x7f) break;
  }
  if (sp2 === sp1 + 1 || sp2 + 9 !== n || line.charCodeAt(sp2) !== 0x20 || !isHttpVersionAt(line, sp2 + 1)) return undefined;
  return { kind: 'request', method: line.slice(0, sp1), url: line.slice(sp1 + 1, sp2), version: line.slice(sp2 + 1) };
}

function parseStartLine(line: string): StartLine | undefined {
  const common = parseCommonStartLine(line);
  if (common !== undefined) return common;
  const req = REQUEST_LINE.exec(line);
  if (req) return { kind: 'request', method: req[1]!, url: req[2]!, version: `HTTP/${req[3]}.${req[4]}` };
  const res = STATUS_LINE.exec(line);
  if (res) return { kind: 'response', version: `HTTP/${res[1]}.${res[2]}`, status: Number(res[3]), reason: (res[4] ?? '').trim() };
  // "GET /path" (HTTP/0.9 style), "GET / HTTP/1.", "OPTIONS": servers answer these, so show them
  // (flagged), as tshark does; requiring a known method keeps arbitrary text lines out.
  const lenient = LENIENT_REQUEST_LINE.exec(line);
  if (lenient && KNOWN_METHOD_SET.has(lenient[1]!)) {
    return { kind: 'request', method: lenient[1]!, url: lenient[2] ?? '', version: lenient[3] ?? '', malformed: true };
  }
  return undefined;
}

/**
 * Index just past the empty line that ends a header block (which starts at a line start, so an empty
 * first line ends it at once), or -1. `from` skips the part already searched.
 */
function findBlockEnd(buf: Buffer, from: number): number {
  if (buf[0] === 0x0a) return 1;
  if (buf[0] === 0x0d && buf[1] === 0x0a) return 2;
  let i = buf.indexOf(0x0a, from);
  while (i >= 0) {
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
    i = buf.indexOf(0x0a, i + 1);
  }
  return -1;
}

/** The lines of a header block (without the terminating empty line), CR stripped. latin1 keeps bytes 1:1. */
function blockLines(block: Buffer, end = block.length): string[] {
  const lines = block.toString('latin1', 0, end).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.charCodeAt(line.length - 1) === 0x0d) lines[i] = line.slice(0, -1);
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The header fields the parser itself needs (framing, codings, upgrade), lower-case names. */
const KNOWN_FIELDS = new Set([
  'content-length', 'transfer-encoding', 'content-encoding', 'upgrade',
  'sec-websocket-key', 'sec-websocket-accept', 'sec-websocket-extensions',
]);

/**
 * Values of the KNOWN_FIELDS of one head, by lower-case name (the Map subset the parser uses, as fixed
 * slots: one small object per message instead of a Map).
 */
class KnownFields {
  private contentLength: string | undefined = undefined;
  private transferEncoding: string | undefined = undefined;
  private contentEncoding: string | undefined = undefined;
  private upgrade: string | undefined = undefined;
  private wsKey: string | undefined = undefined;
  private wsAccept: string | undefined = undefined;
  private wsExtensions: string | undefined = undefined;

  get(name: string): string | undefined {
    switch (name) {
      case 'content-length': return this.contentLength;
      case 'transfer-encoding': return this.transferEncoding;
      case 'content-encoding': return this.contentEncoding;
      case 'upgrade': return this.upgrade;
      case 'sec-websocket-key': return this.wsKey;
      case 'sec-websocket-accept': return this.wsAccept;
      case 'sec-websocket-extensions': return this.wsExtensions;
      default: return undefined;
    }
  }

  set(name: string, value: string): void {
    switch (name) {
      case 'content-length': this.contentLength = value; break;
      case 'transfer-encoding': this.transferEncoding = value; break;
      case 'content-encoding': this.contentEncoding = value; break;
      case 'upgrade': this.upgrade = value; break;
      case 'sec-websocket-key': this.wsKey = value; break;
      case 'sec-websocket-accept': this.wsAccept = value; break;
      case 'sec-websocket-extensions': this.wsExtensions = value; break;
      default: break;
    }
  }
}

interface ParsedFields {
  fields: HeaderField[];
  /** Values of KNOWN_FIELDS by lower-case name, repeated fields joined with ", ". */
  known: KnownFields;
  /** Lines that are not fields (reported, ignored). */
  bad: string[];
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN_CHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Header fields from lines[from..]; obs-fold continuation lines join the previous value (RFC 9112 5.2). */
function parseFields(lines: string[], from: number): ParsedFields {
  const fields: HeaderField[] = [];
  const known = new KnownFields();
  const bad: string[] = [];
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    const first = line.charCodeAt(0);
    if ((first === 0x20 || first === 0x09) && fields.length > 0) {
      foldInto(fields, known, line);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!isToken(name)) {
      bad.push(line);
      continue;
    }
    addField(fields, known, name, line.slice(colon + 1).trim());
  }
  return { fields, known, bad };
}

/** An obs-fold continuation line: its text joins the previous field's value. */
function foldInto(fields: HeaderField[], known: KnownFields, line: string): void {
  const last = fields[fields.length - 1]!;
  last[1] = `${last[1]} ${line.trim()}`.trim();
  const lower = last[0].toLowerCase();
  if (KNOWN_FIELDS.has(lower)) known.set(lower, last[1]); // (a folded known field: rare enough to keep simple)
}

/** Lengths of the KNOWN_FIELDS names: a name of any other length is not lower-cased to look it up. */
const KNOWN_FIELD_LENGTH = new Uint8Array(64);
for (const name of KNOWN_FIELDS) KNOWN_FIELD_LENGTH[name.length] = 1;

function addField(fields: HeaderField[], known: KnownFields, name: string, value: string): void {
  fields.push([name, value]);
  if (name.length < 64 && KNOWN_FIELD_LENGTH[name.length] === 1) {
    const lower = name.toLowerCase();
    if (KNOWN_FIELDS.has(lower)) {
      const previous = known.get(lower);
      known.set(lower, previous === undefined ? value : `${previous}, ${value}`);
    }
  }
}

/** What String.prototype.trim removes, within latin1: TAB, LF, VT, FF, CR, SP, NBSP. */
function isTrimmed(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;
}

/** True when the lines of `text` from `p` on are all empty (a line is empty once one trailing CR is cut). */
function restIsBlank(text: string, p: number): boolean {
  while (p < text.length) {
    let nl = text.indexOf('\n', p);
    if (nl < 0) nl = text.length;
    const length = nl - p;
    if (length > 1 || (length === 1 && text.charCodeAt(p) !== 0x0d)) return false;
    p = nl + 1;
  }
  return true;
}

/**
 * parseFields(blockLines(text), 1) without making the lines: the header block as one latin1 string,
 * scanned in place from `p` (the start of the second line), each field cut out once. Same results, line
 * for line: one trailing CR cut per line, trailing empty lines dropped, names checked as tokens up to the
 * first colon, values trimmed as String.prototype.trim trims.
 */
function parseFieldsText(text: string, p: number): ParsedFields {
  const fields: HeaderField[] = [];
  const known = new KnownFields();
  const bad: string[] = [];
  const n = text.length;
  while (p < n) {
    let nl = text.indexOf('\n', p);
    if (nl < 0) nl = n;
    let e = nl;
    if (e > p && text.charCodeAt(e - 1) === 0x0d) e--;
    const lineStart = p;
    p = nl + 1;
    if (e === lineStart) {
      if (restIsBlank(text, p)) break;
      bad.push('');
      continue;
    }
    const first = text.charCodeAt(lineStart);
    if ((first === 0x20 || first === 0x09) && fields.length > 0) {
      foldInto(fields, known, text.slice(lineStart, e));
      continue;
    }
    // the name: token characters up to the first colon (the colon ends the name, and is no token char)
    let colon = lineStart;
    while (colon < e && TOKEN_CHAR[text.charCodeAt(colon)] === 1) colon++;
    if (colon === lineStart || colon === e || text.charCodeAt(colon) !== 0x3a) {
      bad.push(text.slice(lineStart, e));
      continue;
    }
    let vs = colon + 1, ve = e;
    while (vs < ve && isTrimmed(text.charCodeAt(vs))) vs++;
    while (ve > vs && isTrimmed(text.charCodeAt(ve - 1))) ve--;
    addField(fields, known, text.slice(lineStart, colon), text.slice(vs, ve));
  }
  return { fields, known, bad };
}

/** All values of a header (case-insensitive name) joined with ", ", or undefined. */
export function headerValue(headers: readonly HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  let value: string | undefined;
  for (const [n, v] of headers) {
    if (n.toLowerCase() === lower) value = value === undefined ? v : `${value}, ${v}`;
  }
  return value;
}

/** Case-insensitive method comparison with an upper-case name; no new string in the usual (exact) case. */
function methodIs(method: string, upper: string): boolean {
  return method === upper || (method.length === upper.length && method.toUpperCase() === upper);
}

function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(',').some((t) => t.trim().toLowerCase() === token);
}

/** Content-Length: undefined when absent, null when invalid or contradictory (RFC 9112 6.3 item 5). */
function contentLength(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  if (/^\d{1,15}$/.test(value)) return Number(value); // the usual case
  const values = new Set(value.split(',').map((v) => v.trim()));
  if (values.size !== 1) return null;
  const [only] = values;
  if (!/^\d{1,15}$/.test(only!)) return null;
  return Number(only);
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
  readonly from: Direction;
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

  constructor(from: Direction) {
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

  data(from: Direction, bytes: Buffer, at: CaptureAt): void {
    if (this._closed || bytes.length === 0) return;
    this.feed(this.dir(from), bytes, at);
  }

  gap(from: Direction, length: number, at: CaptureAt): void {
    if (this._closed) return;
    this.onGap(this.dir(from), length, at);
  }

  /** The connection closed: completes read-until-close bodies and reports what was left unfinished. */
  end(at: CaptureAt): void {
    if (this._closed) return;
    this.finishDirection(this._client, at);
    this.finishDirection(this._server, at);
    this._ws?.end(at);
    this._closed = true;
  }

  /** The connection was reset. A body delimited by the close ends here as well. */
  reset(at: CaptureAt): void {
    this.end(at);
  }

  private dir(from: Direction): DirectionState {
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
      while (skip < bytes.length && (bytes[skip] === 0x0d || bytes[skip] === 0x0a)) skip++;
      if (skip === bytes.length) return EMPTY;
      if (skip > 0) bytes = bytes.subarray(skip);
      if (TOKEN_CHAR[bytes[0]!] !== 1) {
        return this.lostSync(d, at, 'HTTP_BAD_START_LINE', 'a message must start with a method or "HTTP/"', bytes.subarray(1));
      }
      d.headAt = at;
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
      if (d.pending.length > this._opts.maxHeaderBytes) {
        return this.lostSync(d, at, 'HTTP_HEADER_OVERFLOW', `header block longer than maxHeaderBytes ${this._opts.maxHeaderBytes}`, d.pending.subarray(1));
      }
      d.scanFrom = d.pending.length;
      if (d.pending === bytes) d.pending = Buffer.from(bytes); // keep a copy, not a view pinning the segment
      return EMPTY;
    }
    if (end > this._opts.maxHeaderBytes) {
      return this.lostSync(d, at, 'HTTP_HEADER_OVERFLOW', `header block longer than maxHeaderBytes ${this._opts.maxHeaderBytes}`, d.pending.subarray(1));
    }
    const block = d.pending;
    // the block as one string, scanned in place (see parseFieldsText): cheaper than a string per line
    const text = block.toString('latin1', 0, end);
    let firstLineEnd = text.indexOf('\n');
    if (firstLineEnd < 0) firstLineEnd = text.length;
    const firstLine = text.charCodeAt(firstLineEnd - 1) === 0x0d ? text.slice(0, firstLineEnd - 1) : text.slice(0, firstLineEnd);
    const start = parseStartLine(firstLine);
    if (start === undefined || (d.role !== undefined && start.kind !== d.role)) {
      return this.lostSync(d, at, 'HTTP_BAD_START_LINE', this.startLineProblem(d, firstLine) ?? 'bad start line', block.subarray(1));
    }
    const rest = end === block.length ? EMPTY : bufferView(block, end, block.length - end);
    const startAt = d.headAt ?? at;
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

  /** Why `line` cannot start a message in this direction, or undefined when it can. */
  private startLineProblem(d: DirectionState, line: string): string | undefined {
    const start = parseStartLine(line);
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
    const found = this.findMessageStart(buf, d.role);
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

  /** Offset of the earliest complete start line in `buf` (of the given role when known), or -1. */
  private findMessageStart(buf: Buffer, role: Role | undefined): number {
    let best = -1;
    if (role !== 'request') {
      for (let p = buf.indexOf(HTTP_1_DOT); p >= 0; p = buf.indexOf(HTTP_1_DOT, p + 1)) {
        const lineEnd = buf.indexOf(0x0a, p);
        if (lineEnd < 0) break;
        const line = buf.subarray(p, lineEnd).toString('latin1').replace(/\r$/, '');
        if (STATUS_LINE.test(line)) {
          best = p;
          break;
        }
      }
    }
    if (role !== 'response') {
      for (let q = buf.indexOf(SP_HTTP_1_DOT); q >= 0; q = buf.indexOf(SP_HTTP_1_DOT, q + 1)) {
        if (best >= 0 && q > best) break;
        const start = this.requestLineStart(buf, q);
        if (start >= 0 && (best < 0 || start < best)) {
          best = start;
          break;
        }
      }
    }
    return best;
  }

  /** Given the offset of " HTTP/1." in a request line, where the line's known method starts, or -1. */
  private requestLineStart(buf: Buffer, q: number): number {
    const lineEnd = buf.indexOf(0x0a, q);
    if (lineEnd < 0) return -1;
    const version = buf.subarray(q + 1, lineEnd).toString('latin1').replace(/\r$/, '').trimEnd();
    if (!/^HTTP\/1\.\d$/.test(version)) return -1;
    let targetStart = q;
    const limit = Math.max(0, q - MAX_START_LINE);
    while (targetStart > limit && buf[targetStart - 1] !== 0x20 && buf[targetStart - 1]! > 0x20 && buf[targetStart - 1] !== 0x7f) targetStart--;
    if (targetStart === q || buf[targetStart - 1] !== 0x20) return -1;
    const sp = targetStart - 1;
    const from = Math.max(0, sp - LONGEST_METHOD);
    const before = buf.subarray(from, sp).toString('latin1');
    let methodLength = 0;
    for (const m of KNOWN_METHODS) {
      if (m.length > methodLength && before.endsWith(m)) methodLength = m.length;
    }
    return methodLength > 0 ? sp - methodLength : -1;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests and responses

  private onRequestHead(d: DirectionState, line: RequestLine, head: ParsedFields, startAt: CaptureAt, at: CaptureAt, rest: Buffer): Buffer {
    const known = head.known;
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

  /** The CRLF after chunk data (a bare LF is tolerated). `pending` holds a CR already seen. */
  private readChunkEnd(d: DirectionState, bytes: Buffer, at: CaptureAt): Buffer {
    let i = 0;
    if (d.pending.length === 0 && bytes[0] === 0x0d) {
      i = 1;
      d.pending = Buffer.from([0x0d]);
      if (bytes.length === 1) return EMPTY;
    }
    if (bytes[i] !== 0x0a) {
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
      message.kept.push(kept);
      message.keptLength += kept.length;
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
      if (pending && !incomplete) pending.requestSent = at;
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
    this._emit({
      type: 'http-upgrade',
      ts: at.ts,
      frame: at.frame,
      from: d.from,
      protocol,
      websocket: wsReason === undefined,
      ...(wsReason !== undefined ? { reason: wsReason } : {}),
      ...(wsReason === undefined && extensions !== undefined ? { extensions } : {}),
    });
    const held = requestSide.mode === Mode.AwaitUpgrade ? requestSide.held : [];
    const heldGap = requestSide.heldGap;
    requestSide.held = [];
    requestSide.heldBytes = 0;
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
    d.held.push([Buffer.from(bytes), at]);
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
