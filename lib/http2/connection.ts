/**
 * HTTP/2 over one reassembled TCP connection (RFC 9113), for a passive observer: the connection
 * preface, a frame parser per direction, HPACK per direction, stream states, and request / response
 * events paired by stream id.
 *
 * Input is what a TCP reassembler delivers (each direction's bytes in order, gaps as byte counts, the
 * end); output is typed events (lib/http2/events.ts) shaped like the HTTP/1.x ones.
 *
 * A direction goes through these modes:
 *
 *   Preface (client) ──24 octets──► Header ──9 octets──► Payload (buffered: HEADERS, SETTINGS, ...) ─┐
 *      │                              ▲  └──DATA──► [DataPadLength] ► Data ► [DataPadding] ──────────┤
 *      └─not the preface─► Hunt ──────┘◄────────────────────────────────────────────────────────────┘
 *   Hunt: find a frame boundary (a capture joined mid-connection, a gap, bytes that cannot be frames)
 *
 * DATA is never buffered: its content goes to the stream as it arrives (zero-copy views). Every other
 * frame is gathered up to a bound and then handled whole. Streams follow RFC 9113 5.1 as an observer
 * sees both ends:
 *
 *   Idle ──HEADERS──► Open ──END_STREAM from client──► HalfClosedClient ──END_STREAM from server──► Closed
 *     │                 └───END_STREAM from server──► HalfClosedServer ──END_STREAM from client──┘   ▲
 *     └──PUSH_PROMISE──► Reserved ──server HEADERS──► HalfClosedClient                 RST_STREAM ──┘
 *
 * Nothing throws on bad input: every problem is an `h2-error` event, the frame is skipped by its length
 * when the length can be trusted, and the direction hunts for the next frame boundary when it cannot.
 */
import { timestampSeconds } from '../core/record.js';
import { ContentDecoder, DEFAULT_CONTENT_DECODING_LIMITS, parseContentEncoding } from '../http/content-decoding.js';
import type { CaptureAt, HeaderField, HttpBodyInfo, HttpTiming } from '../http/events.js';
import type { TcpSide as Direction } from '../tcp/events.js';
import type {
  Http2ErrorCode,
  Http2Event,
  Http2RequestEvent,
  Http2ResponseEvent,
} from './events.js';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_LENGTH,
  Flag,
  FrameType,
  Setting,
  checkLength,
  checkSetting,
  checkStreamId,
  errorCodeName,
  frameTypeName,
  isProblem,
  parseGoawayPayload,
  parseHeadersPayload,
  parsePushPromisePayload,
  parseRstStreamPayload,
  parseSettingsPayload,
  parseWindowUpdatePayload,
  plausibleFrameHeader,
  readFrameHeader,
  type FrameHeader,
} from './frames.js';
import { DEFAULT_GRPC_LIMITS, GrpcMessageCounter, grpcRequestInfo, grpcResponseInfo, isGrpcContentType, type GrpcLimits } from './grpc.js';
import { DEFAULT_HPACK_LIMITS, HpackDecoder, type HpackLimits } from './hpack.js';

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
const MAX_SETTINGS_KEPT = 6 * 64;
const MAX_GOAWAY_KEPT = 8 + 1024;
/** SETTINGS awaiting their ACK, per direction (a peer that never ACKs cannot grow this). */
const MAX_PENDING_SETTINGS = 16;
/** Complete frames that must check out in a row for a hunted boundary to count (unless the bytes end with one). */
const HUNT_CHAIN = 4;

const EMPTY = Buffer.alloc(0);

const enum Mode {
  Preface,
  Header,
  Payload,
  DataPadLength,
  Data,
  DataPadding,
  Hunt,
  Closed,
}

const enum Phase {
  Idle,
  Reserved,
  Open,
  HalfClosedClient,
  HalfClosedServer,
  Closed,
}

type Role = 'request' | 'response';

