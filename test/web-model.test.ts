/**
 * lib/web/model.ts: the live view's server-side model.
 * - Against tshark (oracle/C.http.tsv, C.frames.tsv): the rows built from real captures have tshark's
 *   requests (connection, method, URI) and response codes, in order; packet counts match; WebSocket
 *   messages and closes match tshark's data/close frames.
 * - Caps: rows, bodies (per body and in total), WebSocket messages, TCP events, series seconds; what falls
 *   off is counted. Batching: takeUpdate() carries each change once, then nothing.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { fixture, oracleFrames, readOracle } from './helpers/oracle.js';
import { readCaptureFile } from '../streams/read.js';
import { PacketCounter, WebModelSink } from '../streams/web.js';
import { decode } from '../streams/decode.js';
import { tcp } from '../streams/tcp.js';
import { http } from '../streams/http.js';
import { pipeline } from 'node:stream/promises';
import { WebModel, type WebHttpEvent, type WebModelLimits } from '../lib/web/model.js';
import type { HttpRequestEvent, HttpResponseEvent } from '../lib/http/events.js';
import type { TcpEvent } from '../lib/tcp/events.js';

async function modelOf(file: string, limits?: Partial<WebModelLimits>): Promise<WebModel> {
  const model = new WebModel(limits);
  await pipeline(
    readCaptureFile(fixture(file), { batch: true }),
    new PacketCounter(model),
    decode({ depth: 'transport', defragment: true }),
    tcp(),
    http({ parser: { maxBody: model.limits.maxBodyBytes, bodyEvents: false } }),
    new WebModelSink(model),
  );
  model.end();
  return model;
}

/** tshark rows of one kind, retransmitted duplicates (same stream, same message, same frame content) kept once per frame. */
function oracleRequests(file: string): string[] {
  return readOracle(`${file}.http.tsv`)
    .filter((r) => r['http.request.method'] !== '')
    .map((r) => `${r['tcp.stream']} ${r['http.request.method']} ${r['http.request.uri']}`);
}

function oracleStatuses(file: string): string[] {
  return readOracle(`${file}.http.tsv`)
    .filter((r) => r['http.response.code'] !== '' && !/^1(?!01)\d\d$/.test(r['http.response.code'] as string))
    .map((r) => `${r['tcp.stream']} ${r['http.response.code']}`);
}

const byConnection = (a: string, b: string): number => Number(a.split(' ')[0]) - Number(b.split(' ')[0]);

for (const file of ['http-keepalive-304.pcap', 'http-pipelined-gzip.pcap', 'http-methods-head-te-chunked.pcap', 'null-ipv6-http-keepalive-chunked-304.pcap', 'vlan-qinqinq-http.pcap', 'websocket-text-binary.pcap']) {
  test(`rows of ${file} match tshark's requests and responses`, async () => {
    const model = await modelOf(file);
    const snap = model.snapshot();
    assert.equal(snap.counters.packets, oracleFrames(file).length, 'packets');
    const frameBytes = oracleFrames(file).reduce((n, r) => n + Number(r['frame.len']), 0);
    assert.equal(snap.counters.bytes, frameBytes, 'bytes (frame.len)');
    const requests = snap.rows.filter((r) => r.method !== null && r.url !== null).map((r) => `${r.connection} ${r.method} ${r.url}`);
    // tshark lists by frame; rows are in request order per connection: compare per connection, in order.
    assert.deepEqual([...requests].sort(byConnection), [...oracleRequests(file)].sort(byConnection));
    const statuses = snap.rows.filter((r) => r.status !== null).map((r) => `${r.connection} ${r.status}`);
    assert.deepEqual([...statuses].sort(byConnection), [...oracleStatuses(file)].sort(byConnection));
    assert.equal(snap.rowsTotal, snap.rows.length);
    assert.equal(snap.ended, true);
    // every exchange's detail is there, with the headers of both messages
    for (const row of snap.rows) {
      const d = model.detail(row.id);
      assert.ok(d, `detail of row ${row.id}`);
      if (row.method !== null) assert.ok(d.request && d.request.headers.length > 0);
      if (row.status !== null) assert.equal(d.response?.status, row.status);
    }
  });
}

