/**
 * The decode dispatcher: a PacketRecord in, a Packet with typed layers out. Each protocol lives in its own
 * file; this file only chains them (link type → EtherType → IP protocol → port). It never throws: a layer
 * that cannot be decoded becomes a DecodeFailure in `errors`, and the layers before it stay.
 */
import type { DecodedPacket, DecodeFailure } from './packet';
import type { PacketRecord } from '../core/record';
import { LinkType } from '../core/record';
import { Failure, malformed, unsupported } from '../core/failure';
import { EthernetHeader, decodeEthernet, decodeLlc, ETHERNET_HEADER_LENGTH, ETHERNET_MAX_LENGTH_FIELD, EtherType, type LlcLayer } from './ethernet';
import { decodeVlanTag, isVlanTpid, VLAN_TAG_LENGTH } from './vlan';
import { decodeSll, decodeSll2, SLL_HEADER_LENGTH, SLL2_HEADER_LENGTH, SllProtocol, type SllLayer } from './sll';
import { decodeNull, isInet6Family, AF_INET, NULL_HEADER_LENGTH, type NullLayer } from './null';
import { decodeIPv4, IPv4Header } from './ipv4';
import { decodeIPv6, IPv6Header, IpProto } from './ipv6';
import { decodeTcp, TcpHeader } from './tcp';
import { decodeUdp, UdpHeader, udpLengthProblem } from './udp';
import type { VlanTag } from './packet';
import { decodeArp, type ArpLayer } from './arp';
import { decodeIcmp, type IcmpLayer } from './icmp';
import { decodeIcmpv6, type Icmpv6Layer } from './icmpv6';
import { decodeIgmp, type IgmpLayer } from './igmp';
import { decodeDns, DnsMessage, isDnsPort, DNS_TCP_LENGTH_PREFIX } from './dns';
import { bufferView } from '../core/buffer-view';
import { decodeTlsClientHello, mayStartTlsClientHello, type TlsLayer } from './tls-sni';

export type LayerName =
  | 'eth' | 'llc' | 'vlan' | 'sll' | 'null' | 'raw' | 'arp' | 'ipv4' | 'ipv6' | 'icmp' | 'icmpv6' | 'igmp'
  | 'tcp' | 'udp' | 'dns' | 'tls' | 'fragment' | 'data';

/** The layers that can sit at and above the network layer: shared by packets and ICMP-quoted packets. */
export interface NetworkLayers {
  ipv4?: IPv4Header;
  ipv6?: IPv6Header;
  icmp?: IcmpLayer<NetworkLayers>;
  icmpv6?: Icmpv6Layer<NetworkLayers>;
  igmp?: IgmpLayer;
  tcp?: TcpHeader;
  udp?: UdpHeader;
  dns?: DnsMessage;
  tls?: TlsLayer;
  /** Protocols found, outermost first. */
  layers: LayerName[];
  errors: DecodeFailure[];
}

/** A decoded packet. Direct fields for every layer (undefined when absent); `layers` gives the order. */
export interface Packet extends DecodedPacket, NetworkLayers {
  record: PacketRecord;
  eth?: EthernetHeader;
  llc?: LlcLayer;
  vlan?: VlanTag[];
  sll?: SllLayer;
  null?: NullLayer;
  arp?: ArpLayer;
  ipv4?: IPv4Header;
  ipv6?: IPv6Header;
  tcp?: TcpHeader;
  udp?: UdpHeader;
  /** Set by the defragmenter on a packet rebuilt from fragments: the frame numbers it was built from. */
  reassembledFrom?: number[];
}

export const DecodeDepth = { LINK: 1, NETWORK: 2, TRANSPORT: 3, ALL: 4 } as const;

export interface DecodeOptions {
  /**
   * How far to decode: 'transport' stops after the TCP/UDP/ICMP header (no DNS, no TLS SNI); 'all'
   * (the default) decodes everything this library knows. Lazy parts (options, DNS records) stay lazy.
   */
  depth?: 'link' | 'network' | 'transport' | 'all';
}

