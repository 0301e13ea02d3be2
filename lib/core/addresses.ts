/**
 * Address formatting, exactly as tshark prints addresses: MACs as lowercase colon-separated hex, IPv4
 * dotted quads, IPv6 compressed per RFC 5952 (lowercase, no leading zeros, the longest run of two or more
 * zero groups replaced by "::", the first such run on a tie; IPv4-mapped addresses end in a dotted quad).
 *
 * Callers pass the buffer and an offset they have already bounds-checked; these functions never throw
 * for in-range offsets and never copy the buffer.
 */

const HEX2: string[] = [];
const DEC: string[] = [];
/** "xx:" and "d." per byte: a MAC is then 6 concatenations, a dotted quad 4, instead of 11 and 7. */
const HEX2_COLON: string[] = [];
const DEC_DOT: string[] = [];
for (let i = 0; i < 256; i++) {
  HEX2.push(i.toString(16).padStart(2, '0'));
  DEC.push(String(i));
  HEX2_COLON.push(HEX2[i] + ':');
  DEC_DOT.push(DEC[i] + '.');
}

/*
 * Direct-mapped caches of formatted addresses. A capture holds few distinct addresses and every packet
 * asks for two, so a hit (a hash, one or two integer compares, no allocation) replaces building a string of
 * 5-11 pieces. Fixed sizes bound the memory; a collision just overwrites the slot. Every slot starts out
 * holding the all-zero address and its text, so no "empty" marker is needed.
 */
const MAC_CACHE_SIZE = 1024; // power of two
const IPV4_CACHE_SIZE = 4096; // power of two
const macKeyHigh = new Int32Array(MAC_CACHE_SIZE);
const macKeyLow = new Int32Array(MAC_CACHE_SIZE);
const macText: string[] = new Array<string>(MAC_CACHE_SIZE).fill('00:00:00:00:00:00');
const ipv4Key = new Int32Array(IPV4_CACHE_SIZE);
const ipv4Text: string[] = new Array<string>(IPV4_CACHE_SIZE).fill('0.0.0.0');

/** "00:1a:2b:3c:4d:5e" from 6 bytes at `off`. */
export function formatMac(buf: Uint8Array, off: number): string {
  const high = (buf[off] << 8) | buf[off + 1];
  const low = (buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5];
  const slot = (low ^ (low >>> 12) ^ (high << 2)) & (MAC_CACHE_SIZE - 1);
  if (macKeyLow[slot] === low && macKeyHigh[slot] === high) return macText[slot];
  const text = HEX2_COLON[buf[off]] + HEX2_COLON[buf[off + 1]] + HEX2_COLON[buf[off + 2]] +
    HEX2_COLON[buf[off + 3]] + HEX2_COLON[buf[off + 4]] + HEX2[buf[off + 5]];
  macKeyHigh[slot] = high;
  macKeyLow[slot] = low;
  macText[slot] = text;
  return text;
}

/** Colon-separated hex of any length (hardware addresses of other sizes, SLL addresses). */
export function formatHexColons(buf: Uint8Array, off: number, len: number): string {
  if (len <= 0) return '';
  let s = HEX2[buf[off]];
  for (let i = 1; i < len; i++) s += ':' + HEX2[buf[off + i]];
  return s;
}

/** "192.0.2.1" from 4 bytes at `off`. */
export function formatIPv4(buf: Uint8Array, off: number): string {
  const key = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
  const slot = (key ^ (key >>> 12) ^ (key >>> 24)) & (IPV4_CACHE_SIZE - 1);
  if (ipv4Key[slot] === key) return ipv4Text[slot];
  const text = DEC_DOT[buf[off]] + DEC_DOT[buf[off + 1]] + DEC_DOT[buf[off + 2]] + DEC[buf[off + 3]];
  ipv4Key[slot] = key;
  ipv4Text[slot] = text;
  return text;
}

const IPV6_CACHE_SIZE = 1024; // power of two
/** Four 32-bit words per slot; all zero (::) to begin with. */
const ipv6Key = new Int32Array(IPV6_CACHE_SIZE * 4);
const ipv6Text: string[] = new Array<string>(IPV6_CACHE_SIZE).fill('::');
/** The eight groups of the address being formatted (no allocation per call; nothing here re-enters). */
const ipv6Groups = new Int32Array(8);

function word32(buf: Uint8Array, off: number): number {
  return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/** RFC 5952 text of the 16 bytes at `off`. */
export function formatIPv6(buf: Uint8Array, off: number): string {
  const w0 = word32(buf, off);
  const w1 = word32(buf, off + 4);
  const w2 = word32(buf, off + 8);
  const w3 = word32(buf, off + 12);
  const slot = (w0 ^ w1 ^ w2 ^ w3 ^ (w3 >>> 10) ^ (w1 >>> 20)) & (IPV6_CACHE_SIZE - 1);
  const k = slot * 4;
  if (ipv6Key[k] === w0 && ipv6Key[k + 1] === w1 && ipv6Key[k + 2] === w2 && ipv6Key[k + 3] === w3) return ipv6Text[slot];
  const text = formatIPv6Uncached(buf, off);
  ipv6Key[k] = w0;
  ipv6Key[k + 1] = w1;
  ipv6Key[k + 2] = w2;
  ipv6Key[k + 3] = w3;
  ipv6Text[slot] = text;
  return text;
}

function formatIPv6Uncached(buf: Uint8Array, off: number): string {
  const groups = ipv6Groups;
  for (let i = 0; i < 8; i++) groups[i] = (buf[off + 2 * i] << 8) | buf[off + 2 * i + 1];

  // The longest run of zero groups (length >= 2); the first one wins a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;

  // IPv4-mapped (::ffff:a.b.c.d) keeps its dotted tail, like inet_ntop and tshark.
  if (bestStart === 0 && bestLen === 5 && groups[5] === 0xffff) {
    return '::ffff:' + formatIPv4(buf, off + 12);
  }

  let s = '';
  // True right after "::" or at the start: no ':' separator before the next group.
  let noSeparator = true;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      noSeparator = true;
      continue;
    }
    if (!noSeparator) s += ':';
    s += groups[i].toString(16);
    noSeparator = false;
  }
  return s;
}

/** Parses "a.b.c.d" into 4 bytes, or undefined. */
export function parseIPv4(text: string): Buffer | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return undefined;
    const v = Number(parts[i]);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}
