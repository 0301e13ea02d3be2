/**
 * grep's fast path (lib/grep/fast-payload.ts, lib/grep/prefilter.ts) against the full decode path, on
 * every fixture capture and on fuzzed captures (test/helpers/fuzz.ts): the payload it finds from the
 * record bytes is byte for byte packetPayload(decodePacket(rec)), and with the prefilter in the reader
 * the same packets are selected with the same matches as when every packet is decoded, also when the
 * classic pcap parser leaves out whole runs of records unasked (PacketPrefilter.skipUntil).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureError } from '../lib/core/errors';
import type { PacketRecord } from '../lib/core/record';
import { CaptureParser, parseCapture } from '../lib/formats/detect';
import { decodePacket } from '../lib/layers/decode';
import { compileMatcher, MATCH_EVERYTHING, PacketGrep, packetPayload, type Matcher } from '../lib/grep/grep';
import { findPayload, type PayloadSpan } from '../lib/grep/fast-payload';
import { ByteStringFinder, PacketPrefilter } from '../lib/grep/prefilter';
import { loadCorpus, makeCase } from './helpers/fuzz';
import { FIXTURES } from './helpers/oracle';
import { prng } from './helpers/prng';

const SEED = 1313;
const FUZZ_CASES = 300;
const fixtureFiles = fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
const inputs: { name: string; bytes: Buffer }[] = [
  ...fixtureFiles.map((f) => ({ name: f, bytes: fs.readFileSync(path.join(FIXTURES, f)) })),
  ...(() => {
    const corpus = loadCorpus(FIXTURES);
    return Array.from({ length: FUZZ_CASES }, (_, i) => ({ name: `fuzz case ${i} (seed ${SEED})`, bytes: makeCase(corpus, SEED, i) }));
  })(),
];

test('the payload found from the record bytes is the decoded payload, on every fixture and fuzzed capture', () => {
  const span: PayloadSpan = { start: 0, end: 0 };
  let known = 0, total = 0, nonEmpty = 0;
  for (const { name, bytes } of inputs) {
    for (const rec of parseCapture(bytes).packets) {
      total++;
      const full = packetPayload(decodePacket(rec, { depth: 'transport' }));
      // the record's bytes somewhere inside a bigger buffer, as in a read chunk
      const lead = 1 + (rec.frame % 13);
      const chunk = Buffer.concat([Buffer.alloc(lead, 0xa5), rec.data, Buffer.alloc(9, 0x5a)]);
      if (!findPayload(chunk, lead, rec.data.length, rec.linkType, rec.fcsLength, span)) continue;
      known++;
      const fast = span.end > span.start ? chunk.subarray(span.start, span.end) : Buffer.alloc(0);
      if (fast.length > 0) {
        nonEmpty++;
        assert.ok(span.start >= lead && span.end <= lead + rec.data.length, `${name} frame ${rec.frame}: inside the record`);
      }
      assert.ok(fast.equals(full), `${name} frame ${rec.frame}: fast ${fast.length} bytes, decoded ${full.length}`);
    }
  }
  // not vacuous: most packets are judged by the fast path, many of them with payload
  assert.ok(total > 5000, `${total} packets`);
  assert.ok(known > total / 2, `fast path knew ${known} of ${total}`);
  assert.ok(nonEmpty > 1000, `${nonEmpty} with payload`);
});

interface Verdict { frame: number; afterContext: boolean; matches: string[] }

/**
 * The packets `grep` selects from a capture: every packet decoded (`prefilter` undefined) or with the fast
 * path in the reader; `bulk`: with the runs of records skipUntil() clears as well. `packets`: every packet
 * the parser went past (built, skipped one by one, or in runs).
 */
function selected(bytes: Buffer, matcher: Matcher, invert: boolean, prefilter: PacketPrefilter | undefined, chunkSizes: () => number,
  bulk = false): { verdicts: Verdict[]; error: string | null; packets: number } {
  const records: PacketRecord[] = [];
  let skipped = 0;
  const parser = new CaptureParser({
    packet: (r) => records.push(r),
    skip: prefilter ? (d, o, n, lt, fcs) => prefilter.skip(d, o, n, lt, fcs) && ++skipped > 0 : undefined,
    skipUntil: prefilter && bulk ? (d, from, end) => prefilter.skipUntil(d, from, end) : undefined,
    skippedRun: (count) => { skipped += count; },
  });
  let error: string | null = null;
  try {
    for (let off = 0; off < bytes.length;) {
      const n = chunkSizes();
      prefilter?.reset();
      parser.write(bytes.subarray(off, off + n));
      off += n;
    }
    parser.end();
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    error = e.code;
  }
  const g = new PacketGrep(matcher, { invert });
  const verdicts: Verdict[] = [];
  for (const rec of records) {
    const v = g.packet(decodePacket(rec, { depth: 'transport' }));
    if (v.selected) verdicts.push({ frame: rec.frame, afterContext: v.afterContext, matches: v.matches.map((m) => `${m.connection} ${m.offset} ${m.bytes.toString('hex')} ${m.before.toString('hex')} ${m.after.toString('hex')} ${m.frames.join(',')} ${m.ts}`) });
  }
  return { verdicts, error, packets: records.length + skipped };
}

