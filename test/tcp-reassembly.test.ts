/** The reassembler driven by hand-built packets: ordering, overlaps, wraparound, handshake, timeouts, limits. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { TcpReassembler, type TcpLimits } from '../lib/tcp/reassembler';
import type { TcpEvent, TcpDataEvent } from '../lib/tcp/events';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type DecodedPacket } from '../lib/layers/packet';

const S = TCP_SYN, A = TCP_ACK, F = TCP_FIN, R = TCP_RST, P = TCP_PSH;

interface Seg {
  t?: number; // seconds
  from: 'c' | 's';
  flags: number;
  seq: number;
  ack?: number;
  data?: string | Buffer;
  /** tcp.len when larger than the captured data (snaplen cut) */
  len?: number;
  win?: number;
}

let frameNo = 0;
function packet(seg: Seg, c = { ip: '10.0.0.1', port: 40000 }, s = { ip: '10.0.0.2', port: 80 }): DecodedPacket {
  const [src, dst] = seg.from === 'c' ? [c, s] : [s, c];
  const payload = typeof seg.data === 'string' ? Buffer.from(seg.data) : seg.data ?? Buffer.alloc(0);
  const t = seg.t ?? frameNo * 0.01;
  const v6 = src.ip.includes(':');
  const ip = { src: src.ip, dst: dst.ip };
  return {
    record: { frame: ++frameNo, linkType: 1, tsSec: 1_700_000_000 + Math.floor(t), tsNsec: Math.round((t % 1) * 1e9), caplen: 0, len: 0, interfaceId: 0, data: payload },
    ...(v6
      ? { ipv6: { version: 6, ...ip, trafficClass: 0, flowLabel: 0, payloadLength: 0, nextHeader: 6, hopLimit: 64, protocol: 6 } }
      : { ipv4: { version: 4, ...ip, headerLength: 20, tos: 0, totalLength: 0, id: 0, flags: 0, moreFragments: false, dontFragment: false, fragmentOffset: 0, ttl: 64, protocol: 6, checksum: 0 } }),
    tcp: {
      srcPort: src.port, dstPort: dst.port, seq: seg.seq >>> 0, ack: (seg.ack ?? 0) >>> 0, headerLength: 20, flags: seg.flags,
      window: seg.win ?? 65535, checksum: 0, urgentPointer: 0, payload, payloadLength: seg.len ?? payload.length,
    },
    errors: [],
  } as DecodedPacket;
}

function run(segs: Seg[], limits?: Partial<TcpLimits>, flush = true): TcpEvent[] {
  const out: TcpEvent[] = [];
  const r = new TcpReassembler((e) => out.push(e), limits);
  for (const s of segs) r.packet(packet(s));
  if (flush) r.flush();
  return out;
}

function bytes(events: TcpEvent[], dir: 'client-to-server' | 'server-to-client', conn = 0): string {
  return Buffer.concat(events.filter((e): e is TcpDataEvent => e.type === 'data' && e.direction === dir && e.connection === conn).map((e) => e.bytes)).toString('latin1');
}

const CI = 1000, SI = 5000; // initial sequence numbers
const handshake: Seg[] = [
  { from: 'c', flags: S, seq: CI },
  { from: 's', flags: S | A, seq: SI, ack: CI + 1 },
  { from: 'c', flags: A, seq: CI + 1, ack: SI + 1 },
];

test('out-of-order segments are delivered in sequence order, once', () => {
  const ev = run([...handshake,
    { from: 'c', flags: A | P, seq: CI + 6, ack: SI + 1, data: 'world' },
    { from: 'c', flags: A | P, seq: CI + 1, ack: SI + 1, data: 'hello' },
    { from: 'c', flags: A | P, seq: CI + 1, ack: SI + 1, data: 'hello' }, // retransmission
  ]);
  assert.equal(bytes(ev, 'client-to-server'), 'helloworld');
  const data = ev.filter((e): e is TcpDataEvent => e.type === 'data');
  assert.deepEqual(data.map((d) => d.offset), [0, 5]);
  assert.equal(ev.filter((e) => e.type === 'gap').length, 0);
});

