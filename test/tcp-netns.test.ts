/**
 * Real loss, made here: two network namespaces joined by a veth pair, packets dropped with iptables'
 * `statistic` match (this kernel has no netem), traffic captured with tcpdump inside the client's
 * namespace, then reassembled. Addresses are 10.213.N.0/24 inside namespaces this test creates, and the
 * namespaces are deleted whatever happens. Skipped when not root or namespaces are unavailable.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { runFile } from './helpers/tcp-run';
import type { TcpDataEvent, TcpEvent } from '../lib/tcp/events';
import { waitForOutput } from './helpers/child';

const TAG = `pp${process.pid % 100000}`;
const NS_C = `${TAG}c`, NS_S = `${TAG}s`;
const IP_C = '10.213.7.1', IP_S = '10.213.7.2';
const PORT_DATA = 5001, PORT_SYN_DROPPED = 5002, PORT_CLOSED = 5003;
const TRANSFER_BYTES = 2 * 1024 * 1024;

function sh(...args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function canUseNamespaces(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  try { sh('ip', 'netns', 'list'); sh('iptables', '--version'); sh('tcpdump', '--version'); sh('ethtool', '--version'); } catch (e) { return String(e); }
  return null;
}

function setUp(): void {
  sh('ip', 'netns', 'add', NS_C);
  sh('ip', 'netns', 'add', NS_S);
  sh('ip', 'link', 'add', `${TAG}a`, 'type', 'veth', 'peer', 'name', `${TAG}b`);
  sh('ip', 'link', 'set', `${TAG}a`, 'netns', NS_C);
  sh('ip', 'link', 'set', `${TAG}b`, 'netns', NS_S);
  sh('ip', 'netns', 'exec', NS_C, 'ip', 'addr', 'add', `${IP_C}/24`, 'dev', `${TAG}a`);
  sh('ip', 'netns', 'exec', NS_S, 'ip', 'addr', 'add', `${IP_S}/24`, 'dev', `${TAG}b`);
  for (const [ns, dev] of [[NS_C, `${TAG}a`], [NS_S, `${TAG}b`]]) {
    sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', dev, 'up');
    sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    // no segmentation offload: the capture then shows the segments that were really sent (and lost).
    // Required: with GRO/TSO on, the retransmission assertions fail (seen on a machine without ethtool).
    sh('ip', 'netns', 'exec', ns, 'ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off');
  }
  // every 20th packet from the server is lost by the client host after tcpdump saw it (AF_PACKET taps
  // before netfilter's INPUT): the capture holds the original and its retransmission, as on a real host
  // whose socket buffer overflowed. (Dropped on the server's OUTPUT instead, the capture would only see
  // the refill of a hole, which tshark — and we — call out-of-order, not a retransmission.)
  sh('ip', 'netns', 'exec', NS_C, 'iptables', '-A', 'INPUT', '-p', 'tcp', '--sport', String(PORT_DATA),
    '-m', 'statistic', '--mode', 'nth', '--every', '20', '--packet', '0', '-j', 'DROP');
  // SYNs to one port are always lost
  sh('ip', 'netns', 'exec', NS_S, 'iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT_SYN_DROPPED), '--syn', '-j', 'DROP');
}

function tearDown(): void {
  for (const ns of [NS_C, NS_S]) { try { sh('ip', 'netns', 'delete', ns); } catch { /* already gone */ } }
}