for (const file of ['websocket-text-binary.pcap', 'websocket-fragmented-ping-close.pcap']) {
  test(`WebSocket messages of ${file} match tshark's data and close frames`, async () => {
    const model = await modelOf(file);
    const snap = model.snapshot();
    let messages = 0;
    let closes = 0;
    for (const r of readOracle(`${file}.http.tsv`)) {
      for (const op of (r['websocket.opcode'] ?? '').split(';')) {
        if (op === '1' || op === '2') messages++;
        if (op === '8') closes++;
      }
    }
    assert.ok(messages > 0);
    assert.equal(snap.wsMessages.filter((m) => m.kind !== 'close').length, messages);
    assert.equal(snap.wsMessages.filter((m) => m.kind === 'close').length, closes);
    assert.equal(snap.wsConnections.length, new Set(snap.wsMessages.map((m) => m.connection)).size);
    const upgraded = snap.rows.filter((r) => r.websocket);
    assert.ok(upgraded.length >= 1, 'the 101 row is marked');
    for (const c of snap.wsConnections) assert.equal(c.url, upgraded.find((r) => r.connection === c.connection)?.url ?? null);
  });
}

// ---------------------------------------------------------------------------------------------
// synthetic events for the caps

const CONN = { connection: 3, client: '127.0.0.1:5000', server: '127.0.0.1:80' };

function at(sec: number): { ts: string; frame: number } {
  return { ts: sec.toFixed(9), frame: Math.round(sec * 1000) };
}

function request(index: number, sec: number, body?: Buffer, connection = CONN.connection): WebHttpEvent {
  const ev: HttpRequestEvent = {
    type: 'request', ...at(sec), from: 'client', method: 'POST', url: `/item/${index}`, version: 'HTTP/1.1',
    headers: [['Host', 'example.test'], ['Content-Length', String(body?.length ?? 0)]], index,
    bodyLength: body?.length ?? 0, decodedLength: body?.length ?? 0, startTs: sec.toFixed(9), startFrame: 1,
  };
  if (body) ev.body = body;
  return { ...ev, ...CONN, connection };
}

function response(index: number, sec: number, status: number, body?: Buffer, connection = CONN.connection): WebHttpEvent {
  const ev: HttpResponseEvent = {
    type: 'response', ...at(sec + 0.25), from: 'server', status, reason: 'X', version: 'HTTP/1.1',
    headers: [['Content-Type', 'text/plain']], request: { method: 'POST', url: `/item/${index}`, index },
    bodyLength: body?.length ?? 0, decodedLength: body?.length ?? 0, startTs: (sec + 0.2).toFixed(9), startFrame: 2,
    timing: { requestStart: sec, requestSent: sec, firstByte: sec + 0.2, complete: sec + 0.25, wait: 0.2, transfer: 0.05, total: 0.25 },
  };
  if (body) ev.body = body;
  return { ...ev, ...CONN, connection };
}

