/**
 * What `pcap-pipe print` adds for tcpdump's -e, -x/-X/-A: the link-level header as tcpdump -e prints it
 * ("00:11:.. > 66:77:.., ethertype IPv4 (0x0800), length 74") and the packet dumps, which start after the
 * link header like tcpdump's (-xx/-XX/-AA: from the first byte of the frame).
 */
import { tcpdumpAscii, tcpdumpHex, tcpdumpHexAscii } from '../core/tcpdump-hex';
import type { Packet } from './decode';

/** tcpdump's names for the EtherTypes a user meets (others: "Unknown"). */
const ETHERTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0800, 'IPv4'], [0x86dd, 'IPv6'], [0x0806, 'ARP'], [0x8035, 'Reverse ARP'], [0x8100, '802.1Q'],
  [0x88a8, '802.1Q-QinQ'], [0x9100, '802.1Q-9100'], [0x88cc, 'LLDP'], [0x8863, 'PPPoE D'], [0x8864, 'PPPoE S'],
  [0x8847, 'MPLS unicast'], [0x8848, 'MPLS multicast'], [0x888e, 'EAPOL'], [0x9000, 'Loopback'], [0x88e5, 'MACsec'],
]);

/** "IPv4 (0x0800)", "Unknown (0x1234)": an EtherType as tcpdump -e names it. */
export function ethertypeText(type: number): string {
  return `${ETHERTYPE_NAMES.get(type) ?? 'Unknown'} (0x${type.toString(16).padStart(4, '0')})`;
}

/** tcpdump's Linux cooked packet types, padded to three columns as it prints them. */
const SLL_PACKET_TYPES = ['In', 'B', 'M', 'P', 'Out'];

/** BSD loopback address families tcpdump names (AF_INET, the AF_INET6 values of several systems). */
const NULL_FAMILIES: ReadonlyMap<number, string> = new Map([[2, 'IPv4'], [10, 'IPv6'], [24, 'IPv6'], [28, 'IPv6'], [30, 'IPv6']]);

/**
 * The link-level header as tcpdump -e prints it, without the trailing ": " (the caller joins it to the
 * rest of the line), or undefined when the packet has none (raw IP).
 */
export function linkHeaderText(pkt: Packet): string | undefined {
  const len = `length ${pkt.record.len}`;
  if (pkt.eth) {
    const e = pkt.eth;
    if (e.isLength) return `${e.src} > ${e.dst}, 802.3, ${len}`;
    let text = `${e.src} > ${e.dst}, ethertype ${ethertypeText(e.type)}, ${len}`;
    for (const v of pkt.vlan ?? []) text += `: vlan ${v.id}, p ${v.pcp}${v.dei ? ', DEI' : ''}, ethertype ${ethertypeText(v.type)}`;
    return text;
  }
  if (pkt.sll) {
    const s = pkt.sll;
    const kind = (SLL_PACKET_TYPES[s.packetType] ?? '?').padStart(3);
    return `${kind} ${s.address ? `${s.address} ` : ''}ethertype ${ethertypeText(s.protocol)}, ${len}`;
  }
  if (pkt.null) return `AF ${NULL_FAMILIES.get(pkt.null.family) ?? 'Unknown'} (${pkt.null.family}), ${len}`;
  return undefined;
}

/** Link-header lengths by link type, for packets whose network layer was not decoded. */
const LINK_HEADER_BYTES: ReadonlyMap<number, number> = new Map([[1, 14], [113, 16], [276, 20], [0, 4], [108, 4]]);

/** How many bytes of the frame are the link-level header (VLAN tags included): where tcpdump -x starts. */
export function linkHeaderLength(pkt: Packet): number {
  const ip = pkt.ipv4 ?? pkt.ipv6;
  if (ip !== undefined && !pkt.reassembledFrom) return ip.off;
  const base = LINK_HEADER_BYTES.get(pkt.record.linkType) ?? 0;
  return pkt.record.linkType === 1 ? base + 4 * (pkt.vlan?.length ?? 0) : base;
}

/** Which dump: -x hex, -X hex and ASCII, -A ASCII. */
export type DumpKind = 'hex' | 'hex-ascii' | 'ascii';

/** A packet dump as tcpdump prints it: from the network layer, or the whole frame with `withLink` (-xx). */
export function packetDump(pkt: Packet, kind: DumpKind, withLink: boolean): string {
  const data = pkt.record.data;
  const bytes = withLink ? data : data.subarray(Math.min(linkHeaderLength(pkt), data.length));
  if (kind === 'hex') return tcpdumpHex(bytes);
  if (kind === 'hex-ascii') return tcpdumpHexAscii(bytes);
  return tcpdumpAscii(bytes);
}