/** Every layer name, in code order: a layer's code is its index + 1 (0 means "no layer"). */
const LAYER_NAMES: readonly LayerName[] = [
  'eth', 'llc', 'vlan', 'sll', 'null', 'raw', 'arp', 'ipv4', 'ipv6', 'icmp', 'icmpv6', 'igmp',
  'tcp', 'udp', 'dns', 'tls', 'fragment', 'data',
];
const enum Layer {
  ETH = 1, LLC, VLAN, SLL, NULL, RAW, ARP, IPV4, IPV6, ICMP, ICMPV6, IGMP, TCP, UDP, DNS, TLS, FRAGMENT, DATA,
}
/** Bits per packed layer code (18 names fit in 5) and how many codes fit a small integer (31-bit Smi). */
const LAYER_CODE_BITS = 5;
const PACKED_LAYERS_MAX = 6;

/**
 * The network-and-above layers of a packet, or of the packet an ICMP error quotes. The `layers` list is
 * kept packed in one small integer while decoding (5 bits a layer, outermost lowest) and made into an
 * array only when someone reads it: most consumers (TCP reassembly, grep, counters) never do, and an
 * array per packet, grown by pushes, was a tenth of the decode time. Past six layers (deep 802.3/VLAN
 * nests) or once read, the array is the list itself.
 *
 * Fields are declared (no class-field initialisers) and all set in the constructor in one order: one store
 * each, and one hidden class per kind of value whatever layers it holds, so the decoders' property
 * accesses stay monomorphic.
 */
class LayerSet implements NetworkLayers {
  declare ipv4: IPv4Header | undefined;
  declare ipv6: IPv6Header | undefined;
  declare icmp: IcmpLayer<NetworkLayers> | undefined;
  declare icmpv6: Icmpv6Layer<NetworkLayers> | undefined;
  declare igmp: IgmpLayer | undefined;
  declare tcp: TcpHeader | undefined;
  declare udp: UdpHeader | undefined;
  declare dns: DnsMessage | undefined;
  declare tls: TlsLayer | undefined;
  declare errors: DecodeFailure[];
  /** Packed layer codes, while `layerList` is undefined. */
  private declare packedLayers: number;
  private declare packedCount: number;
  private declare layerList: LayerName[] | undefined;

  constructor() {
    this.ipv4 = undefined;
    this.ipv6 = undefined;
    this.icmp = undefined;
    this.icmpv6 = undefined;
    this.igmp = undefined;
    this.tcp = undefined;
    this.udp = undefined;
    this.dns = undefined;
    this.tls = undefined;
    this.errors = [];
    this.packedLayers = 0;
    this.packedCount = 0;
    this.layerList = undefined;
  }

  /** Protocols found, outermost first. */
  get layers(): LayerName[] {
    return this.layerList ??= this.unpackLayers();
  }

  set layers(list: LayerName[]) {
    this.layerList = list;
  }

  addLayer(code: Layer): void {
    if (this.layerList !== undefined) { this.layerList.push(LAYER_NAMES[code - 1]); return; }
    if (this.packedCount === PACKED_LAYERS_MAX) { this.layerList = this.unpackLayers(); this.layerList.push(LAYER_NAMES[code - 1]); return; }
    this.packedLayers |= code << (LAYER_CODE_BITS * this.packedCount);
    this.packedCount++;
  }

  private unpackLayers(): LayerName[] {
    const list: LayerName[] = [];
    for (let i = 0; i < this.packedCount; i++) list.push(LAYER_NAMES[((this.packedLayers >> (LAYER_CODE_BITS * i)) & 31) - 1]);
    return list;
  }
}

class PacketValue extends LayerSet implements Packet {
  declare readonly record: PacketRecord;
  declare eth: EthernetHeader | undefined;
  declare llc: LlcLayer | undefined;
  declare vlan: VlanTag[] | undefined;
  declare sll: SllLayer | undefined;
  declare null: NullLayer | undefined;
  declare arp: ArpLayer | undefined;
  declare reassembledFrom: number[] | undefined;
  constructor(record: PacketRecord) {
    super();
    this.record = record;
    this.eth = undefined;
    this.llc = undefined;
    this.vlan = undefined;
    this.sll = undefined;
    this.null = undefined;
    this.arp = undefined;
    this.reassembledFrom = undefined;
  }
}

/** Adds a layer to any NetworkLayers (the exported decoders accept plain objects too). */
function addLayer(t: NetworkLayers, code: Layer): void {
  if (t instanceof LayerSet) t.addLayer(code);
  else t.layers.push(LAYER_NAMES[code - 1]);
}

function depthOf(opts: DecodeOptions | undefined): number {
  switch (opts?.depth) {
    case 'link': return DecodeDepth.LINK;
    case 'network': return DecodeDepth.NETWORK;
    case 'transport': return DecodeDepth.TRANSPORT;
    default: return DecodeDepth.ALL;
  }
}

