/**
 * grep's payload found straight from a record's bytes, without decoding the packet: the link header
 * (Ethernet, Linux SLL/SLL2, BSD loopback, raw IP) → IPv4 or IPv6 → the TCP or UDP header length.
 *
 * Why: most packets of a big capture do not match, and decoding each one (a record, a Packet, its headers,
 * a verdict) only to throw it away was most of `pcap-pipe grep`'s time. The reader asks this first and
 * builds objects only for the packets grep may select (see prefilter.ts).
 *
 * The rule: the answer is exactly what `packetPayload(decodePacket(rec))` (payload.ts) would give, or
 * "unknown" (false), and then the caller decodes the packet the full way. Only the common shapes are
 * answered here; everything else is unknown: VLAN and 802.3/LLC frames, IP fragments other than the first
 * (and IPv6 fragment headers), IPv6 extension headers, ICMP/IGMP and other protocols, frames with an FCS,
 * malformed IP headers. test/grep-fast-path.test.ts compares the two on every fixture and on fuzzed input.
 */
import { LinkType } from '../core/record';
import { EtherType } from '../layers/ethernet';
import { IpProto } from '../layers/ipv6';

/** Where a payload lies in the buffer the record's bytes are in: [start, end), empty when end <= start. */
export interface PayloadSpan {
  start: number;
  end: number;
}

const AF_INET = 2;

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/**
 * The payload of the packet whose `caplen` captured bytes start at `off` in `buf`, into `span` (offsets in
 * `buf`). Returns false when this function does not know (decode the packet instead).
 */
export function findPayload(buf: Uint8Array, off: number, caplen: number, linkType: number,
  fcsLength: number | undefined, span: PayloadSpan): boolean {
  if (fcsLength !== undefined && fcsLength > 0) return false;
  const cap = off + caplen;
  let type: number;
  let p: number;
  switch (linkType) {
    case LinkType.ETHERNET:
      if (caplen < 14) return false;
      type = u16(buf, off + 12);
      p = off + 14;
      break;
    case LinkType.LINUX_SLL:
      if (caplen < 16) return false;
      type = u16(buf, off + 14);
      p = off + 16;
      break;
    case LinkType.LINUX_SLL2:
      if (caplen < 20) return false;
      type = u16(buf, off);
      p = off + 20;
      break;
    case LinkType.NULL: case LinkType.LOOP: { // BSD loopback: the family in the writer's byte order (NULL) or network order (LOOP)
      if (caplen < 4) return false;
      const be = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
      const le = ((buf[off + 3] << 24) | (buf[off + 2] << 16) | (buf[off + 1] << 8) | buf[off]) >>> 0;
      const family = linkType === LinkType.LOOP ? be : (le & 0xffff0000) === 0 ? le : be;
      type = family === AF_INET ? EtherType.IPV4 : family === 24 || family === 28 || family === 30 ? EtherType.IPV6 : -1;
      p = off + 4;
      break;
    }
    case LinkType.RAW: case LinkType.RAW_DLT12: case LinkType.RAW_DLT14: // raw IP: the version nibble says which
      if (caplen < 1) return false;
      type = buf[off] >> 4 === 4 ? EtherType.IPV4 : buf[off] >> 4 === 6 ? EtherType.IPV6 : -1;
      p = off;
      break;
    case LinkType.IPV4: type = EtherType.IPV4; p = off; break;
    case LinkType.IPV6: type = EtherType.IPV6; p = off; break;
    default: return false;
  }
  if (type === EtherType.IPV4) return ipv4Payload(buf, p, cap, span);
  if (type === EtherType.IPV6) return ipv6Payload(buf, p, cap, span);
  return false;
}

/** As decodeIPv4 (ipv4.ts): total length 0 (segmentation offload) means "what was captured". */
function ipv4Payload(buf: Uint8Array, p: number, cap: number, span: PayloadSpan): boolean {
  const have = cap - p;
  if (have < 20 || buf[p] >> 4 !== 4) return false;
  const ihl = (buf[p] & 0x0f) * 4;
  if (ihl < 20 || ihl > have) return false;
  const total = u16(buf, p + 2);
  if (total !== 0 && total < ihl) return false;
  if ((u16(buf, p + 6) & 0x1fff) !== 0) return false; // a later fragment: no transport header here
  const impliedEnd = total === 0 ? cap : p + total;
  const end = cap < impliedEnd ? cap : impliedEnd;
  return transportPayload(buf, buf[p + 9], p + ihl, end, impliedEnd, cap, span);
}

/** As decodeIPv6 (ipv6.ts), for TCP or UDP right after the fixed header only. */
function ipv6Payload(buf: Uint8Array, p: number, cap: number, span: PayloadSpan): boolean {
  if (cap - p < 40 || buf[p] >> 4 !== 6) return false;
  const next = buf[p + 6];
  if (next !== IpProto.TCP && next !== IpProto.UDP) return false;
  const impliedEnd = p + 40 + u16(buf, p + 4);
  const end = cap < impliedEnd ? cap : impliedEnd;
  return transportPayload(buf, next, p + 40, end, impliedEnd, cap, span);
}

/**
 * As decodeTcp/decodeUdp and packetPayload: a TCP or UDP header that does not decode leaves no payload.
 * `end`: end of the captured IP payload; `impliedEnd`: where the IP length says it ends; `cap`: end of
 * the captured bytes.
 */
function transportPayload(buf: Uint8Array, proto: number, off: number, end: number, impliedEnd: number, cap: number,
  span: PayloadSpan): boolean {
  if (proto === IpProto.TCP) {
    if (end - off < 20) return none(span);
    const hl = (buf[off + 12] >> 4) * 4;
    if (hl < 20 || hl > impliedEnd - off) return none(span);
    const payloadOffset = off + hl;
    const payloadEnd = end > payloadOffset ? end : payloadOffset;
    span.start = payloadOffset < cap ? payloadOffset : cap;
    span.end = payloadEnd < cap ? payloadEnd : cap;
    return true;
  }
  if (proto === IpProto.UDP) {
    if (end - off < 8) return none(span);
    const length = u16(buf, off + 4);
    span.start = off + 8;
    span.end = length === 0 ? end : Math.min(end, off + Math.max(length, 8));
    return true;
  }
  return false;
}

function none(span: PayloadSpan): boolean {
  span.start = 0;
  span.end = 0;
  return true;
}
