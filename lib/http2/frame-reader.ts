/**
 * The frame reader of the HTTP/2 parser (RFC 9113 4.1, 6.10): per direction, the connection preface,
 * frame headers, buffered payloads, streamed DATA with its padding, and hunting for a frame boundary
 * after a gap or a mid-connection join. What the frames mean is left to the layers above
 * (lib/http2/header-block.ts, lib/http2/stream-state.ts, lib/http2/connection.ts) through the abstract
 * methods at the end of the class.
 *
 * A direction goes through these modes:
 *
 *   Preface (client) ──24 octets──► Header ──9 octets──► Payload (buffered: HEADERS, SETTINGS, ...) ─┐
 *      │                              ▲  └──DATA──► [DataPadLength] ► Data ► [DataPadding] ──────────┤
 *      └─not the preface─► Hunt ──────┘◄────────────────────────────────────────────────────────────┘
 *   Hunt: find a frame boundary (a capture joined mid-connection, a gap, bytes that cannot be frames)
 *
 * DATA is never buffered: its content goes to the stream as it arrives (zero-copy views). Every other
 * frame is gathered up to a bound and then handled whole.
 */
import type { CaptureAt } from '../http/events.js';
import type { TcpSide as Direction } from '../tcp/events.js';
import type { Http2ErrorCode, Http2Event } from './events.js';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_LENGTH,
  Flag,
  FrameType,
  checkLength,
  checkStreamId,
  frameTypeName,
  plausibleFrameHeader,
  readFrameHeader,
  type FrameHeader,
} from './frames.js';
import { DEFAULT_HPACK_LIMITS, HpackDecoder, type HpackLimits } from './hpack.js';
import { DEFAULT_HTTP2_OPTIONS, HUNT_CHAIN, MAX_GOAWAY_KEPT, MAX_SETTINGS_KEPT, type Http2ParserOptions } from './limits.js';

export const EMPTY = Buffer.alloc(0);

/** bytes [start, end) as a Buffer: the input itself when the range is all of it, else a view into it. */
export function contentView(bytes: Buffer, start: number, end: number): Buffer {
  return start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
}

export const enum Mode {
  Preface,
  Header,
  Payload,
  DataPadLength,
  Data,
  DataPadding,
  Hunt,
  Closed,
}

/** A header block whose CONTINUATION frames are still coming. */
export interface OpenBlock {
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

/** One direction of the connection: where its framing is, its HPACK decoder, its open header block. */
export class DirectionState {
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

export type Emit = (ev: Http2Event) => void;

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

/**
 * Framing of both directions of one connection. Subclasses give the frames meaning; this class only
 * finds them, bounds what it holds, and reports what cannot be frames.
 */
export abstract class Http2FrameReader {
  protected readonly _emit: Emit;
  protected readonly _opts: Http2ParserOptions;
  protected readonly _client: DirectionState;
  protected readonly _server: DirectionState;
  protected readonly _midstream: boolean;
  protected _closed = false;

  constructor(emit: Emit, opts: Partial<Http2ParserOptions> | undefined) {
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
  }

  // ---------------------------------------------------------------------------------------------
  // The driver

