/**
 * TLS handshake messages (RFC 5246 §7.4, RFC 8446 §4): reassembly of messages from the handshake
 * records of one direction (a message may span records, a record may carry several), and parsers for
 * what we report or need for keys: ClientHello, ServerHello (and HelloRetryRequest), EncryptedExtensions,
 * Certificate (X.509 subject/issuer/validity via node:crypto), NewSessionTicket (TLS 1.2), KeyUpdate.
 *
 * Parsers return undefined for a malformed message instead of throwing; a reader over bytes checks every
 * length against what is there.
 */
import { createHash, X509Certificate } from 'node:crypto';

export const HandshakeType = {
  CLIENT_HELLO: 1,
  SERVER_HELLO: 2,
  NEW_SESSION_TICKET: 4,
  END_OF_EARLY_DATA: 5,
  ENCRYPTED_EXTENSIONS: 8,
  CERTIFICATE: 11,
  SERVER_KEY_EXCHANGE: 12,
  CERTIFICATE_REQUEST: 13,
  SERVER_HELLO_DONE: 14,
  CERTIFICATE_VERIFY: 15,
  CLIENT_KEY_EXCHANGE: 16,
  FINISHED: 20,
  KEY_UPDATE: 24,
} as const;

export const ExtensionType = {
  SERVER_NAME: 0,
  SUPPORTED_GROUPS: 10,
  SIGNATURE_ALGORITHMS: 13,
  ALPN: 16,
  ENCRYPT_THEN_MAC: 22,
  EXTENDED_MASTER_SECRET: 23,
  SESSION_TICKET: 35,
  PRE_SHARED_KEY: 41,
  EARLY_DATA: 42,
  SUPPORTED_VERSIONS: 43,
  KEY_SHARE: 51,
} as const;

/** Largest handshake message we assemble (a certificate chain is the big one). */
export const MAX_HANDSHAKE_MESSAGE = 256 * 1024;

/** ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3). */
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

export interface HandshakeMessage {
  type: number;
  body: Buffer;
  /** Header and body, as they enter the transcript hash. */
  raw: Buffer;
}

/** Assembles handshake messages from the plaintext of handshake records, in order. */
export class HandshakeReader {
  private pending: Buffer = Buffer.alloc(0);
  failed = false;

  get buffered(): number {
    return this.pending.length;
  }

  /** Feeds one record's plaintext; returns the messages it completes, or undefined when a message is too large. */
  push(fragment: Buffer): HandshakeMessage[] | undefined {
    if (this.failed) return undefined;
    const data = this.pending.length === 0 ? fragment : Buffer.concat([this.pending, fragment]);
    const out: HandshakeMessage[] = [];
    let off = 0;
    while (data.length - off >= 4) {
      const length = (data[off + 1] << 16) | (data[off + 2] << 8) | data[off + 3];
      if (length > MAX_HANDSHAKE_MESSAGE) {
        this.failed = true;
        this.pending = Buffer.alloc(0);
        return undefined;
      }
      if (data.length - off < 4 + length) break;
      const raw = data.subarray(off, off + 4 + length);
      out.push({ type: data[off], body: raw.subarray(4), raw });
      off += 4 + length;
    }
    this.pending = off < data.length ? Buffer.from(data.subarray(off)) : Buffer.alloc(0);
    return out;
  }
}

/** A bounds-checked reader over a message body. Every read past the end sets `bad` and returns empty values. */
class Reader {
  off = 0;
  bad = false;
  constructor(readonly b: Buffer, private end = b.length) {}
  get left(): number { return this.end - this.off; }
  u8(): number {
    if (this.left < 1) { this.bad = true; return 0; }
    return this.b[this.off++];
  }
  u16(): number {
    if (this.left < 2) { this.bad = true; this.off = this.end; return 0; }
    const v = (this.b[this.off] << 8) | this.b[this.off + 1];
    this.off += 2;
    return v;
  }
  u24(): number {
    if (this.left < 3) { this.bad = true; this.off = this.end; return 0; }
    const v = (this.b[this.off] << 16) | (this.b[this.off + 1] << 8) | this.b[this.off + 2];
    this.off += 3;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.left < n) { this.bad = true; this.off = this.end; return Buffer.alloc(0); }
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  /** A length-prefixed vector (prefix of 1, 2 or 3 bytes) as a sub-reader. */
  vector(prefix: 1 | 2 | 3): Reader {
    const n = prefix === 1 ? this.u8() : prefix === 2 ? this.u16() : this.u24();
    return new Reader(this.bytes(n));
  }
}

export interface TlsExtension {
  type: number;
  data: Buffer;
}

export interface ClientHello {
  legacyVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuites: number[];
  /** Extensions in the order sent (JA4 counts them; GREASE values included). */
  extensions: TlsExtension[];
  sni?: string;
  alpn: string[];
  /** supported_versions, in the client's order. */
  supportedVersions: number[];
  signatureAlgorithms: number[];
  supportedGroups: number[];
  /** Groups the client sent key shares for. */
  keyShareGroups: number[];
  extendedMasterSecret: boolean;
  encryptThenMac: boolean;
  /** A non-empty session_ticket extension: the client asks to resume with a TLS 1.2 ticket. */
  sessionTicket?: Buffer;
  /** pre_shared_key offered (TLS 1.3 resumption). */
  preSharedKey: boolean;
  earlyData: boolean;
}

