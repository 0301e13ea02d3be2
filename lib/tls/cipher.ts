/**
 * TLS record protection with node:crypto: the cipher suites we can decrypt and one decryptor per
 * direction and key. AEAD (AES-GCM, ChaCha20-Poly1305) for TLS 1.2 (RFC 5288, RFC 7905) and TLS 1.3
 * (RFC 8446 §5.2-5.3); AES-CBC with HMAC for TLS 1.2 (RFC 5246 §6.2.3.2), MAC-then-encrypt or
 * encrypt-then-MAC (RFC 7366).
 *
 * A decryptor never throws on bad input: it returns a `DecryptResult` saying why a record did not
 * authenticate, so one wrong key or one corrupt record is an event and not a crash.
 */
import * as crypto from 'node:crypto';

export type TlsHashName = 'sha1' | 'sha256' | 'sha384';
export type TlsBulkCipher = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-cbc' | 'aes-256-cbc';

export interface CipherSuite {
  id: number;
  /** IANA name, e.g. "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256". */
  name: string;
  /** true for the five TLS 1.3 suites (they name no key exchange). */
  tls13: boolean;
  cipher: TlsBulkCipher;
  keyLength: number;
  /** AEAD: the implicit (fixed) IV length; CBC: the block size (IV is explicit per record in TLS 1.1+). */
  ivLength: number;
  /** HMAC of CBC suites; undefined for AEAD. */
  mac?: TlsHashName;
  /** The hash of the TLS 1.2 PRF or of the TLS 1.3 HKDF. */
  prfHash: TlsHashName;
}

const AEAD_TAG_LENGTH = 16;
const CBC_BLOCK = 16;
/** Bytes of the explicit nonce in front of every TLS 1.2 AES-GCM record (RFC 5288 §3). */
const GCM_EXPLICIT_NONCE_LENGTH = 8;

function aead(id: number, name: string, tls13: boolean, cipher: TlsBulkCipher, prfHash: TlsHashName): CipherSuite {
  const keyLength = cipher === 'aes-128-gcm' ? 16 : 32;
  // TLS 1.2 GCM keeps 4 bytes of salt and sends 8 per record; ChaCha20 (1.2) and all 1.3 suites XOR a 12-byte IV.
  const ivLength = tls13 || cipher === 'chacha20-poly1305' ? 12 : 4;
  return { id, name, tls13, cipher, keyLength, ivLength, prfHash };
}

function cbc(id: number, name: string, cipher: 'aes-128-cbc' | 'aes-256-cbc', mac: TlsHashName, prfHash: TlsHashName): CipherSuite {
  return { id, name, tls13: false, cipher, keyLength: cipher === 'aes-128-cbc' ? 16 : 32, ivLength: CBC_BLOCK, mac, prfHash };
}