  protected feed(d: DirectionState, bytes: Buffer, at: CaptureAt): void {
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

  protected readPreface(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
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

  protected readHeader(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
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
  protected startFrame(d: DirectionState, at: CaptureAt): void {
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

  protected skipFrame(d: DirectionState): void {
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

  protected readPayload(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
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

  protected nextFrame(d: DirectionState): void {
    d.mode = Mode.Header;
    d.skipping = false;
    d.frameAt = undefined;
    d.pieces = [];
    d.have = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // DATA: streamed, never buffered

  protected startData(d: DirectionState, at: CaptureAt): void {
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

  protected readDataPadLength(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
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
  protected skipRest(d: DirectionState): void {
    d.skipping = true;
    d.keep = 0;
    d.have = 0;
    d.remaining = d.frame.length - 1;
    if (d.remaining <= 0) this.nextFrame(d);
    else d.mode = Mode.Payload;
  }

  protected readData(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    const n = Math.min(d.remaining, bytes.length - pos);
    // The content goes as a range of the input: most DATA is only counted, and a view per frame was garbage.
    this.dataContent(d, bytes, pos, pos + n, at);
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

  protected readDataPadding(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
    const n = Math.min(d.remaining, bytes.length - pos);
    d.remaining -= n;
    if (d.remaining === 0) this.dataFrameDone(d, at);
    return pos + n;
  }

  /** The stream and message a DATA frame's content goes to (undefined: dropped, already reported). */
  protected dataFrameDone(d: DirectionState, at: CaptureAt): void {
    const f = d.frame;
    this.nextFrame(d);
    if ((f.flags & Flag.END_STREAM) !== 0) this.endStreamFrom(d, f.streamId, at);
  }


  /** A header block interrupted by another frame: what it inserted in the table is lost. */
  protected dropBlock(d: DirectionState): void {
    d.block = undefined;
    d.hpack.forgetTable();
  }

  // ---------------------------------------------------------------------------------------------
  // Hunting for frame boundaries, gaps

  /**
   * Framing is lost in `d` (the bytes just read cannot be a frame header, or some are missing): hunt for
   * the next frame boundary in what follows. A header block in progress and whatever it would have
   * inserted into the HPACK table are lost with it.
   */
  protected loseSync(d: DirectionState): void {
    d.block = undefined;
    d.hpack.forgetTable();
    d.mode = Mode.Hunt;
    d.hunt = EMPTY;
    d.pieces = [];
    d.have = 0;
    d.headerHave = 0;
  }

  protected huntFrom(d: DirectionState, bytes: Buffer, pos: number, at: CaptureAt): number {
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

  protected synced(d: DirectionState, at: CaptureAt): void {
    if (d.huntSkipped > 0 || !d.everSynced) {
      const code: Http2ErrorCode = d.everSynced ? 'H2_DESYNC' : 'H2_MIDSTREAM';
      this.error(d, at, code, `resynchronised at a frame boundary after skipping ${d.huntSkipped} octets`);
    }
    d.huntSkipped = 0;
    d.everSynced = true;
  }

  protected onGap(d: DirectionState, length: number, at: CaptureAt): void {
    if (d.mode === Mode.Data && length <= d.remaining) {
      // Inside DATA content: framing survives, only body bytes are missing.
      this.error(d, at, 'H2_GAP', `${length} body octets of stream ${d.frame.streamId} missing`, d.frame.streamId);
      this.dataGap(d, length);
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

  protected error(d: DirectionState, at: CaptureAt, code: Http2ErrorCode, message: string, streamId = 0): void {
    this._emit({ type: 'h2-error', ts: at.ts, frame: at.frame, from: d.from, protocol: 'HTTP/2', streamId, code, message });
  }

  // ---------------------------------------------------------------------------------------------
  // What the layers above provide

  /** A buffered frame (anything but DATA) is complete; the reader is already at the next frame header. */
  protected abstract frameComplete(d: DirectionState, payload: Buffer, at: CaptureAt): void;
  /** A DATA frame starts: check its stream (reported once per frame); the content follows by dataContent. */
  protected abstract dataTarget(d: DirectionState, at: CaptureAt): unknown;
  /** DATA content of the current frame: `bytes` [start, end) (the input: copy what is kept, see contentView). */
  protected abstract dataContent(d: DirectionState, bytes: Buffer, start: number, end: number, at: CaptureAt): void;
  /** `length` octets of the current DATA frame's content are missing from the capture. */
  protected abstract dataGap(d: DirectionState, length: number): void;
  /** END_STREAM from `d` on stream `id`. */
  protected abstract endStreamFrom(d: DirectionState, id: number, at: CaptureAt): void;
}
