/**
 * IPv6 fixed header (RFC 8200) and its extension headers: Hop-by-Hop, Routing, Fragment, Destination
 * Options, AH (length in 4-octet units, RFC 4302), Mobility, HIP, Shim6. The chain is walked at once
 * (it is needed to find the upper-layer protocol); option contents are left raw.
 */
import type { IPv6Layer } from './packet';
import { formatIPv6 } from '../core/addresses';
import { bufferView } from '../core/buffer-view';
import { Failure, malformed, truncated } from '../core/failure';
import { u16, u32 } from '../core/bytes';

export const IPV6_HEADER_LENGTH = 40;
/** Named limit: more extension headers than this is treated as malformed (RFC 8200 expects a handful). */
export const IPV6_MAX_EXTENSION_HEADERS = 32;

export const IpProto = {
  HOPOPTS: 0, ICMP: 1, IGMP: 2, TCP: 6, UDP: 17, IPV6: 41, ROUTING: 43, FRAGMENT: 44, ESP: 50, AH: 51,
  ICMPV6: 58, NONE: 59, DSTOPTS: 60, MOBILITY: 135, HIP: 139, SHIM6: 140,
} as const;

export interface IPv6Extension {
  /** The protocol number of this header (0, 43, 44, 51, 60, ...). */
  type: number;
  /** Offset of the header in the frame. */
  offset: number;
  length: number;
  /** Routing header type, for type 43. */
  routingType?: number;
}

export interface IPv6Fragment { offset: number; moreFragments: boolean; id: number }

function isExtensionHeader(nh: number): boolean {
  return nh === 0 || nh === 43 || nh === 44 || nh === 51 || nh === 60 || nh === 135 || nh === 139 || nh === 140;
}

export class IPv6Header implements IPv6Layer {
  // Declared fields, all set in the constructor in this order: one store each, one hidden class.
  declare readonly version: 6;
  declare readonly trafficClass: number;
  declare readonly flowLabel: number;
  declare readonly payloadLength: number;
  declare readonly nextHeader: number;
  declare readonly hopLimit: number;
  /** Upper-layer protocol after the extension headers (59 = none). */
  declare protocol: number;
  declare fragment?: IPv6Fragment;
  declare readonly extensions: IPv6Extension[];
  /** Offset of the upper-layer header. */
  declare payloadOffset: number;
  /** End of the captured payload (bounded by the payload length). */
  declare readonly payloadEnd: number;
  /** End of the payload according to the payload length (may lie past the captured bytes). */
  declare readonly impliedEnd: number;
  /** Set when the extension-header chain is broken: the fixed header stays valid. */
  declare extensionError?: Failure;
  /** Offset of the header in the frame. */
  declare readonly off: number;
  private declare readonly buf: Buffer;
  private declare _src: string | undefined;
  private declare _dst: string | undefined;

  /** @param off offset of the header in the frame. */
  constructor(buf: Buffer, off: number, capturedEnd: number) {
    const w = u32(buf, off);
    const payloadLength = (buf[off + 4] << 8) | buf[off + 5];
    const nextHeader = buf[off + 6];
    // Payload length 0 with a Hop-by-Hop header is a jumbogram (RFC 2675): the real length is in the
    // Jumbo Payload option; we take what was captured. Otherwise 0 means no payload (like tshark).
    const jumbo = payloadLength === 0 && nextHeader === IpProto.HOPOPTS;
    const impliedEnd = jumbo ? capturedEnd : off + IPV6_HEADER_LENGTH + payloadLength;
    this.version = 6;
    this.trafficClass = (w >>> 20) & 0xff;
    this.flowLabel = w & 0xfffff;
    this.payloadLength = payloadLength;
    this.nextHeader = nextHeader;
    this.hopLimit = buf[off + 7];
    this.protocol = nextHeader;
    this.fragment = undefined;
    this.extensions = [];
    this.payloadOffset = off + IPV6_HEADER_LENGTH;
    this.payloadEnd = capturedEnd < impliedEnd ? capturedEnd : impliedEnd;
    this.impliedEnd = impliedEnd;
    this.extensionError = undefined;
    this.off = off;
    this.buf = buf;
    this._src = undefined;
    this._dst = undefined;
    if (isExtensionHeader(nextHeader)) this.walkExtensions();
  }

  get src(): string { return this._src ??= formatIPv6(this.buf, this.off + 8); }
  get dst(): string { return this._dst ??= formatIPv6(this.buf, this.off + 24); }

  /** True when the upper layer is a non-first fragment: its header is not in this packet. */
  get isLaterFragment(): boolean { return this.fragment !== undefined && this.fragment.offset > 0; }

  get payload(): Buffer {
    // After a broken extension chain the payload offset can lie past the captured end: empty, like subarray.
    const start = this.payloadOffset < this.payloadEnd ? this.payloadOffset : this.payloadEnd;
    return bufferView(this.buf, start, this.payloadEnd - start);
  }

  private walkExtensions(): void {
    const buf = this.buf;
    const end = this.payloadEnd;
    let nh = this.nextHeader;
    let p = this.off + IPV6_HEADER_LENGTH;
    while (isExtensionHeader(nh)) {
      if (this.extensions.length >= IPV6_MAX_EXTENSION_HEADERS) {
        this.extensionError = malformed('ipv6', p, `more than ${IPV6_MAX_EXTENSION_HEADERS} extension headers`);
        break;
      }
      if (end - p < 8) {
        this.extensionError = truncated(`ipv6.ext${nh}`, p, 8, Math.max(0, end - p));
        break;
      }
      const length = nh === IpProto.AH ? (buf[p + 1] + 2) * 4 : nh === IpProto.FRAGMENT ? 8 : (buf[p + 1] + 1) * 8;
      if (p + length > end) {
        this.extensionError = truncated(`ipv6.ext${nh}`, p, length, end - p);
        break;
      }
      const ext: IPv6Extension = { type: nh, offset: p, length };
      if (nh === IpProto.ROUTING) ext.routingType = buf[p + 2];
      this.extensions.push(ext);
      if (nh === IpProto.FRAGMENT) {
        const fo = u16(buf, p + 2);
        this.fragment = { offset: (fo >> 3) * 8, moreFragments: (fo & 1) === 1, id: u32(buf, p + 4) };
      }
      nh = buf[p];
      p += length;
      if (this.fragment !== undefined && this.fragment.offset > 0) break; // later fragment: no header here
    }
    this.protocol = nh;
    this.payloadOffset = p;
  }

  toJSON(): Record<string, unknown> {
    const o: Record<string, unknown> = {
      src: this.src, dst: this.dst, nextHeader: this.nextHeader, hopLimit: this.hopLimit, flowLabel: this.flowLabel,
      trafficClass: this.trafficClass, payloadLength: this.payloadLength, protocol: this.protocol,
      extensions: this.extensions.map((e) => e.type),
    };
    if (this.fragment) o.fragment = this.fragment;
    return o;
  }
}

export function decodeIPv6(buf: Buffer, off: number, end: number): IPv6Header | Failure {
  const have = end - off;
  if (have < IPV6_HEADER_LENGTH) return truncated('ipv6', off, IPV6_HEADER_LENGTH, have);
  const version = buf[off] >> 4;
  if (version !== 6) return malformed('ipv6', off, `version ${version}, expected 6`);
  return new IPv6Header(buf, off, end);
}