/** Decodes every layer of `rec`. Never throws. */
export function decodePacket(rec: PacketRecord, opts?: DecodeOptions): Packet {
  const pkt = new PacketValue(rec);
  const depth = depthOf(opts);
  try {
    decodeLink(pkt, rec, depth);
  } catch (e) {
    // A bug, not bad input: every decoder checks lengths. Still a value, so one packet cannot stop a stream.
    pkt.errors.push(malformed('internal', 0, `internal decoder error: ${(e as Error)?.message ?? String(e)}`));
  }
  return pkt;
}

function decodeLink(pkt: PacketValue, rec: PacketRecord, depth: number): void {
  const buf = rec.data;
  let end = buf.length;
  switch (rec.linkType) {
    case LinkType.ETHERNET: {
      if (rec.fcsLength && rec.fcsLength > 0) end = Math.max(0, end - rec.fcsLength);
      const eth = decodeEthernet(buf, 0, end);
      if (eth instanceof Failure) { pkt.errors.push(eth); return; }
      pkt.eth = eth;
      pkt.addLayer(Layer.ETH);
      if (depth <= DecodeDepth.LINK) return;
      if (eth.type <= ETHERNET_MAX_LENGTH_FIELD) {
        decodeIeee8023(pkt, buf, ETHERNET_HEADER_LENGTH, Math.min(end, ETHERNET_HEADER_LENGTH + eth.type), depth);
        return;
      }
      decodeEtherType(pkt, eth.type, buf, ETHERNET_HEADER_LENGTH, end, depth);
      return;
    }
    case LinkType.LINUX_SLL:
    case LinkType.LINUX_SLL2: {
      const sll = rec.linkType === LinkType.LINUX_SLL ? decodeSll(buf, 0, end) : decodeSll2(buf, 0, end);
      if (sll instanceof Failure) { pkt.errors.push(sll); return; }
      pkt.sll = sll;
      pkt.addLayer(Layer.SLL);
      if (depth <= DecodeDepth.LINK) return;
      const off = sll.version === 1 ? SLL_HEADER_LENGTH : SLL2_HEADER_LENGTH;
      if (sll.protocol === SllProtocol.LLC_8022) { decodeIeee8023(pkt, buf, off, end, depth); return; }
      if (sll.protocol <= ETHERNET_MAX_LENGTH_FIELD) {
        pkt.errors.push(unsupported('sll', off - 2, `SLL protocol 0x${sll.protocol.toString(16)}`));
        return;
      }
      decodeEtherType(pkt, sll.protocol, buf, off, end, depth);
      return;
    }
    case LinkType.NULL:
    case LinkType.LOOP: {
      const nul = decodeNull(buf, 0, end, rec.linkType === LinkType.LOOP);
      if (nul instanceof Failure) { pkt.errors.push(nul); return; }
      pkt.null = nul;
      pkt.addLayer(Layer.NULL);
      if (depth <= DecodeDepth.LINK) return;
      if (nul.family === AF_INET) decodeIPv4Layer(pkt, buf, NULL_HEADER_LENGTH, end, depth);
      else if (isInet6Family(nul.family)) decodeIPv6Layer(pkt, buf, NULL_HEADER_LENGTH, end, depth);
      else pkt.errors.push(unsupported('null', 0, `address family ${nul.family}`));
      return;
    }
    case LinkType.RAW:
    case LinkType.RAW_DLT12:
    case LinkType.RAW_DLT14: {
      pkt.addLayer(Layer.RAW);
      if (depth <= DecodeDepth.LINK) return;
      if (end < 1) { pkt.errors.push(new Failure('raw', 'truncated', 0, 'empty raw IP packet')); return; }
      const version = buf[0] >> 4;
      if (version === 4) decodeIPv4Layer(pkt, buf, 0, end, depth);
      else if (version === 6) decodeIPv6Layer(pkt, buf, 0, end, depth);
      else pkt.errors.push(malformed('raw', 0, `IP version ${version}`));
      return;
    }
    case LinkType.IPV4:
      pkt.addLayer(Layer.RAW);
      if (depth > DecodeDepth.LINK) decodeIPv4Layer(pkt, buf, 0, end, depth);
      return;
    case LinkType.IPV6:
      pkt.addLayer(Layer.RAW);
      if (depth > DecodeDepth.LINK) decodeIPv6Layer(pkt, buf, 0, end, depth);
      return;
    default:
      pkt.errors.push(unsupported('link', 0, `link type ${rec.linkType}`));
  }
}

