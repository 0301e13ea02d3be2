/**
 * BSD loopback encapsulation: LINKTYPE_NULL (0) holds the address family as a 4-byte integer in the
 * byte order of the capturing host; LINKTYPE_LOOP (108) holds it in network byte order.
 * IPv6 has three AF_INET6 values across BSDs (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
 */
import { Failure, truncated } from '../core/failure';

export const NULL_HEADER_LENGTH = 4;
export const AF_INET = 2;
export const AF_INET6_VALUES: readonly number[] = [24, 28, 30];

export interface NullLayer {
  /** The address family, already in the right byte order. */
  family: number;
}

export function decodeNull(buf: Buffer, off: number, end: number, networkOrder: boolean): NullLayer | Failure {
  if (end - off < NULL_HEADER_LENGTH) return truncated('null', off, NULL_HEADER_LENGTH, end - off);
  const le = buf.readUInt32LE(off);
  const be = buf.readUInt32BE(off);
  // The writer's byte order is unknown for NULL: family values are small, so the reading whose
  // upper 16 bits are zero is the right one (libpcap and Wireshark use the same test).
  let family: number;
  if (networkOrder) family = be;
  else family = (le & 0xffff0000) === 0 ? le : be;
  return { family };
}

export function isInet6Family(family: number): boolean {
  return family === 24 || family === 28 || family === 30;
}
