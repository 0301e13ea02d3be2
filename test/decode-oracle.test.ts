/**
 * Every capture of the corpus, decoded, against tshark's per-frame oracle (test/fixtures/oracle/*.frames.tsv,
 * made with IP defragmentation off). Multi-valued fields (ICMP-quoted headers, VLAN stacks) are joined with
 * ';' outermost first, as in the oracle. Where we disagree with tshark on purpose, EXCEPTIONS says why.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import { parseCapture } from '../lib/formats/detect';
import { decodePacket, type NetworkLayers, type Packet } from '../lib/layers/decode';
import { captureFiles, fixture, oracleFrames } from './helpers/oracle';

const hex4 = (n: number): string => '0x' + n.toString(16).padStart(4, '0');

/** Our values for the oracle's columns, in tshark's text forms. */
export function oracleView(pkt: Packet): Record<string, string> {
  const v: Record<string, string[]> = {};
  const put = (k: string, x: string | number | undefined): void => {
    if (x === undefined) return;
    (v[k] ??= []).push(String(x));
  };
  if (pkt.sll) { put('sll.pkttype', pkt.sll.packetType); put('sll.etype', hex4(pkt.sll.protocol)); }
  if (pkt.null) put('null.family', pkt.null.family);
  if (pkt.eth) { put('eth.src', pkt.eth.src); put('eth.dst', pkt.eth.dst); put('eth.type', hex4(pkt.eth.type)); }
  for (const tag of pkt.vlan ?? []) {
    if (tag.tpid === 0x88a8) put('ieee8021ad.id', tag.id);
    else { put('vlan.id', tag.id); put('vlan.etype', hex4(tag.type)); }
  }
  if (pkt.arp) {
    put('arp.opcode', pkt.arp.op);
    if (pkt.arp.protocolType === 0x0800 && pkt.arp.protocolLength === 4) {
      put('arp.src.proto_ipv4', pkt.arp.senderIp);
      put('arp.dst.proto_ipv4', pkt.arp.targetIp);
    }
  }
  const network = (t: NetworkLayers): void => {
    if (t.ipv4) {
      const ip = t.ipv4;
      put('ip.src', ip.src); put('ip.dst', ip.dst); put('ip.proto', ip.protocol); put('ip.hdr_len', ip.headerLength);
      put('ip.id', hex4(ip.id)); put('ip.flags.mf', ip.moreFragments ? 1 : 0); put('ip.frag_offset', ip.fragmentOffset / 8);
    }
    if (t.ipv6) {
      const ip = t.ipv6;
      put('ipv6.src', ip.src); put('ipv6.dst', ip.dst); put('ipv6.nxt', ip.nextHeader);
      if (ip.fragment) { put('ipv6.fraghdr.offset', ip.fragment.offset / 8); put('ipv6.fraghdr.more', ip.fragment.moreFragments ? 1 : 0); }
    }
    if (t.tcp) {
      const tcp = t.tcp;
      put('tcp.srcport', tcp.srcPort); put('tcp.dstport', tcp.dstPort); put('tcp.seq_raw', tcp.seq); put('tcp.ack_raw', tcp.ack);
      put('tcp.flags', hex4(tcp.flags)); put('tcp.window_size_value', tcp.window);
      const firstFragment = (t.ipv4?.moreFragments ?? false) || (t.ipv6?.fragment?.moreFragments ?? false);
      if (!firstFragment) put('tcp.len', tcp.payloadLength);
    }
    if (t.udp) { put('udp.srcport', t.udp.srcPort); put('udp.dstport', t.udp.dstPort); put('udp.length', t.udp.length); }
    if (t.icmp) { put('icmp.type', t.icmp.type); put('icmp.code', t.icmp.code); }
    if (t.icmpv6) { put('icmpv6.type', t.icmpv6.type); put('icmpv6.code', t.icmpv6.code); }
    if (t.dns) {
      const d = t.dns;
      put('dns.id', hex4(d.id)); put('dns.flags.response', d.qr ? 1 : 0);
      for (const q of d.questions) { put('dns.qry.name', q.name); put('dns.qry.type', q.type); }
      put('dns.count.answers', d.answerCount);
      if (d.qr) put('dns.flags.rcode', d.rcode);
    }
    const quoted = t.icmp?.quoted ?? t.icmpv6?.quoted;
    if (quoted) network(quoted);
  };
  network(pkt);
  const out: Record<string, string> = {};
  for (const [k, list] of Object.entries(v)) out[k] = list.join(';');
  return out;
}

