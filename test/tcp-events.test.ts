/**
 * Connection events on the synthetic TCP captures (and the real ones with retransmissions), against
 * tshark's tcp.analysis.* flags, run live: `tshark -r F -Y tcp.analysis.retransmission -T fields -e frame.number`.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fixture } from './helpers/oracle';
import { runFile } from './helpers/tcp-run';
import type { TcpEvent } from '../lib/tcp/events';

function tsharkFrames(file: string, filter: string): number[] {
  const out = execFileSync('tshark', ['-n', '-r', fixture(file), '-Y', filter, '-T', 'fields', '-e', 'frame.number'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l !== '').map(Number);
}

function tsharkStreams(file: string): Map<number, number> {
  const out = execFileSync('tshark', ['-n', '-r', fixture(file), '-Y', 'tcp', '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.stream'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const m = new Map<number, number>();
  for (const line of out.split('\n')) {
    const [f, s] = line.split('\t');
    if (f && s) m.set(Number(f), Number(s));
  }
  return m;
}

function framesOf(events: TcpEvent[], ...types: TcpEvent['type'][]): number[] {
  return [...new Set(events.filter((e) => types.includes(e.type)).map((e) => e.frame))].sort((a, b) => a - b);
}

/** Every start has exactly one end after it; data and gap only between them; no end without a start. */
function assertLifecycle(events: TcpEvent[]): void {
  const state = new Map<number, 'started' | 'ended'>();
  for (const e of events) {
    const s = state.get(e.connection);
    if (e.type === 'start') { assert.equal(s, undefined, `second start on ${e.connection}`); state.set(e.connection, 'started'); }
    if (e.type === 'end') { assert.equal(s, 'started', `end without start on ${e.connection}`); state.set(e.connection, 'ended'); }
    if (e.type === 'data' || e.type === 'gap') assert.equal(s, 'started', `${e.type} outside start..end on ${e.connection} frame ${e.frame}`);
  }
  for (const [c, s] of state) assert.equal(s, 'ended', `connection ${c} never ended`);
}

const ANALYSIS_FILES = [
  'tcp-reassembly-synthetic.pcap', 'tcp-handshake-synthetic.pcap', 'tcp-seq-synthetic-zerowin.pcap',
  'http-post-chunked-retrans.pcap', 'http-206-long-flow-zerowin-ooo.pcap', 'tcp-retransmit-fast-snaplen54.pcap',
  'pcap-bigendian-pptp.pcap', 'snaplen96-tcp-bulk-flow.pcap',
];

for (const file of ANALYSIS_FILES) {
  test(`${file}: retransmission, out-of-order, zero-window and keep-alive frames agree with tshark`, () => {
    const events = runFile(fixture(file), { defrag: false });
    assertLifecycle(events);
    assert.deepEqual(framesOf(events, 'retransmit', 'syn-retry'), tsharkFrames(file, 'tcp.analysis.retransmission'), 'retransmissions');
    assert.deepEqual(framesOf(events, 'out-of-order'), tsharkFrames(file, 'tcp.analysis.out_of_order'), 'out-of-order');
    assert.deepEqual(framesOf(events, 'zero-window'), tsharkFrames(file, 'tcp.analysis.zero_window'), 'zero window');
    assert.deepEqual(framesOf(events, 'keep-alive'), tsharkFrames(file, 'tcp.analysis.keep_alive'), 'keep-alive');
    assert.deepEqual(framesOf(events, 'port-reuse'), tsharkFrames(file, 'tcp.analysis.reused_ports && tcp.flags.syn == 1 && tcp.flags.ack == 0 && !tcp.analysis.retransmission'), 'port reuse');
    // every event's connection number is the tcp.stream of its frame
    const streams = tsharkStreams(file);
    for (const e of events) {
      if (e.type === 'end' || e.type === 'gap' || e.type === 'data' || e.type === 'evicted') continue; // may be caused by a later packet
      assert.equal(e.connection, streams.get(e.frame), `${e.type} at frame ${e.frame}`);
    }
  });
}

test('tcp-handshake-synthetic.pcap: one start per completed or joined handshake, none for unanswered SYNs', () => {
  const events = runFile(fixture('tcp-handshake-synthetic.pcap'), { defrag: false });
  const started = new Set(events.filter((e) => e.type === 'start').map((e) => e.connection));
  // 2: SYN + SYN-ACK, then a new SYN (new ISN) takes the 4-tuple before any ACK; 13, 14: SYNs never answered
  for (let s = 0; s <= 15; s++) assert.equal(started.has(s), ![2, 13, 14].includes(s), `stream ${s}`);
  const syn = events.filter((e) => e.type === 'syn-retry');
  assert.deepEqual(syn.map((e) => [e.frame, e.connection]), [[47, 14]]);
  const reuse = events.filter((e) => e.type === 'port-reuse');
  assert.deepEqual(reuse.map((e) => e.type === 'port-reuse' && [e.frame, e.connection, e.previous]), [[11, 3, 2], [46, 14, 13]]);
  const reset = events.filter((e) => e.type === 'reset');
  assert.deepEqual(reset.map((e) => e.type === 'reset' && [e.frame, e.connection, e.from]), [[17, 4, 'client']]);
  // SYN-ACK seen before the SYN (stream 12) and SYN-ACK without SYN (stream 7): the handshake was seen
  for (const s of [7, 12]) assert.equal(events.find((e) => e.type === 'start' && e.connection === s)?.type === 'start'
    && (events.find((e) => e.type === 'start' && e.connection === s) as { midStream: boolean }).midStream, false);
  // server data before the client's final ACK (stream 8) is delivered, after start
  const d8 = events.filter((e) => e.type === 'data' && e.connection === 8);
  assert.equal(d8.length, 1);
});

test('tcp-reassembly-synthetic.pcap: gap, port reuse, wraparound, handshake RTT', () => {
  const events = runFile(fixture('tcp-reassembly-synthetic.pcap'), { defrag: false });
  const gaps = events.filter((e) => e.type === 'gap');
  assert.equal(gaps.length, 1);
  const g = gaps[0];
  assert.ok(g.type === 'gap');
  assert.deepEqual([g.connection, g.direction, g.offset, g.length, g.reason, g.frame], [4, 'server-to-client', 8, 8, 'missing', 53]);
  // /tcp-reuse: same 4-tuple, new ISN after FIN → connection 8, previous 7, never a "retry"
  const reuse = events.find((e) => e.type === 'port-reuse');
  assert.ok(reuse && reuse.type === 'port-reuse');
  assert.deepEqual([reuse.frame, reuse.connection, reuse.previous], [90, 8, 7]);
  // /wrap: the server ISN is 2^32-2, the client sends 31 bytes across ACK numbers that wrap
  const wrap = events.filter((e) => e.type === 'data' && e.connection === 10);
  assert.equal(wrap.reduce((n, e) => n + (e.type === 'data' ? e.bytes.length : 0), 0), 31);
  const end0 = events.find((e) => e.type === 'end' && e.connection === 0);
  assert.ok(end0 && end0.type === 'end');
  assert.equal(end0.reason, 'fin');
  assert.deepEqual([end0.stats.clientToServer.bytes, end0.stats.serverToClient.bytes], [40, 32]);
  assert.ok(end0.stats.handshakeRtt !== null && end0.stats.handshakeRtt >= 0);
});