/** The bytes the server sends: deterministic, incompressible-looking. */
function payload(): Buffer {
  const out = Buffer.alloc(TRANSFER_BYTES);
  let block = createHash('sha256').update('pcap-pipe').digest();
  for (let off = 0; off < out.length; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

const SERVER = `
const net = require('net'); const fs = require('fs');
const data = fs.readFileSync(process.argv[1]);
const srv = net.createServer((s) => { s.end(data); s.on('error', () => {}); });
srv.listen(${PORT_DATA}, '${IP_S}', () => console.log('listening'));
const other = net.createServer(() => {}); other.listen(${PORT_SYN_DROPPED}, '${IP_S}');
`;

const CLIENT = `
const net = require('net');
function fetch() { return new Promise((res, rej) => { const chunks = []; const s = net.connect(${PORT_DATA}, '${IP_S}');
  s.on('data', (d) => chunks.push(d)); s.on('end', () => res(Buffer.concat(chunks).length)); s.on('error', rej); }); }
function attempt(port, ms) { return new Promise((res) => { const s = net.connect(port, '${IP_S}');
  const t = setTimeout(() => { s.destroy(); res('timeout'); }, ms);
  s.on('connect', () => { clearTimeout(t); s.destroy(); res('connected'); }); s.on('error', (e) => { clearTimeout(t); res(e.code); }); }); }
(async () => {
  const got = await fetch();
  const dropped = await attempt(${PORT_SYN_DROPPED}, 3500);
  const refused = await attempt(${PORT_CLOSED}, 2000);
  console.log(JSON.stringify({ got, dropped, refused }));
})();
`;

const skip = canUseNamespaces();

test('real loss across a veth pair: exact bytes, retransmissions, syn-retry, reset', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-netns-'));
  const capture = path.join(dir, 'loss.pcap');
  const dataFile = path.join(dir, 'payload.bin');
  const sent = payload();
  fs.writeFileSync(dataFile, sent);
  const children: ChildProcess[] = [];
  try {
    setUp();
    // --immediate-mode: without it, packets still in the kernel ring block are lost when tcpdump is stopped
    const dump = spawn('ip', ['netns', 'exec', NS_C, 'tcpdump', '-i', `${TAG}a`, '--immediate-mode', '-B', '32768', '-U', '-s', '0', '-w', capture, 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(dump);
    await waitForOutput(dump, 'stderr', /listening on/, 10_000);
    const server = spawn('ip', ['netns', 'exec', NS_S, process.execPath, '-e', SERVER, dataFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    await waitForOutput(server, 'stdout', /listening/, 10_000);
    const client = execFileSync('ip', ['netns', 'exec', NS_C, process.execPath, '-e', CLIENT], { encoding: 'utf8', timeout: 60_000 });
    const result = JSON.parse(client.trim()) as { got: number; dropped: string; refused: string };
    assert.deepEqual(result, { got: TRANSFER_BYTES, dropped: 'timeout', refused: 'ECONNREFUSED' });
    await new Promise((r) => setTimeout(r, 300)); // let tcpdump write the last packets
    dump.kill('SIGINT');
    await exited(dump);

    const events: TcpEvent[] = runFile(capture);
    const transfer = events.find((e) => e.type === 'start' && e.server === `${IP_S}:${PORT_DATA}`);
    assert.ok(transfer, 'the transfer connection started');
    const data = events.filter((e): e is TcpDataEvent => e.type === 'data' && e.connection === transfer.connection && e.from === 'server');
    const received = Buffer.concat(data.map((e) => e.bytes));
    assert.equal(received.length, TRANSFER_BYTES);
    assert.ok(received.equals(sent), 'reassembled bytes are exactly the bytes the server sent');
    const retrans = events.filter((e) => (e.type === 'retransmit' || e.type === 'syn-retry') && e.connection === transfer.connection);
    assert.ok(retrans.filter((e) => e.type === 'retransmit' && e.length > 0).length > 10, 'data retransmissions reported');
    // and they are the frames tshark calls retransmissions
    const tshark = execFileSync('tshark', ['-n', '-r', capture, '-Y', `tcp.analysis.retransmission && tcp.stream == ${transfer.connection}`, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n').filter(Boolean).map(Number);
    assert.deepEqual([...new Set(retrans.map((e) => e.frame))].sort((a, b) => a - b), tshark);
    assert.equal(events.filter((e) => e.type === 'gap' && e.connection === transfer.connection).length, 0);
    const end = events.find((e) => e.type === 'end' && e.connection === transfer.connection);
    assert.ok(end?.type === 'end' && end.reason === 'fin');
    assert.equal(end.stats.serverToClient.bytes, TRANSFER_BYTES);

    const synRetries = events.filter((e) => e.type === 'syn-retry' && e.server === `${IP_S}:${PORT_SYN_DROPPED}`);
    assert.ok(synRetries.length >= 1, 'SYNs to the dropping port are retried');
    assert.ok(!events.some((e) => e.type === 'start' && e.server === `${IP_S}:${PORT_SYN_DROPPED}`), 'no start for an unanswered SYN');
    const reset = events.find((e) => e.type === 'reset' && e.server === `${IP_S}:${PORT_CLOSED}`);
    assert.ok(reset?.type === 'reset' && reset.from === 'server', 'the refused connection is reset by the server');
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    tearDown();
    if (process.env.PCAP_PIPE_KEEP_CAPTURE) fs.copyFileSync(capture, process.env.PCAP_PIPE_KEEP_CAPTURE);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
