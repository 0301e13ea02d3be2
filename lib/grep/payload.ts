/** What grep searches in a packet (ngrep's payload) and how it names the packet's flow. */
import type { Packet } from '../layers/decode';
import { IpProto } from '../layers/ipv6';
import { endpoint } from '../tcp/connection';

/** ngrep skips 4 bytes (type, code, checksum) of ICMP, ICMPv6 and IGMP: the rest is payload. */
const ICMP_SKIP_BYTES = 4;
const EMPTY = Buffer.alloc(0);

/** True for an IP fragment that is not the first: it carries no transport header, only payload. */
function isLaterFragment(pkt: Packet): boolean {
  return pkt.layers.includes('fragment');
}

/** The bytes ngrep would search (see the file comment); empty when the packet has none. */
export function packetPayload(pkt: Packet): Buffer {
  const ip = pkt.ipv4 ?? pkt.ipv6;
  if (ip === undefined) return EMPTY;
  if (isLaterFragment(pkt)) return ip.payload;
  if (pkt.tcp !== undefined) return pkt.tcp.payload;
  if (pkt.udp !== undefined) return pkt.udp.payload;
  switch (ip.protocol) {
    case IpProto.TCP: case IpProto.UDP: return EMPTY; // header not decoded (cut short or malformed)
    case IpProto.ICMP: case IpProto.ICMPV6: case IpProto.IGMP: {
      const p = ip.payload;
      return p.length > ICMP_SKIP_BYTES ? p.subarray(ICMP_SKIP_BYTES) : EMPTY;
    }
    default: return ip.payload;
  }
}

/** "src:port > dst:port" (TCP/UDP) or "src > dst"; "" without IP. */
export function flowText(pkt: Packet): string {
  const ip = pkt.ipv4 ?? pkt.ipv6;
  if (ip === undefined) return '';
  const ports = isLaterFragment(pkt) ? undefined : pkt.tcp ?? pkt.udp;
  if (ports === undefined) return `${ip.src} > ${ip.dst}`;
  return `${endpoint(ip.src, ports.srcPort)} > ${endpoint(ip.dst, ports.dstPort)}`;
}

/** A direction-free key for the conversation a packet belongs to (5-tuple, or address pair). */
export function conversationKey(pkt: Packet): string {
  const ip = pkt.ipv4 ?? pkt.ipv6;
  if (ip === undefined) return '';
  const ports = isLaterFragment(pkt) ? undefined : pkt.tcp ?? pkt.udp;
  const a = ports ? endpoint(ip.src, ports.srcPort) : ip.src;
  const b = ports ? endpoint(ip.dst, ports.dstPort) : ip.dst;
  const proto = pkt.tcp ? 't' : pkt.udp ? 'u' : String(ip.protocol);
  return a < b ? `${proto} ${a} ${b}` : `${proto} ${b} ${a}`;
}