const MATCHERS: { label: string; matcher: Matcher }[] = [
  { label: '-X 474554 (GET)', matcher: compileMatcher('474554', { hex: true }) },
  { label: '-X 0d0a0d0a', matcher: compileMatcher('0d0a0d0a', { hex: true }) },
  { label: 'literal HTTP/1.1', matcher: compileMatcher('HTTP/1.1') },
  { label: 'literal a', matcher: compileMatcher('a') },
  { label: '-X absent 00ff11ee22dd33cc44bb55aa', matcher: compileMatcher('00ff11ee22dd33cc44bb55aa', { hex: true }) },
  { label: 'regex -i host: .*', matcher: compileMatcher('host: [a-z.]+', { ignoreCase: true }) },
  { label: 'regex -w GET', matcher: compileMatcher('GET', { word: true }) },
  { label: 'no pattern', matcher: MATCH_EVERYTHING },
];

for (const { label, matcher } of MATCHERS) {
  for (const invert of [false, true]) {
    test(`grep ${invert ? '-v ' : ''}${label}: the same packets and matches with the fast path as with full decoding`, () => {
      const rand = prng(SEED + label.length);
      let selectedTotal = 0, skippedTotal = 0;
      for (const { name, bytes } of inputs) {
        const full = selected(bytes, matcher, invert, undefined, () => bytes.length || 1);
        const pre = new PacketPrefilter(matcher, { invert });
        // random chunk sizes: records split across chunks, the remembered occurrence across buffers
        const sizes = (): number => 1 + Math.floor(rand() * (rand() < 0.3 ? 64 : 4096));
        const fast = selected(bytes, matcher, invert, pre, sizes);
        assert.deepEqual(fast.verdicts, full.verdicts, name);
        assert.equal(fast.error, full.error, `${name}: the same reader error`);
        // and with whole runs left out unasked (classic pcap), in small and in big chunks
        for (const chunks of [sizes, () => 1 + Math.floor(rand() * 262144)]) {
          const bulk = selected(bytes, matcher, invert, new PacketPrefilter(matcher, { invert }), chunks, true);
          assert.deepEqual(bulk.verdicts, full.verdicts, `${name} (runs)`);
          assert.equal(bulk.error, full.error, `${name} (runs): the same reader error`);
          assert.equal(bulk.packets, full.packets, `${name} (runs): every packet counted`);
        }
        selectedTotal += full.verdicts.length;
        skippedTotal += pre.stats.skipped;
      }
      assert.ok(skippedTotal > 1000, `the fast path left out packets (${skippedTotal})`);
      const selectsNothing = invert ? matcher === MATCH_EVERYTHING : label.includes('absent');
      if (!selectsNothing) assert.ok(selectedTotal > 10, `some packets selected (${selectedTotal})`);
    });
  }
}

test('skipUntil clears no record that holds the pattern, and with -v or a regex nothing', () => {
  const needle = Buffer.from('00ff11ee22dd33cc44bb55aa', 'hex');
  const hex = compileMatcher(needle.toString('hex'), { hex: true });
  const buf = Buffer.alloc(5000, 0x41);
  needle.copy(buf, 3000);
  const pre = new PacketPrefilter(hex);
  // a record wholly before 3000 + 12 - 1 cannot hold the whole occurrence at 3000
  assert.equal(pre.skipUntil(buf, 0, buf.length), 3000 + needle.length - 1);
  assert.equal(pre.skipUntil(buf, 3001, buf.length), buf.length);
  assert.equal(pre.skipUntil(buf, 0, 2000), 2000);
  assert.equal(new PacketPrefilter(hex, { invert: true }).skipUntil(buf, 10, buf.length), 10);
  assert.equal(new PacketPrefilter(compileMatcher('AB+C')).skipUntil(buf, 10, buf.length), 10);
});

test('ByteStringFinder finds what Buffer#indexOf finds (long needles by their rarest piece)', () => {
  const rand = prng(SEED);
  for (let round = 0; round < 300; round++) {
    const alphabet = 1 + Math.floor(rand() * 4); // few distinct bytes: many partial matches
    const hay = Buffer.from(Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * alphabet) * 0x31));
    const n = 1 + Math.floor(rand() * 16);
    const at = hay.length > n ? Math.floor(rand() * (hay.length - n)) : -1;
    const needle = rand() < 0.5 && at >= 0
      ? Buffer.from(hay.subarray(at, at + n)) // present at least once
      : Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * alphabet) * 0x31));
    const finder = new ByteStringFinder(needle, hay);
    for (let from = 0; from <= hay.length; from += 1 + Math.floor(rand() * 50)) {
      assert.equal(finder.find(hay, from), hay.indexOf(needle, from), `round ${round} from ${from}`);
    }
  }
});
