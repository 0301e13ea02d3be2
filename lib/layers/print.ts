/**
 * Text and JSON forms of decoded packets: one summary line per packet (in the spirit of node_pcap's
 * simple_capture and tcpdump) and an NDJSON object per packet. Captured text goes through escapeControl
 * (lib/core/escape.ts), as in every printer.
 */
import { escapeControl, hexDump } from '../core/escape';
import { formatTimestamp } from '../core/record';
import type { TimeFormatter } from '../core/time';
import type { NetworkLayers, Packet } from './decode';
import type { DnsMessage, DnsRecord } from './dns';
import type { DecodeFailure } from './packet';
import { linkHeaderText, packetDump, type DumpKind } from './print-link';
import { tcpFlagNames } from './tcp';

export interface LineOptions {
  /** Append a hex + ASCII dump of the whole frame, "0000  45 00 ...  |E..|" (see `dump` for tcpdump's). */
  hex?: boolean;
  /** Print link-layer addresses (MACs) before the network summary. Default true. */
  link?: boolean;
  /** tcpdump -e: the link-level header as tcpdump prints it (MACs, ethertype, length), instead of `link`. */
  linkHeader?: boolean;
  /** tcpdump's dumps (-x hex, -X hex + ASCII, -A ASCII) on the lines after the packet's line. */
  dump?: DumpKind;
  /** With `dump`: from the first byte of the frame (-xx, -XX, -AA) instead of after the link header. */
  dumpLink?: boolean;
  /** How the time is printed (tcpdump's -t letters). Default: seconds since the epoch, 9 decimals. */
  time?: TimeFormatter;
}

/** tcpdump's flag letters: S F R P . (ACK) U E W. */
export function tcpFlagLetters(flags: number): string {
  let s = '';
  if (flags & 0x002) s += 'S';
  if (flags & 0x001) s += 'F';
  if (flags & 0x004) s += 'R';
  if (flags & 0x008) s += 'P';
  if (flags & 0x020) s += 'U';
  if (flags & 0x040) s += 'E';
  if (flags & 0x080) s += 'W';
  if (flags & 0x010) s += '.';
  return s || 'none';
}

