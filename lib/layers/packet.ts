/**
 * The decoded packet: a record plus its protocol layers. This file is the contract between the decoders
 * (lib/layers/decode.ts and one file per protocol) and everything above them (TCP reassembly, grep, printers).
 * Decoders may add fields; they must not remove or rename these.
 */
import type { PacketRecord } from '../core/record';

import type { DecodeFailure } from '../core/failure';
export type { DecodeFailure };

export interface EthernetLayer { src: string; dst: string; /** EtherType, or 802.3 length field. */ type: number; }
export interface VlanTag { tpid: number; id: number; pcp: number; dei: number; /** EtherType that follows this tag. */ type: number; }

export interface IPv4Layer {
  version: 4;
  src: string;
  dst: string;
  headerLength: number;
  tos: number;
  totalLength: number;
  id: number;
  /** Flags field: 0x2 DF, 0x1 MF (shifted down from the header). */
  flags: number;
  moreFragments: boolean;
  dontFragment: boolean;
  /** In bytes (the header field × 8). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
}

export interface IPv6Layer {
  version: 6;
  src: string;
  dst: string;
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  /** The first Next Header field (of the fixed header). */
  nextHeader: number;
  hopLimit: number;
  /** The upper-layer protocol found after the extension headers. */
  protocol: number;
  /** Present when a Fragment header was seen. */
  fragment?: { offset: number; moreFragments: boolean; id: number };
}

export interface TcpLayer {
  srcPort: number;
  dstPort: number;
  /** Absolute sequence number (unsigned 32-bit). */
  seq: number;
  ack: number;
  /** Header length in bytes. */
  headerLength: number;
  /** The 12-bit flags field (NS..FIN). */
  flags: number;
  window: number;
  checksum: number;
  urgentPointer: number;
  /** Captured payload bytes (a view), bounded by the IP length: never includes Ethernet padding. */
  payload: Buffer;
  /** Payload length the IP header implies (tshark's tcp.len), even when the snaplen cut the bytes. */
  payloadLength: number;
}

export interface UdpLayer { srcPort: number; dstPort: number; length: number; checksum: number; payload: Buffer; }

export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;

/**
 * A decoded packet. The well-known layers have direct fields (undefined when absent), so hot paths
 * (TCP reassembly, grep) need no search; `errors` lists failures.
 */
export interface DecodedPacket {
  record: PacketRecord;
  eth?: EthernetLayer;
  vlan?: VlanTag[];
  ipv4?: IPv4Layer;
  ipv6?: IPv6Layer;
  tcp?: TcpLayer;
  udp?: UdpLayer;
  errors: DecodeFailure[];
}
