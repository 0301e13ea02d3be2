/**
 * WebSocket (RFC 6455) decoding for a passive observer: an incremental frame parser per direction,
 * message reassembly across continuation frames (control frames may sit between fragments), close
 * frames, and permessage-deflate (RFC 7692). Started by lib/http/parser.ts after a valid 101 handshake.
 *
 * The frame parser is a ws-receiver-like state machine (HEADER → LENGTH_16 / LENGTH_64 → MASK → PAYLOAD)
 * over a queue of the captured chunks. Differences from an endpoint's receiver: captured bytes are never
 * modified (masked payloads are unmasked into a copy); protocol violations that leave the framing
 * intact are reported and parsing goes on; only a lost framing (gap, absurd length) stops a direction.
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { TcpSide } from '../tcp/events.js';
import type { CaptureAt } from './events.js';
import type { WsErrorCode, WsEvent } from './ws-events.js';
import { ChunkQueue } from '../core/chunk-queue.js';
import { PerMessageInflater, type PerMessageDeflateParams } from './ws-deflate.js';

export { parsePerMessageDeflate, PerMessageInflater, type PerMessageDeflateParams } from './ws-deflate.js';

/** The GUID of RFC 6455 section 1.3, appended to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The Sec-WebSocket-Accept value a server must answer to `key`. */
export function websocketAccept(key: string): string {
  return createHash('sha1').update(key.trim() + WEBSOCKET_GUID).digest('base64');
}

export interface WebSocketLimits {
  /**
   * Largest frame payload and largest reassembled (and inflated) message accepted. A frame announcing
   * more stops its direction without allocating (a bogus 64-bit length is just a number); a message
   * growing past it is dropped and reported.
   */
  maxMessageSize: number;
  /**
   * Frames one message may be reassembled from. Each held frame costs an object as well as its bytes,
   * so millions of empty or one-byte continuation frames would exhaust memory under any byte limit; a
   * message with more frames is dropped and reported (WS_TOO_MANY_FRAMES), its frames still counted.
   */
  maxFramesPerMessage: number;
}

export const DEFAULT_WEBSOCKET_LIMITS: Readonly<WebSocketLimits> = {
  maxMessageSize: 64 * 1024 * 1024,
  maxFramesPerMessage: 65536,
};

/** Control frames carry at most 125 payload bytes (RFC 6455 section 5.5). */
const MAX_CONTROL_PAYLOAD = 125;

/** Close status codes a peer may send (RFC 6455 section 7.4, IANA registry; 3000-4999 registered/private). */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
  );
}

const enum FrameState {
  Header,
  Length16,
  Length64,
  Mask,
  Payload,
  /** Passing over the payload (and mask) of a frame too large to keep: the framing is still known. */
  Skip,
  Stopped,
}

interface FrameHeader {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  length: number;
  lengthEncoding: 7 | 16 | 64;
  maskKey?: Buffer;
}

interface MessageInProgress {
  opcode: number;
  compressed: boolean;
  fragments: Buffer[];
  size: number;
  frames: number;
  /** Set when the message outgrew maxMessageSize: later fragments are skipped until FIN. */
  dropped: boolean;
}

type Emit = (ev: WsEvent) => void;

function unmask(payload: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload[i]! ^ key[i & 3]!;
  return out;
}

/** The frame parser and message assembler of one direction. */
class WsDirectionParser {
  private readonly _from: TcpSide;
  private readonly _emit: Emit;
  private readonly _limits: WebSocketLimits;
  /** Frames from the client must be masked, frames from the server must not (RFC 6455 5.1). */
  private readonly _expectMasked: boolean;
  /** Undefined when permessage-deflate was not negotiated. */
  private readonly _inflater: PerMessageInflater | undefined;
  private readonly _queue = new ChunkQueue();
  private _state: FrameState = FrameState.Header;
  private _skipRemaining = 0;
  private _header: FrameHeader = { fin: false, rsv1: false, rsv2: false, rsv3: false, opcode: 0, masked: false, length: 0, lengthEncoding: 7 };
  private _message: MessageInProgress | undefined;
  private _at: CaptureAt = { ts: '', tsSec: 0, tsNsec: 0, frame: 0 };

  constructor(from: TcpSide, emit: Emit, limits: WebSocketLimits, expectMasked: boolean, inflater: PerMessageInflater | undefined) {
    this._from = from;
    this._emit = emit;
    this._limits = limits;
    this._expectMasked = expectMasked;
    this._inflater = inflater;
  }

  get stopped(): boolean {
    return this._state === FrameState.Stopped;
  }

  /** Bytes of incomplete frames held. */
  get bufferedBytes(): number {
    return this._queue.length;
  }

  /** Frames of the message being reassembled that are held (bounded by maxFramesPerMessage). */
  get heldFrames(): number {
    return this._message?.fragments.length ?? 0;
  }