function endpoint(addr: string, port: number, v6: boolean): string {
  return v6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function dnsRecordText(r: DnsRecord): string {
  const d = r.data;
  let v: string;
  if (typeof d === 'string') v = d;
  else if (Array.isArray(d)) v = d.map((x) => JSON.stringify(x)).join(' ');
  else if ('exchange' in d) v = `${d.preference} ${d.exchange}`;
  else if ('target' in d) v = `${d.priority} ${d.weight} ${d.port} ${d.target}`;
  else if ('mname' in d) v = `${d.mname} ${d.rname} ${d.serial}`;
  else v = `udp=${d.udpPayloadSize}`;
  return `${r.typeName} ${v}`;
}

function dnsText(d: DnsMessage): string {
  const q = d.questions.map((x) => `${x.typeName}? ${x.name}`).join(', ');
  if (!d.qr) return `DNS query 0x${d.id.toString(16).padStart(4, '0')} ${q}`;
  const answers = d.answers.map(dnsRecordText);
  return `DNS response 0x${d.id.toString(16).padStart(4, '0')} ${d.rcodeName} ${q}` + (answers.length ? ` → ${answers.join(', ')}` : '');
}

function networkText(t: NetworkLayers): string {
  const parts: string[] = [];
  const v6 = t.ipv6 !== undefined;
  const ip = t.ipv4 ?? t.ipv6;
  if (ip === undefined) return '';
  const proto = t.ipv4 ? 'IPv4' : 'IPv6';
  if (t.tcp) {
    const tcp = t.tcp;
    parts.push(`${endpoint(ip.src, tcp.srcPort, v6)} > ${endpoint(ip.dst, tcp.dstPort, v6)} TCP [${tcpFlagLetters(tcp.flags)}] seq ${tcp.seq}` +
      `${tcp.flags & 0x10 ? ` ack ${tcp.ack}` : ''} win ${tcp.window} len ${tcp.payloadLength}`);
  } else if (t.udp) {
    parts.push(`${endpoint(ip.src, t.udp.srcPort, v6)} > ${endpoint(ip.dst, t.udp.dstPort, v6)} UDP len ${t.udp.length}`);
  } else {
    parts.push(`${ip.src} > ${ip.dst} ${proto}`);
    if (t.icmp) {
      const i = t.icmp;
      parts.push(`ICMP ${i.typeName}${i.code ? ` code ${i.code}` : ''}${i.id !== undefined ? ` id ${i.id} seq ${i.seq}` : ''}`);
      if (i.quoted) parts.push(`(quoting ${networkText(i.quoted)})`);
    } else if (t.icmpv6) {
      const i = t.icmpv6;
      parts.push(`ICMPv6 ${i.typeName}${i.code ? ` code ${i.code}` : ''}${i.id !== undefined ? ` id ${i.id} seq ${i.seq}` : ''}${i.target ? ` ${i.target}` : ''}`);
      if (i.quoted) parts.push(`(quoting ${networkText(i.quoted)})`);
    } else if (t.igmp) {
      parts.push(`IGMP ${t.igmp.typeName}${t.igmp.group ? ` ${t.igmp.group}` : ''}`);
    } else if (t.layers.includes('fragment')) {
      const off = t.ipv4 ? t.ipv4.fragmentOffset : t.ipv6?.fragment?.offset;
      parts.push(`fragment proto ${ip.protocol} offset ${off}`);
    } else {
      parts.push(`proto ${ip.protocol}`);
    }
  }
  if (t.dns) parts.push(dnsText(t.dns));
  if (t.tls) parts.push(`TLS ClientHello${t.tls.sni !== undefined ? ` sni ${t.tls.sni}` : ''}`);
  return parts.join(' ');
}

function errorText(e: DecodeFailure): string { return `[${e.kind} ${e.layer} at ${e.offset}: ${e.message}]`; }

/** One line (plus a hex dump with `hex`), escaped for the terminal. */
export function formatPacketLine(pkt: Packet, opts: LineOptions = {}): string {
  const rec = pkt.record;
  const parts: string[] = [];
  const time = opts.time === undefined ? formatTimestamp(rec.tsSec, rec.tsNsec) : opts.time.format(rec.tsSec, rec.tsNsec);
  if (rec.noTimestamp) parts.push('-');
  else if (time !== '') parts.push(time);
  const link = (opts.link ?? true) && !opts.linkHeader;
  const header = opts.linkHeader ? linkHeaderText(pkt) : undefined;
  if (header !== undefined) parts.push(header + ':');
  if (pkt.eth && link) parts.push(`${pkt.eth.src} > ${pkt.eth.dst}`);
  if (pkt.sll && link) parts.push(`sll ${pkt.sll.packetType === 4 ? 'out' : 'in'}${pkt.sll.address ? ` ${pkt.sll.address}` : ''}`);
  if (pkt.vlan && !opts.linkHeader) parts.push(pkt.vlan.map((v) => `vlan ${v.id}`).join(' '));
  if (pkt.arp) {
    const a = pkt.arp;
    if (a.op === 1) parts.push(`ARP who-has ${a.targetIp} tell ${a.senderIp}`);
    else if (a.op === 2) parts.push(`ARP reply ${a.senderIp} is-at ${a.senderMac}`);
    else parts.push(`ARP ${a.opName} ${a.senderIp} (${a.senderMac}) > ${a.targetIp}`);
  }
  const net = networkText(pkt);
  if (net) parts.push(net);
  else if (!pkt.arp && pkt.eth) parts.push(`ethertype 0x${pkt.eth.type.toString(16).padStart(4, '0')}`);
  if (pkt.reassembledFrom) parts.push(`(reassembled from frames ${pkt.reassembledFrom.join(',')})`);
  if (rec.caplen < rec.len) parts.push(`(captured ${rec.caplen} of ${rec.len})`);
  for (const e of pkt.errors) parts.push(errorText(e));
  let line = escapeControl(parts.join(' '));
  if (opts.hex) line += '\n' + hexDump(rec.data);
  // the dumps make their own safe text: hex, or ASCII with every control byte but tab and LF as '.'
  if (opts.dump !== undefined && rec.data.length > 0) line += '\n' + packetDump(pkt, opts.dump, opts.dumpLink === true);
  return line;
}

/** Plain JSON value of a layer: own fields (or toJSON), Buffers as hex. */
function plain(layer: unknown): unknown {
  if (layer === null || typeof layer !== 'object') return layer;
  if (Buffer.isBuffer(layer)) return layer.toString('hex');
  if (typeof (layer as { toJSON?: unknown }).toJSON === 'function') return (layer as { toJSON(): unknown }).toJSON();
  if (Array.isArray(layer)) return layer.map(plain);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(layer)) {
    if (k === 'payload') continue;
    if (k === 'quoted') { out.quoted = networkJson(v as NetworkLayers); continue; }
    out[k] = plain(v);
  }
  return out;
}

