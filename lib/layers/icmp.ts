/**
 * ICMP for IPv4 (RFC 792). Echo and timestamp messages carry id/seq; error messages (unreachable,
 * source quench, redirect, time exceeded, parameter problem) quote the start of the packet that caused
 * them, which is decoded like a packet of its own (IP header, transport header, even DNS) into `quoted`.
 */
import { formatIPv4 } from '../core/addresses';
import { bufferView } from '../core/buffer-view';
import { Failure, truncated } from '../core/failure';
import { u16 } from '../core/bytes';

export const ICMP_HEADER_LENGTH = 8;

export const ICMP_TYPE_NAMES: Record<number, string> = {
  0: 'echo-reply', 3: 'destination-unreachable', 4: 'source-quench', 5: 'redirect', 8: 'echo-request',
  9: 'router-advertisement', 10: 'router-solicitation', 11: 'time-exceeded', 12: 'parameter-problem',
  13: 'timestamp-request', 14: 'timestamp-reply', 17: 'address-mask-request', 18: 'address-mask-reply',
};

/**
 * Decodes the IP packet an ICMP/ICMPv6 error quotes, with the same decoders as a packet (IP, transport, DNS).
 * Supplied by lib/layers/decode.ts, which also fills in `Quoted` (its NetworkLayers): the quoted packet's
 * type recurses through the dispatcher, so this file takes it as a type parameter instead of importing it.
 */
export type QuotedDecoder<Quoted> = (buf: Buffer, off: number, end: number) => Quoted;

/** `Quoted` is what the dispatcher decodes a quoted packet into (NetworkLayers in a Packet). */
export interface IcmpLayer<Quoted = unknown> {
  type: number;
  code: number;
  typeName: string;
  checksum: number;
  /** Echo / timestamp / address mask: identifier and sequence number. */
  id?: number;
  seq?: number;
  /** Redirect: the gateway address. */
  gateway?: string;
  /** Unreachable code 4 (fragmentation needed): next-hop MTU. */
  mtu?: number;
  /** Parameter problem: pointer. */
  pointer?: number;
  /** Error messages: the quoted packet. */
  quoted?: Quoted;
  /** Bytes after the 8-byte header (a view). */
  payload: Buffer;
}

export function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

export function decodeIcmp<Quoted>(
  buf: Buffer, off: number, end: number, decodeQuoted?: QuotedDecoder<Quoted>,
): IcmpLayer<Quoted> | Failure {
  if (end - off < ICMP_HEADER_LENGTH) return truncated('icmp', off, ICMP_HEADER_LENGTH, end - off);
  const type = buf[off];
  const code = buf[off + 1];
  const layer: IcmpLayer<Quoted> = {
    type, code, typeName: ICMP_TYPE_NAMES[type] ?? `type${type}`, checksum: u16(buf, off + 2),
    payload: bufferView(buf, off + ICMP_HEADER_LENGTH, end - off - ICMP_HEADER_LENGTH),
  };
  switch (type) {
    case 0: case 8: case 13: case 14: case 15: case 16: case 17: case 18:
      layer.id = u16(buf, off + 4);
      layer.seq = u16(buf, off + 6);
      break;
    case 5:
      layer.gateway = formatIPv4(buf, off + 4);
      break;
    case 3:
      if (code === 4) layer.mtu = u16(buf, off + 6);
      break;
    case 12:
      layer.pointer = buf[off + 4];
      break;
  }
  if (isIcmpError(type) && decodeQuoted && end - off > ICMP_HEADER_LENGTH) {
    layer.quoted = decodeQuoted(buf, off + ICMP_HEADER_LENGTH, end);
  }
  return layer;
}
