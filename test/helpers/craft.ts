/**
 * Crafted captures for tests: Ethernet/IPv4 frames carrying TCP conversations, UDP datagrams and IP
 * fragments, written as classic pcap (lib/formats/pcap.ts's writer) or pcapng (with chosen interface
 * names). Checksums are left 0 (the decoders do not verify them, tshark does not by default).
 */
import './plain-env';
import { PcapWriter } from '../../lib/formats/pcap';
import { PcapngWriter } from '../../lib/formats/pcapng';
import { LinkType, type PacketRecord } from '../../lib/core/record';
import type { InterfaceInfo } from '../../lib/formats/format';

const CLIENT = [10, 0, 0, 1];
const SERVER = [10, 0, 0, 2];

export function ethernet(payload: Buffer, etherType = 0x0800): Buffer {
  const eth = Buffer.alloc(14);
  eth.set([0x02, 0, 0, 0, 0, 2], 0);
  eth.set([0x02, 0, 0, 0, 0, 1], 6);
  eth.writeUInt16BE(etherType, 12);
  return Buffer.concat([eth, payload]);
}

export interface Ipv4Spec { src?: number[]; dst?: number[]; proto: number; id?: number; fragmentOffset8?: number; moreFragments?: boolean }

export function ipv4(spec: Ipv4Spec, payload: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + payload.length, 2);
  ip.writeUInt16BE(spec.id ?? 1, 4);
  ip.writeUInt16BE(((spec.moreFragments ? 0x2000 : 0) | (spec.fragmentOffset8 ?? 0)) & 0xffff, 6);
  ip[8] = 64;
  ip[9] = spec.proto;
  ip.set(spec.src ?? CLIENT, 12);
  ip.set(spec.dst ?? SERVER, 16);
  return Buffer.concat([ip, payload]);
}

export function udp(srcPort: number, dstPort: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10;

export function tcp(srcPort: number, dstPort: number, seq: number, ack: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  return Buffer.concat([h, payload]);
}

let clock = 1_700_000_000;

/** A PacketRecord for `data` (an Ethernet frame unless linkType says otherwise), 1 µs after the last. */
export function record(data: Buffer, frame = 0, linkType: number = LinkType.ETHERNET): PacketRecord {
  clock += 0.000001;
  const tsSec = Math.floor(clock);
  return { frame, linkType, tsSec, tsNsec: Math.round((clock - tsSec) * 1e6) * 1000, caplen: data.length, len: data.length, interfaceId: 0, data };
}

/** 'c' = client to server, 's' = server to client. */
export type Side = 'c' | 's';

/**
 * One TCP connection (handshake, the payloads in order, each cut into `segment`-byte segments, FIN
 * both ways) as Ethernet frames. `port` is the client's port (the server is 10.0.0.2:`serverPort`).
 */
export function tcpConversation(payloads: [Side, Buffer][], opts: { port?: number; serverPort?: number; segment?: number; close?: boolean } = {}): Buffer[] {
  const cport = opts.port ?? 40000, sport = opts.serverPort ?? 80, seg = opts.segment ?? 1400;
  let cseq = 1000, sseq = 5000;
  const frames: Buffer[] = [];
  const c = (flags: number, payload: Buffer = Buffer.alloc(0)): void => { frames.push(ethernet(ipv4({ proto: 6 }, tcp(cport, sport, cseq, sseq, flags, payload)))); };
  const s = (flags: number, payload: Buffer = Buffer.alloc(0)): void => { frames.push(ethernet(ipv4({ proto: 6, src: SERVER, dst: CLIENT }, tcp(sport, cport, sseq, cseq, flags, payload)))); };
  c(TCP_SYN); cseq++;
  s(TCP_SYN | TCP_ACK); sseq++;
  c(TCP_ACK);
  for (const [side, data] of payloads) {
    for (let off = 0; off < data.length || (off === 0 && data.length === 0); off += seg) {
      const piece: Buffer = data.subarray(off, Math.min(off + seg, data.length));
      if (piece.length === 0) break;
      if (side === 'c') { c(TCP_ACK | TCP_PSH, piece); cseq += piece.length; }
      else { s(TCP_ACK | TCP_PSH, piece); sseq += piece.length; }
    }
  }
  if (opts.close !== false) {
    c(TCP_FIN | TCP_ACK); cseq++;
    s(TCP_FIN | TCP_ACK); sseq++;
    c(TCP_ACK);
  }
  return frames;
}

/** An IPv4 UDP datagram to 10.0.0.2:`port` cut into fragments of `size` bytes (a multiple of 8). */
export function udpFragments(id: number, payload: Buffer, size: number, port = 9999): Buffer[] {
  const whole = udp(5555, port, payload);
  const frames: Buffer[] = [];
  for (let off = 0; off < whole.length; off += size) {
    const piece: Buffer = whole.subarray(off, Math.min(off + size, whole.length));
    frames.push(ethernet(ipv4({ proto: 17, id, fragmentOffset8: off / 8, moreFragments: off + size < whole.length }, piece)));
  }
  return frames;
}

/** A classic pcap file (µs, little-endian) of Ethernet frames. */
export function pcapFile(frames: Buffer[], linkType: number = LinkType.ETHERNET): Buffer {
  const w = new PcapWriter();
  return Buffer.concat([w.fileHeader(linkType), ...frames.map((f, i) => w.record(record(f, i + 1, linkType)))]);
}

/** A pcapng file whose one interface has the given name/description options. */
export function pcapngFile(frames: Buffer[], iface: Partial<InterfaceInfo> = {}): Buffer {
  const w = new PcapngWriter();
  return Buffer.concat([w.header(), ...frames.map((f, i) => w.packet(record(f, i + 1), iface))]);
}
