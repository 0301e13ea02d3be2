/** Printing: escaping, the JSON shape the issue documents, the decode()/print() streams and `pcap-pipe print`. */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { parseCapture } from '../lib/formats/detect';
import { decodePacket, type Packet } from '../lib/layers/decode';
import { escapeControl, hexDump } from '../lib/core/escape';
import { formatPacketLine, packetToJson } from '../lib/layers/print';
import { decode } from '../streams/decode';
import { print } from '../streams/print';
import { fixture, oracleFrames, REPO_ROOT } from './helpers/oracle';

const packets = (file: string): Packet[] => parseCapture(fs.readFileSync(fixture(file))).packets.map((r) => decodePacket(r));

test('escapeControl makes every control character visible and is unambiguous', () => {
  assert.strictEqual(escapeControl('a\x1b[31mb\r\n\t\x7f\x9b\\'), 'a\\x1b[31mb\\x0d\\x0a\\x09\\x7f\\x9b\\\\');
  assert.strictEqual(escapeControl('plain text: ok'), 'plain text: ok');
  // A DNS name carrying an escape sequence cannot reach the terminal raw.
  const pkt = packets('dns-tcp.pcap')[3];
  assert.ok(pkt.dns);
  (pkt.dns.questions[0] as { name: string }).name = 'evil\x1b]0;title\x07.example';
  const line = formatPacketLine(pkt);
  assert.ok(!/[\x00-\x1f\x7f]/.test(line), line);
  assert.ok(line.includes('evil\\x1b]0;title\\x07.example'));
});

test('hexDump: offsets, hex and ASCII columns', () => {
  const d = hexDump(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n'), '');
  const lines = d.split('\n');
  assert.strictEqual(lines.length, 2);
  assert.ok(lines[0].startsWith('0000  47 45 54 20'));
  assert.ok(lines[0].endsWith('|GET / HTTP/1.1..|'));
  assert.ok(lines[1].startsWith('0010  48 6f 73 74'));
});

test('JSON: the documented fields, equal to the tshark oracle', () => {
  const file = 'dns-tcp.pcap';
  const rows = oracleFrames(file);
  packets(file).forEach((pkt, i) => {
    const j = JSON.parse(JSON.stringify(packetToJson(pkt)));
    const row = rows[i];
    assert.strictEqual(j.frame, Number(row['frame.number']));
    assert.strictEqual(j.ts, row['frame.time_epoch']);
    assert.strictEqual(j.caplen, Number(row['frame.cap_len']));
    assert.strictEqual(j.len, Number(row['frame.len']));
    assert.strictEqual(j.eth.src, row['eth.src']);
    assert.strictEqual(j.ipv4.src, row['ip.src']);
    assert.strictEqual(j.tcp.seq, Number(row['tcp.seq_raw']));
    assert.strictEqual(j.tcp.ack, Number(row['tcp.ack_raw']));
    assert.strictEqual(j.tcp.flags, Number(row['tcp.flags']));
    assert.strictEqual(j.tcp.payloadLength, Number(row['tcp.len']));
    assert.ok(Array.isArray(j.tcp.flagNames) && Array.isArray(j.tcp.options));
    if (row['dns.id']) {
      assert.strictEqual(j.dns.id, Number(row['dns.id']));
      assert.strictEqual(j.dns.questions[0].name, row['dns.qry.name']);
      assert.strictEqual(j.dns.answers.length, Number(row['dns.count.answers']));
      for (const r of j.dns.answers) assert.deepStrictEqual(Object.keys(r), ['name', 'type', 'typeName', 'class', 'ttl', 'data']);
      if (j.dns.qr) assert.strictEqual(typeof j.dns.rcodeName, 'string');
    }
    assert.deepStrictEqual(j.errors, []);
  });
  const syn = packetToJson(packets(file)[1]) as { tcp: { flagNames: string[] } };
  assert.deepStrictEqual(syn.tcp.flagNames, ['SYN', 'ACK']);
  // VLAN: every tag, outer first, with its TPID.
  const qinq = packetToJson(packets('vlan-8021ad-qinq-arp.pcap')[0]) as { vlan: Array<{ tpid: number; id: number }>; arp: { op: number; senderIp: string } };
  assert.deepStrictEqual(qinq.vlan.map((v) => [v.tpid, v.id]), [[0x88a8, 200], [0x8100, 2001]]);
  assert.strictEqual(qinq.arp.op, 1);
  assert.strictEqual(qinq.arp.senderIp, '172.21.79.97');
});

test('decode() stream: single records and batches; print() stream: one line per packet', async () => {
  const recs = parseCapture(fs.readFileSync(fixture('vlan-dot1q-icmp-arp.pcap'))).packets;
  const single: Packet[] = await Readable.from(recs, { objectMode: true }).pipe(decode()).toArray();
  assert.strictEqual(single.length, recs.length);
  const batched: Packet[][] = await Readable.from([recs.slice(0, 5), recs.slice(5)], { objectMode: true }).pipe(decode()).toArray();
  assert.deepStrictEqual(batched.map((b) => b.length), [5, recs.length - 5]);
  const text = (await Readable.from(recs, { objectMode: true }).pipe(decode()).pipe(print()).toArray()).join('');
  assert.strictEqual(text.split('\n').filter(Boolean).length, recs.length);
  assert.ok(text.includes('vlan 123'));
});

test('pcap-pipe print: lines, --json, -x, usage errors', () => {
  const bin = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
  const input = fs.readFileSync(fixture('icmp-destunreach-udp.pcap'));
  const plain = spawnSync(process.execPath, [bin, 'print', '-tt'], { input });
  assert.strictEqual(plain.status, 0, plain.stderr.toString());
  const line = plain.stdout.toString();
  assert.match(line, /^1258568548\.135731 00:0b:db:63:58:a6 > 00:19:e3:e7:5d:23 192\.168\.1\.102 > 192\.168\.1\.1 IPv4 ICMP destination-unreachable code 3/);
  assert.match(line, /DNS response 0x98a4 NoError A\? secure\.ed4\.net/);
  const json = spawnSync(process.execPath, [bin, 'print', '--json'], { input });
  const obj = JSON.parse(json.stdout.toString().trim());
  assert.strictEqual(obj.icmp.type, 3);
  assert.strictEqual(obj.icmp.quoted.udp.srcPort, 53);
  const tod = spawnSync(process.execPath, [bin, 'print'], { input, env: { ...process.env, TZ: 'UTC' } });
  assert.match(tod.stdout.toString(), /^18:22:28\.135731 00:0b:db:63:58:a6 > /, 'time of day by default, like tcpdump');
  const hex = spawnSync(process.execPath, [bin, 'print', '-x'], { input });
  assert.ok(hex.stdout.toString().split('\n').length > 5);
  assert.match(hex.stdout.toString(), /\n\t0x0000:  4500 /, "tcpdump's -x layout, from the IP header");
  const bad = spawnSync(process.execPath, [bin, 'print', '--nope'], { input });
  assert.strictEqual(bad.status, 2);
  const defrag = spawnSync(process.execPath, [bin, 'print', '--defragment'], { input: fs.readFileSync(fixture('ipv6-fragmented-dns.pcap')) });
  assert.match(defrag.stdout.toString(), /reassembled from frames/);
});