function tcpEvent(type: 'reset' | 'retransmit' | 'start' | 'end' | 'data', sec: number, connection = CONN.connection): TcpEvent {
  const base = { ...at(sec), tsSec: Math.floor(sec), tsNsec: 0, ...CONN, connection };
  switch (type) {
    case 'reset': return { ...base, type, from: 'server', direction: 'server-to-client' };
    case 'retransmit': return { ...base, type, from: 'client', direction: 'client-to-server', kind: 'retransmission', seq: 1, length: 10 };
    case 'start': return { ...base, type, midStream: false };
    case 'data': return { ...base, type, from: 'client', direction: 'client-to-server', offset: 0, bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n') };
    case 'end': {
      const dir = { bytes: 0, packets: 0, retransmissions: 0, gapBytes: 0 };
      return { ...base, type, reason: 'fin', stats: { clientToServer: dir, serverToClient: dir, handshakeRtt: null, duration: 0 } };
    }
  }
}

test('rows are capped: the oldest drop off, counted; a response to a dropped request makes its own row', () => {
  const m = new WebModel({ maxRows: 5 });
  for (let i = 1; i <= 12; i++) m.event(request(i, 100 + i));
  let s = m.snapshot();
  assert.equal(s.rows.length, 5);
  assert.equal(s.rowsTotal, 12);
  assert.equal(s.dropped.rows, 7);
  assert.deepEqual(s.rows.map((r) => r.url), ['/item/8', '/item/9', '/item/10', '/item/11', '/item/12']);
  m.event(response(12, 112, 200));
  m.event(response(2, 102, 404)); // its request dropped off
  s = m.snapshot();
  assert.equal(s.rows.length, 5);
  assert.equal(s.rows.find((r) => r.url === '/item/12')?.status, 200);
  const orphan = s.rows[s.rows.length - 1];
  assert.equal(orphan?.url, '/item/2');
  assert.equal(orphan?.status, 404);
  assert.equal(orphan?.requestBytes, null);
  assert.equal(m.detail(1), undefined, 'detail of a dropped row is gone');
});

test('bodies: each cut to maxBodyBytes, the total kept under maxTotalBodyBytes by stripping the oldest', () => {
  const m = new WebModel({ maxBodyBytes: 10, maxTotalBodyBytes: 50 });
  const big = Buffer.alloc(100, 0x61);
  m.event(request(1, 1, big));
  let d = m.detail(1);
  assert.equal(Buffer.from(d?.request?.body ?? '', 'base64').length, 10);
  assert.equal(d?.request?.bodyTruncated, true);
  assert.equal(d?.request?.bodyLength, 100);
  for (let i = 2; i <= 10; i++) {
    m.event(request(i, i, Buffer.alloc(8, 0x62)));
    m.event(response(i, i, 200, Buffer.alloc(8, 0x63)));
    assert.ok(m.heldBodyBytes <= 50, `held ${m.heldBodyBytes}`);
  }
  const s = m.snapshot();
  assert.ok(s.dropped.bodies > 0);
  d = m.detail(1);
  assert.equal(d?.request?.body, undefined);
  assert.equal(d?.request?.bodyDropped, true);
  d = m.detail(10);
  assert.equal(Buffer.from(d?.response?.body ?? '', 'base64').toString(), 'cccccccc');
  // the held count is exactly what the kept rows hold
  let held = 0;
  for (const row of s.rows) {
    const x = m.detail(row.id);
    held += Buffer.from(x?.request?.body ?? '', 'base64').length + Buffer.from(x?.response?.body ?? '', 'base64').length;
  }
  assert.equal(held, m.heldBodyBytes);
});

test('WebSocket messages and TCP events are capped and counted; previews cut to maxWsPreviewBytes', () => {
  const m = new WebModel({ maxWsMessages: 4, maxTcpEvents: 3, maxWsPreviewBytes: 5 });
  for (let i = 0; i < 10; i++) {
    m.event({ type: 'ws-message', ...at(i), from: i % 2 ? 'server' : 'client', opcode: 1, length: 9, data: Buffer.from(`message ${i}`), compressed: false, frames: 1, utf8Valid: true, ...CONN });
  }
  for (let i = 0; i < 7; i++) m.event(tcpEvent('retransmit', i));
  const s = m.snapshot();
  assert.deepEqual(s.wsMessages.map((w) => w.preview), ['messa', 'messa', 'messa', 'messa']);
  assert.ok(s.wsMessages.every((w) => w.truncated));
  assert.equal(s.wsMessages[0]?.id, 7);
  assert.equal(s.dropped.wsMessages, 6);
  assert.equal(s.wsConnections[0]?.messages, 10);
  assert.equal(s.tcpEvents.length, 3);
  assert.equal(s.dropped.tcpEvents, 4);
});

test('series keeps maxSeriesSeconds seconds; packets, requests and response times land in their second', () => {
  const m = new WebModel({ maxSeriesSeconds: 10 });
  for (let t = 1000; t < 1030; t++) for (let k = 0; k < 3; k++) m.packet({ tsSec: t, len: 100 });
  m.event(request(1, 1029.5));
  m.event(response(1, 1029.5, 200)); // completes at 1029.75
  const s = m.snapshot();
  assert.equal(s.series.length, 10);
  assert.deepEqual(s.series.map((p) => p.t).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => 1020 + i));
  assert.equal(s.dropped.seriesPoints, 20);
  const last = s.series.find((p) => p.t === 1029);
  assert.equal(last?.packets, 3);
  assert.equal(last?.bytes, 300);
  assert.equal(last?.requests, 1);
  assert.equal(last?.responses, 1);
  assert.equal(last?.responseTimeSum, 0.25);
  assert.equal(s.counters.packets, 90);
});

