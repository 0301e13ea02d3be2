/** IP fragment reassembly: IPv4 (tiny TCP fragments) and IPv6 (DNS over UDP), checked against tshark. */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import { parseCapture } from '../lib/formats/detect';
import { decodePacket, type Packet } from '../lib/layers/decode';
import { Defragmenter } from '../lib/layers/defrag';
import { fixture, readOracle } from './helpers/oracle';

function run(file: string, d: Defragmenter): Packet[] {
  const out: Packet[] = [];
  for (const rec of parseCapture(fs.readFileSync(fixture(file))).packets) out.push(...d.push(decodePacket(rec)));
  out.push(...d.flush());
  return out;
}

test('IPv4: every fragmented TCP segment is rebuilt; the byte streams equal tshark follow (defrag on)', () => {
  const file = 'ipv4-fragments-socks5-http.pcap';
  const d = new Defragmenter();
  const out = run(file, d);
  const reassembled = out.filter((p) => p.reassembledFrom);
  assert.ok(reassembled.length > 0);
  assert.strictEqual(d.stats.timedOut + d.stats.evicted + d.stats.rejected, 0);
  assert.ok(out.every((p) => p.errors.length === 0), 'no failures');
  // No fragment is left: every output packet is whole.
  assert.ok(out.every((p) => !Defragmenter.isFragment(p)));
  for (const p of reassembled) {
    assert.ok(p.tcp, `frames ${p.reassembledFrom} carry TCP`);
    assert.strictEqual(p.tcp.payload.length, p.tcp.payloadLength);
  }
  // Sum of TCP payload per direction, de-duplicated by sequence number, equals tshark's follow byte counts.
  const follow = readOracle(`${file}.follow.tsv`);
  const bytes = new Map<string, Map<number, number>>();
  for (const p of out) {
    if (!p.tcp || !p.ipv4 || p.tcp.payloadLength === 0) continue;
    const key = `${p.ipv4.src}:${p.tcp.srcPort}`;
    const m = bytes.get(key) ?? new Map<number, number>();
    m.set(p.tcp.seq, p.tcp.payload.length);
    bytes.set(key, m);
  }
  const totals = [...bytes.entries()].map(([k, m]) => [k, [...m.values()].reduce((a, b) => a + b, 0)] as const);
  for (const row of follow) {
    const n0 = row.node0, n1 = row.node1;
    assert.strictEqual(totals.find(([k]) => k === n0)?.[1] ?? 0, Number(row.bytes_0to1), `${n0} → ${n1}`);
    assert.strictEqual(totals.find(([k]) => k === n1)?.[1] ?? 0, Number(row.bytes_1to0), `${n1} → ${n0}`);
  }
});

test('IPv6: fragmented DNS responses decode after reassembly', () => {
  const file = 'ipv6-fragmented-dns.pcap';
  const d = new Defragmenter();
  const out = run(file, d);
  const reassembled = out.filter((p) => p.reassembledFrom);
  assert.ok(reassembled.length >= 1);
  const oracle = readOracle(`${file}.frames.tsv`);
  for (const p of reassembled) {
    assert.ok(p.udp && p.dns, 'UDP and DNS after reassembly');
    assert.strictEqual(p.ipv6?.fragment, undefined, 'Fragment header removed');
    assert.strictEqual(p.udp.payload.length, p.udp.length - 8, 'the whole UDP datagram is there');
    // The answers (cut short in the first fragment) now parse completely.
    assert.strictEqual(p.dns.answers.length, p.dns.answerCount);
    assert.ok(p.dns.answers.every((r) => r.typeName === 'TXT'));
    assert.deepStrictEqual(p.errors, []);
    // The first fragment's row in the oracle names the same query.
    const first = oracle.find((r) => Number(r['frame.number']) === p.reassembledFrom?.[0]);
    assert.strictEqual(first?.['dns.qry.name'], p.dns.questions[0]?.name);
    assert.strictEqual(first?.['dns.count.answers'], String(p.dns.answerCount));
  }
  // Without reassembly the same answers are cut short: reading them reports a truncated failure.
  const firstFrag = decodePacket(parseCapture(fs.readFileSync(fixture(file))).packets[(reassembled[0].reassembledFrom?.[0] ?? 1) - 1]);
  assert.ok(firstFrag.dns);
  void firstFrag.dns.answers;
  assert.ok(firstFrag.errors.some((e) => e.layer === 'dns' && e.kind === 'truncated'));
});

test('limits and capture-time timeouts hand fragments back with a failure', () => {
  const recs = parseCapture(fs.readFileSync(fixture('ipv4-fragments-socks5-http.pcap'))).packets;
  const frags = recs.map((r) => decodePacket(r)).filter((p) => Defragmenter.isFragment(p));
  // Only first fragments (offset 0, MF) for many datagrams, with a limit of 2 datagrams held.
  const firsts = frags.filter((p) => p.ipv4?.fragmentOffset === 0);
  const d = new Defragmenter({ maxDatagrams: 2 });
  const out = firsts.flatMap((p) => d.push(p));
  assert.strictEqual(d.stats.evicted, firsts.length - 2);
  assert.ok(out.every((p) => p.errors.some((e) => e.layer === 'defrag')));
  // A lone fragment expires once capture time moves past the timeout.
  const t = new Defragmenter({ timeoutSeconds: 1 });
  assert.deepStrictEqual(t.push(firsts[0]), []);
  const later = decodePacket({ ...recs[0], tsSec: firsts[0].record.tsSec + 5 });
  const released = t.push(later);
  assert.strictEqual(t.stats.timedOut, 1);
  assert.strictEqual(released.length, 2);
  assert.strictEqual(released[0].record.frame, firsts[0].record.frame);
});