export interface ServerHello {
  legacyVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  extensions: TlsExtension[];
  /** The negotiated version: supported_versions' selection when present, else legacy_version. */
  version: number;
  helloRetryRequest: boolean;
  alpn?: string;
  extendedMasterSecret: boolean;
  encryptThenMac: boolean;
  /** TLS 1.3: the server accepted a PSK (resumption). */
  preSharedKey: boolean;
  /** TLS 1.2: the server will send a NewSessionTicket. */
  sessionTicket: boolean;
  keyShareGroup?: number;
}

function readExtensions(r: Reader): TlsExtension[] {
  const out: TlsExtension[] = [];
  if (r.left === 0) return out; // extensions are optional in TLS 1.2 hellos
  const list = r.vector(2);
  while (list.left >= 4 && !list.bad) {
    const type = list.u16();
    const data = list.vector(2);
    out.push({ type, data: data.b });
  }
  if (list.bad || list.left !== 0) r.bad = true;
  return out;
}

function readU16List(data: Buffer, prefix: 1 | 2): number[] {
  const r = new Reader(data).vector(prefix);
  const out: number[] = [];
  while (r.left >= 2) out.push(r.u16());
  return out;
}

function readAlpnList(data: Buffer): string[] {
  const list = new Reader(data).vector(2);
  const out: string[] = [];
  while (list.left > 0 && !list.bad) {
    const name = list.vector(1);
    out.push(name.b.toString('latin1'));
  }
  return out;
}

function readSni(data: Buffer): string | undefined {
  const list = new Reader(data).vector(2);
  while (list.left > 0 && !list.bad) {
    const nameType = list.u8();
    const name = list.vector(2);
    if (nameType === 0) return name.b.toString('latin1');
  }
  return undefined;
}

export function parseClientHello(body: Buffer): ClientHello | undefined {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const sessionId = r.vector(1).b;
  const suites = r.vector(2);
  const cipherSuites: number[] = [];
  while (suites.left >= 2) cipherSuites.push(suites.u16());
  r.vector(1); // compression methods
  const extensions = readExtensions(r);
  if (r.bad || random.length !== 32) return undefined;
  const hello: ClientHello = {
    legacyVersion, random: Buffer.from(random), sessionId: Buffer.from(sessionId), cipherSuites, extensions,
    alpn: [], supportedVersions: [], signatureAlgorithms: [], supportedGroups: [], keyShareGroups: [],
    extendedMasterSecret: false, encryptThenMac: false, preSharedKey: false, earlyData: false,
  };
  for (const ext of extensions) {
    switch (ext.type) {
      case ExtensionType.SERVER_NAME: { const sni = readSni(ext.data); if (sni !== undefined) hello.sni = sni; break; }
      case ExtensionType.ALPN: hello.alpn = readAlpnList(ext.data); break;
      case ExtensionType.SUPPORTED_VERSIONS: hello.supportedVersions = readU16List(ext.data, 1); break;
      case ExtensionType.SIGNATURE_ALGORITHMS: hello.signatureAlgorithms = readU16List(ext.data, 2); break;
      case ExtensionType.SUPPORTED_GROUPS: hello.supportedGroups = readU16List(ext.data, 2); break;
      case ExtensionType.KEY_SHARE: {
        const list = new Reader(ext.data).vector(2);
        while (list.left >= 4 && !list.bad) { hello.keyShareGroups.push(list.u16()); list.vector(2); }
        break;
      }
      case ExtensionType.EXTENDED_MASTER_SECRET: hello.extendedMasterSecret = true; break;
      case ExtensionType.ENCRYPT_THEN_MAC: hello.encryptThenMac = true; break;
      case ExtensionType.SESSION_TICKET: if (ext.data.length > 0) hello.sessionTicket = Buffer.from(ext.data); break;
      case ExtensionType.PRE_SHARED_KEY: hello.preSharedKey = true; break;
      case ExtensionType.EARLY_DATA: hello.earlyData = true; break;
      default: break;
    }
  }
  return hello;
}

