/**
 * The server name (SNI) and ALPN list of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301),
 * read from one TCP segment's payload. Only a record that starts the segment is looked at; a ClientHello
 * cut by the segment end yields what was read so far with `complete: false`.
 */
import { u16 } from '../core/bytes';

export const TLS_RECORD_HEADER_LENGTH = 5;
const TLS_CONTENT_HANDSHAKE = 22;
const TLS_HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

export interface TlsLayer {
  /** Record-layer version (0x0301 for most ClientHellos). */
  recordVersion: number;
  /** ClientHello legacy_version. */
  clientVersion?: number;
  /** host_name from the server_name extension. */
  sni?: string;
  alpn?: string[];
  /** False when the ClientHello continues beyond this segment. */
  complete: boolean;
}

/**
 * True when the bytes [off, end) of `buf` could start a ClientHello: the test `decodeTlsClientHello`
 * begins with, without a Buffer view of the payload (most segments fail it at the first byte).
 */
export function mayStartTlsClientHello(buf: Uint8Array, off: number, end: number): boolean {
  return end - off >= TLS_RECORD_HEADER_LENGTH + 4 && buf[off] === TLS_CONTENT_HANDSHAKE && buf[off + 1] === 3 &&
    buf[off + 2] <= 4 && buf[off + 5] === TLS_HANDSHAKE_CLIENT_HELLO;
}

/** Returns the ClientHello summary, or undefined when the payload does not start a TLS ClientHello. */
export function decodeTlsClientHello(p: Buffer): TlsLayer | undefined {
  if (!mayStartTlsClientHello(p, 0, p.length)) return undefined;
  const layer: TlsLayer = { recordVersion: u16(p, 1), complete: false };
  const recordEnd = Math.min(p.length, TLS_RECORD_HEADER_LENGTH + u16(p, 3));
  const helloLen = (p[6] << 16) | (p[7] << 8) | p[8];
  const end = Math.min(recordEnd, 9 + helloLen);
  let q = 9;
  if (end - q < 2 + 32 + 1) return layer;
  layer.clientVersion = u16(p, q);
  q += 34;
  q += 1 + p[q]; // session id
  if (end - q < 2) return layer;
  q += 2 + u16(p, q); // cipher suites
  if (end - q < 1) return layer;
  q += 1 + p[q]; // compression methods
  if (end - q < 2) return layer;
  const extEnd = Math.min(end, q + 2 + u16(p, q));
  q += 2;
  while (extEnd - q >= 4) {
    const type = u16(p, q);
    const len = u16(p, q + 2);
    const body = q + 4;
    if (body + len > extEnd) return layer;
    if (type === EXT_SERVER_NAME && len >= 5) {
      // server_name_list: list length(2), then entries: type(1) length(2) name
      let r = body + 2;
      const listEnd = Math.min(body + len, body + 2 + u16(p, body));
      while (listEnd - r >= 3) {
        const nameType = p[r];
        const nameLen = u16(p, r + 1);
        if (r + 3 + nameLen > listEnd) break;
        if (nameType === 0) { layer.sni = p.toString('latin1', r + 3, r + 3 + nameLen); break; }
        r += 3 + nameLen;
      }
    } else if (type === EXT_ALPN && len >= 2) {
      const alpn: string[] = [];
      const listEnd = Math.min(body + len, body + 2 + u16(p, body));
      for (let r = body + 2; r < listEnd; ) {
        const l = p[r];
        if (r + 1 + l > listEnd) break;
        alpn.push(p.toString('latin1', r + 1, r + 1 + l));
        r += 1 + l;
      }
      layer.alpn = alpn;
    }
    q = body + len;
  }
  layer.complete = extEnd === q && end === 9 + helloLen;
  return layer;
}