function networkJson(t: NetworkLayers): Record<string, unknown> {
  const o: Record<string, unknown> = { layers: t.layers };
  addNetworkJson(o, t);
  if (t.errors.length) o.errors = t.errors.map(plain);
  return o;
}

/** The network-and-above layers of `t` into `o`, in the documented order (named fields: no keyed lookups). */
function addNetworkJson(o: Record<string, unknown>, t: NetworkLayers): void {
  if (t.ipv4 !== undefined) o.ipv4 = plain(t.ipv4);
  if (t.ipv6 !== undefined) o.ipv6 = plain(t.ipv6);
  if (t.icmp !== undefined) o.icmp = plain(t.icmp);
  if (t.icmpv6 !== undefined) o.icmpv6 = plain(t.icmpv6);
  if (t.igmp !== undefined) o.igmp = plain(t.igmp);
  if (t.tcp !== undefined) o.tcp = plain(t.tcp);
  if (t.udp !== undefined) o.udp = plain(t.udp);
  if (t.dns !== undefined) o.dns = plain(t.dns);
  if (t.tls !== undefined) o.tls = plain(t.tls);
}

/**
 * The documented JSON object for a packet: frame, ts (seconds, 9 decimals), caplen, len, then one
 * object per layer keyed by protocol, and `errors`.
 */
export function packetToJson(pkt: Packet): Record<string, unknown> {
  const rec = pkt.record;
  const o: Record<string, unknown> = {
    frame: rec.frame,
    ts: rec.noTimestamp ? null : formatTimestamp(rec.tsSec, rec.tsNsec),
    caplen: rec.caplen,
    len: rec.len,
    interfaceId: rec.interfaceId,
    linkType: rec.linkType,
    layers: pkt.layers,
  };
  if (pkt.eth) o.eth = pkt.eth.toJSON();
  if (pkt.llc) o.llc = plain(pkt.llc);
  if (pkt.vlan) o.vlan = pkt.vlan.map((v) => ({ ...v }));
  if (pkt.sll) o.sll = plain(pkt.sll);
  if (pkt.null) o.null = plain(pkt.null);
  if (pkt.arp) o.arp = plain(pkt.arp);
  addNetworkJson(o, pkt);
  if (pkt.tcp) (o.tcp as Record<string, unknown>).flagNames = tcpFlagNames(pkt.tcp.flags);
  if (pkt.reassembledFrom) o.reassembledFrom = pkt.reassembledFrom;
  o.errors = pkt.errors.map(plain);
  return o;
}