export function parseServerHello(body: Buffer): ServerHello | undefined {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const sessionId = r.vector(1).b;
  const cipherSuite = r.u16();
  r.u8(); // compression method
  const extensions = readExtensions(r);
  if (r.bad || random.length !== 32) return undefined;
  const hello: ServerHello = {
    legacyVersion, random: Buffer.from(random), sessionId: Buffer.from(sessionId), cipherSuite, extensions,
    version: legacyVersion, helloRetryRequest: random.equals(HRR_RANDOM),
    extendedMasterSecret: false, encryptThenMac: false, preSharedKey: false, sessionTicket: false,
  };
  for (const ext of extensions) {
    switch (ext.type) {
      case ExtensionType.SUPPORTED_VERSIONS: if (ext.data.length === 2) hello.version = ext.data.readUInt16BE(0); break;
      case ExtensionType.ALPN: { const a = readAlpnList(ext.data); if (a.length > 0) hello.alpn = a[0]; break; }
      case ExtensionType.EXTENDED_MASTER_SECRET: hello.extendedMasterSecret = true; break;
      case ExtensionType.ENCRYPT_THEN_MAC: hello.encryptThenMac = true; break;
      case ExtensionType.PRE_SHARED_KEY: hello.preSharedKey = true; break;
      case ExtensionType.SESSION_TICKET: hello.sessionTicket = true; break;
      case ExtensionType.KEY_SHARE: if (ext.data.length >= 2) hello.keyShareGroup = ext.data.readUInt16BE(0); break;
      default: break;
    }
  }
  return hello;
}

/** TLS 1.3 EncryptedExtensions: what we report from it (ALPN). */
export function parseEncryptedExtensions(body: Buffer): { alpn?: string; earlyData: boolean } | undefined {
  const r = new Reader(body);
  const extensions = readExtensions(r);
  if (r.bad) return undefined;
  const out: { alpn?: string; earlyData: boolean } = { earlyData: false };
  for (const ext of extensions) {
    if (ext.type === ExtensionType.ALPN) { const a = readAlpnList(ext.data); if (a.length > 0) out.alpn = a[0]; }
    if (ext.type === ExtensionType.EARLY_DATA) out.earlyData = true;
  }
  return out;
}

/** What we report of a certificate: no key material, no raw DER. */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  /** ISO 8601 times (X509Certificate's validFrom/validTo reformatted). */
  validFrom: string;
  validTo: string;
  subjectAltName?: string;
  serialNumber: string;
}

/** Summaries of certificates seen, by SHA-256 of the DER: a server sends the same chain on every connection. */
const summaryCache = new Map<string, CertificateSummary | undefined>();
const MAX_CACHED_CERTIFICATES = 256;

function summarise(der: Buffer): CertificateSummary | undefined {
  const key = createHash('sha256').update(der).digest('base64');
  if (summaryCache.has(key)) {
    const s = summaryCache.get(key);
    return s === undefined ? undefined : { ...s };
  }
  const s = parseCertificate(der);
  if (summaryCache.size >= MAX_CACHED_CERTIFICATES) summaryCache.delete(summaryCache.keys().next().value as string);
  summaryCache.set(key, s);
  return s === undefined ? undefined : { ...s };
}

function parseCertificate(der: Buffer): CertificateSummary | undefined {
  try {
    const c = new X509Certificate(der);
    const s: CertificateSummary = {
      subject: c.subject.replace(/\n/g, ', '),
      issuer: c.issuer.replace(/\n/g, ', '),
      validFrom: new Date(c.validFrom).toISOString(),
      validTo: new Date(c.validTo).toISOString(),
      serialNumber: c.serialNumber,
    };
    if (c.subjectAltName !== undefined) s.subjectAltName = c.subjectAltName;
    return s;
  } catch {
    return undefined;
  }
}

/**
 * The chain of a Certificate message (leaf first). TLS 1.3 adds a request context before the list and
 * extensions after each entry (RFC 8446 §4.4.2). Certificates node:crypto cannot parse are left out.
 */
export function parseCertificates(body: Buffer, tls13: boolean): CertificateSummary[] | undefined {
  const r = new Reader(body);
  if (tls13) r.vector(1);
  const list = r.vector(3);
  if (r.bad) return undefined;
  const out: CertificateSummary[] = [];
  while (list.left > 0 && !list.bad) {
    const der = list.vector(3).b;
    if (tls13) list.vector(2);
    const s = summarise(der);
    if (s !== undefined) out.push(s);
  }
  return list.bad ? undefined : out;
}

/** TLS 1.2 NewSessionTicket: the ticket (RFC 5077 §3.3). */
export function parseNewSessionTicket12(body: Buffer): Buffer | undefined {
  const r = new Reader(body);
  r.bytes(4); // lifetime hint
  const ticket = r.vector(2).b;
  return r.bad ? undefined : Buffer.from(ticket);
}

/** KeyUpdate: true when the sender asks the peer to update too (RFC 8446 §4.6.3). */
export function parseKeyUpdate(body: Buffer): { updateRequested: boolean } | undefined {
  if (body.length !== 1 || body[0] > 1) return undefined;
  return { updateRequested: body[0] === 1 };
}

/** "TLS 1.2" etc.; GREASE and unknown values as hex. */
export function versionName(v: number): string {
  switch (v) {
    case 0x0300: return 'SSL 3.0';
    case 0x0301: return 'TLS 1.0';
    case 0x0302: return 'TLS 1.1';
    case 0x0303: return 'TLS 1.2';
    case 0x0304: return 'TLS 1.3';
    default: return '0x' + v.toString(16).padStart(4, '0');
  }
}

/** GREASE values (RFC 8701): 0x?a?a with both bytes equal. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);
}
