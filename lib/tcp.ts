/**
 * TCP header (RFC 9293) with every option. The fixed header is read at once; options are parsed on first
 * access. Unknown option kinds are kept raw; a broken option list ends the list with a failure value.
 */
import type { DecodeFailure, TcpLayer } from './packet';
import { Failure, malformed, truncated, u16, u32 } from './failure';

export const TCP_MIN_HEADER_LENGTH = 20;

export const TCP_FLAG_NAMES: readonly string[] = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'AE'];

/** Names of the set flags, lowest bit first: 0x012 → ["SYN", "ACK"]. Reserved bits 9-11 are "RES". */
export function tcpFlagNames(flags: number): string[] {
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

const OPTION_FIXED_LENGTH: Record<number, number> = { 2: 4, 3: 3, 4: 2, 8: 10 };

export function parseTcpOptions(buf: Buffer, off: number, end: number): { options: TcpOption[]; error?: Failure } {
  const options: TcpOption[] = [];
  let p = off;
  while (p < end) {
    const kind = buf[p];
    if (kind === 0) { options.push({ kind: 0, name: 'EOL' }); break; }
    if (kind === 1) { options.push({ kind: 1, name: 'NOP' }); p++; continue; }
    if (p + 1 >= end) return { options, error: malformed('tcp.options', p, `option ${kind} has no length octet`) };
    const len = buf[p + 1];
    if (len < 2 || p + len > end) return { options, error: malformed('tcp.options', p, `option ${kind} length ${len} does not fit`) };
    const fixed = OPTION_FIXED_LENGTH[kind];
    if (fixed !== undefined && len !== fixed) {
      return { options, error: malformed('tcp.options', p, `option ${kind} length ${len}, expected ${fixed}`) };
    }
    switch (kind) {
      case 2: options.push({ kind: 2, name: 'MSS', mss: u16(buf, p + 2) }); break;
      case 3: options.push({ kind: 3, name: 'WS', shift: buf[p + 2] }); break;
      case 4: options.push({ kind: 4, name: 'SACK_PERM' }); break;
      case 5: {
        if ((len - 2) % 8 !== 0) return { options, error: malformed('tcp.options', p, `SACK length ${len} is not 2 + 8n`) };
        const blocks: Array<[number, number]> = [];
        for (let q = p + 2; q < p + len; q += 8) blocks.push([u32(buf, q), u32(buf, q + 4)]);
        options.push({ kind: 5, name: 'SACK', blocks });
        break;
      }
      case 8: options.push({ kind: 8, name: 'TS', tsval: u32(buf, p + 2), tsecr: u32(buf, p + 6) }); break;
      case 30: options.push({ kind: 30, name: 'MPTCP', data: buf.subarray(p + 2, p + len) }); break;
      case 34: options.push({ kind: 34, name: 'TFO', cookie: buf.subarray(p + 2, p + len) }); break;
      default: options.push({ kind, name: 'UNKNOWN', data: buf.subarray(p + 2, p + len) });
    }
    p += len;
  }
  return { options };
}

export class TcpHeader implements TcpLayer {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly headerLength: number;
  readonly flags: number;
  readonly window: number;
  readonly checksum: number;
  readonly urgentPointer: number;
  readonly payloadLength: number;
  /** Offset of the payload in the frame. */
  readonly payloadOffset: number;
  /** End of the captured payload in the frame (payloadOffset when nothing was captured). */
  readonly payloadEnd: number;
  private _payload: Buffer | undefined;
  /** Set when the snaplen cut the options: the fixed 20 bytes are valid, options are read as far as captured. */
  headerTruncated?: Failure;
  private _options: TcpOption[] | undefined;

  /**
   * @param end end of the captured IP payload; @param impliedEnd where the IP length says it ends.
   * @param errors where an option-list failure is appended when options are first read.
   */
  constructor(private readonly buf: Buffer, private readonly off: number, headerLength: number, end: number, impliedEnd: number,
    private readonly errors: DecodeFailure[] | undefined) {
    this.srcPort = u16(buf, off);
    this.dstPort = u16(buf, off + 2);
    this.seq = u32(buf, off + 4);
    this.ack = u32(buf, off + 8);
    this.headerLength = headerLength;
    this.flags = u16(buf, off + 12) & 0x0fff;
    this.window = u16(buf, off + 14);
    this.checksum = u16(buf, off + 16);
    this.urgentPointer = u16(buf, off + 18);
    this.payloadOffset = off + headerLength;
    this.payloadEnd = Math.max(this.payloadOffset, end);
    this.payloadLength = Math.max(0, impliedEnd - this.payloadOffset);
  }

  /** Captured payload bytes (a view, made on first access), bounded by the IP length. */
  get payload(): Buffer {
    return this._payload ??= this.buf.subarray(Math.min(this.payloadOffset, this.buf.length), Math.min(this.payloadEnd, this.buf.length));
  }

  /** Bytes of payload actually captured (payload.length without making the view). */
  get capturedPayloadLength(): number { return Math.max(0, Math.min(this.payloadEnd, this.buf.length) - this.payloadOffset); }

  get flagNames(): string[] { return tcpFlagNames(this.flags); }

  get options(): TcpOption[] {
    if (this._options === undefined) {
      const optionsEnd = Math.min(this.off + this.headerLength, this.buf.length);
      const r = parseTcpOptions(this.buf, this.off + TCP_MIN_HEADER_LENGTH, optionsEnd);
      this._options = r.options;
      if (r.error && this.errors) this.errors.push(r.error);
    }
    return this._options;
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
