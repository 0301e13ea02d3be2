/**
 * IPv4 header (RFC 791). The fixed fields are read at once; options are listed on access. The payload
 * ends where the total length says (Ethernet padding is not payload), or at the end of the capture.
 */
import type { IPv4Layer } from './packet';
import { formatIPv4 } from '../core/addresses';
import { bufferView } from '../core/buffer-view';
import { Failure, malformed, truncated } from '../core/failure';
import { u16 } from '../core/bytes';

export const IPV4_MIN_HEADER_LENGTH = 20;

export interface IPv4Option {
  /** Option type octet (copied/class/number). */
  type: number;
  name: string;
  /** Whole option length including type and length octets (1 for EOL/NOP). */
  length: number;
  /** Option data after type and length (a view). */
  data: Buffer;
}

const IPV4_OPTION_NAMES: Record<number, string> = {
  0: 'EOL', 1: 'NOP', 7: 'RR', 68: 'TS', 130: 'SEC', 131: 'LSRR', 137: 'SSRR', 136: 'SID', 148: 'RTRALT',
};

export class IPv4Header implements IPv4Layer {
  // Declared fields, all set in the constructor in this order: one store each and one hidden class.
  declare readonly version: 4;
  declare readonly headerLength: number;
  declare readonly tos: number;
  declare readonly totalLength: number;
  declare readonly id: number;
  declare readonly flags: number;
  declare readonly moreFragments: boolean;
  declare readonly dontFragment: boolean;
  declare readonly fragmentOffset: number;
  declare readonly ttl: number;
  declare readonly protocol: number;
  declare readonly checksum: number;
  /** Offset where the payload starts in the frame. */
  declare readonly payloadOffset: number;
  /** End of the payload bytes actually captured (bounded by total length). */
  declare readonly payloadEnd: number;
  /** Where the payload ends according to the total length (may lie past the captured bytes). */
  declare readonly impliedEnd: number;
  /** Offset of the header in the frame (public: the defragmenter rebuilds frames from it). */
  declare readonly off: number;
  private declare readonly buf: Buffer;
  private declare _src: string | undefined;
  private declare _dst: string | undefined;
  private declare _options: IPv4Option[] | undefined;

  /** @param off offset of the header in the frame (public: the defragmenter rebuilds frames from it). */
  constructor(buf: Buffer, off: number, headerLength: number, totalLength: number, capturedEnd: number) {
    const flagsFrag = (buf[off + 6] << 8) | buf[off + 7];
    // Total length 0 is what TCP segmentation offload leaves in captures: use what was captured.
    const impliedEnd = totalLength === 0 ? capturedEnd : off + totalLength;
    this.version = 4;
    this.headerLength = headerLength;
    this.tos = buf[off + 1];
    this.totalLength = totalLength;
    this.id = (buf[off + 4] << 8) | buf[off + 5];
    this.flags = flagsFrag >> 13;
    this.moreFragments = (flagsFrag & 0x2000) !== 0;
    this.dontFragment = (flagsFrag & 0x4000) !== 0;
    this.fragmentOffset = (flagsFrag & 0x1fff) * 8;
    this.ttl = buf[off + 8];
    this.protocol = buf[off + 9];
    this.checksum = (buf[off + 10] << 8) | buf[off + 11];
    this.payloadOffset = off + headerLength;
    this.payloadEnd = capturedEnd < impliedEnd ? capturedEnd : impliedEnd;
    this.impliedEnd = impliedEnd;
    this.off = off;
    this.buf = buf;
    this._src = undefined;
    this._dst = undefined;
    this._options = undefined;
  }

  get src(): string { return this._src ??= formatIPv4(this.buf, this.off + 12); }
  get dst(): string { return this._dst ??= formatIPv4(this.buf, this.off + 16); }

  /** True for any fragment except an unfragmented packet. */
  get isFragment(): boolean { return this.moreFragments || this.fragmentOffset > 0; }

  /** The header bytes (a view). */
  get header(): Buffer { return bufferView(this.buf, this.off, this.headerLength); }

  /** Captured payload bytes (a view). */
  get payload(): Buffer { return bufferView(this.buf, this.payloadOffset, this.payloadEnd - this.payloadOffset); }

  /** Options, parsed on first access. A malformed option list ends the list (see `parseIPv4Options`). */
  get options(): IPv4Option[] {
    if (this._options !== undefined) return this._options;
    // Almost every header has no options: skip the parser and its result object.
    return this._options = this.headerLength === IPV4_MIN_HEADER_LENGTH ? []
      : parseIPv4Options(this.buf, this.off + IPV4_MIN_HEADER_LENGTH, this.off + this.headerLength).options;
  }

  toJSON(): Record<string, unknown> {
    return {
      src: this.src, dst: this.dst, headerLength: this.headerLength, tos: this.tos, totalLength: this.totalLength,
      id: this.id, flags: this.flags, dontFragment: this.dontFragment, moreFragments: this.moreFragments,
      fragmentOffset: this.fragmentOffset, ttl: this.ttl, protocol: this.protocol, checksum: this.checksum,
      options: this.options.map((o) => ({ type: o.type, name: o.name, length: o.length, data: o.data.toString('hex') })),
    };
  }
}

export function parseIPv4Options(buf: Buffer, off: number, end: number): { options: IPv4Option[]; error?: Failure } {
  const options: IPv4Option[] = [];
  let p = off;
  while (p < end) {
    const type = buf[p];
    if (type === 0 || type === 1) {
      options.push({ type, name: IPV4_OPTION_NAMES[type], length: 1, data: bufferView(buf, p + 1, 0) });
      p++;
      if (type === 0) break; // End of Option List: the rest is padding
      continue;
    }
    if (p + 1 >= end) return { options, error: malformed('ipv4', p, `option ${type} has no length octet`) };
    const length = buf[p + 1];
    if (length < 2 || p + length > end) {
      return { options, error: malformed('ipv4', p, `option ${type} length ${length} does not fit the header`) };
    }
    options.push({ type, name: IPV4_OPTION_NAMES[type] ?? `opt${type}`, length, data: bufferView(buf, p + 2, length - 2) });
    p += length;
  }
  return { options };
}

export function decodeIPv4(buf: Buffer, off: number, end: number): IPv4Header | Failure {
  const have = end - off;
  if (have < IPV4_MIN_HEADER_LENGTH) return truncated('ipv4', off, IPV4_MIN_HEADER_LENGTH, have);
  const version = buf[off] >> 4;
  if (version !== 4) return malformed('ipv4', off, `version ${version}, expected 4`);
  const headerLength = (buf[off] & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH) return malformed('ipv4', off, `header length ${headerLength} < 20`);
  if (headerLength > have) return truncated('ipv4', off, headerLength, have);
  const totalLength = u16(buf, off + 2);
  if (totalLength !== 0 && totalLength < headerLength) {
    return malformed('ipv4', off + 2, `total length ${totalLength} < header length ${headerLength}`);
  }
  return new IPv4Header(buf, off, headerLength, totalLength, end);
}
