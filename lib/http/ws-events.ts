/**
 * Events of the WebSocket (RFC 6455) parser (lib/http/websocket.ts). Each carries the capture time and frame
 * number of the segment that completed it and the direction (`from`) of the bytes.
 */
import type { WsErrorCode } from '../core/errors.js';
import type { TcpSide } from '../tcp/events.js';

export interface WsEventBase {
  ts: string;
  frame: number;
  from: TcpSide;
}

/** Opcodes of RFC 6455 section 5.2 (others are reserved and reported as errors). */
export const WS_OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Every frame, data and control. */
export interface WsFrameEvent extends WsEventBase {
  type: 'ws-frame';
  opcode: number;
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  masked: boolean;
  /** The 4-byte masking key (client frames). */
  maskKey?: Buffer;
  /** Payload length from the frame header. */
  length: number;
  /** How the length was encoded: the 7-bit field alone, or 126 + 16 bits, or 127 + 64 bits. */
  lengthEncoding: 7 | 16 | 64;
  /** This frame's payload after unmasking (a copy when masked); still compressed when rsv1 is set. */
  data: Buffer;
}

/** A complete text or binary message: fragments reassembled and inflated. */
export interface WsMessageEvent extends WsEventBase {
  type: 'ws-message';
  /** 1 (text) or 2 (binary): the opcode of the message's first frame. */
  opcode: number;
  /** Length of `data` (after inflation). */
  length: number;
  data: Buffer;
  /** The message was compressed with permessage-deflate (RSV1 on its first frame). */
  compressed: boolean;
  /** Number of frames the message was carried in. */
  frames: number;
  /** Text messages: whether the payload is valid UTF-8. Absent for binary messages. */
  utf8Valid?: boolean;
}

export interface WsCloseEvent extends WsEventBase {
  type: 'ws-close';
  /** Status code from the close frame; absent when the frame had no body (1005 "no status received"). */
  code?: number;
  reason: string;
  /** The reason is valid UTF-8 (RFC 6455 requires it). */
  reasonUtf8Valid: boolean;
}

/** Codes of ws-error events: defined with every other code in lib/core/errors.ts. */
export type { WsErrorCode };

export interface WsErrorEvent extends WsEventBase {
  type: 'ws-error';
  code: WsErrorCode;
  message: string;
  /** True when this direction's parser stopped (framing lost); false when parsing continues. */
  fatal: boolean;
}

export type WsEvent = WsFrameEvent | WsMessageEvent | WsCloseEvent | WsErrorEvent;