/** One request or response being received on a stream. */
interface Message {
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

interface Stream {
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

/** A header block whose CONTINUATION frames are still coming. */
interface OpenBlock {
  streamId: number;
  type: number;
  /** HEADERS flags (END_STREAM matters at the end), or the promised stream of a PUSH_PROMISE. */
  endStream: boolean;
  promisedStreamId: number;
  fragments: Buffer[];
  bytes: number;
  /** The block grew past maxHeaderBlockBytes: the rest is skipped, nothing decoded. */
  overflow: boolean;
  at: CaptureAt;
}

class DirectionState {
  readonly from: Direction;
  mode: Mode;
  prefaceHave = 0;
  readonly headerBuf = Buffer.alloc(FRAME_HEADER_LENGTH);
  headerHave = 0;
  frame: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
  frameAt: CaptureAt | undefined;
  /** Payload octets of the current frame still to come (all of it, kept or skipped). */
  remaining = 0;
  /** Buffered payload pieces and how many octets of the payload to keep. */
  pieces: Buffer[] = [];
  have = 0;
  keep = 0;
  /** A frame that is only skipped (problem reported or a type we ignore). */
  skipping = false;
  /** DATA: padding octets after the content. */
  padLength = 0;
  readonly hpack: HpackDecoder;
  block: OpenBlock | undefined;
  hunt: Buffer = EMPTY;
  huntSkipped = 0;
  everSynced = false;
  /** SETTINGS_HEADER_TABLE_SIZE values this side sent, waiting for the other side's ACK (undefined: none). */
  pendingTableSizes: Array<number | undefined> = [];
  /** The largest frame this side accepts (its SETTINGS_MAX_FRAME_SIZE): frames of the other side fit. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;

  constructor(from: Direction, mode: Mode, hpack: HpackLimits) {
    this.from = from;
    this.mode = mode;
    this.hpack = new HpackDecoder(hpack);
  }
}

type Emit = (ev: Http2Event) => void;

/** Pseudo-header fields (":method", ...) split from the regular fields of a decoded block. */
interface SplitFields {
  regular: HeaderField[];
  method?: string;
  path?: string;
  authority?: string;
  scheme?: string;
  status?: string;
  protocol?: string;
  hasPseudo: boolean;
}

function splitPseudo(fields: HeaderField[]): SplitFields {
  const out: SplitFields = { regular: [], hasPseudo: false };
  for (const field of fields) {
    const name = field[0];
    if (name.charCodeAt(0) !== 0x3a) {
      out.regular.push(field);
      continue;
    }
    out.hasPseudo = true;
    switch (name) {
      case ':method': out.method = field[1]; break;
      case ':path': out.path = field[1]; break;
      case ':authority': out.authority = field[1]; break;
      case ':scheme': out.scheme = field[1]; break;
      case ':status': out.status = field[1]; break;
      case ':protocol': out.protocol = field[1]; break;
      default: out.regular.push(field); break; // an unknown pseudo-header: shown as it is
    }
  }
  return out;
}

function headerValue(fields: readonly HeaderField[], name: string): string | undefined {
  let value: string | undefined;
  for (const [n, v] of fields) if (n === name) value = value === undefined ? v : `${value}, ${v}`;
  return value;
}

function elapsed(a: CaptureAt, b: CaptureAt): number {
  return b.tsSec - a.tsSec + (b.tsNsec - a.tsNsec) / 1e9;
}

/**
 * Is `bytes` (a direction's first bytes) the start of the HTTP/2 client preface? 'yes' once all 24
 * octets match, 'maybe' while fewer than 24 have been seen and they match so far, 'no' otherwise.
 */
export function matchClientPreface(bytes: Uint8Array): 'yes' | 'maybe' | 'no' {
  const n = Math.min(bytes.length, CLIENT_PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== CLIENT_PREFACE[i]) return 'no';
  return n === CLIENT_PREFACE.length ? 'yes' : 'maybe';
}

/**
 * Do these bytes (the first ones seen of a direction joined mid-connection) look like HTTP/2 frames?
 * True when plausible frame headers start at offset 0 and either cover the bytes exactly or run on for
 * HUNT_CHAIN complete frames.
 */
export function looksLikeHttp2Frames(bytes: Uint8Array): boolean {
  return chainAt(bytes, 0, DEFAULT_MAX_FRAME_SIZE) === 'yes';
}

/**
 * Is there a run of frames starting at `start`: 'yes' when plausible frame headers follow each other up
 * to exactly the end of the bytes, or for HUNT_CHAIN complete frames; 'maybe' when they run past the end
 * (more bytes will tell); 'no' when one of them cannot be a frame header.
 */
function chainAt(bytes: Uint8Array, start: number, maxLength: number): 'yes' | 'no' | 'maybe' {
  let pos = start;
  let frames = 0;
  while (pos + FRAME_HEADER_LENGTH <= bytes.length) {
    const header = plausibleFrameHeader(bytes, pos, maxLength);
    // Empty DATA without END_STREAM and empty header blocks say nothing and are what runs of zero
    // octets look like: no evidence of a boundary.
    if (header === undefined || (header.length === 0 && header.type !== FrameType.SETTINGS && (header.flags & Flag.END_STREAM) === 0)) return 'no';
    frames++;
    pos += FRAME_HEADER_LENGTH + header.length;
    if (pos === bytes.length || (frames >= HUNT_CHAIN && pos < bytes.length)) return 'yes';
  }
  return 'maybe';
}

/** The HTTP/2 parser of one TCP connection. Feed each direction's bytes in order; events come synchronously. */
export class Http2ConnectionParser {
  private readonly _emit: Emit;
  private readonly _opts: Http2ParserOptions;
  private readonly _client: DirectionState;
  private readonly _server: DirectionState;
  private readonly _streams = new Map<number, Stream>();
  /** Highest stream ids opened by each side (client: odd; server pushes: even). */
  private _lastClientStream = 0;
  private _lastServerStream = 0;
  private _requestCount = 0;
  private _heldBodyBytes = 0;
  private _midstream: boolean;
  private _closed = false;