  data(bytes: Buffer, at: CaptureAt): void {
    if (this._state === FrameState.Stopped) return;
    this._at = at;
    this._queue.push(bytes);
    this.run();
  }

  gap(length: number, at: CaptureAt): void {
    if (this._state === FrameState.Stopped) return;
    this._at = at;
    this.stop('WS_GAP', `${length} bytes missing from the stream: WebSocket framing lost`);
  }

  end(at: CaptureAt): void {
    if (this._state === FrameState.Stopped) return;
    this._at = at;
    if (this._state !== FrameState.Header || this._queue.length > 0) {
      this.error('WS_INCOMPLETE', 'the connection ended inside a frame', false);
    } else if (this._message !== undefined) {
      this.error('WS_INCOMPLETE', 'the connection ended inside a fragmented message', false);
    }
    this._message = undefined;
    this._queue.clear();
    this._state = FrameState.Stopped;
  }

  /** The driver: each state consumes exactly what it needs or leaves the loop to wait for more bytes. */
  private run(): void {
    for (;;) {
      switch (this._state) {
        case FrameState.Header:
          if (this._queue.length < 2) return;
          this.readHeader();
          break;
        case FrameState.Length16:
          if (this._queue.length < 2) return;
          this.readLength16();
          break;
        case FrameState.Length64:
          if (this._queue.length < 8) return;
          this.readLength64();
          break;
        case FrameState.Mask:
          if (this._queue.length < 4) return;
          this._header.maskKey = Buffer.from(this._queue.take(4)); // a copy: it outlives the chunk
          this._state = FrameState.Payload;
          break;
        case FrameState.Payload:
          if (this._queue.length < this._header.length) return;
          this.readPayload();
          break;
        case FrameState.Skip: {
          if (this._queue.length === 0) return;
          const n = Math.min(this._skipRemaining, this._queue.length);
          this._queue.discard(n);
          this._skipRemaining -= n;
          if (this._skipRemaining === 0) this._state = FrameState.Header;
          break;
        }
        case FrameState.Stopped:
          return;
      }
    }
  }

