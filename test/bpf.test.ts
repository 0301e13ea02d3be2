/**
 * Offline BPF (streams/filter.ts over the addon's pcap_open_dead + pcap_compile + pcap_offline_filter):
 * the frames kept must be exactly the frames `tcpdump -r FILE EXPR` keeps, on the fixture corpus.
 * tcpdump is the oracle, run at test time (it is installed wherever the tests run, CI included).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { isCaptureError } from '../lib/core/errors';
import type { PacketRecord } from '../lib/core/record';
import { addonAvailable, LiveCaptureError } from '../addon/index';
import { BpfFilter, filter } from '../streams/filter';
import { fixture } from './helpers/oracle';

const hasAddon = addonAvailable();
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
const skip = !hasAddon ? 'libpcap addon not built' : !hasTcpdump ? 'tcpdump not installed' : false;

/** [file, expression]: ports, hosts, TCP flags, VLAN, IPv6, on several link types. */
const CASES: [string, string][] = [
  ['http-keepalive-304.pcap', 'tcp port 49286'],
  ['http-keepalive-304.pcap', 'src port 80 and greater 200'],
  ['dns-edns-ecs-udp-tcp-v4-v6.pcap', 'udp port 53'],
  ['dns-edns-ecs-udp-tcp-v4-v6.pcap', 'tcp port 53'],
  ['dns-edns-ecs-udp-tcp-v4-v6.pcap', 'host 37.209.192.2'],
  ['dns-edns-ecs-udp-tcp-v4-v6.pcap', 'ip6'],
  ['dns-edns-ecs-udp-tcp-v4-v6.pcap', 'ip6 host 2001:470:765b::a25:53'],
  ['dns-edns-ecs-udp-tcp-v4-v6.pcap', 'ip[6:2] & 0x3fff != 0'],
  ['tcp-handshake-synthetic.pcap', 'tcp[tcpflags] & tcp-syn != 0'],
  ['tcp-handshake-synthetic.pcap', 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'],
  ['tcp-handshake-synthetic.pcap', 'dst host 198.51.100.5 and dst port 8080'],
  ['tcp-reassembly-synthetic.pcap', 'tcp[tcpflags] & tcp-fin != 0'],
  ['vlan-dot1q-icmp-arp.pcap', 'vlan'], // every frame is tagged
  ['arp-ethernet.pcap', 'vlan'], // none is
  ['vlan-dot1q-icmp-arp.pcap', 'vlan 123 and icmp'],
  ['vlan-dot1q-icmp-arp.pcap', 'vlan and arp'],
  ['vlan-qinqinq-http.pcap', 'vlan 30 and vlan 20 and vlan 10 and tcp[tcpflags] & tcp-push != 0'],
  ['vlan-8021ad-qinq-arp.pcap', 'vlan 200 and vlan 2001 and arp[7] = 2'],
  ['ipv6-ext-hdrs-atomic-frag-http.pcap', 'ip6 and tcp'],
  ['icmpv6-mixed.pcap', 'icmp6 and ip6[40] == 128'],
  ['null-ipv4-ipv6-irc.pcap', 'ip6'],
  ['null-ipv4-ipv6-irc.pcap', 'ip and tcp port 6666'],
  ['rawip-ipv6-dns.pcap', 'ip6 and udp src port 53'],
  ['rawip-ipv4-tcp-syn-payload.pcap', 'tcp[tcpflags] & tcp-syn != 0'],
  ['sll2-icmp-icmpv6-arp.pcap', 'ip6'],
  ['sll2-icmp-icmpv6-arp.pcap', 'arp or icmp'],
  ['pcap-nsec-sll-tcp-handshake.pcap', 'tcp[tcpflags] & tcp-ack != 0'],
  ['linktype-ipv4-228-http.pcap', 'tcp src port 8000'],
  ['snaplen96-tcp-bulk-flow.pcap', 'greater 1000'],
  ['pcapng-2if-tsresol9-dns.pcapng', 'src host 1.1.1.1'],
];

/** One comparable line per record: timestamp, lengths and bytes. */
function key(r: PacketRecord): string {
  return `${r.tsSec}.${String(r.tsNsec).padStart(9, '0')} ${r.caplen}/${r.len} ${r.data.toString('hex')}`;
}

function recordsOf(file: string): PacketRecord[] {
  return parseCaptureBuffer(fs.readFileSync(file));
}

/** What tcpdump keeps: `tcpdump -r FILE -w OUT EXPR`, read back (ns precision, so nothing is rounded). */
function tcpdumpKeeps(file: string, expression: string): PacketRecord[] {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-bpf-')), 'out.pcap');
  try {
    execFileSync('tcpdump', ['--time-stamp-precision=nano', '-r', file, '-w', out, expression], { stdio: ['ignore', 'ignore', 'pipe'] });
    return recordsOf(out);
  } finally {
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  }
}

test('offline BPF keeps exactly the frames tcpdump keeps', { skip }, () => {
  let informative = 0;
  for (const [name, expression] of CASES) {
    const file = fixture(name);
    const all = recordsOf(file);
    const bpf = new BpfFilter(expression);
    const ours = all.filter((r) => bpf.matches(r)).map(key);
    const theirs = tcpdumpKeeps(file, expression).map(key);
    assert.deepEqual(ours, theirs, `${name}: "${expression}"`);
    // A case that keeps nothing or everything could not tell a broken filter from a working one.
    if (theirs.length > 0 && theirs.length < all.length) informative++;
  }
  assert.ok(informative >= CASES.length - 2, `only ${informative} of ${CASES.length} cases select a proper subset`);
});

test('filter() as a Transform: keeps matches, passes other chunks, counts', { skip }, async () => {
  const file = fixture('tcp-handshake-synthetic.pcap');
  const all = recordsOf(file);
  const expected = tcpdumpKeeps(file, 'tcp[tcpflags] & tcp-syn != 0').map(key);
  const marker = { type: 'not-a-record' };
  const seen: unknown[] = [];
  const stage = filter('tcp[tcpflags] & tcp-syn != 0');
  await pipeline(
    Readable.from([marker, ...all], { objectMode: true }),
    stage,
    new Writable({ objectMode: true, write(chunk, _e, cb) { seen.push(chunk); cb(); } }),
  );
  assert.equal(seen[0], marker, 'non-record chunks pass through unchanged');
  assert.deepEqual(seen.slice(1).map((r) => key(r as PacketRecord)), expected);
  assert.equal(stage.seen, all.length);
  assert.equal(stage.kept, expected.length);

  const inverted = all.filter((r) => !new BpfFilter('tcp[tcpflags] & tcp-syn != 0').matches(r));
  const kept: PacketRecord[] = [];
  await pipeline(Readable.from(all, { objectMode: true }), filter('tcp[tcpflags] & tcp-syn != 0', { invert: true }),
    new Writable({ objectMode: true, write(chunk: PacketRecord, _e, cb) { kept.push(chunk); cb(); } }));
  assert.deepEqual(kept.map(key), inverted.map(key));
  assert.equal(kept.length + expected.length, all.length);
});

test('an empty expression keeps everything', { skip: hasAddon ? false : 'libpcap addon not built' }, () => {
  const all = recordsOf(fixture('arp-ethernet.pcap'));
  const bpf = new BpfFilter('');
  assert.equal(all.filter((r) => bpf.matches(r)).length, all.length);
});

test('a syntax error is a typed BPF_SYNTAX error naming the expression', { skip: hasAddon ? false : 'libpcap addon not built' }, () => {
  assert.throws(() => filter('tcp port'), (e: unknown) => {
    assert.ok(e instanceof LiveCaptureError);
    assert.ok(isCaptureError(e, 'BPF_SYNTAX'));
    assert.match(e.message, /"tcp port"/);
    assert.match(e.message, /syntax error/);
    return true;
  });
  assert.throws(() => new BpfFilter('port 99999999'), (e: unknown) => isCaptureError(e, 'BPF_SYNTAX'));
});

test('an expression that does not fit a link type errors the stream, as tcpdump refuses it', { skip }, async () => {
  const file = fixture('rawip-ipv6-dns.pcap');
  const r = spawnSync('tcpdump', ['-r', file, 'vlan'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0, 'tcpdump refuses vlan on raw IP');
  await assert.rejects(
    pipeline(Readable.from(recordsOf(file), { objectMode: true }), filter('vlan'), new Writable({ objectMode: true, write(_c, _e, cb) { cb(); } })),
    (e: unknown) => isCaptureError(e, 'BPF_SYNTAX') && /RAW/.test((e as Error).message),
  );
});