test('the first copy wins; a retransmission with other bytes is flagged overlap-conflict', () => {
  const ev = run([...handshake,
    { from: 'c', flags: A, seq: CI + 1, ack: SI + 1, data: 'abcdef' },
    { from: 'c', flags: A, seq: CI + 4, ack: SI + 1, data: 'XYZghi' }, // overlaps delivered "def"
    { from: 'c', flags: A, seq: CI + 20, ack: SI + 1, data: '12345' }, // buffered
    { from: 'c', flags: A, seq: CI + 18, ack: SI + 1, data: 'qr3__' }, // overlaps buffered "123" with "3__"
    { from: 'c', flags: A, seq: CI + 10, ack: SI + 1, data: 'jklmnopq' },
  ]);
  assert.equal(bytes(ev, 'client-to-server'), 'abcdefghijklmnopqqr12345');
  const conflicts = ev.filter((e) => e.type === 'overlap-conflict');
  assert.equal(conflicts.length, 2);
  assert.deepEqual(conflicts.map((e) => e.type === 'overlap-conflict' && [e.offset, e.length]), [[3, 3], [19, 3]]);
});

test('the last delivery is compared as a view of its chunk, copied once a delivery comes from another chunk', () => {
  // Two read chunks (own ArrayBuffers). The client's "abcd" is a view of chunk 1 until the server's data
  // (chunk 2) is delivered; then it is copied: overwriting chunk 1 afterwards changes nothing.
  const chunk1 = Buffer.allocUnsafeSlow(8);
  chunk1.write('abcdEFGH');
  const chunk2 = Buffer.allocUnsafeSlow(4);
  chunk2.write('SRV1');
  const out: TcpEvent[] = [];
  const r = new TcpReassembler((e) => out.push(e));
  for (const s of handshake) r.packet(packet(s));
  r.packet(packet({ from: 'c', flags: A | P, seq: CI + 1, ack: SI + 1, data: chunk1.subarray(0, 4) }));
  r.packet(packet({ from: 'c', flags: A | P, seq: CI + 3, ack: SI + 1, data: Buffer.from('cX') })); // view: "cd" vs "cX"
  r.packet(packet({ from: 's', flags: A | P, seq: SI + 1, ack: CI + 5, data: chunk2 }));
  chunk1.write('ZZZZ');
  r.packet(packet({ from: 'c', flags: A, seq: CI + 1, ack: SI + 5, data: Buffer.from('abcd') })); // same bytes: no conflict
  r.packet(packet({ from: 'c', flags: A, seq: CI + 1, ack: SI + 5, data: Buffer.from('aQcd') }));
  r.flush();
  const conflicts = out.filter((e) => e.type === 'overlap-conflict').map((e) => e.type === 'overlap-conflict' && [e.offset, e.length]);
  assert.deepEqual(conflicts, [[2, 2], [0, 4]]); // the overlapping ranges; none for the unchanged "abcd"
  // (the data event itself is a view of chunk 1, as every in-order delivery is: it now reads ZZZZ)
  assert.equal(out.filter((e) => e.type === 'data').length, 2);
});

test('sequence numbers wrap past 2^32', () => {
  const isn = 0xfffffff8;
  const ev = run([
    { from: 'c', flags: S, seq: isn },
    { from: 's', flags: S | A, seq: SI, ack: isn + 1 },
    { from: 'c', flags: A, seq: isn + 1, ack: SI + 1 },
    { from: 'c', flags: A, seq: (isn + 11) >>> 0, ack: SI + 1, data: 'KLMNO' }, // after the wrap, first
    { from: 'c', flags: A, seq: isn + 1, ack: SI + 1, data: 'ABCDEFGHIJ' }, // straddles 2^32
    { from: 'c', flags: F | A, seq: (isn + 16) >>> 0, ack: SI + 1 },
    { from: 's', flags: F | A, seq: SI + 1, ack: (isn + 17) >>> 0 },
  ]);
  assert.equal(bytes(ev, 'client-to-server'), 'ABCDEFGHIJKLMNO');
  const end = ev.find((e) => e.type === 'end');
  assert.ok(end?.type === 'end' && end.reason === 'fin');
});