const SUITES: CipherSuite[] = [
  aead(0x1301, 'TLS_AES_128_GCM_SHA256', true, 'aes-128-gcm', 'sha256'),
  aead(0x1302, 'TLS_AES_256_GCM_SHA384', true, 'aes-256-gcm', 'sha384'),
  aead(0x1303, 'TLS_CHACHA20_POLY1305_SHA256', true, 'chacha20-poly1305', 'sha256'),
];
// TLS 1.2 AEAD suites: [id, name, cipher, prf hash].
for (const [id, name, c, h] of [
  [0x009c, 'TLS_RSA_WITH_AES_128_GCM_SHA256', 'aes-128-gcm', 'sha256'],
  [0x009d, 'TLS_RSA_WITH_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'],
  [0x009e, 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', 'aes-128-gcm', 'sha256'],
  [0x009f, 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'],
  [0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'aes-128-gcm', 'sha256'],
  [0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'],
  [0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'aes-128-gcm', 'sha256'],
  [0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'],
  [0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305', 'sha256'],
  [0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305', 'sha256'],
  [0xccaa, 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305', 'sha256'],
] as const) SUITES.push(aead(id, name, false, c, h));
// TLS 1.2 CBC suites: [id, name, cipher, mac, prf hash]. The PRF is SHA-256 unless the suite says SHA-384.
for (const [id, name, c, mac, h] of [
  [0x002f, 'TLS_RSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 'sha1', 'sha256'],
  [0x0035, 'TLS_RSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 'sha1', 'sha256'],
  [0x003c, 'TLS_RSA_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 'sha256', 'sha256'],
  [0x003d, 'TLS_RSA_WITH_AES_256_CBC_SHA256', 'aes-256-cbc', 'sha256', 'sha256'],
  [0x0033, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 'sha1', 'sha256'],
  [0x0039, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 'sha1', 'sha256'],
  [0x0067, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 'sha256', 'sha256'],
  [0x006b, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256', 'aes-256-cbc', 'sha256', 'sha256'],
  [0xc009, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 'sha1', 'sha256'],
  [0xc00a, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 'sha1', 'sha256'],
  [0xc013, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 'sha1', 'sha256'],
  [0xc014, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 'sha1', 'sha256'],
  [0xc023, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 'sha256', 'sha256'],
  [0xc024, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384', 'aes-256-cbc', 'sha384', 'sha384'],
  [0xc027, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 'sha256', 'sha256'],
  [0xc028, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384', 'aes-256-cbc', 'sha384', 'sha384'],
] as const) SUITES.push(cbc(id, name, c, mac, h));

const SUITE_BY_ID = new Map<number, CipherSuite>(SUITES.map((s) => [s.id, s]));

/** The suite we can decrypt, or undefined (then the connection is reported with reason 'unsupported-cipher'). */
export function cipherSuite(id: number): CipherSuite | undefined {
  return SUITE_BY_ID.get(id);
}

/** All suites we decrypt (for tests and the README). */
export function supportedCipherSuites(): readonly CipherSuite[] {
  return SUITES;
}

export function hashLength(h: TlsHashName): number {
  return h === 'sha1' ? 20 : h === 'sha256' ? 32 : 48;
}

/** Key material for one direction: what keys.ts derives and a decryptor needs. */
export interface DirectionKeys {
  key: Buffer;
  /** AEAD: implicit IV (4 or 12 bytes). CBC: unused (empty); the IV travels in each record. */
  iv: Buffer;
  /** CBC only: the HMAC key. */
  macKey?: Buffer;
}

export type DecryptFailure =
  /** The AEAD tag or the HMAC did not verify: wrong key, or the record was altered. */
  | 'bad-record-mac'
  /** The record is too short for its cipher's overhead, or its padding is invalid. */
  | 'bad-record';

export type DecryptResult =
  | { ok: true; contentType: number; plaintext: Buffer }
  | { ok: false; failure: DecryptFailure };

/**
 * Decrypts the records of one direction under one key. Holds the record sequence number, which both
 * AEAD nonces and CBC MACs depend on; it advances for every record given, authenticated or not, as
 * the sender's counter did.
 */
export class RecordDecryptor {
  /**
   * Records decrypted (or attempted) under this key: the next record's sequence number. A number, not a
   * bigint (three BigInt allocations per record): exact up to 2^53 records, far beyond any capture.
   */
  seq = 0;
  private readonly macLength: number;
  /**
   * The key as a KeyObject, made once: node:crypto needs a fresh decipher per record (the nonce changes),
   * but given a KeyObject it does not copy and check the raw key again for each one.
   */
  private readonly key: crypto.KeyObject;
  /** Scratch nonce and additional data, rewritten per record (setAAD and createDecipheriv copy them). */
  private readonly nonce = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(13);
  private readonly header13 = Buffer.alloc(5);

  constructor(
    readonly suite: CipherSuite,
    private readonly keys: DirectionKeys,
    /** TLS 1.3 record protection (inner content type, header as AAD). */
    readonly tls13: boolean,
    /** RFC 7366 encrypt_then_mac negotiated (CBC suites of TLS 1.2 only). */
    readonly encryptThenMac = false,
  ) {
    this.macLength = suite.mac === undefined ? 0 : hashLength(suite.mac);
    this.key = crypto.createSecretKey(keys.key);
  }

  /**
   * Decrypts one record's fragment. `contentType` and `version` are the record header's (the AAD of
   * TLS 1.2 and the MAC input of CBC use the outer type; TLS 1.3 recovers the inner one).
   */
  decrypt(contentType: number, version: number, fragment: Buffer): DecryptResult {
    const seq = this.seq;
    this.seq = seq + 1;
    if (this.suite.mac !== undefined) return this.decryptCbc(seq, contentType, version, fragment);
    return this.tls13 ? this.decrypt13(seq, fragment) : this.decryptAead12(seq, contentType, version, fragment);
  }

  private decrypt13(seq: number, fragment: Buffer): DecryptResult {
    if (fragment.length < AEAD_TAG_LENGTH + 1) return { ok: false, failure: 'bad-record' };
    const header = this.header13;
    header[0] = 23;
    header[1] = 3;
    header[2] = 3;
    header[3] = fragment.length >> 8;
    header[4] = fragment.length & 0xff;
    const inner = this.openAead(xorNonce(this.nonce, this.keys.iv, seq), header, fragment);
    if (inner === undefined) return { ok: false, failure: 'bad-record-mac' };
    // TLSInnerPlaintext: content, the real type, then zero padding (RFC 8446 §5.2).
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) return { ok: false, failure: 'bad-record' };
    return { ok: true, contentType: inner[end], plaintext: inner.subarray(0, end) };
  }

  private decryptAead12(seq: number, contentType: number, version: number, fragment: Buffer): DecryptResult {
    let nonce: Buffer;
    let sealed: Buffer;
    if (this.suite.cipher === 'chacha20-poly1305') {
      nonce = xorNonce(this.nonce, this.keys.iv, seq); // RFC 7905 §2: no explicit nonce
      sealed = fragment;
    } else {
      if (fragment.length < GCM_EXPLICIT_NONCE_LENGTH + AEAD_TAG_LENGTH) return { ok: false, failure: 'bad-record' };
      nonce = this.nonce;
      this.keys.iv.copy(nonce, 0, 0, 4);
      fragment.copy(nonce, 4, 0, GCM_EXPLICIT_NONCE_LENGTH);
      sealed = fragment.subarray(GCM_EXPLICIT_NONCE_LENGTH);
    }
    if (sealed.length < AEAD_TAG_LENGTH) return { ok: false, failure: 'bad-record' };
    const aad = writePseudoHeader(this.aad, seq, contentType, version, sealed.length - AEAD_TAG_LENGTH);
    const plaintext = this.openAead(nonce, aad, sealed);
    if (plaintext === undefined) return { ok: false, failure: 'bad-record-mac' };
    return { ok: true, contentType, plaintext };
  }

  private openAead(nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined {
    const body = sealed.subarray(0, sealed.length - AEAD_TAG_LENGTH);
    const tag = sealed.subarray(sealed.length - AEAD_TAG_LENGTH);
    try {
      const d = crypto.createDecipheriv(this.suite.cipher as crypto.CipherGCMTypes, this.key, nonce, {
        authTagLength: AEAD_TAG_LENGTH,
      });
      d.setAAD(aad); // plaintextLength is for CCM only
      d.setAuthTag(tag);
      const first = d.update(body);
      const last = d.final(); // throws when the tag does not verify
      return last.length === 0 ? first : Buffer.concat([first, last]);
    } catch {
      return undefined;
    }
  }

  private decryptCbc(seq: number, contentType: number, version: number, fragment: Buffer): DecryptResult {
    const macKey = this.keys.macKey ?? Buffer.alloc(0);
    const macLength = this.macLength;
    if (this.encryptThenMac) {
      // MAC over the header and IV + ciphertext, checked before decrypting (RFC 7366 §3).
      if (fragment.length < CBC_BLOCK * 2 + macLength) return { ok: false, failure: 'bad-record' };
      const sealed = fragment.subarray(0, fragment.length - macLength);
      const mac = fragment.subarray(fragment.length - macLength);
      const expected = this.hmac(macKey, seq, contentType, version, sealed);
      if (!crypto.timingSafeEqual(mac, expected)) return { ok: false, failure: 'bad-record-mac' };
      const padded = this.cbcDecrypt(sealed);
      if (padded === undefined) return { ok: false, failure: 'bad-record' };
      const content = stripCbcPadding(padded);
      if (content === undefined) return { ok: false, failure: 'bad-record' };
      return { ok: true, contentType, plaintext: content };
    }
    if (fragment.length < CBC_BLOCK * 2 || fragment.length % CBC_BLOCK !== 0) return { ok: false, failure: 'bad-record' };
    const padded = this.cbcDecrypt(fragment);
    if (padded === undefined) return { ok: false, failure: 'bad-record' };
    const unpadded = stripCbcPadding(padded);
    // Bad padding and a bad MAC are the same failure to the peer (no padding oracle); here both mean a wrong key.
    if (unpadded === undefined || unpadded.length < macLength) return { ok: false, failure: 'bad-record-mac' };
    const content = unpadded.subarray(0, unpadded.length - macLength);
    const mac = unpadded.subarray(unpadded.length - macLength);
    const expected = this.hmac(macKey, seq, contentType, version, content);
    if (!crypto.timingSafeEqual(mac, expected)) return { ok: false, failure: 'bad-record-mac' };
    return { ok: true, contentType, plaintext: content };
  }

  /** Explicit IV (first block) then ciphertext; no padding removal by OpenSSL (TLS padding differs from PKCS#7). */
  private cbcDecrypt(ivAndCiphertext: Buffer): Buffer | undefined {
    if (ivAndCiphertext.length < CBC_BLOCK * 2 || ivAndCiphertext.length % CBC_BLOCK !== 0) return undefined;
    const d = crypto.createDecipheriv(this.suite.cipher, this.key, ivAndCiphertext.subarray(0, CBC_BLOCK));
    d.setAutoPadding(false);
    return Buffer.concat([d.update(ivAndCiphertext.subarray(CBC_BLOCK)), d.final()]);
  }

  private hmac(macKey: Buffer, seq: number, contentType: number, version: number, data: Buffer): Buffer {
    const h = crypto.createHmac(this.suite.mac as string, macKey);
    h.update(pseudoHeader(seq, contentType, version, data.length));
    h.update(data);
    return h.digest();
  }
}

/** seq_num(8) || type(1) || version(2) || length(2): the AEAD additional data and the CBC MAC prefix. */
function pseudoHeader(seq: number, contentType: number, version: number, length: number): Buffer {
  return writePseudoHeader(Buffer.allocUnsafe(13), seq, contentType, version, length);
}

/** pseudoHeader written into `b` (13 bytes). */
function writePseudoHeader(b: Buffer, seq: number, contentType: number, version: number, length: number): Buffer {
  b.writeUInt32BE(Math.floor(seq / 0x100000000), 0);
  b.writeUInt32BE(seq >>> 0, 4);
  b[8] = contentType;
  b.writeUInt16BE(version, 9);
  b.writeUInt16BE(length, 11);
  return b;
}

/** The 64-bit sequence number, left-padded to the IV's length, XORed into the IV (RFC 8446 §5.3). */
function xorNonce(nonce: Buffer, iv: Buffer, seq: number): Buffer {
  const n = iv.length;
  iv.copy(nonce, 0, 0, n);
  // Two 32-bit halves of the 64-bit sequence number.
  let lo = seq >>> 0;
  let hi = Math.floor(seq / 0x100000000);
  for (let i = 0; i < 4; i++) { nonce[n - 1 - i] ^= lo & 0xff; lo >>>= 8; }
  for (let i = 4; i < 8; i++) { nonce[n - 1 - i] ^= hi & 0xff; hi >>>= 8; }
  return nonce;
}

/** TLS CBC padding: the last byte p, and p bytes before it all equal to p. Undefined when invalid. */
function stripCbcPadding(padded: Buffer): Buffer | undefined {
  if (padded.length === 0) return undefined;
  const p = padded[padded.length - 1];
  if (p + 1 > padded.length) return undefined;
  for (let i = padded.length - 1 - p; i < padded.length - 1; i++) if (padded[i] !== p) return undefined;
  return padded.subarray(0, padded.length - 1 - p);
}