/** Link types decodePacket understands; packets of any other link type decode to an 'unsupported link' error. */
export const DECODABLE_LINK_TYPES: ReadonlySet<number> = new Set<number>([
  LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, LinkType.LOOP,
  LinkType.RAW, LinkType.RAW_DLT12, LinkType.RAW_DLT14, LinkType.IPV4, LinkType.IPV6,
]);

/** 802.3 frame body: LLC, then SNAP's EtherType when present. */
function decodeIeee8023(pkt: PacketValue, buf: Buffer, off: number, end: number, depth: number): void {
  const llc = decodeLlc(buf, off, end);
  if (llc instanceof Failure) { pkt.errors.push(llc); return; }
  pkt.llc = llc;
  pkt.addLayer(Layer.LLC);
  if (llc.oui === 0 && llc.pid !== undefined) decodeEtherType(pkt, llc.pid, buf, off + llc.headerLength, end, depth);
}

function decodeEtherType(pkt: PacketValue, type: number, buf: Buffer, off: number, end: number, depth: number): void {
  // VLAN stacks of any depth: each tag consumes 4 bytes, so the loop ends with the buffer.
  while (isVlanTpid(type)) {
    const tag = decodeVlanTag(type, buf, off, end);
    if (tag instanceof Failure) { pkt.errors.push(tag); return; }
    if (pkt.vlan === undefined) { pkt.vlan = []; pkt.addLayer(Layer.VLAN); }
    pkt.vlan.push(tag);
    type = tag.type;
    off += VLAN_TAG_LENGTH;
  }
  switch (type) {
    case EtherType.IPV4: decodeIPv4Layer(pkt, buf, off, end, depth); return;
    case EtherType.IPV6: decodeIPv6Layer(pkt, buf, off, end, depth); return;
    case EtherType.ARP:
    case EtherType.RARP: {
      const arp = decodeArp(buf, off, end);
      if (arp instanceof Failure) { pkt.errors.push(arp); return; }
      pkt.arp = arp;
      pkt.addLayer(Layer.ARP);
      return;
    }
    default:
      if (type <= ETHERNET_MAX_LENGTH_FIELD) { decodeIeee8023(pkt, buf, off, Math.min(end, off + type), depth); return; }
      if (off < end) pkt.addLayer(Layer.DATA);
  }
}

/** IPv4 and what it carries. Exported for ICMP's quoted packets and the defragmenter. */
export function decodeIPv4Layer(t: NetworkLayers, buf: Buffer, off: number, end: number, depth: number): void {
  const ip = decodeIPv4(buf, off, end);
  if (ip instanceof Failure) { t.errors.push(ip); return; }
  t.ipv4 = ip;
  addLayer(t, Layer.IPV4);
  if (depth <= DecodeDepth.NETWORK) return;
  if (ip.fragmentOffset > 0) { addLayer(t, Layer.FRAGMENT); return; }
  decodeTransport(t, ip.protocol, buf, ip.payloadOffset, ip.payloadEnd, ip.impliedEnd, depth);
}

export function decodeIPv6Layer(t: NetworkLayers, buf: Buffer, off: number, end: number, depth: number): void {
  const ip = decodeIPv6(buf, off, end);
  if (ip instanceof Failure) { t.errors.push(ip); return; }
  t.ipv6 = ip;
  addLayer(t, Layer.IPV6);
  if (ip.extensionError) { t.errors.push(ip.extensionError); return; }
  if (depth <= DecodeDepth.NETWORK) return;
  if (ip.isLaterFragment) { addLayer(t, Layer.FRAGMENT); return; }
  decodeTransport(t, ip.protocol, buf, ip.payloadOffset, ip.payloadEnd, ip.impliedEnd, depth);
}

/**
 * @param end end of the captured IP payload; @param impliedEnd end per the IP length fields (for a first
 * fragment: of the fragment, so the transport payload is incomplete).
 */