test('takeUpdate batches: each change once, null when nothing changed; data events change nothing', () => {
  const m = new WebModel();
  assert.equal(m.takeUpdate(), null);
  m.event(tcpEvent('start', 1));
  m.event(tcpEvent('data', 1));
  m.event(request(1, 1));
  m.event(request(2, 1.1));
  let u = m.takeUpdate();
  assert.deepEqual(u?.rows.map((r) => [r.id, r.state]), [[1, 'pending'], [2, 'pending']]);
  assert.equal(u?.counters.openConnections, 1);
  assert.equal(m.takeUpdate(), null);
  m.event(tcpEvent('data', 2));
  assert.equal(m.takeUpdate(), null, 'data events are not kept');
  m.event(response(2, 1.1, 201));
  u = m.takeUpdate();
  assert.deepEqual(u?.rows.map((r) => [r.id, r.status, r.state]), [[2, 201, 'complete']]);
  assert.equal(u?.rows[0]?.responseTime, 0.25);
  m.event(tcpEvent('end', 3));
  u = m.takeUpdate();
  assert.deepEqual(u?.rows, []);
  assert.equal(u?.counters.openConnections, 0);
  assert.equal(u?.counters.connections, 1);
});

test('TCP trouble flags the rows of its connection, before and after; other connections stay clean', () => {
  const m = new WebModel();
  m.event(request(1, 1, undefined, 3));
  m.event(request(1, 1, undefined, 4));
  m.event(tcpEvent('retransmit', 2, 3));
  m.event(request(2, 3, undefined, 3));
  m.event(tcpEvent('reset', 4, 3));
  const rows = m.snapshot().rows;
  assert.deepEqual(rows.map((r) => [r.connection, r.tcp]), [[3, ['retransmit', 'reset']], [4, []], [3, ['retransmit', 'reset']]]);
  assert.deepEqual(m.snapshot().tcpEvents.map((e) => e.type), ['retransmit', 'reset']);
});

test('rates over the last second of ticks; pcapng drop counts and live counters give kernel drops', () => {
  const m = new WebModel();
  assert.equal(m.snapshot().counters.kernelDrops, null);
  m.tick(10_000);
  for (let i = 0; i < 50; i++) m.packet({ tsSec: 1, len: 1000, options: i === 3 ? { dropCount: 7n } : undefined });
  m.tick(10_500);
  for (let i = 0; i < 50; i++) m.packet({ tsSec: 1, len: 1000 });
  m.tick(11_000);
  let c = m.snapshot().counters;
  assert.equal(c.packetsPerSecond, 100);
  assert.equal(c.bytesPerSecond, 100_000);
  assert.equal(c.kernelDrops, 7);
  m.tick(12_000);
  m.tick(12_600);
  c = m.snapshot().counters;
  assert.equal(c.packetsPerSecond, 0, 'nothing in the last second');
  m.setCaptureCounters({ dropped: 12, ifDropped: 1 });
  c = m.snapshot().counters;
  assert.equal(c.kernelDrops, 12);
  assert.equal(c.ifDrops, 1);
});