test('data on a SYN is stream byte 0, delivered after start; SYN and FIN consume one sequence number', () => {
  const ev = run([
    { from: 'c', flags: S, seq: CI, data: 'GET / HTTP/1.0\r\n\r\n' },
    { from: 's', flags: S | A, seq: SI, ack: CI + 19 },
    { from: 'c', flags: A, seq: CI + 19, ack: SI + 1 },
    { from: 's', flags: A | P | F, seq: SI + 1, ack: CI + 19, data: 'HTTP/1.0 200 OK\r\n\r\n' },
    { from: 's', flags: A, seq: SI + 21, ack: CI + 19, data: 'late' }, // past the FIN: not stream data
    { from: 'c', flags: A | F, seq: CI + 19, ack: SI + 22 },
  ], {}, false);
  const types = ev.map((e) => e.type);
  assert.deepEqual(types, ['start', 'data', 'data', 'end']);
  assert.equal(bytes(ev, 'client-to-server'), 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(bytes(ev, 'server-to-client'), 'HTTP/1.0 200 OK\r\n\r\n');
  const start = ev[0];
  assert.ok(start.type === 'start' && start.midStream === false);
});

test('an unanswered SYN gets syn-retry events and no start; a refused one gets reset', () => {
  const ev = run([
    { t: 0, from: 'c', flags: S, seq: CI },
    { t: 1, from: 'c', flags: S, seq: CI },
    { t: 3, from: 'c', flags: S, seq: CI },
  ]);
  assert.deepEqual(ev.map((e) => e.type), ['syn-retry', 'syn-retry']);
  assert.deepEqual(ev.map((e) => e.type === 'syn-retry' && e.attempt), [1, 2]);
  const refused = run([{ from: 'c', flags: S, seq: CI }, { from: 's', flags: R | A, seq: 0, ack: CI + 1 }]);
  assert.deepEqual(refused.map((e) => e.type === 'reset' && e.from), ['server']);
});

test('joining mid-stream: start with midStream, the higher port is the client', () => {
  const ev = run([
    { from: 's', flags: A | P, seq: 777, ack: 999, data: 'response' },
    { from: 'c', flags: A | P, seq: 999, ack: 785, data: 'request' },
  ]);
  const start = ev[0];
  assert.ok(start.type === 'start' && start.midStream);
  assert.equal(start.client, '10.0.0.1:40000');
  assert.equal(start.server, '10.0.0.2:80');
  assert.equal(bytes(ev, 'server-to-client'), 'response');
  const end = ev[ev.length - 1];
  assert.ok(end.type === 'end' && end.reason === 'end-of-input');
});

test('IPv6 endpoints are "[addr]:port"', () => {
  const out: TcpEvent[] = [];
  const r = new TcpReassembler((e) => out.push(e));
  r.packet(packet({ from: 'c', flags: S, seq: 1 }, { ip: '2001:db8::1', port: 5555 }, { ip: '2001:db8::2', port: 443 }));
  r.packet(packet({ from: 's', flags: S | A, seq: 9, ack: 2 }, { ip: '2001:db8::1', port: 5555 }, { ip: '2001:db8::2', port: 443 }));
  r.packet(packet({ from: 'c', flags: A, seq: 2, ack: 10 }, { ip: '2001:db8::1', port: 5555 }, { ip: '2001:db8::2', port: 443 }));
  assert.equal(out[0].client, '[2001:db8::1]:5555');
  assert.equal(out[0].server, '[2001:db8::2]:443');
});

test('bytes cut by the snaplen are a snaplen gap, never invented', () => {
  const ev = run([...handshake,
    { from: 's', flags: A, seq: SI + 1, ack: CI + 1, data: 'head', len: 1460 },
    { from: 's', flags: A, seq: SI + 1461, ack: CI + 1, data: 'next', len: 4 },
  ]);
  assert.equal(bytes(ev, 'server-to-client'), 'headnext');
  const gap = ev.find((e) => e.type === 'gap');
  assert.ok(gap?.type === 'gap');
  assert.deepEqual([gap.offset, gap.length, gap.reason], [4, 1456, 'snaplen']);
  const next = ev.filter((e): e is TcpDataEvent => e.type === 'data')[1];
  assert.equal(next.offset, 1460);
});

test('a hole is skipped with a gap once the receiver ACKs past it', () => {
  const ev = run([...handshake,
    { from: 's', flags: A, seq: SI + 1, ack: CI + 1, data: 'aaaa' },
    { from: 's', flags: A, seq: SI + 9, ack: CI + 1, data: 'cccc' }, // bytes 4..7 lost
  ], {}, false);
  assert.equal(ev.filter((e) => e.type === 'gap').length, 0, 'waits for the hole');
  const after = run([...handshake,
    { from: 's', flags: A, seq: SI + 1, ack: CI + 1, data: 'aaaa' },
    { from: 's', flags: A, seq: SI + 9, ack: CI + 1, data: 'cccc' },
    { from: 'c', flags: A, seq: CI + 1, ack: SI + 13 },
  ], {}, false);
  const gap = after.find((e) => e.type === 'gap');
  assert.ok(gap?.type === 'gap');
  assert.deepEqual([gap.offset, gap.length, gap.reason], [4, 4, 'missing']);
  assert.equal(bytes(after, 'server-to-client'), 'aaaacccc');
});

test('idle timeout and half-closed timeout are measured in capture time', () => {
  const ev = run([
    { t: 0, ...handshake[0] }, { t: 0.1, ...handshake[1] }, { t: 0.2, ...handshake[2] },
    { t: 400, from: 's', flags: S, seq: 1, ack: 0 }, // unrelated later packet: another connection
  ], { idleTimeout: 300 }, false);
  const end = ev.find((e) => e.type === 'end');
  assert.ok(end?.type === 'end');
  assert.equal(end.reason, 'idle');
  assert.equal(end.connection, 0);
  const half = run([
    { t: 0, ...handshake[0] }, { t: 0.1, ...handshake[1] }, { t: 0.2, ...handshake[2] },
    { t: 0.3, from: 'c', flags: F | A, seq: CI + 1, ack: SI + 1 },
    { t: 100, from: 's', flags: S, seq: 1, ack: 0 },
  ], { idleTimeout: 300, halfClosedTimeout: 60 }, false);
  const hend = half.find((e) => e.type === 'end');
  assert.ok(hend?.type === 'end' && hend.reason === 'idle');
});

test('adversarial: many half-open connections stay within maxConnections; evictions are reported', () => {
  const out: TcpEvent[] = [];
  const r = new TcpReassembler((e) => out.push(e), { maxConnections: 500 });
  let maxLive = 0;
  for (let i = 0; i < 5000; i++) {
    const c = { ip: `10.1.${i >> 8}.${i & 255}`, port: 1024 + (i % 60000) };
    r.packet(packet({ from: 'c', flags: S, seq: i }, c)); // half-open: never answered
    if (i % 2 === 0) r.packet(packet({ from: 'c', flags: A, seq: 5, ack: 7, data: 'x' }, { ip: c.ip, port: c.port + 1 })); // joined mid-stream
    maxLive = Math.max(maxLive, r.stats().liveConnections);
  }
  assert.ok(maxLive <= 500, `live ${maxLive}`);
  const evicted = out.filter((e) => e.type === 'evicted').length;
  assert.equal(evicted, r.stats().evictions);
  assert.ok(evicted > 2000, `evicted ${evicted}`);
  // every evicted connection was started, and gets its end
  const ends = out.filter((e) => e.type === 'end' && e.reason === 'evicted').length;
  assert.equal(ends, evicted);
});

test('adversarial: endless out-of-order data and huge sequence jumps stay within the buffer limits', () => {
  const limits = { gapSkipBytes: 64 * 1024, maxBufferedBytesPerConnection: 128 * 1024, maxBufferedBytesTotal: 256 * 1024 };
  const out: TcpEvent[] = [];
  const r = new TcpReassembler((e) => { if (e.type !== 'data') out.push(e); }, limits);
  const chunk = Buffer.alloc(1000, 0x61);
  let maxBuffered = 0;
  for (let conn = 0; conn < 20; conn++) {
    const c = { ip: '10.9.9.9', port: 20000 + conn };
    for (const s of handshake) r.packet(packet(s, c));
    // the first byte never arrives; 2 MB follow it, and every 50th segment jumps ~1 GB ahead
    for (let i = 0; i < 2000; i++) {
      const seq = i % 50 === 49 ? (CI + 2 + 0x40000000 + i * 1000) >>> 0 : CI + 2 + i * 1000;
      r.packet(packet({ from: 'c', flags: A, seq, ack: SI + 1, data: chunk }, c));
      maxBuffered = Math.max(maxBuffered, r.stats().bufferedBytes);
    }
  }
  assert.ok(maxBuffered <= limits.maxBufferedBytesTotal + 2000, `buffered ${maxBuffered}`);
  const gaps = out.filter((e) => e.type === 'gap');
  assert.ok(gaps.length >= 20, `gaps ${gaps.length}`);
  r.flush();
  assert.equal(r.stats().bufferedBytes, 0);
});
