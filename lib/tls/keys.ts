/**
 * Key derivation. TLS 1.2: the PRF (RFC 5246 §5) with the suite's hash, the master secret from a
 * pre-master secret (with the extended master secret of RFC 7627 when negotiated), and the key block
 * (§6.3). TLS 1.3: HKDF-Expand-Label (RFC 8446 §7.1), traffic keys (§7.3) and the KeyUpdate step (§7.2).
 *
 * Inputs and outputs here are secrets: nothing in this file formats them into a string.
 */
import * as crypto from 'node:crypto';
import { hashLength, type CipherSuite, type DirectionKeys, type TlsHashName } from './cipher';

const MASTER_SECRET_LENGTH = 48;

/** P_hash(secret, seed) truncated to `length` bytes (RFC 5246 §5). */
function pHash(hash: TlsHashName, secret: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  let a = seed; // A(0)
  while (have < length) {
    a = crypto.createHmac(hash, secret).update(a).digest();
    const block = crypto.createHmac(hash, secret).update(a).update(seed).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** PRF(secret, label, seed) of TLS 1.2. */
export function prf12(hash: TlsHashName, secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  return pHash(hash, secret, Buffer.concat([Buffer.from(label, 'latin1'), seed]), length);
}

/**
 * The master secret from the pre-master secret. With extended master secret (RFC 7627 §4) the seed is
 * the session hash (the transcript hash up to and including ClientKeyExchange), else the two randoms.
 */
export function masterSecret12(
  hash: TlsHashName, preMaster: Buffer, clientRandom: Buffer, serverRandom: Buffer, sessionHash?: Buffer,
): Buffer {
  if (sessionHash !== undefined) return prf12(hash, preMaster, 'extended master secret', sessionHash, MASTER_SECRET_LENGTH);
  return prf12(hash, preMaster, 'master secret', Buffer.concat([clientRandom, serverRandom]), MASTER_SECRET_LENGTH);
}

export interface KeyPair {
  client: DirectionKeys;
  server: DirectionKeys;
}

/** The key block split into both directions' MAC keys, keys and IVs (RFC 5246 §6.3). */
export function keyBlock12(suite: CipherSuite, master: Buffer, clientRandom: Buffer, serverRandom: Buffer): KeyPair {
  const macLength = suite.mac === undefined ? 0 : hashLength(suite.mac);
  // CBC suites of TLS 1.1+ send their IV with each record: no IV comes from the key block.
  const ivLength = suite.mac === undefined ? suite.ivLength : 0;
  const total = 2 * (macLength + suite.keyLength + ivLength);
  const block = prf12(suite.prfHash, master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), total);
  let off = 0;
  const take = (n: number): Buffer => { const b = block.subarray(off, off + n); off += n; return b; };
  const clientMac = take(macLength);
  const serverMac = take(macLength);
  const clientKey = take(suite.keyLength);
  const serverKey = take(suite.keyLength);
  const clientIv = take(ivLength);
  const serverIv = take(ivLength);
  return {
    client: { key: clientKey, iv: clientIv, ...(macLength > 0 ? { macKey: clientMac } : {}) },
    server: { key: serverKey, iv: serverIv, ...(macLength > 0 ? { macKey: serverMac } : {}) },
  };
}

/** HKDF-Expand (RFC 5869 §2.3) with HMAC-`hash`. */
export function hkdfExpand(hash: TlsHashName, prk: Buffer, info: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  let t = Buffer.alloc(0);
  for (let i = 1; have < length; i++) {
    t = crypto.createHmac(hash, prk).update(t).update(info).update(Buffer.from([i])).digest();
    out.push(t);
    have += t.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** HKDF-Expand-Label(secret, label, context, length) with the "tls13 " prefix (RFC 8446 §7.1). */
export function hkdfExpandLabel(hash: TlsHashName, secret: Buffer, label: string, context: Buffer, length: number): Buffer {
  const fullLabel = Buffer.from('tls13 ' + label, 'latin1');
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, fullLabel.length]), fullLabel, Buffer.from([context.length]), context,
  ]);
  return hkdfExpand(hash, secret, info, length);
}

/** The record key and IV of a TLS 1.3 traffic secret (RFC 8446 §7.3). */
export function trafficKeys13(suite: CipherSuite, secret: Buffer): DirectionKeys {
  const empty = Buffer.alloc(0);
  return {
    key: hkdfExpandLabel(suite.prfHash, secret, 'key', empty, suite.keyLength),
    iv: hkdfExpandLabel(suite.prfHash, secret, 'iv', empty, suite.ivLength),
  };
}

/** application_traffic_secret_N+1 after a KeyUpdate (RFC 8446 §7.2). */
export function nextTrafficSecret13(suite: CipherSuite, secret: Buffer): Buffer {
  return hkdfExpandLabel(suite.prfHash, secret, 'traffic upd', Buffer.alloc(0), hashLength(suite.prfHash));
}
