/**
 * TCP header (RFC 9293) with every option. The fixed header is read at once; options are parsed on first
 * access. Unknown option kinds are kept raw; a broken option list ends the list with a failure value.
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type DecodeFailure, type TcpLayer } from './packet';
import { Failure, malformed, truncated } from '../core/failure';
import { u16, u32 } from '../core/bytes';
import { bufferView } from '../core/buffer-view';

export const TCP_MIN_HEADER_LENGTH = 20;

export const TCP_FLAG_NAMES: readonly string[] = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'AE'];

/** Names of the set flags, lowest bit first: 0x012 → ["SYN", "ACK"]. Reserved bits 9-11 are "RES". */
export function tcpFlagNames(flags: number): string[] {
  // Only the low 12 bits name anything: the names of each of the 4096 values are listed once, then copied.
  const key = flags & 0xfff;
  // The combinations nearly every segment carries: a literal is cheaper than copying the listed names.
  switch (key) {
    case TCP_ACK: return ['ACK'];
    case TCP_PSH | TCP_ACK: return ['PSH', 'ACK'];
    case TCP_SYN: return ['SYN'];
    case TCP_SYN | TCP_ACK: return ['SYN', 'ACK'];
    case TCP_FIN | TCP_ACK: return ['FIN', 'ACK'];
  }
  const names = FLAG_NAMES_BY_VALUE[key] ??= listFlagNames(key);
  return names.slice();
}

const FLAG_NAMES_BY_VALUE: Array<readonly string[] | undefined> = new Array<readonly string[] | undefined>(0x1000).fill(undefined);

function listFlagNames(flags: number): readonly string[] {
  const names: string[] = [];
  for (let i = 0; i < TCP_FLAG_NAMES.length; i++) if (flags & (1 << i)) names.push(TCP_FLAG_NAMES[i]);
  if (flags & 0xe00) names.push('RES');
  return names;
}

export type TcpOption =
  | { kind: 0; name: 'EOL' }
  | { kind: 1; name: 'NOP' }
  | { kind: 2; name: 'MSS'; mss: number }
  | { kind: 3; name: 'WS'; shift: number }
  | { kind: 4; name: 'SACK_PERM' }
  | { kind: 5; name: 'SACK'; blocks: Array<[number, number]> }
  | { kind: 8; name: 'TS'; tsval: number; tsecr: number }
  | { kind: 30; name: 'MPTCP'; data: Buffer }
  | { kind: 34; name: 'TFO'; cookie: Buffer }
  | { kind: number; name: 'UNKNOWN'; data: Buffer };

/** The length a fixed-size option must have (MSS 4, WS 3, SACK_PERM 2, TS 10), or 0 when it varies. */
function fixedOptionLength(kind: number): number {
  switch (kind) {
    case 2: return 4;
    case 3: return 3;
    case 4: return 2;
    case 8: return 10;
    default: return 0;
  }
}

export function parseTcpOptions(buf: Buffer, off: number, end: number): { options: TcpOption[]; error?: Failure } {
  const options: TcpOption[] = [];
  const error = readTcpOptions(buf, off, end, options);
  return error === undefined ? { options } : { options, error };
}