  private readHeader(): void {
    const bytes = this._queue.take(2);
    const b0 = bytes[0]!;
    const b1 = bytes[1]!;
    const header: FrameHeader = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked: (b1 & 0x80) !== 0,
      length: b1 & 0x7f,
      lengthEncoding: 7,
    };
    this._header = header;
    const isControl = (header.opcode & 0x08) !== 0;
    this.checkHeader(header, isControl);
    if (header.length === 126) {
      header.lengthEncoding = 16;
      this._state = FrameState.Length16;
    } else if (header.length === 127) {
      header.lengthEncoding = 64;
      this._state = FrameState.Length64;
    }
    else this.haveLength();
  }

  /** Violations that leave the framing intact: reported, parsing goes on. */
  private checkHeader(header: FrameHeader, isControl: boolean): void {
    const known = header.opcode <= 2 || (header.opcode >= 8 && header.opcode <= 10);
    if (!known) this.error('WS_BAD_OPCODE', `reserved opcode ${header.opcode}`, false);
    if (isControl && !header.fin) this.error('WS_CONTROL_FRAME', `fragmented control frame (opcode ${header.opcode})`, false);
    if (header.rsv2 || header.rsv3) this.error('WS_RSV', 'RSV2/RSV3 set without a negotiated extension', false);
    if (header.rsv1) {
      if (this._inflater === undefined) this.error('WS_RSV', 'RSV1 set without permessage-deflate', false);
      else if (isControl || header.opcode === 0) {
        this.error('WS_RSV', 'RSV1 set on a control or continuation frame', false);
      }
    }
    if (isControl && header.length > MAX_CONTROL_PAYLOAD) {
      // 126/127 announce an extended length, which a control frame may not have. The frame is still
      // read by its length like tshark does (websocket-oversized-close-frame: a 258-byte close); only
      // a length past maxMessageSize stops the direction, in haveLength.
      this.error('WS_CONTROL_FRAME', `control frame (opcode ${header.opcode}) with an extended length`, false);
    }
    if (header.masked !== this._expectMasked) {
      this.error('WS_MASK', header.masked ? 'server frame is masked' : 'client frame is not masked', false);
    }
  }

  private readLength16(): void {
    const length = this._queue.take(2).readUInt16BE(0);
    if (length < 126) this.error('WS_BAD_LENGTH', `16-bit length ${length} should use the 7-bit form`, false);
    this._header.length = length;
    this.haveLength();
  }

  private readLength64(): void {
    const bytes = this._queue.take(8);
    const high = bytes.readUInt32BE(0);
    const low = bytes.readUInt32BE(4);
    if (high & 0x80000000) {
      this.stop('WS_BAD_LENGTH', '64-bit payload length with the most significant bit set');
      return;
    }
    if (high >= 0x20_0000) {
      // 2^53 or more: no frame that large is accepted, and a float would print it rounded
      // (2^63-1 as 9223372036854776000), so the message carries the exact value.
      const exact = (BigInt(high) << 32n) | BigInt(low);
      this.stop('WS_TOO_LARGE', `frame payload of ${exact} bytes exceeds maxMessageSize ${this._limits.maxMessageSize}`);
      return;
    }
    // Below 2^53 the sum is exact.
    const length = high * 0x1_0000_0000 + low;
    if (length < 0x10000) this.error('WS_BAD_LENGTH', `64-bit length ${length} should use a shorter form`, false);
    this._header.length = length;
    this.haveLength();
  }

  private haveLength(): void {
    if (this._header.length > this._limits.maxMessageSize) {
      this.skipFrame();
      return;
    }
    this._state = this._header.masked ? FrameState.Mask : FrameState.Payload;
  }

  /**
   * A frame longer than maxMessageSize: its length is known (below 2^53), so the framing is not lost.
   * Its payload is passed over without being held, the message it belongs to is dropped, and the
   * frames after it are read as usual (they used to be hidden: the direction stopped here).
   */
  private skipFrame(): void {
    const header = this._header;
    this.error('WS_TOO_LARGE', `frame payload of ${header.length} bytes exceeds maxMessageSize ${this._limits.maxMessageSize}: skipped, the frames after it are still read`, false);
    if (header.opcode === 0x1 || header.opcode === 0x2) {
      if (this._message !== undefined) this.error('WS_FRAGMENTATION', 'a new message started before the previous one was finished; it is dropped', false);
      this._message = header.fin ? undefined : { opcode: header.opcode, compressed: false, fragments: [], size: 0, frames: 1, dropped: true };
    } else if (header.opcode === 0x0 && this._message !== undefined) {
      this._message.dropped = true;
      this._message.fragments = [];
      this._message.frames++;
      if (header.fin) this._message = undefined;
    }
    this._skipRemaining = header.length + (header.masked ? 4 : 0);
    this._state = this._skipRemaining > 0 ? FrameState.Skip : FrameState.Header;
  }

  private readPayload(): void {
    const header = this._header;
    const raw = header.length === 0 ? Buffer.alloc(0) : this._queue.take(header.length);
    const data = header.maskKey !== undefined ? unmask(raw, header.maskKey) : raw;
    this._state = FrameState.Header;
    this._emit({
      type: 'ws-frame',
      ts: this._at.ts,
      frame: this._at.frame,
      from: this._from,
      opcode: header.opcode,
      fin: header.fin,
      rsv1: header.rsv1,
      rsv2: header.rsv2,
      rsv3: header.rsv3,
      masked: header.masked,
      ...(header.maskKey !== undefined ? { maskKey: header.maskKey } : {}),
      length: header.length,
      lengthEncoding: header.lengthEncoding,
      data,
    });
    if (header.opcode === 0x8) this.onClose(data);
    else if (header.opcode === 0x1 || header.opcode === 0x2) this.onMessageStart(header, data);
    else if (header.opcode === 0x0) this.onContinuation(header, data);
  }

  private onClose(data: Buffer): void {
    if (data.length === 1) {
      this.error('WS_BAD_CLOSE', 'close frame with a 1-byte body', false);
    }
    const code = data.length >= 2 ? data.readUInt16BE(0) : undefined;
    if (code !== undefined && !isValidCloseCode(code)) this.error('WS_BAD_CLOSE', `invalid close code ${code}`, false);
    const reasonBytes = data.length > 2 ? data.subarray(2) : Buffer.alloc(0);
    this._emit({
      type: 'ws-close',
      ts: this._at.ts,
      frame: this._at.frame,
      from: this._from,
      ...(code !== undefined ? { code } : {}),
      reason: reasonBytes.toString('utf8'),
      reasonUtf8Valid: isUtf8(reasonBytes),
    });
  }

  private onMessageStart(header: FrameHeader, data: Buffer): void {
    if (this._message !== undefined) {
      this.error('WS_FRAGMENTATION', 'a new message started before the previous one was finished; it is dropped', false);
    }
    this._message = {
      opcode: header.opcode,
      compressed: header.rsv1 && this._inflater !== undefined,
      fragments: [],
      size: 0,
      frames: 0,
      dropped: false,
    };
    this.addFragment(header, data);
  }

  private onContinuation(header: FrameHeader, data: Buffer): void {
    if (this._message === undefined) {
      this.error('WS_FRAGMENTATION', 'continuation frame without a message to continue', false);
      return;
    }
    this.addFragment(header, data);
  }

  private addFragment(header: FrameHeader, data: Buffer): void {
    const message = this._message!;
    message.frames++;
    if (!message.dropped) {
      if (message.size + data.length > this._limits.maxMessageSize) {
        message.dropped = true;
        message.fragments = [];
        this.error('WS_TOO_LARGE', `message exceeds maxMessageSize ${this._limits.maxMessageSize}: dropped`, false);
      } else if (message.frames > this._limits.maxFramesPerMessage) {
        message.dropped = true;
        message.fragments = [];
        this.error('WS_TOO_MANY_FRAMES', `message of more than ${this._limits.maxFramesPerMessage} frames (maxFramesPerMessage): dropped`, false);
      } else if (data.length > 0) {
        // A message still open after this frame holds its pieces across packets: copied, so a one-byte
        // piece never pins the packet (and the reader's chunk) it came in.
        message.fragments.push(header.fin && message.fragments.length === 0 ? data : Buffer.from(data));
        message.size += data.length;
      }
    }
    if (header.fin) {
      this._message = undefined;
      if (!message.dropped) this.completeMessage(message);
    }
  }

  private completeMessage(message: MessageInProgress): void {
    let data = message.fragments.length === 1 ? message.fragments[0]! : Buffer.concat(message.fragments, message.size);
    message.fragments = [];
    if (message.compressed) {
      try {
        data = this._inflater!.inflate(data, this._limits.maxMessageSize);
      } catch (e) {
        const tooLarge = e instanceof RangeError;
        this.error(
          tooLarge ? 'WS_TOO_LARGE' : 'WS_INFLATE',
          tooLarge ? `inflated message exceeds maxMessageSize ${this._limits.maxMessageSize}` : `inflate failed: ${(e as Error).message}`,
          false,
        );
        return;
      }
    }
    this._emit({
      type: 'ws-message',
      ts: this._at.ts,
      frame: this._at.frame,
      from: this._from,
      opcode: message.opcode,
      length: data.length,
      data,
      compressed: message.compressed,
      frames: message.frames,
      ...(message.opcode === 0x1 ? { utf8Valid: isUtf8(data) } : {}),
    });
  }

  private error(code: WsErrorCode, message: string, fatal: boolean): void {
    this._emit({ type: 'ws-error', ts: this._at.ts, frame: this._at.frame, from: this._from, code, message, fatal });
  }

  /** The framing is lost: report once, drop what is buffered and ignore the rest of this direction. */
  private stop(code: WsErrorCode, message: string): void {
    this.error(code, message, true);
    this._state = FrameState.Stopped;
    this._queue.clear();
    this._message = undefined;
  }
}

