/**
 * The JA4 fingerprint of a ClientHello (FoxIO's JA4 technical details, "JA4.md"): a_b_c where
 *   a = transport ('t' for TLS over TCP), version, 'd'/'i' (SNI or not), cipher count, extension count,
 *       first and last character of the first ALPN value ('00' without ALPN);
 *   b = first 12 hex digits of SHA-256 over the sorted cipher suites ("002f,0035,...");
 *   c = the same over the sorted extensions without SNI and ALPN, then '_' and the signature
 *       algorithms in the order sent.
 * GREASE values are ignored everywhere. JA4_r (the unhashed strings) is exposed for tests and debugging.
 */
import { createHash } from 'node:crypto';
import { ExtensionType, isGrease, type ClientHello } from './handshake';

const EMPTY_HASH = '000000000000';

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function twoDigits(n: number): string {
  return String(Math.min(n, 99)).padStart(2, '0');
}

function truncatedSha256(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

function versionCode(hello: ClientHello): string {
  const offered = hello.supportedVersions.filter((v) => !isGrease(v));
  const v = offered.length > 0 ? Math.max(...offered) : hello.legacyVersion;
  switch (v) {
    case 0x0304: return '13';
    case 0x0303: return '12';
    case 0x0302: return '11';
    case 0x0301: return '10';
    case 0x0300: return 's3';
    case 0x0002: return 's2';
    default: return '00';
  }
}

function isAlphanumeric(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function alpnCode(hello: ClientHello): string {
  if (hello.alpn.length === 0 || hello.alpn[0].length === 0) return '00';
  const first = Buffer.from(hello.alpn[0], 'latin1');
  const a = first[0];
  const z = first[first.length - 1];
  if (isAlphanumeric(a) && isAlphanumeric(z)) return String.fromCharCode(a) + String.fromCharCode(z);
  const h = first.toString('hex');
  return h[0] + h[h.length - 1];
}

export interface Ja4Parts {
  a: string;
  /** Sorted cipher suites, comma-separated (the input of b). */
  ciphers: string;
  /** Sorted extensions without SNI/ALPN, then '_' and signature algorithms (the input of c). */
  extensions: string;
}

export function ja4Parts(hello: ClientHello): Ja4Parts {
  const ciphers = hello.cipherSuites.filter((c) => !isGrease(c));
  const extensions = hello.extensions.map((e) => e.type).filter((t) => !isGrease(t));
  const a = 't' + versionCode(hello) + (hello.sni !== undefined ? 'd' : 'i') + twoDigits(ciphers.length) +
    twoDigits(extensions.length) + alpnCode(hello);
  const sortedCiphers = ciphers.map(hex4).sort().join(',');
  const hashedExtensions = extensions
    .filter((t) => t !== ExtensionType.SERVER_NAME && t !== ExtensionType.ALPN)
    .map(hex4).sort().join(',');
  const sigs = hello.signatureAlgorithms.filter((s) => !isGrease(s)).map(hex4).join(',');
  return { a, ciphers: sortedCiphers, extensions: sigs === '' ? hashedExtensions : `${hashedExtensions}_${sigs}` };
}

/** JA4, e.g. "t13d1516h2_8daaf6152771_e5627efa2ab1". */
export function ja4(hello: ClientHello): string {
  const p = ja4Parts(hello);
  const b = p.ciphers === '' ? EMPTY_HASH : truncatedSha256(p.ciphers);
  const c = p.extensions === '' ? EMPTY_HASH : truncatedSha256(p.extensions);
  return `${p.a}_${b}_${c}`;
}

/** JA4_r: the same with the unhashed lists. */
export function ja4Raw(hello: ClientHello): string {
  const p = ja4Parts(hello);
  return `${p.a}_${p.ciphers}_${p.extensions}`;
}