/** Appends the options in [off, end) to `options`; returns the failure that ended a broken list. */
function readTcpOptions(buf: Buffer, off: number, end: number, options: TcpOption[]): Failure | undefined {
  let p = off;
  while (p < end) {
    const kind = buf[p];
    if (kind === 0) { options.push({ kind: 0, name: 'EOL' }); break; }
    if (kind === 1) { options.push({ kind: 1, name: 'NOP' }); p++; continue; }
    if (p + 1 >= end) return malformed('tcp.options', p, `option ${kind} has no length octet`);
    const len = buf[p + 1];
    if (len < 2 || p + len > end) return malformed('tcp.options', p, `option ${kind} length ${len} does not fit`);
    const fixed = fixedOptionLength(kind);
    if (fixed !== 0 && len !== fixed) return malformed('tcp.options', p, `option ${kind} length ${len}, expected ${fixed}`);
    switch (kind) {
      case 2: options.push({ kind: 2, name: 'MSS', mss: u16(buf, p + 2) }); break;
      case 3: options.push({ kind: 3, name: 'WS', shift: buf[p + 2] }); break;
      case 4: options.push({ kind: 4, name: 'SACK_PERM' }); break;
      case 5: {
        if ((len - 2) % 8 !== 0) return malformed('tcp.options', p, `SACK length ${len} is not 2 + 8n`);
        const blocks: Array<[number, number]> = [];
        for (let q = p + 2; q < p + len; q += 8) blocks.push([u32(buf, q), u32(buf, q + 4)]);
        options.push({ kind: 5, name: 'SACK', blocks });
        break;
      }
      case 8: options.push({ kind: 8, name: 'TS', tsval: u32(buf, p + 2), tsecr: u32(buf, p + 6) }); break;
      case 30: options.push({ kind: 30, name: 'MPTCP', data: bufferView(buf, p + 2, len - 2) }); break;
      case 34: options.push({ kind: 34, name: 'TFO', cookie: bufferView(buf, p + 2, len - 2) }); break;
      default: options.push({ kind, name: 'UNKNOWN', data: bufferView(buf, p + 2, len - 2) });
    }
    p += len;
  }
  return undefined;
}

export class TcpHeader implements TcpLayer {
  // Declared fields, all set in the constructor in this order: one store each and one hidden class
  // (a header whose options were cut by the snaplen included).
  declare readonly srcPort: number;
  declare readonly dstPort: number;
  declare readonly seq: number;
  declare readonly ack: number;
  declare readonly headerLength: number;
  declare readonly flags: number;
  declare readonly window: number;
  declare readonly checksum: number;
  declare readonly urgentPointer: number;
  declare readonly payloadLength: number;
  /** Offset of the payload in the frame. */
  declare readonly payloadOffset: number;
  /** End of the captured payload in the frame (payloadOffset when nothing was captured). */
  declare readonly payloadEnd: number;
  /** Set when the snaplen cut the options: the fixed 20 bytes are valid, options are read as far as captured. */
  declare headerTruncated?: Failure;
  private declare readonly buf: Buffer;
  private declare readonly off: number;
  private declare readonly errors: DecodeFailure[] | undefined;
  private declare _payload: Buffer | undefined;
  private declare _options: TcpOption[] | undefined;

  /**
   * @param end end of the captured IP payload; @param impliedEnd where the IP length says it ends.
   * @param errors where an option-list failure is appended when options are first read.
   */
  constructor(buf: Buffer, off: number, headerLength: number, end: number, impliedEnd: number,
    errors: DecodeFailure[] | undefined) {
    const payloadOffset = off + headerLength;
    this.srcPort = (buf[off] << 8) | buf[off + 1];
    this.dstPort = (buf[off + 2] << 8) | buf[off + 3];
    this.seq = u32(buf, off + 4);
    this.ack = u32(buf, off + 8);
    this.headerLength = headerLength;
    this.flags = ((buf[off + 12] << 8) | buf[off + 13]) & 0x0fff;
    this.window = (buf[off + 14] << 8) | buf[off + 15];
    this.checksum = (buf[off + 16] << 8) | buf[off + 17];
    this.urgentPointer = (buf[off + 18] << 8) | buf[off + 19];
    this.payloadLength = impliedEnd > payloadOffset ? impliedEnd - payloadOffset : 0;
    this.payloadOffset = payloadOffset;
    this.payloadEnd = end > payloadOffset ? end : payloadOffset;
    this.headerTruncated = undefined;
    this.buf = buf;
    this.off = off;
    this.errors = errors;
    this._payload = undefined;
    this._options = undefined;
  }

