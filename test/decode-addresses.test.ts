/**
 * Address text (lib/core/addresses.ts) keeps small direct-mapped caches: these tests fill them far past their
 * size with seeded random addresses, so slots collide and are overwritten, and check every answer against
 * an independent formatter — Node's own WHATWG URL serialiser for IPv6 (RFC 5952 compression), plain
 * joins for MACs and dotted quads — on the first call and again, in another order, after eviction.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { formatHexColons, formatIPv4, formatIPv6, formatMac } from '../lib/core/addresses';
import { prng } from './helpers/prng';


const COUNT = 20_000;

/** Random bytes, biased towards zero so IPv6 addresses get zero runs of every length. */
function randomBytes(rnd: () => number, n: number, zeroBias: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd() < zeroBias ? 0 : Math.floor(rnd() * 256);
  return b;
}

/** Checks `format` on COUNT samples (at a random offset inside a bigger buffer), twice, in two orders. */
function checkAgainst(samples: Buffer[], format: (buf: Uint8Array, off: number) => string, reference: (b: Buffer) => string): void {
  const pad = Buffer.alloc(7, 0xee);
  const framed = samples.map((s) => Buffer.concat([pad, s, pad]));
  const expected = samples.map(reference);
  for (let i = 0; i < samples.length; i++) assert.strictEqual(format(framed[i], pad.length), expected[i], `sample ${i}`);
  for (let i = samples.length - 1; i >= 0; i--) assert.strictEqual(format(framed[i], pad.length), expected[i], `sample ${i} again`);
}

test('formatMac: matches a plain hex join across cache collisions', () => {
  const rnd = prng(1);
  const samples = Array.from({ length: COUNT }, () => randomBytes(rnd, 6, 0.3));
  samples.push(Buffer.alloc(6), Buffer.alloc(6, 0xff));
  checkAgainst(samples, formatMac, (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
});

test('formatIPv4: matches a plain decimal join across cache collisions', () => {
  const rnd = prng(2);
  const samples = Array.from({ length: COUNT }, () => randomBytes(rnd, 4, 0.2));
  samples.push(Buffer.alloc(4), Buffer.alloc(4, 0xff), Buffer.from([0x80, 0, 0, 1]));
  checkAgainst(samples, formatIPv4, (b) => [...b].join('.'));
});

test('formatIPv6: matches the WHATWG URL serialiser (RFC 5952) across cache collisions', () => {
  const rnd = prng(3);
  const samples = Array.from({ length: COUNT }, () => randomBytes(rnd, 16, 0.75));
  samples.push(Buffer.alloc(16), Buffer.from('00000000000000000000000000000001', 'hex'), Buffer.from('20010db8000000000000000000000000', 'hex'));
  const viaUrl = (b: Buffer): string => {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  };
  // IPv4-mapped addresses keep a dotted tail (like inet_ntop and tshark), which URL does not.
  const mapped = (b: Buffer): boolean => b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  checkAgainst(samples.filter((b) => !mapped(b)), formatIPv6, viaUrl);
  const mappedSamples = Array.from({ length: 200 }, () => Buffer.concat([Buffer.from('00000000000000000000ffff', 'hex'), randomBytes(rnd, 4, 0.1)]));
  checkAgainst(mappedSamples, formatIPv6, (b) => `::ffff:${[...b.subarray(12)].join('.')}`);
});

test('formatHexColons: any length, including none', () => {
  assert.strictEqual(formatHexColons(Buffer.from([]), 0, 0), '');
  assert.strictEqual(formatHexColons(Buffer.from([0xab]), 0, 1), 'ab');
  assert.strictEqual(formatHexColons(Buffer.from([1, 2, 0xfe, 0x10]), 1, 3), '02:fe:10');
});
