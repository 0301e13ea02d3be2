/** UDP header (RFC 768). The payload is bounded by the UDP length and by the IP payload. */
import type { UdpLayer } from './packet';
import { Failure, malformed, truncated } from '../core/failure';
import { bufferView } from '../core/buffer-view';

export const UDP_HEADER_LENGTH = 8;

export class UdpHeader implements UdpLayer {
  // Declared fields, all set in the constructor in this order: one store each, one hidden class.
  declare readonly srcPort: number;
  declare readonly dstPort: number;
  declare readonly length: number;
  declare readonly checksum: number;
  /** Offset of the payload in the frame. */
  declare readonly payloadOffset: number;
  /** End of the payload in the frame: bounded by the UDP length and by the captured IP payload. */
  declare readonly payloadEnd: number;
  private declare readonly buf: Buffer;
  private declare _payload: Buffer | undefined;

  constructor(buf: Buffer, off: number, end: number) {
    const length = (buf[off + 4] << 8) | buf[off + 5];
    this.srcPort = (buf[off] << 8) | buf[off + 1];
    this.dstPort = (buf[off + 2] << 8) | buf[off + 3];
    this.length = length;
    this.checksum = (buf[off + 6] << 8) | buf[off + 7];
    this.payloadOffset = off + UDP_HEADER_LENGTH;
    // Length 0 happens for IPv6 jumbograms; otherwise the smaller of UDP length and IP payload wins.
    this.payloadEnd = length === 0 ? end : Math.min(end, off + Math.max(length, UDP_HEADER_LENGTH));
    this.buf = buf;
    this._payload = undefined;
  }

  /** The payload bytes (a view, made on first access: making a view costs more than the whole header). */
  get payload(): Buffer {
    return this._payload ??= bufferView(this.buf, this.payloadOffset, this.payloadEnd - this.payloadOffset);
  }

  /** payload.length without making the view. */
  get capturedPayloadLength(): number { return this.payloadEnd - this.payloadOffset; }

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