  /** Captured payload bytes (a view, made on first access), bounded by the IP length. */
  get payload(): Buffer {
    if (this._payload !== undefined) return this._payload;
    const captured = this.buf.length;
    const start = this.payloadOffset < captured ? this.payloadOffset : captured;
    const stop = this.payloadEnd < captured ? this.payloadEnd : captured;
    return this._payload = bufferView(this.buf, start, stop - start);
  }

  /** Bytes of payload actually captured (payload.length without making the view). */
  get capturedPayloadLength(): number { return Math.max(0, Math.min(this.payloadEnd, this.buf.length) - this.payloadOffset); }

  get flagNames(): string[] { return tcpFlagNames(this.flags); }

  get options(): TcpOption[] {
    if (this._options !== undefined) return this._options;
    const buf = this.buf;
    const start = this.off + TCP_MIN_HEADER_LENGTH;
    const optionsEnd = Math.min(this.off + this.headerLength, buf.length);
    if (optionsEnd <= start) return this._options = [];
    // NOP, NOP, Timestamps is what nearly every segment of a Linux/BSD connection carries: an
    // exact-size array, no parser loop. The same list the parser makes.
    if (optionsEnd - start === 12 && buf[start] === 1 && buf[start + 1] === 1 && buf[start + 2] === 8 && buf[start + 3] === 10) {
      return this._options = [{ kind: 1, name: 'NOP' }, { kind: 1, name: 'NOP' },
        { kind: 8, name: 'TS', tsval: u32(buf, start + 4), tsecr: u32(buf, start + 8) }];
    }
    const options: TcpOption[] = [];
    this._options = options;
    const error = readTcpOptions(buf, start, optionsEnd, options);
    if (error !== undefined && this.errors) this.errors.push(error);
    return options;
  }

  toJSON(): Record<string, unknown> {
    return {
      srcPort: this.srcPort, dstPort: this.dstPort, seq: this.seq, ack: this.ack, flags: this.flags,
      flagNames: this.flagNames, window: this.window, headerLength: this.headerLength, checksum: this.checksum,
      urgentPointer: this.urgentPointer, options: this.options.map(tcpOptionToJson), payloadLength: this.payloadLength,
    };
  }
}

export function tcpOptionToJson(o: TcpOption): Record<string, unknown> {
  // The options the parser makes most: the same object Object.entries would copy, without the pairs.
  if (o.name === 'NOP' || o.name === 'EOL' || o.name === 'SACK_PERM') {
    if (Object.keys(o).length === 2) return { kind: o.kind, name: o.name };
  } else if (o.name === 'TS') {
    if (Object.keys(o).length === 4) return { kind: o.kind, name: o.name, tsval: o.tsval, tsecr: o.tsecr };
  }
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) r[k] = Buffer.isBuffer(v) ? v.toString('hex') : v;
  return r;
}

/**
 * @param end end of the captured IP payload; @param impliedEnd end per the IP length fields.
 */
export function decodeTcp(buf: Buffer, off: number, end: number, impliedEnd: number, errors?: DecodeFailure[]): TcpHeader | Failure {
  if (end - off < TCP_MIN_HEADER_LENGTH) return truncated('tcp', off, TCP_MIN_HEADER_LENGTH, end - off);
  const headerLength = (buf[off + 12] >> 4) * 4;
  if (headerLength < TCP_MIN_HEADER_LENGTH) return malformed('tcp', off + 12, `data offset ${headerLength} < 20`);
  if (headerLength > impliedEnd - off) return malformed('tcp', off + 12, `data offset ${headerLength} beyond the IP payload (${impliedEnd - off})`);
  const tcp = new TcpHeader(buf, off, headerLength, end, impliedEnd, errors);
  // Options cut by the snaplen: the fixed header is still good (tshark shows it too); say what is missing.
  if (headerLength > end - off) tcp.headerTruncated = truncated('tcp', off, headerLength, end - off);
  return tcp;
}
