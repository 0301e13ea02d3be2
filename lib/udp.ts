/** UDP header (RFC 768). The payload is bounded by the UDP length and by the IP payload. */
import type { UdpLayer } from './packet';
import { Failure, malformed, truncated, u16 } from './failure';

export const UDP_HEADER_LENGTH = 8;

export class UdpHeader implements UdpLayer {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number;
  readonly checksum: number;
  readonly payload: Buffer;
  /** Offset of the payload in the frame. */
  readonly payloadOffset: number;

  constructor(buf: Buffer, off: number, end: number) {
    this.srcPort = u16(buf, off);
    this.dstPort = u16(buf, off + 2);
    this.length = u16(buf, off + 4);
    this.checksum = u16(buf, off + 6);
    this.payloadOffset = off + UDP_HEADER_LENGTH;
    // Length 0 happens for IPv6 jumbograms; otherwise the smaller of UDP length and IP payload wins.
    const udpEnd = this.length === 0 ? end : Math.min(end, off + Math.max(this.length, UDP_HEADER_LENGTH));
    this.payload = buf.subarray(this.payloadOffset, udpEnd);
  }

  toJSON(): Record<string, unknown> {
    return { srcPort: this.srcPort, dstPort: this.dstPort, length: this.length, checksum: this.checksum };
  }
}

/** Returns the header, or a failure; a length field below 8 is malformed but the header is kept. */
export function decodeUdp(buf: Buffer, off: number, end: number): UdpHeader | Failure {
  if (end - off < UDP_HEADER_LENGTH) return truncated('udp', off, UDP_HEADER_LENGTH, end - off);
  return new UdpHeader(buf, off, end);
}

export function udpLengthProblem(udp: UdpHeader, off: number): Failure | undefined {
  if (udp.length !== 0 && udp.length < UDP_HEADER_LENGTH) return malformed('udp', off + 4, `length ${udp.length} < 8`);
  return undefined;
}