export const COMPARED_COLUMNS = [
  'sll.pkttype', 'sll.etype', 'null.family', 'eth.src', 'eth.dst', 'eth.type', 'vlan.id', 'vlan.etype', 'ieee8021ad.id',
  'ip.src', 'ip.dst', 'ip.proto', 'ip.hdr_len', 'ip.id', 'ip.flags.mf', 'ip.frag_offset',
  'ipv6.src', 'ipv6.dst', 'ipv6.nxt', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.more',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.window_size_value', 'tcp.len',
  'udp.srcport', 'udp.dstport', 'udp.length', 'arp.opcode', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4',
  'icmp.type', 'icmp.code', 'icmpv6.type', 'icmpv6.code',
  'dns.id', 'dns.flags.response', 'dns.qry.name', 'dns.qry.type', 'dns.count.answers', 'dns.flags.rcode',
];

/**
 * Where we knowingly differ from tshark: file → frame → columns we do not compare, and why.
 * Each entry also states what we report instead, and the test checks that (a typed failure).
 */
interface Exception { frames: number[]; columns: string[]; why: string; expectError: string }
export const EXCEPTIONS: Record<string, Exception[]> = {
  'malformed-ipv4-bad-ihl.pcap': [{
    frames: [1], columns: ['ip.hdr_len'], expectError: 'ipv4:truncated',
    why: 'IHL says 60 bytes but 20 are captured: tshark prints ip.hdr_len alone and nothing else of IPv4; we report '
      + 'the header as truncated and give no IPv4 layer at all, since its option bytes do not exist.',
  }],
  'malformed-dns-invalid-names.pcap': [{
    frames: [2], columns: ['dns.qry.name', 'dns.qry.type'], expectError: 'dns:malformed',
    why: 'The question name is a compression pointer to itself. tshark prints a placeholder name '
      + '("<Name contains a pointer that loops>") and reads a type after it; there is no name, so we keep the DNS '
      + 'header, list no question and report the loop as a malformed failure.',
  }],
};

test('decoded fields equal the tshark oracle on every capture', () => {
  let comparedFrames = 0;
  let comparedCells = 0;
  const mismatches: string[] = [];
  for (const file of captureFiles()) {
    const rows = oracleFrames(file);
    if (rows.length === 0) continue;
    const parsed = parseCapture(fs.readFileSync(fixture(file)));
    const byFrame = new Map(rows.map((r) => [Number(r['frame.number']), r]));
    assert.strictEqual(parsed.packets.length, rows.length, `${file}: packet count`);
    parsed.packets.forEach((rec, i) => {
      const row = rows[i];
      const frame = Number(row['frame.number']);
      void byFrame;
      const pkt = decodePacket(rec);
      const ours = oracleView(pkt);
      const skip = new Set<string>();
      for (const ex of EXCEPTIONS[file] ?? []) {
        if (!ex.frames.includes(frame)) continue;
        ex.columns.forEach((c) => skip.add(c));
        assert.ok(pkt.errors.some((e) => `${e.layer}:${e.kind}` === ex.expectError),
          `${file} #${frame}: expected failure ${ex.expectError}, got ${JSON.stringify(pkt.errors)}`);
      }
      for (const col of COMPARED_COLUMNS) {
        if (skip.has(col)) continue;
        const want = row[col] ?? '';
        const got = ours[col] ?? '';
        comparedCells++;
        if (want !== got) mismatches.push(`${file} #${frame} ${col}: tshark ${JSON.stringify(want)} ours ${JSON.stringify(got)} errors=${JSON.stringify(pkt.errors)}`);
      }
      comparedFrames++;
    });
  }
  assert.deepStrictEqual(mismatches.slice(0, 40), [], `${mismatches.length} mismatches`);
  assert.ok(comparedFrames > 3000, `compared ${comparedFrames} frames`);
  assert.ok(comparedCells > 100000);
});