export interface WebSocketConnectionOptions {
  /** The direction that sent the upgrade request: its frames are the masked client frames. */
  clientSide: TcpSide;
  /** permessage-deflate parameters from the handshake response; undefined when not negotiated. */
  deflate?: PerMessageDeflateParams;
  limits?: Partial<WebSocketLimits>;
}

/** Both directions of one upgraded connection. */
export class WebSocketConnection {
  readonly deflate: PerMessageDeflateParams | undefined;
  private readonly _client: WsDirectionParser;
  private readonly _server: WsDirectionParser;
  private readonly _clientSide: TcpSide;

  constructor(emit: Emit, options: WebSocketConnectionOptions) {
    const limits: WebSocketLimits = { ...DEFAULT_WEBSOCKET_LIMITS, ...options.limits };
    const deflate = options.deflate;
    this.deflate = deflate;
    this._clientSide = options.clientSide;
    const serverSide: TcpSide = options.clientSide === 'client' ? 'server' : 'client';
    const clientInflater = deflate ? new PerMessageInflater(!deflate.clientNoContextTakeover) : undefined;
    const serverInflater = deflate ? new PerMessageInflater(!deflate.serverNoContextTakeover) : undefined;
    this._client = new WsDirectionParser(options.clientSide, emit, limits, true, clientInflater);
    this._server = new WsDirectionParser(serverSide, emit, limits, false, serverInflater);
  }

  private side(from: TcpSide): WsDirectionParser {
    return from === this._clientSide ? this._client : this._server;
  }

  data(from: TcpSide, bytes: Buffer, at: CaptureAt): void {
    this.side(from).data(bytes, at);
  }

  gap(from: TcpSide, length: number, at: CaptureAt): void {
    this.side(from).gap(length, at);
  }

  end(at: CaptureAt): void {
    this._client.end(at);
    this._server.end(at);
  }

  /** Bytes of incomplete frames held in both directions. */
  get bufferedBytes(): number {
    return this._client.bufferedBytes + this._server.bufferedBytes;
  }

  /** Frames held for messages being reassembled, both directions. */
  get heldFrames(): number {
    return this._client.heldFrames + this._server.heldFrames;
  }

  /** True once both directions stopped (framing lost or connection ended). */
  get stopped(): boolean {
    return this._client.stopped && this._server.stopped;
  }
}
