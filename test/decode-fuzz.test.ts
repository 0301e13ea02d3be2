/**
 * Seeded random-mutation fuzzing of every decoder: packets from the whole corpus, mutated (bytes flipped,
 * cut short, lengths garbled, link type swapped), decoded, every lazy getter read, printed and serialised.
 * Decoding must never throw and must report problems as typed failures. Deterministic: the seed is fixed
 * (override with FUZZ_SEED / FUZZ_PER_FILE to explore).
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import { parseCapture } from '../lib/formats/detect';
import { decodePacket, type NetworkLayers, type Packet } from '../lib/layers/decode';
import { Defragmenter } from '../lib/layers/defrag';
import { formatPacketLine, packetToJson } from '../lib/layers/print';
import type { PacketRecord } from '../lib/core/record';
import { captureFiles, fixture } from './helpers/oracle';
import { prng } from './helpers/prng';


const LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 999];
const KINDS = new Set(['truncated', 'malformed', 'unsupported']);

function mutate(rec: PacketRecord, rand: () => number): PacketRecord {
  const data = Buffer.from(rec.data);
  let out = data;
  const ops = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < ops; i++) {
    const r = rand();
    if (out.length === 0) break;
    if (r < 0.45) {
      // flip a byte, biased to the headers where lengths live
      const pos = Math.floor((rand() < 0.7 ? Math.min(out.length, 80) : out.length) * rand());
      out[pos] = Math.floor(rand() * 256);
    } else if (r < 0.6) {
      out = out.subarray(0, Math.floor(out.length * rand()));
    } else if (r < 0.75) {
      // a length-like 16-bit field set to an extreme
      const pos = Math.floor(Math.min(out.length - 1, 80) * rand());
      const v = [0, 1, 0xffff, 0x8000, 7, 8, 20, 0xc00c][Math.floor(rand() * 8)];
      if (pos + 1 < out.length) out.writeUInt16BE(v, pos);
    } else if (r < 0.85) {
      // compression-pointer-like bytes anywhere
      const pos = Math.floor(out.length * rand());
      out[pos] = 0xc0 | Math.floor(rand() * 64);
    } else {
      out = Buffer.concat([out, Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)))]);
    }
  }
  const linkType = rand() < 0.1 ? LINK_TYPES[Math.floor(rand() * LINK_TYPES.length)] : rec.linkType;
  return { ...rec, data: out, caplen: out.length, linkType };
}

/** Reads every lazy part a consumer could read. */
function touch(t: NetworkLayers): void {
  if (t.ipv4) { void t.ipv4.src; void t.ipv4.dst; void t.ipv4.options; void t.ipv4.payload; }
  if (t.ipv6) { void t.ipv6.src; void t.ipv6.dst; void t.ipv6.payload; }
  if (t.tcp) { void t.tcp.options; void t.tcp.flagNames; }
  if (t.dns) { void t.dns.answers; void t.dns.authorities; void t.dns.additionals; void t.dns.edns; void t.dns.rcodeName; void t.dns.opcodeName; }
  const q = t.icmp?.quoted ?? t.icmpv6?.quoted;
  if (q) touch(q);
}

function checkFailures(pkt: Packet | NetworkLayers, where: string): void {
  for (const e of pkt.errors) {
    assert.ok(typeof e.layer === 'string' && KINDS.has(e.kind) && Number.isInteger(e.offset) && typeof e.message === 'string', `${where}: ${JSON.stringify(e)}`);
    assert.notStrictEqual(e.layer, 'internal', `${where}: decoder bug: ${e.message}`);
  }
}

test('seeded mutation fuzz over all decoders: typed failures, no exception', () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20240611);
  const perFile = Number(process.env.FUZZ_PER_FILE ?? 120);
  const rand = prng(seed);
  const defrag = new Defragmenter({ maxDatagrams: 64 });
  let decoded = 0;
  let withFailures = 0;
  for (const file of captureFiles()) {
    const parsed = parseCapture(fs.readFileSync(fixture(file)));
    if (parsed.packets.length === 0) continue;
    for (let i = 0; i < perFile; i++) {
      const base = parsed.packets[Math.floor(rand() * parsed.packets.length)];
      const rec = mutate(base, rand);
      const where = `${file} seed ${seed} #${i} (frame ${base.frame}) ${rec.data.toString('hex')}`;
      const pkt = decodePacket(rec);
      touch(pkt);
      JSON.stringify(packetToJson(pkt));
      formatPacketLine(pkt, { hex: true });
      checkFailures(pkt, where);
      const q = pkt.icmp?.quoted ?? pkt.icmpv6?.quoted;
      if (q) checkFailures(q, where);
      for (const p of defrag.push(pkt)) { touch(p); JSON.stringify(packetToJson(p)); checkFailures(p, where); }
      // Shallower depths take the same paths partially.
      decodePacket(rec, { depth: 'transport' });
      decoded++;
      if (pkt.errors.length) withFailures++;
    }
  }
  defrag.flush();
  assert.ok(decoded >= 5000, `decoded ${decoded} mutated packets`);
  assert.ok(withFailures > decoded / 10, `mutations do hit failures (${withFailures}/${decoded})`);
});

test('every malformed capture of the corpus decodes with typed failures', () => {
  for (const file of captureFiles().filter((f) => f.startsWith('malformed-') || f.startsWith('truncated-'))) {
    for (const rec of parseCapture(fs.readFileSync(fixture(file))).packets) {
      const pkt = decodePacket(rec);
      touch(pkt);
      JSON.stringify(packetToJson(pkt));
      checkFailures(pkt, `${file} #${rec.frame}`);
    }
  }
});