  constructor(emit: (ev: Http2Event) => void, opts?: Partial<Http2ParserOptions>) {
    this._emit = emit;
    this._opts = { ...DEFAULT_HTTP2_OPTIONS, ...opts };
    const hpack = { ...DEFAULT_HPACK_LIMITS, ...this._opts.hpack };
    this._midstream = this._opts.start === 'midstream';
    this._client = new DirectionState('client', this._midstream ? Mode.Hunt : Mode.Preface, hpack);
    this._server = new DirectionState('server', this._midstream ? Mode.Hunt : Mode.Header, hpack);
    if (!this._midstream) this._server.everSynced = true; // the server's first frame starts its bytes
    if (this._midstream) {
      this._client.hpack.forgetTable();
      this._server.hpack.forgetTable();
    }
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
  // The driver

  private feed(d: DirectionState, bytes: Buffer, at: CaptureAt): void {
    let pos = 0;
    while (pos < bytes.length) {
      switch (d.mode) {
        case Mode.Preface:
          pos = this.readPreface(d, bytes, pos, at);
          break;
        case Mode.Header:
          pos = this.readHeader(d, bytes, pos, at);
          break;
        case Mode.Payload:
          pos = this.readPayload(d, bytes, pos, at);
          break;
        case Mode.DataPadLength:
          pos = this.readDataPadLength(d, bytes, pos, at);
          break;
        case Mode.Data:
          pos = this.readData(d, bytes, pos, at);
          break;
        case Mode.DataPadding:
          pos = this.readDataPadding(d, bytes, pos, at);
          break;
        case Mode.Hunt:
          pos = this.huntFrom(d, bytes, pos, at);
          break;
        case Mode.Closed:
          return;
      }
    }
  }

  private readPreface(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    while (pos < bytes.length && d.prefaceHave < CLIENT_PREFACE.length) {
      if (bytes[pos] !== CLIENT_PREFACE[d.prefaceHave]) {
        this.error(d, at, 'H2_BAD_PREFACE', 'the client did not start with the HTTP/2 connection preface');
        d.mode = Mode.Hunt;
        return pos;
      }
      pos++;
      d.prefaceHave++;
    }
    if (d.prefaceHave === CLIENT_PREFACE.length) {
      d.mode = Mode.Header;
      d.everSynced = true;
    }
    return pos;
  }

  private readHeader(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    if (d.headerHave === 0) d.frameAt = at;
    if (d.headerHave === 0 && bytes.length - pos >= FRAME_HEADER_LENGTH) {
      d.frame = readFrameHeader(bytes, pos);
      pos += FRAME_HEADER_LENGTH;
    } else {
      const n = Math.min(FRAME_HEADER_LENGTH - d.headerHave, bytes.length - pos);
      bytes.copy(d.headerBuf, d.headerHave, pos, pos + n);
      d.headerHave += n;
      pos += n;
      if (d.headerHave < FRAME_HEADER_LENGTH) return pos;
      d.headerHave = 0;
      d.frame = readFrameHeader(d.headerBuf, 0);
    }
    this.startFrame(d, at);
    return pos;
  }

  /** A frame header was read: decide how its payload is read. */
  private startFrame(d: DirectionState, at: CaptureAt): void {
    const f = d.frame;
    const other = d === this._client ? this._server : this._client;
    if (f.length > Math.max(other.maxFrameSize, DEFAULT_MAX_FRAME_SIZE)) {
      // Larger than the receiver allows: an endpoint would close the connection. We take it as lost
      // framing (fuzzed, corrupt or not HTTP/2 at all) and look for the next frame boundary.
      this.error(d, at, 'H2_DESYNC', `${frameTypeName(f.type)} frame of ${f.length} octets exceeds SETTINGS_MAX_FRAME_SIZE ${other.maxFrameSize}`, f.streamId);
      this.loseSync(d);
      return;
    }
    // A header block must be continued by CONTINUATION frames of its stream and nothing else.
    if (d.block && !(f.type === FrameType.CONTINUATION && f.streamId === d.block.streamId)) {
      this.error(d, at, 'H2_CONTINUATION', `${frameTypeName(f.type)} on stream ${f.streamId} inside the header block of stream ${d.block.streamId}`, d.block.streamId);
      this.dropBlock(d);
    } else if (!d.block && f.type === FrameType.CONTINUATION) {
      this.error(d, at, 'H2_CONTINUATION', `CONTINUATION on stream ${f.streamId} with no header block open`, f.streamId);
      this.skipFrame(d);
      return;
    }
    const problem = checkStreamId(f) ?? checkLength(f);
    if (problem) {
      this.error(d, at, 'H2_FRAME', `${problem.error}: ${problem.problem}`, f.streamId);
      if (f.type === FrameType.HEADERS || f.type === FrameType.PUSH_PROMISE || f.type === FrameType.CONTINUATION) d.hpack.forgetTable();
      this.skipFrame(d);
      return;
    }
    let keep: number;
    switch (f.type) {
      case FrameType.DATA:
        this.startData(d, at);
        return;
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE:
      case FrameType.CONTINUATION: {
        const soFar = d.block ? d.block.bytes : 0;
        if (d.block?.overflow || soFar + f.length > this._opts.maxHeaderBlockBytes) keep = 0;
        else keep = f.length;
        break;
      }
      case FrameType.SETTINGS: keep = Math.min(f.length, MAX_SETTINGS_KEPT); break;
      case FrameType.GOAWAY: keep = Math.min(f.length, MAX_GOAWAY_KEPT); break;
      case FrameType.PRIORITY:
      case FrameType.RST_STREAM:
      case FrameType.PING:
      case FrameType.WINDOW_UPDATE:
        keep = f.length;
        break;
      default:
        this.skipFrame(d); // unknown types are ignored (RFC 9113 4.1, 5.5)
        return;
    }
    d.skipping = false;
    d.keep = keep;
    d.remaining = f.length;
    d.pieces = [];
    d.have = 0;
    if (f.length === 0) {
      this.frameComplete(d, EMPTY, at);
      return;
    }
    d.mode = Mode.Payload;
  }

  private skipFrame(d: DirectionState): void {
    d.skipping = true;
    d.keep = 0;
    d.remaining = d.frame.length;
    d.pieces = [];
    d.have = 0;
    if (d.remaining === 0) {
      this.nextFrame(d);
      return;
    }
    d.mode = Mode.Payload;
  }

  private readPayload(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    const n = Math.min(d.remaining, bytes.length - pos);
    const keepNow = Math.min(n, d.keep - d.have);
    if (keepNow > 0) {
      d.pieces.push(bytes.subarray(pos, pos + keepNow));
      d.have += keepNow;
    }
    d.remaining -= n;
    pos += n;
    if (d.remaining > 0) {
      // Views into this segment must not outlive it uncopied: keep a private copy of what is pending.
      if (keepNow > 0) d.pieces[d.pieces.length - 1] = Buffer.from(d.pieces[d.pieces.length - 1]!);
      return pos;
    }
    if (d.skipping) {
      this.nextFrame(d);
      return pos;
    }
    const payload = d.pieces.length === 1 ? d.pieces[0]! : Buffer.concat(d.pieces, d.have);
    d.pieces = [];
    d.have = 0;
    this.frameComplete(d, payload, at);
    return pos;
  }

  private nextFrame(d: DirectionState): void {
    d.mode = Mode.Header;
    d.skipping = false;
    d.frameAt = undefined;
    d.pieces = [];
    d.have = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // DATA: streamed, never buffered

  private startData(d: DirectionState, at: CaptureAt): void {
    const f = d.frame;
    d.remaining = f.length;
    d.padLength = 0;
    this.dataTarget(d, at); // state checks and the unseen-stream report happen once per frame
    if ((f.flags & Flag.PADDED) !== 0) {
      if (f.length === 0) {
        this.error(d, at, 'H2_FRAME', 'FRAME_SIZE_ERROR: DATA PADDED without a pad length', f.streamId);
        this.nextFrame(d);
        return;
      }
      d.mode = Mode.DataPadLength;
      return;
    }
    if (f.length === 0) {
      this.dataFrameDone(d, at);
      return;
    }
    d.mode = Mode.Data;
  }

  private readDataPadLength(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    const padLength = bytes[pos]!;
    d.remaining--;
    if (padLength > d.remaining) {
      this.error(d, at, 'H2_FRAME', `PROTOCOL_ERROR: DATA padding of ${padLength} octets in a ${d.frame.length}-octet payload`, d.frame.streamId);
      this.skipRest(d);
      return pos + 1;
    }
    d.padLength = padLength;
    d.remaining -= padLength;
    d.mode = d.remaining > 0 ? Mode.Data : padLength > 0 ? Mode.DataPadding : Mode.Data;
    if (d.remaining === 0 && padLength === 0) this.dataFrameDone(d, at);
    else if (d.remaining === 0) d.remaining = padLength;
    return pos + 1;
  }

  /** The rest of a frame whose payload cannot be trusted is skipped by its length. */
  private skipRest(d: DirectionState): void {
    d.skipping = true;
    d.keep = 0;
    d.have = 0;
    d.remaining = d.frame.length - 1;
    if (d.remaining <= 0) this.nextFrame(d);
    else d.mode = Mode.Payload;
  }

  private readData(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    const n = Math.min(d.remaining, bytes.length - pos);
    const piece = n === bytes.length && pos === 0 ? bytes : bytes.subarray(pos, pos + n);
    this.dataContent(d, piece, at);
    d.remaining -= n;
    pos += n;
    if (d.remaining === 0) {
      if (d.padLength > 0) {
        d.remaining = d.padLength;
        d.mode = Mode.DataPadding;
      } else {
        this.dataFrameDone(d, at);
      }
    }
    return pos;
  }

  private readDataPadding(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    const n = Math.min(d.remaining, bytes.length - pos);
    d.remaining -= n;
    if (d.remaining === 0) this.dataFrameDone(d, at);
    return pos + n;
  }

  /** The stream and message a DATA frame's content goes to (undefined: dropped, already reported). */
  private dataTarget(d: DirectionState, at: CaptureAt): Message | undefined {
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

  private dataContent(d: DirectionState, piece: Buffer, at: CaptureAt): void {
    if (piece.length === 0) return;
    const id = d.frame.streamId;
    const stream = this._streams.get(id);
    if (stream === undefined) return;
    const message = d.from === 'client' ? stream.request : stream.response;
    if (!stream.unseen && (message === undefined || message.done)) return;
    if (message !== undefined) this.bodyBytes(message, piece);
    if (this._opts.bodyEvents) {
      const event = {
        type: 'body', ts: at.ts, frame: at.frame, from: d.from, message: d.from === 'client' ? 'request' : 'response',
        data: piece, protocol: 'HTTP/2', streamId: id,
      } as Http2Event & { type: 'body' };
      if (stream.index > 0) event.index = stream.index;
      if (message !== undefined && message.codings.length > 0) event.contentEncoding = message.codings;
      this._emit(event);
    }
  }

  private dataFrameDone(d: DirectionState, at: CaptureAt): void {
    const f = d.frame;
    this.nextFrame(d);
    if ((f.flags & Flag.END_STREAM) !== 0) this.endStreamFrom(d, f.streamId, at);
  }

  // ---------------------------------------------------------------------------------------------
  // Buffered frames

  private frameComplete(d: DirectionState, payload: Buffer, at: CaptureAt): void {
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

  private onHeadersFrame(d: DirectionState, f: FrameHeader, payload: Buffer, frameAt: CaptureAt, at: CaptureAt): void {
    const overflow = f.length > this._opts.maxHeaderBlockBytes;
    const parsed = overflow ? undefined : parseHeadersPayload(f, payload);
    if (parsed !== undefined && isProblem(parsed)) {
      this.error(d, at, 'H2_FRAME', `${parsed.error}: ${parsed.problem}`, f.streamId);
      d.hpack.forgetTable();
      if ((f.flags & Flag.END_HEADERS) === 0) this.openBlock(d, f, 0, true, frameAt);
      return;
    }
    this.openBlock(d, f, 0, overflow, frameAt);
    if (parsed) this.addFragment(d, parsed.fragment);
    if ((f.flags & Flag.END_HEADERS) !== 0) this.closeBlock(d, at);
  }

  private onPushPromiseFrame(d: DirectionState, f: FrameHeader, payload: Buffer, frameAt: CaptureAt, at: CaptureAt): void {
    const overflow = f.length > this._opts.maxHeaderBlockBytes;
    const parsed = overflow ? undefined : parsePushPromisePayload(f, payload);
    if (parsed !== undefined && isProblem(parsed)) {
      this.error(d, at, 'H2_FRAME', `${parsed.error}: ${parsed.problem}`, f.streamId);
      d.hpack.forgetTable();
      if ((f.flags & Flag.END_HEADERS) === 0) this.openBlock(d, f, 0, true, frameAt);
      return;
    }
    if (d.from === 'client') this.error(d, at, 'H2_FRAME', 'PROTOCOL_ERROR: PUSH_PROMISE sent by the client', f.streamId);
    this.openBlock(d, f, parsed?.promisedStreamId ?? 0, overflow, frameAt);
    if (parsed) this.addFragment(d, parsed.fragment);
    if ((f.flags & Flag.END_HEADERS) !== 0) this.closeBlock(d, at);
  }

  private onContinuation(d: DirectionState, f: FrameHeader, payload: Buffer, at: CaptureAt): void {
    const block = d.block;
    if (!block) return;
    if (!block.overflow && block.bytes + f.length > this._opts.maxHeaderBlockBytes) this.overflowBlock(d, at);
    if (!block.overflow) this.addFragment(d, payload);
    if ((f.flags & Flag.END_HEADERS) !== 0) this.closeBlock(d, at);
  }

  private openBlock(d: DirectionState, f: FrameHeader, promisedStreamId: number, overflow: boolean, at: CaptureAt): void {
    d.block = {
      streamId: f.streamId, type: f.type, endStream: f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0,
      promisedStreamId, fragments: [], bytes: 0, overflow: false, at,
    };
    if (overflow) this.overflowBlock(d, at);
  }

  private addFragment(d: DirectionState, fragment: Buffer): void {
    const block = d.block!;
    if (fragment.length === 0) return;
    block.fragments.push(fragment);
    block.bytes += fragment.length;
  }

  private overflowBlock(d: DirectionState, at: CaptureAt): void {
    const block = d.block!;
    block.overflow = true;
    block.fragments = [];
    block.bytes = 0;
    this.error(d, at, 'H2_HEADER_BLOCK_TOO_LARGE', `header block of stream ${block.streamId} longer than maxHeaderBlockBytes ${this._opts.maxHeaderBlockBytes}: skipped`, block.streamId);
    d.hpack.forgetTable(); // its table insertions are lost with it
  }

  /** A header block interrupted by another frame: what it inserted in the table is lost. */
  private dropBlock(d: DirectionState): void {
    d.block = undefined;
    d.hpack.forgetTable();
  }

  /** END_HEADERS: decode the block and act on it. */
  private closeBlock(d: DirectionState, at: CaptureAt): void {
    const block = d.block!;
    d.block = undefined;
    if (block.overflow) {
      const stream = this._streams.get(block.streamId) ?? this.newStream(block.streamId, Phase.Open, at);
      if (!stream.request && !stream.response) stream.unseen = true;
      if (block.endStream) this.endStreamFrom(d, block.streamId, at);
      return;
    }
    const bytes = block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments, block.bytes);
    const result = d.hpack.decode(bytes);
    if (result.problem) {
      const code: Http2ErrorCode = result.problem.code === 'HPACK_UNKNOWN_ENTRY' ? 'H2_HPACK_UNKNOWN' : 'H2_HPACK';
      const detail = result.problem.code === 'HPACK_UNKNOWN_ENTRY'
        ? `${result.unknownFields} header field(s) of stream ${block.streamId} refer to HPACK table entries from before the capture`
        : `${result.problem.code}: ${result.problem.message}`;
      this.error(d, at, code, detail, block.streamId);
    }
    const fields = splitPseudo(result.fields);
    if (block.type === FrameType.PUSH_PROMISE) this.onPushPromise(d, block, fields, result.unknownFields, at);
    else this.onHeaders(d, block, fields, result.unknownFields, at);
  }

  // ---------------------------------------------------------------------------------------------
  // Streams

  /** True when `id` is above every stream its initiator has opened (so it can be a new stream). */
  private isFutureStream(id: number): boolean {
    return id % 2 === 1 ? id > this._lastClientStream : id > this._lastServerStream;
  }

  private newStream(id: number, phase: Phase, at: CaptureAt): Stream {
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

  private newMessage(role: Role, fields: SplitFields, unknown: number, at: CaptureAt): Message {
    const encoding = headerValue(fields.regular, 'content-encoding');
    const grpc = isGrpcContentType(headerValue(fields.regular, 'content-type'));
    const codings = this._opts.decodeContent && encoding !== undefined && !grpc ? parseContentEncoding(encoding) : [];
    const message: Message = {
      role, headers: fields.regular, method: fields.method ?? '', url: fields.path ?? '', status: 0,
      startAt: at, headersIncomplete: unknown, bodyLength: 0, missingBytes: 0, codings, kept: [], keptLength: 0,
      held: 0, done: false,
    };
    if (fields.authority !== undefined) message.authority = fields.authority;
    if (fields.scheme !== undefined) message.scheme = fields.scheme;
    if (fields.protocol !== undefined) message.connectProtocol = fields.protocol;
    if (fields.status !== undefined) message.status = /^\d{3}$/.test(fields.status) ? Number(fields.status) : 0;
    if (codings.length > 0) {
      message.decoder = new ContentDecoder(codings, { maxEncodedLength: this._opts.maxEncodedBody, maxDecodedLength: this._opts.maxDecodedLength });
    }
    if (grpc) message.grpc = new GrpcMessageCounter(headerValue(fields.regular, 'grpc-encoding'), this._opts.grpc);
    return message;
  }

  private onHeaders(d: DirectionState, block: OpenBlock, fields: SplitFields, unknown: number, at: CaptureAt): void {
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

  private onPushPromise(d: DirectionState, block: OpenBlock, fields: SplitFields, unknown: number, at: CaptureAt): void {
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
  private endStreamFrom(d: DirectionState, id: number, at: CaptureAt): void {
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
  private finishStream(stream: Stream, at: CaptureAt, incomplete: boolean): void {
    if (stream.request && !stream.requestEmitted) this.emitRequest(stream, stream.request, at, incomplete || !stream.request.done);
    if (stream.response && !stream.responseEmitted) this.emitResponse(stream, stream.response, at, false, incomplete || !stream.response.done);
    this._streams.delete(stream.id);
  }

  private onRstStream(d: DirectionState, f: FrameHeader, payload: Buffer, at: CaptureAt): void {
    const errorCode = parseRstStreamPayload(payload);
    const error = errorCodeName(errorCode);
    this._emit({ type: 'h2-rst', ts: at.ts, frame: at.frame, from: d.from, protocol: 'HTTP/2', streamId: f.streamId, errorCode, error });
    const stream = this._streams.get(f.streamId);
    if (stream === undefined) return;
    stream.reset = { from: d.from, errorCode, error };
    stream.phase = Phase.Closed;
    this.finishStream(stream, at, true);
  }

  private onGoaway(d: DirectionState, payload: Buffer, at: CaptureAt): void {
    const goaway = parseGoawayPayload(payload);
    const event = {
      type: 'h2-goaway', ts: at.ts, frame: at.frame, from: d.from, protocol: 'HTTP/2', streamId: 0,
      lastStreamId: goaway.lastStreamId, errorCode: goaway.errorCode, error: errorCodeName(goaway.errorCode),
    } as Http2Event & { type: 'h2-goaway' };
    if (goaway.debugData.length > 0) event.debug = goaway.debugData.toString('latin1');
    this._emit(event);
  }

  private onSettings(d: DirectionState, f: FrameHeader, payload: Buffer, at: CaptureAt): void {
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
  // Bodies and events

  private bodyBytes(message: Message, piece: Buffer): void {
    message.bodyLength += piece.length;
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

  private releaseMessage(message: Message | undefined): void {
    if (!message) return;
    this._heldBodyBytes -= message.held;
    message.held = 0;
  }

  private emitRequest(stream: Stream, message: Message, at: CaptureAt, incomplete: boolean): void {
    stream.requestEmitted = true;
    if (stream.unseen) return;
    const event = {
      type: 'request', ts: at.ts, frame: at.frame, from: 'client', method: message.method, url: message.url,
      version: 'HTTP/2', headers: message.headers, index: stream.index, protocol: 'HTTP/2', streamId: stream.id,
    } as Http2RequestEvent;
    if (message.authority !== undefined) event.authority = message.authority;
    if (message.scheme !== undefined) event.scheme = message.scheme;
    if (message.connectProtocol !== undefined) event.connectProtocol = message.connectProtocol;
    if (message.headersIncomplete > 0) event.headersIncomplete = message.headersIncomplete;
    this.fillBodyInfo(event, message, stream, at, incomplete, 'client');
    if (message.grpc) event.grpc = grpcRequestInfo(message.url, message.headers, message.grpc.finish());
    this._emit(event);
  }

  private emitResponse(stream: Stream, message: Message, at: CaptureAt, interim: boolean, incomplete = false): void {
    if (!interim) stream.responseEmitted = true;
    if (stream.unseen) return;
    const event = {
      type: 'response', ts: at.ts, frame: at.frame, from: 'server', status: message.status, reason: '',
      version: 'HTTP/2', headers: message.headers, protocol: 'HTTP/2', streamId: stream.id,
    } as Http2ResponseEvent;
    const request = stream.request;
    if (request && stream.index > 0) event.request = { method: request.method, url: request.url, index: stream.index };
    if (interim) event.interim = true;
    if (message.headersIncomplete > 0) event.headersIncomplete = message.headersIncomplete;
    this.fillBodyInfo(event, message, stream, at, incomplete, 'server');
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
    event.timing = timing;
    if (message.grpc || (request?.grpc !== undefined)) {
      event.grpc = grpcResponseInfo(message.headers, message.trailers, (message.grpc ?? new GrpcMessageCounter(undefined)).finish());
    }
    if (stream.reset && incomplete) event.reset = stream.reset;
    this._emit(event);
  }

  private fillBodyInfo(info: HttpBodyInfo, message: Message, stream: Stream, at: CaptureAt, incomplete: boolean, from: Direction): void {
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
    this.releaseMessage(message);
    message.kept = [];
    let truncated = false;
    if (decoded && decoded.length > this._opts.maxBody) {
      decoded = decoded.subarray(0, this._opts.maxBody);
      truncated = true;
    } else if (!message.decoder && message.bodyLength > message.keptLength) {
      truncated = true;
    }
    if (decodeError !== undefined) {
      const d = from === 'client' ? this._client : this._server;
      this.error(d, at, 'H2_DECODE', decodeError, stream.id);
    }
    info.bodyLength = message.bodyLength;
    info.decodedLength = decodedLength;
    info.startTs = message.startAt.ts;
    info.startFrame = message.startAt.frame;
    if (message.bodyLength > 0 && decoded) info.body = decoded;
    if (truncated) info.bodyTruncated = true;
    if (message.codings.length > 0) info.contentEncoding = message.codings;
    if (decodeError !== undefined) info.decodeError = decodeError;
    if (limitExceeded) info.decodeLimitExceeded = true;
    if (message.missingBytes > 0) info.missingBytes = message.missingBytes;
    if (message.trailers) info.trailers = message.trailers;
    if (incomplete) info.incomplete = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Hunting for frame boundaries, gaps

  /**
   * Framing is lost in `d` (the bytes just read cannot be a frame header, or some are missing): hunt for
   * the next frame boundary in what follows. A header block in progress and whatever it would have
   * inserted into the HPACK table are lost with it.
   */
  private loseSync(d: DirectionState): void {
    d.block = undefined;
    d.hpack.forgetTable();
    d.mode = Mode.Hunt;
    d.hunt = EMPTY;
    d.pieces = [];
    d.have = 0;
    d.headerHave = 0;
  }

  private huntFrom(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    const buf = d.hunt.length === 0 ? bytes.subarray(pos) : Buffer.concat([d.hunt, bytes.subarray(pos)]);
    const other = d === this._client ? this._server : this._client;
    const maxLength = Math.max(other.maxFrameSize, DEFAULT_MAX_FRAME_SIZE);
    let start = 0;
    let waitFrom = -1;
    for (; start + FRAME_HEADER_LENGTH <= buf.length; start++) {
      const verdict = chainAt(buf, start, maxLength);
      if (verdict === 'yes') break;
      // A plausible chain running past the bytes we have: wait for more, unless that needs too much.
      if (verdict === 'maybe' && buf.length - start < this._opts.maxHuntBytes) {
        waitFrom = start;
        break;
      }
    }
    if (waitFrom < 0 && start + FRAME_HEADER_LENGTH <= buf.length) {
      d.huntSkipped += start;
      this.synced(d, at);
      d.hunt = EMPTY;
      d.mode = Mode.Header;
      // The rest starts at a frame boundary: through the normal path (a copy: it may be held).
      this.feed(d, Buffer.from(buf.subarray(start)), at);
      return bytes.length;
    }
    // Keep what may still hold a frame start: from the waiting chain, else the last 8 octets.
    const keepFrom = waitFrom >= 0 ? waitFrom : Math.max(0, buf.length - (FRAME_HEADER_LENGTH - 1));
    d.huntSkipped += keepFrom;
    d.hunt = Buffer.from(buf.subarray(keepFrom));
    return bytes.length;
  }

  private synced(d: DirectionState, at: CaptureAt): void {
    if (d.huntSkipped > 0 || !d.everSynced) {
      const code: Http2ErrorCode = d.everSynced ? 'H2_DESYNC' : 'H2_MIDSTREAM';
      this.error(d, at, code, `resynchronised at a frame boundary after skipping ${d.huntSkipped} octets`);
    }
    d.huntSkipped = 0;
    d.everSynced = true;
  }

  private onGap(d: DirectionState, length: number, at: CaptureAt): void {
    if (d.mode === Mode.Data && length <= d.remaining) {
      // Inside DATA content: framing survives, only body bytes are missing.
      const stream = this._streams.get(d.frame.streamId);
      const message = stream ? (d.from === 'client' ? stream.request : stream.response) : undefined;
      this.error(d, at, 'H2_GAP', `${length} body octets of stream ${d.frame.streamId} missing`, d.frame.streamId);
      if (message) {
        message.bodyLength += length;
        message.missingBytes += length;
        message.decoder?.markBroken(`${message.missingBytes} body octets missing from the capture`);
        message.grpc?.gap();
      }
      d.remaining -= length;
      if (d.remaining === 0) {
        if (d.padLength > 0) {
          d.remaining = d.padLength;
          d.mode = Mode.DataPadding;
        } else {
          this.dataFrameDone(d, at);
        }
      }
      return;
    }
    if (d.mode === Mode.Closed) return;
    if (d.mode === Mode.Hunt) {
      d.hunt = EMPTY;
      d.huntSkipped += length;
      return;
    }
    this.error(d, at, 'H2_GAP', `${length} octets missing: hunting for the next frame boundary`);
    this.loseSync(d);
    d.huntSkipped += length;
  }

  private error(d: DirectionState, at: CaptureAt, code: Http2ErrorCode, message: string, streamId = 0): void {
    this._emit({ type: 'h2-error', ts: at.ts, frame: at.frame, from: d.from, protocol: 'HTTP/2', streamId, code, message });
  }
}
