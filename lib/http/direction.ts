/**
 * The state the HTTP/1.x parser keeps per direction of a connection (parser.ts): the mode its state
 * machine is in, the head or chunk line being gathered, the message whose body is being read, and the
 * requests waiting for their responses. Plain records and the few helpers that fill them.
 */
import type { TcpSide } from '../tcp/events.js';
import { ContentDecoder, parseContentEncoding } from './content-decoding.js';
import type { CaptureAt, HeaderField } from './events.js';
import type { ParsedFields, StartLine } from './head.js';
import type { HttpParserOptions } from './parser-options.js';

/**
 * The modes of one direction (the diagram is in parser.ts). Head modes are read by parser.ts, body modes
 * by body-framing.ts; after a switch the bytes go to the WebSocket parser or the receiver of onSwitch.
 */
export const enum Mode {
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

export type Role = 'request' | 'response';

export const EMPTY = Buffer.alloc(0);

/** A request whose response has not been seen yet. */
export interface PendingRequest {
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
export interface Message {
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
export function keepPiece(message: Message, piece: Buffer): void {
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
export function position(at: CaptureAt): CaptureAt {
  return { ts: at.ts, tsSec: at.tsSec, tsNsec: at.tsNsec, frame: at.frame };
}

/** Parser state of one direction of the connection. */
export class DirectionState {
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

  /** AwaitUpgrade: bytes sent after an upgrade request, before the answer (past `max`: dropped, a gap). */
  hold(bytes: Buffer, at: CaptureAt, max: number): void {
    if (this.heldBytes + bytes.length > max) {
      this.held = [];
      this.heldBytes = 0;
      this.heldGap = true;
      return;
    }
    this.held.push([Buffer.from(bytes), position(at)]);
    this.heldBytes += bytes.length;
  }
}

/** The record of a message whose head was just parsed (with its content decoder when it has codings). */
export function newMessage(opts: HttpParserOptions, start: StartLine, head: ParsedFields, startAt: CaptureAt, pending: PendingRequest | undefined): Message {
  const encoding = head.known.get('content-encoding');
  const codings = opts.decodeContent && encoding !== undefined ? parseContentEncoding(encoding) : [];
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
      maxEncodedLength: opts.maxEncodedBody,
      maxDecodedLength: opts.maxDecodedLength,
    });
  }
  return message;
}
