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
for (let i = 0; i < 256; i++) {
  HEX2.push(i.toString(16).padStart(2, '0'));
  DEC.push(String(i));
}

/** "00:1a:2b:3c:4d:5e" from 6 bytes at `off`. */
export function formatMac(buf: Uint8Array, off: number): string {
  return HEX2[buf[off]] + ':' + HEX2[buf[off + 1]] + ':' + HEX2[buf[off + 2]] + ':' +
    HEX2[buf[off + 3]] + ':' + HEX2[buf[off + 4]] + ':' + HEX2[buf[off + 5]];
}

/** Colon-separated hex of any length (hardware addresses of other sizes, SLL addresses). */
export function formatHexColons(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += (i === 0 ? '' : ':') + HEX2[buf[off + i]];
  return s;
}

/** "192.0.2.1" from 4 bytes at `off`. */
export function formatIPv4(buf: Uint8Array, off: number): string {
  return DEC[buf[off]] + '.' + DEC[buf[off + 1]] + '.' + DEC[buf[off + 2]] + '.' + DEC[buf[off + 3]];
}

/** RFC 5952 text of the 16 bytes at `off`. */
export function formatIPv6(buf: Uint8Array, off: number): string {
  const groups = new Array<number>(8);
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
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += groups[i].toString(16);
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
