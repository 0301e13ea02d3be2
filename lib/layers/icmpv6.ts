/**
 * ICMPv6 (RFC 4443): echo, errors (with the quoted packet decoded), Neighbor Discovery basics (RFC 4861:
 * router/neighbor solicitation and advertisement, redirect, with their link-layer address options) and
 * MLD (RFC 2710 / RFC 3810) message shapes.
 */
import { formatHexColons, formatIPv6, formatMac } from '../core/addresses';
import { bufferView } from '../core/buffer-view';
import { Failure, truncated } from '../core/failure';
import { u16, u32 } from '../core/bytes';
import type { QuotedDecoder } from './icmp';

export const ICMPV6_HEADER_LENGTH = 4;
/** Named limit on NDP options read from one message. */
export const NDP_MAX_OPTIONS = 64;

export const ICMPV6_TYPE_NAMES: Record<number, string> = {
  1: 'destination-unreachable', 2: 'packet-too-big', 3: 'time-exceeded', 4: 'parameter-problem',
  128: 'echo-request', 129: 'echo-reply', 130: 'mld-query', 131: 'mld-report', 132: 'mld-done',
  133: 'router-solicitation', 134: 'router-advertisement', 135: 'neighbor-solicitation',
  136: 'neighbor-advertisement', 137: 'redirect', 143: 'mldv2-report',
};

export interface NdpOption {
  type: number;
  /** In bytes (the field × 8). */
  length: number;
  /** Types 1/2: source/target link-layer address. */
  linkLayerAddress?: string;
  /** Type 3: prefix information. */
  prefix?: string;
  prefixLength?: number;
  /** Type 5: MTU. */
  mtu?: number;
}

/** `Quoted` is what the dispatcher decodes a quoted packet into (NetworkLayers in a Packet). */
export interface Icmpv6Layer<Quoted = unknown> {
  type: number;
  code: number;
  typeName: string;
  checksum: number;
  id?: number;
  seq?: number;
  /** Packet Too Big. */
  mtu?: number;
  /** Parameter problem. */
  pointer?: number;
  /** NS/NA/redirect target address; MLD multicast address. */
  target?: string;
  /** Redirect destination. */
  destination?: string;
  /** NA flags R/S/O (top three bits), RA flags M/O. */
  flags?: number;
  /** RA: current hop limit and router lifetime. */
  hopLimit?: number;
  routerLifetime?: number;
  /** NDP options. */
  options?: NdpOption[];
  /** MLDv2 report: number of multicast address records. */
  recordCount?: number;
  quoted?: Quoted;
  payload: Buffer;
}

function parseNdpOptions(buf: Buffer, off: number, end: number): NdpOption[] {
  const options: NdpOption[] = [];
  let p = off;
  while (end - p >= 2 && options.length < NDP_MAX_OPTIONS) {
    const type = buf[p];
    const length = buf[p + 1] * 8;
    if (length === 0 || p + length > end) break; // RFC 4861: length 0 is invalid; stop reading
    const o: NdpOption = { type, length };
    if ((type === 1 || type === 2) && length >= 8) o.linkLayerAddress = length === 8 ? formatMac(buf, p + 2) : formatHexColons(buf, p + 2, length - 2);
    else if (type === 3 && length === 32) { o.prefixLength = buf[p + 2]; o.prefix = formatIPv6(buf, p + 16); }
    else if (type === 5 && length === 8) o.mtu = u32(buf, p + 4);
    options.push(o);
    p += length;
  }
  return options;
}

export function decodeIcmpv6<Quoted>(
  buf: Buffer, off: number, end: number, decodeQuoted?: QuotedDecoder<Quoted>,
): Icmpv6Layer<Quoted> | Failure {
  const have = end - off;
  if (have < ICMPV6_HEADER_LENGTH) return truncated('icmpv6', off, ICMPV6_HEADER_LENGTH, have);
  const type = buf[off];
  const layer: Icmpv6Layer<Quoted> = {
    type, code: buf[off + 1], typeName: ICMPV6_TYPE_NAMES[type] ?? `type${type}`, checksum: u16(buf, off + 2),
    payload: bufferView(buf, Math.min(end, off + 8), end - Math.min(end, off + 8)),
  };
  if (type < 128) {
    if (have < 8) return truncated('icmpv6', off, 8, have);
    if (type === 2) layer.mtu = u32(buf, off + 4);
    if (type === 4) layer.pointer = u32(buf, off + 4);
    if (decodeQuoted && have > 8) layer.quoted = decodeQuoted(buf, off + 8, end);
    return layer;
  }
  switch (type) {
    case 128: case 129:
      if (have < 8) return truncated('icmpv6', off, 8, have);
      layer.id = u16(buf, off + 4);
      layer.seq = u16(buf, off + 6);
      break;
    case 130: case 131: case 132:
      if (have < 24) return truncated('icmpv6', off, 24, have);
      layer.target = formatIPv6(buf, off + 8);
      break;
    case 143:
      if (have < 8) return truncated('icmpv6', off, 8, have);
      layer.recordCount = u16(buf, off + 6);
      break;
    case 133:
      if (have < 8) return truncated('icmpv6', off, 8, have);
      layer.options = parseNdpOptions(buf, off + 8, end);
      break;
    case 134:
      if (have < 16) return truncated('icmpv6', off, 16, have);
      layer.hopLimit = buf[off + 4];
      layer.flags = buf[off + 5];
      layer.routerLifetime = u16(buf, off + 6);
      layer.options = parseNdpOptions(buf, off + 16, end);
      break;
    case 135: case 136:
      if (have < 24) return truncated('icmpv6', off, 24, have);
      if (type === 136) layer.flags = buf[off + 4];
      layer.target = formatIPv6(buf, off + 8);
      layer.options = parseNdpOptions(buf, off + 24, end);
      break;
    case 137:
      if (have < 40) return truncated('icmpv6', off, 40, have);
      layer.target = formatIPv6(buf, off + 8);
      layer.destination = formatIPv6(buf, off + 24);
      layer.options = parseNdpOptions(buf, off + 40, end);
      break;
  }
  return layer;
}
