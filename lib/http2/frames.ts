/**
 * HTTP/2 frames (RFC 9113 section 4 and 6): the 9-octet frame header, the frame types and flags, and
 * the payload layouts of every defined type. Pure functions over Buffers; the connection state machine
 * (connection.ts) decides what the frames mean. A malformed payload comes back as a `FrameProblem`.
 */

/** The client connection preface (RFC 9113 3.4): "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_LENGTH = 9;

/** SETTINGS_MAX_FRAME_SIZE's initial value: frames larger than this need a SETTINGS that allows them. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

const FRAME_TYPE_NAMES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];

export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES[type] ?? `UNKNOWN(0x${type.toString(16)})`;
}

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 7). */
const ERROR_CODE_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

export function errorCodeName(code: number): string {
  return ERROR_CODE_NAMES[code] ?? `UNKNOWN(0x${code.toString(16)})`;
}

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8,
} as const;

export interface FrameHeader {
  /** Payload length (24 bits). */
  length: number;
  type: number;
  flags: number;
  /** Stream identifier (31 bits; the reserved bit is dropped). */
  streamId: number;
}

/** Reads a frame header at `offset` (the caller made sure 9 bytes are there). */
export function readFrameHeader(buf: Uint8Array, offset = 0): FrameHeader {
  return {
    length: (buf[offset]! << 16) | (buf[offset + 1]! << 8) | buf[offset + 2]!,
    type: buf[offset + 3]!,
    flags: buf[offset + 4]!,
    streamId: readStreamId(buf, offset + 5),
  };
}

/** A 31-bit stream identifier (the high bit reserved, ignored on receipt). */
function readStreamId(buf: Uint8Array, offset: number): number {
  return ((buf[offset]! & 0x7f) * 0x1000000) + ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!);
}

function readUint32(buf: Uint8Array, offset: number): number {
  return buf[offset]! * 0x1000000 + ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!);
}

/** What is wrong with a frame, as RFC 9113 names the connection or stream error it would cause. */
export interface FrameProblem {
  problem: string;
  /** PROTOCOL_ERROR or FRAME_SIZE_ERROR, as an endpoint would answer. */
  error: 'PROTOCOL_ERROR' | 'FRAME_SIZE_ERROR';
}

function problem(error: FrameProblem['error'], text: string): FrameProblem {
  return { problem: text, error };
}

export function isProblem(x: unknown): x is FrameProblem {
  return typeof x === 'object' && x !== null && 'problem' in x;
}

/**
 * The stream-id rule of each type (RFC 9113 6.x): which frames must be on stream 0 and which must not.
 * Returns a problem, or undefined when the frame may be on its stream. Unknown types may be anywhere.
 */
export function checkStreamId(header: FrameHeader): FrameProblem | undefined {
  const zero = header.streamId === 0;
  switch (header.type) {
    case FrameType.SETTINGS:
    case FrameType.PING:
    case FrameType.GOAWAY:
      return zero ? undefined : problem('PROTOCOL_ERROR', `${frameTypeName(header.type)} on stream ${header.streamId}`);
    case FrameType.WINDOW_UPDATE:
      return undefined; // both: stream 0 is the connection window
    default:
      if (header.type > FrameType.CONTINUATION) return undefined;
      return zero ? problem('PROTOCOL_ERROR', `${frameTypeName(header.type)} on stream 0`) : undefined;
  }
}

/**
 * The length rules that do not depend on the payload's contents: fixed sizes of PRIORITY, RST_STREAM,
 * PING, WINDOW_UPDATE; SETTINGS a multiple of 6 (and empty with ACK); GOAWAY at least 8.
 */
export function checkLength(header: FrameHeader): FrameProblem | undefined {
  const { length, type } = header;
  const name = frameTypeName(type);
  switch (type) {
    case FrameType.PRIORITY:
      return length === 5 ? undefined : problem('FRAME_SIZE_ERROR', `${name} of ${length} octets (must be 5)`);
    case FrameType.RST_STREAM:
    case FrameType.WINDOW_UPDATE:
      return length === 4 ? undefined : problem('FRAME_SIZE_ERROR', `${name} of ${length} octets (must be 4)`);
    case FrameType.PING:
      return length === 8 ? undefined : problem('FRAME_SIZE_ERROR', `${name} of ${length} octets (must be 8)`);
    case FrameType.SETTINGS:
      if ((header.flags & Flag.ACK) !== 0 && length !== 0) return problem('FRAME_SIZE_ERROR', 'SETTINGS ACK with a payload');
      return length % 6 === 0 ? undefined : problem('FRAME_SIZE_ERROR', `SETTINGS of ${length} octets (not a multiple of 6)`);
    case FrameType.GOAWAY:
      return length >= 8 ? undefined : problem('FRAME_SIZE_ERROR', `GOAWAY of ${length} octets (at least 8)`);
    default:
      return undefined;
  }
}

/** Priority fields of a HEADERS (with PRIORITY flag) or PRIORITY frame (RFC 9113 6.3; deprecated but sent). */
export interface PriorityFields {
  exclusive: boolean;
  dependsOn: number;
  /** 1..256 */
  weight: number;
}

function readPriority(buf: Uint8Array, offset: number): PriorityFields {
  return { exclusive: (buf[offset]! & 0x80) !== 0, dependsOn: readStreamId(buf, offset), weight: buf[offset + 4]! + 1 };
}