function decodeTransport(t: NetworkLayers, protocol: number, buf: Buffer, off: number, end: number, impliedEnd: number,
  depth: number): void {
  switch (protocol) {
    case IpProto.TCP: {
      const tcp = decodeTcp(buf, off, end, impliedEnd, t.errors);
      if (tcp instanceof Failure) { t.errors.push(tcp); return; }
      t.tcp = tcp;
      addLayer(t, Layer.TCP);
      if (tcp.headerTruncated) { t.errors.push(tcp.headerTruncated); return; }
      // A first fragment's payload is incomplete, but its start is decoded (like tshark does): the
      // headers and DNS questions usually fit; records cut short become failures when read.
      if (depth < DecodeDepth.ALL || tcp.capturedPayloadLength === 0) return;
      decodeTcpPayload(t, tcp, buf);
      return;
    }
    case IpProto.UDP: {
      const udp = decodeUdp(buf, off, end);
      if (udp instanceof Failure) { t.errors.push(udp); return; }
      t.udp = udp;
      addLayer(t, Layer.UDP);
      const problem = udpLengthProblem(udp, off);
      if (problem) { t.errors.push(problem); return; }
      if (depth < DecodeDepth.ALL || udp.capturedPayloadLength === 0) return;
      if (isDnsPort(udp.srcPort) || isDnsPort(udp.dstPort)) {
        const dns = decodeDns(udp.payload, udp.payloadOffset, t.errors);
        if (dns instanceof Failure) { t.errors.push(dns); return; }
        t.dns = dns;
        addLayer(t, Layer.DNS);
      }
      return;
    }
    case IpProto.ICMP: {
      const icmp = decodeIcmp(buf, off, end, decodeQuotedPacket);
      if (icmp instanceof Failure) { t.errors.push(icmp); return; }
      t.icmp = icmp;
      addLayer(t, Layer.ICMP);
      return;
    }
    case IpProto.ICMPV6: {
      const icmp = decodeIcmpv6(buf, off, end, decodeQuotedPacket);
      if (icmp instanceof Failure) { t.errors.push(icmp); return; }
      t.icmpv6 = icmp;
      addLayer(t, Layer.ICMPV6);
      return;
    }
    case IpProto.IGMP: {
      const igmp = decodeIgmp(buf, off, end);
      if (igmp instanceof Failure) { t.errors.push(igmp); return; }
      t.igmp = igmp;
      addLayer(t, Layer.IGMP);
      return;
    }
    case IpProto.NONE:
      return;
    default:
      if (off < end) addLayer(t, Layer.DATA);
  }
}

/**
 * The packet quoted by an ICMP/ICMPv6 error: decoded like any IP packet. It is usually cut short (RFC 792
 * quotes 8 bytes of the transport header), so its failures stay in its own `errors`, not the packet's.
 */
function decodeQuotedPacket(buf: Buffer, off: number, end: number): NetworkLayers {
  const q = new LayerSet();
  const version = buf[off] >> 4;
  if (version === 4) decodeIPv4Layer(q, buf, off, end, DecodeDepth.ALL);
  else if (version === 6) decodeIPv6Layer(q, buf, off, end, DecodeDepth.ALL);
  else q.errors.push(malformed('icmp.quoted', off, `IP version ${version}`));
  return q;
}

function decodeTcpPayload(t: NetworkLayers, tcp: TcpHeader, buf: Buffer): void {
  // Most segments are neither DNS nor a ClientHello: look at the bytes in the frame, make no payload view.
  const dnsPort = isDnsPort(tcp.srcPort) || isDnsPort(tcp.dstPort);
  if (!dnsPort && !mayStartTlsClientHello(buf, tcp.payloadOffset, Math.min(tcp.payloadEnd, buf.length))) return;
  const payload = tcp.payload;
  // DNS over TCP: a 2-byte length, then the message. Decoded per segment when the segment holds it all.
  if (dnsPort) {
    if (payload.length >= DNS_TCP_LENGTH_PREFIX + 12) {
      const msgLen = (payload[0] << 8) | payload[1];
      if (msgLen >= 12 && msgLen <= payload.length - DNS_TCP_LENGTH_PREFIX) {
        const dns = decodeDns(bufferView(payload, DNS_TCP_LENGTH_PREFIX, msgLen),
          tcp.payloadOffset + DNS_TCP_LENGTH_PREFIX, t.errors);
        if (dns instanceof Failure) { t.errors.push(dns); return; }
        t.dns = dns;
        addLayer(t, Layer.DNS);
      }
    }
    return;
  }
  const tls = decodeTlsClientHello(payload);
  if (tls !== undefined) {
    t.tls = tls;
    addLayer(t, Layer.TLS);
  }
}