/** The padding byte count of a PADDED frame and the content between it and the padding. */
export function unpad(header: FrameHeader, payload: Buffer): { content: Buffer; padLength: number } | FrameProblem {
  if ((header.flags & Flag.PADDED) === 0) return { content: payload, padLength: 0 };
  if (payload.length < 1) return problem('FRAME_SIZE_ERROR', `${frameTypeName(header.type)} PADDED without a pad length`);
  const padLength = payload[0]!;
  if (padLength >= payload.length) {
    return problem('PROTOCOL_ERROR', `${frameTypeName(header.type)} padding of ${padLength} octets in a ${payload.length}-octet payload`);
  }
  return { content: payload.subarray(1, payload.length - padLength), padLength };
}

export interface HeadersPayload {
  /** The header block fragment. */
  fragment: Buffer;
  priority?: PriorityFields;
  padLength: number;
}

export function parseHeadersPayload(header: FrameHeader, payload: Buffer): HeadersPayload | FrameProblem {
  const unpadded = unpad(header, payload);
  if (isProblem(unpadded)) return unpadded;
  let fragment = unpadded.content;
  const out: HeadersPayload = { fragment, padLength: unpadded.padLength };
  if ((header.flags & Flag.PRIORITY) !== 0) {
    if (fragment.length < 5) return problem('FRAME_SIZE_ERROR', 'HEADERS with PRIORITY shorter than its priority fields');
    out.priority = readPriority(fragment, 0);
    fragment = fragment.subarray(5);
    out.fragment = fragment;
  }
  return out;
}

export interface PushPromisePayload {
  promisedStreamId: number;
  fragment: Buffer;
  padLength: number;
}

export function parsePushPromisePayload(header: FrameHeader, payload: Buffer): PushPromisePayload | FrameProblem {
  const unpadded = unpad(header, payload);
  if (isProblem(unpadded)) return unpadded;
  const content = unpadded.content;
  if (content.length < 4) return problem('FRAME_SIZE_ERROR', 'PUSH_PROMISE shorter than its promised stream id');
  const promisedStreamId = readStreamId(content, 0);
  if (promisedStreamId === 0 || promisedStreamId % 2 !== 0) {
    return problem('PROTOCOL_ERROR', `PUSH_PROMISE promising stream ${promisedStreamId} (must be even and non-zero)`);
  }
  return { promisedStreamId, fragment: content.subarray(4), padLength: unpadded.padLength };
}

export function parsePriorityPayload(payload: Buffer): PriorityFields {
  return readPriority(payload, 0);
}

/** RST_STREAM's error code. */
export function parseRstStreamPayload(payload: Buffer): number {
  return readUint32(payload, 0);
}

export function parseSettingsPayload(payload: Buffer): Array<[id: number, value: number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i + 6 <= payload.length; i += 6) out.push([(payload[i]! << 8) | payload[i + 1]!, readUint32(payload, i + 2)]);
  return out;
}

/** Values that RFC 9113 6.5.2 forbids (a connection error for an endpoint). */
export function checkSetting(id: number, value: number): string | undefined {
  if (id === Setting.ENABLE_PUSH && value > 1) return `SETTINGS_ENABLE_PUSH ${value}`;
  if (id === Setting.INITIAL_WINDOW_SIZE && value > 0x7fffffff) return `SETTINGS_INITIAL_WINDOW_SIZE ${value}`;
  if (id === Setting.MAX_FRAME_SIZE && (value < 16384 || value > 0xffffff)) return `SETTINGS_MAX_FRAME_SIZE ${value}`;
  return undefined;
}

export interface GoawayPayload {
  lastStreamId: number;
  errorCode: number;
  /** Additional debug data (opaque; usually text). */
  debugData: Buffer;
}

export function parseGoawayPayload(payload: Buffer): GoawayPayload {
  return { lastStreamId: readStreamId(payload, 0), errorCode: readUint32(payload, 4), debugData: payload.subarray(8) };
}

/** WINDOW_UPDATE's increment (31 bits; 0 is an error the caller reports). */
export function parseWindowUpdatePayload(payload: Buffer): number {
  return readStreamId(payload, 0);
}

/**
 * Could a frame start at `offset`: a known type, a length within `maxLength`, flags only those the type
 * defines, and the stream-id and length rules of its type. Used to find frame boundaries in a capture
 * that starts mid-connection, where any byte may be a frame start.
 */
export function plausibleFrameHeader(buf: Uint8Array, offset: number, maxLength: number): FrameHeader | undefined {
  if ((buf[offset + 5]! & 0x80) !== 0) return undefined; // the reserved bit is 0 in practice
  const header = readFrameHeader(buf, offset);
  if (header.type > FrameType.CONTINUATION || header.length > maxLength) return undefined;
  if ((header.flags & ~DEFINED_FLAGS[header.type]!) !== 0) return undefined;
  if (checkStreamId(header) !== undefined || checkLength(header) !== undefined) return undefined;
  return header;
}

/** Flags each type defines (RFC 9113 6.x). */
const DEFINED_FLAGS = [
  Flag.END_STREAM | Flag.PADDED, // DATA
  Flag.END_STREAM | Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY, // HEADERS
  0, // PRIORITY
  0, // RST_STREAM
  Flag.ACK, // SETTINGS
  Flag.END_HEADERS | Flag.PADDED, // PUSH_PROMISE
  Flag.ACK, // PING
  0, // GOAWAY
  0, // WINDOW_UPDATE
  Flag.END_HEADERS, // CONTINUATION
];
