/**
 * Live capture on the loopback device (needs root: CI runs as root). Real traffic only to 127.0.0.1: a
 * Node HTTP server and client, and UDP datagrams.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodePacket } from '../lib/layers/decode';
import { isCaptureError } from '../lib/core/errors';
import { LinkType, type PacketRecord } from '../lib/core/record';
import { TCP_ACK, TCP_SYN } from '../lib/layers/packet';
import { devices, defaultDevice, libVersion, LiveCaptureError } from '../addon/index';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { capture, pcapFileHeader, type CaptureStream } from '../streams/capture';
import { LOOPBACK, liveSkipReason, sendUdp, sleep, udpSink } from './helpers/live';

const skip = liveSkipReason();

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

function get(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // agent: false → one connection per request, closed after it, so each shows a handshake and FINs.
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Collects records until the stream ends. */
function collect(cap: CaptureStream): { records: PacketRecord[]; ended: Promise<void> } {
  const records: PacketRecord[] = [];
  cap.on('data', (r: PacketRecord) => records.push(r));
  return { records, ended: once(cap, 'end').then(() => undefined) };
}

test('devices, defaultDevice and libVersion describe this machine', { skip }, () => {
  const list = devices();
  const lo = list.find((d) => d.name === LOOPBACK);
  assert.ok(lo, 'lo is listed');
  assert.equal(lo.flags.loopback, true);
  assert.equal(lo.flags.up, true);
  assert.ok(lo.addresses.some((a) => a.family === 'IPv4' && a.address === '127.0.0.1' && a.netmask === '255.0.0.0'));
  const def = defaultDevice(list);
  if (def) {
    assert.equal(def.flags.loopback, false);
    assert.equal(def.flags.up, true);
    assert.ok(def.addresses.length > 0);
    assert.equal(def, list.find((d) => d.flags.up && !d.flags.loopback && d.addresses.length > 0));
  }
  assert.match(libVersion(), /^libpcap version \d+\.\d+/);
});

test('an HTTP exchange on 127.0.0.1 is captured and decodes to the exchange; the filter keeps only its port', { skip }, async () => {
  const ok = await listen((req, res) => res.end(`hello from ${req.url}`));
  const other = await listen((_req, res) => res.end('other'));
  const cap = capture({ device: LOOPBACK, immediate: true, filter: `tcp port ${ok.port}` });
  assert.equal(cap.linkType, LinkType.ETHERNET);
  const { records, ended } = collect(cap);
  await sleep(50);

  const N = 5;
  const bodies: string[] = [];
  for (let i = 0; i < N; i++) {
    bodies.push(await get(ok.port, `/hello-${i}`));
    await get(other.port, `/noise-${i}`);
  }
  await sleep(300); // the last FIN/ACKs
  cap.stop();
  await ended;
  ok.server.close();
  other.server.close();

  assert.deepEqual(bodies, [...Array(N).keys()].map((i) => `hello from /hello-${i}`));
  assert.ok(records.length >= N * 7, `at least handshake + request + response + close per connection, got ${records.length}`);
  records.forEach((r, i) => {
    assert.equal(r.frame, i + 1, 'frames count from 1 without gaps');
    assert.equal(r.linkType, LinkType.ETHERNET);
    assert.equal(r.interfaceId, 0);
    assert.equal(r.caplen, r.data.length);
    assert.ok(r.tsNsec >= 0 && r.tsNsec < 1e9);
    assert.ok(Math.abs(r.tsSec - Date.now() / 1000) < 60, 'timestamps are wall-clock now');
    if (i > 0) assert.ok(r.tsSec * 1e9 + r.tsNsec >= (records[i - 1] as PacketRecord).tsSec * 1e9 + (records[i - 1] as PacketRecord).tsNsec);
  });

  const packets = records.map((r) => decodePacket(r));
  let syns = 0;
  let toServer = '';
  let toClient = '';
  for (const p of packets) {
    assert.ok(p.tcp, `frame ${p.record.frame} is TCP`);
    assert.equal(p.ipv4?.src, '127.0.0.1');
    assert.ok(p.tcp.srcPort === ok.port || p.tcp.dstPort === ok.port, 'every packet has the filtered port');
    assert.ok(p.tcp.srcPort !== other.port && p.tcp.dstPort !== other.port, 'no packet of the other server');
    if ((p.tcp.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) syns++;
    if (p.tcp.dstPort === ok.port) toServer += p.tcp.payload.toString('latin1');
    else toClient += p.tcp.payload.toString('latin1');
  }
  assert.equal(syns, N, 'one handshake per request');
  for (let i = 0; i < N; i++) {
    assert.match(toServer, new RegExp(`GET /hello-${i} HTTP/1\\.1\\r\\n`));
    assert.ok(toClient.includes(`hello from /hello-${i}`));
  }
  assert.equal(toServer.match(/^GET /gm)?.length, N);
  assert.equal(toClient.match(/HTTP\/1\.1 200 OK\r\n/g)?.length, N);

  const stats = cap.stats();
  assert.equal(stats.captured, records.length);
  assert.equal(stats.dropped, 0);
  assert.ok(stats.received >= records.length);
});

test('batch, pcapRecords and maxPackets modes deliver the same packets as record mode', { skip }, async () => {
  const sink = await udpSink();
  const filterExpr = `udp dst port ${sink.port}`;
  const records = capture({ device: LOOPBACK, immediate: true, filter: filterExpr });
  const arrays = capture({ device: LOOPBACK, immediate: true, filter: filterExpr, batch: true });
  const pcap = capture({ device: LOOPBACK, immediate: true, filter: filterExpr, pcapRecords: true, maxPackets: 12 });
  const got = { records: [] as PacketRecord[], arrays: [] as PacketRecord[][], pcap: [] as Buffer[] };
  records.on('data', (r: PacketRecord) => got.records.push(r));
  arrays.on('data', (a: PacketRecord[]) => got.arrays.push(a));
  pcap.on('data', (b: Buffer) => got.pcap.push(b));
  const pcapEnded = once(pcap, 'end');
  await sleep(20);
  await sendUdp(sink.port, 30, 80, 1);
  await pcapEnded; // maxPackets closes it by itself
  await sleep(100);
  records.stop();
  arrays.stop();
  sink.close();

  const payloadIndex = (data: Buffer): number => data.readUInt32BE(42); // Ethernet 14 + IPv4 20 + UDP 8
  assert.deepEqual(got.records.map((r) => payloadIndex(r.data)), [...Array(30).keys()]);
  const flat = got.arrays.flat();
  assert.deepEqual(flat.map((r) => payloadIndex(r.data)), [...Array(30).keys()]);
  assert.deepEqual(flat.map((r) => r.frame), [...Array(30).keys()].map((i) => i + 1));
  const fromPcap = parseCaptureBuffer(Buffer.concat([pcapFileHeader(pcap.linkType, pcap.snaplen), ...got.pcap]));
  assert.deepEqual(fromPcap.map((r) => payloadIndex(r.data)), [...Array(12).keys()]);
  assert.deepEqual(fromPcap.map((r) => Buffer.from(r.data).toString('hex')), got.records.slice(0, 12).map((r) => r.data.toString('hex')));
  assert.equal(pcap.stats().captured, 12);
  assert.equal(pcap.capturing, false);
});

test('close() inside a data handler, twice, ends the stream; later calls are safe', { skip }, async () => {
  const sink = await udpSink();
  const cap = capture({ device: LOOPBACK, immediate: true, filter: `udp dst port ${sink.port}` });
  const seen: PacketRecord[] = [];
  let errors = 0;
  cap.on('error', () => { errors++; });
  cap.on('data', (r: PacketRecord) => {
    seen.push(r);
    cap.close();
    cap.close();
  });
  const ended = once(cap, 'end');
  await sleep(20);
  await sendUdp(sink.port, 40);
  await ended;
  await sendUdp(sink.port, 10); // traffic after close reaches nobody, crashes nothing
  await sleep(50);
  assert.equal(seen.length, 1, 'nothing is delivered after close()');
  assert.equal(errors, 0);
  assert.equal(cap.capturing, false);
  cap.close();
  cap.stop();
  assert.ok(cap.stats().received >= 1, 'the last statistics stay readable');
  assert.throws(() => cap.inject(Buffer.alloc(60)), (e: unknown) => e instanceof LiveCaptureError && e.reason === 'CLOSED');
  sink.close();
});

test('destroy() while capturing, and many open/close cycles, crash nothing', { skip }, async () => {
  for (let i = 0; i < 30; i++) {
    const cap = capture({ device: LOOPBACK, immediate: true, filter: 'udp port 9' });
    cap.resume();
    if (i % 3 === 0) cap.destroy();
    else if (i % 3 === 1) cap.close();
    else { cap.stop(); cap.destroy(); }
  }
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
  await sleep(50);
});

test('opening a missing device is a typed error, not a crash', { skip }, () => {
  assert.throws(() => capture({ device: 'pcap-pipe-nope0' }), (e: unknown) => {
    assert.ok(e instanceof LiveCaptureError);
    assert.ok(isCaptureError(e, 'PCAP_LIVE'));
    assert.equal(e.reason, 'NO_SUCH_DEVICE');
    assert.match(e.message, /pcap-pipe-nope0/);
    return true;
  });
});

test('a bad live filter is a typed BPF_SYNTAX error with the expression', { skip }, () => {
  assert.throws(() => capture({ device: LOOPBACK, filter: 'tcp prot 80' }), (e: unknown) =>
    isCaptureError(e, 'BPF_SYNTAX') && /"tcp prot 80"/.test((e as Error).message));
  const cap = capture({ device: LOOPBACK });
  assert.throws(() => cap.setFilter('udp and'), (e: unknown) => isCaptureError(e, 'BPF_SYNTAX'));
  cap.setFilter('udp port 9');
  cap.close();
});

test('inject() sends a frame that a second capture sees byte for byte', { skip }, async () => {
  const sink = await udpSink();
  const watcher = capture({ device: LOOPBACK, immediate: true, filter: `udp dst port ${sink.port}` });
  const { records, ended } = collect(watcher);
  const sender = capture({ device: LOOPBACK, filter: 'less 1' }); // captures nothing; used to send
  const payload = Buffer.from('injected by pcap-pipe');
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(sink.port, 2);
  udp.writeUInt16BE(udp.length, 4); // checksum 0: none (IPv4)
  payload.copy(udp, 8);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + udp.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set([127, 0, 0, 1], 12);
  ip.set([127, 0, 0, 1], 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const frame = Buffer.concat([eth, ip, udp]);
  await sleep(20);
  assert.equal(sender.inject(frame), frame.length);
  await sleep(200);
  watcher.stop();
  sender.close();
  await ended;
  sink.close();
  assert.equal(records.length, 1);
  assert.deepEqual((records[0] as PacketRecord).data, frame);
});

test('a worker that captures and is terminated without close() cleans up (env cleanup hook)', { skip }, async () => {
  const captureModule = path.join(__dirname, '..', 'streams', 'capture.js');
  const openFds = (): number => fs.readdirSync('/proc/self/fd').length;
  const before = openFds();
  for (let i = 0; i < 3; i++) {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { capture } = require(${JSON.stringify(captureModule)});
       const cap = capture({ device: 'lo', immediate: true, timeout: 10 });
       cap.on('data', () => {});
       parentPort.postMessage('capturing');`,
      { eval: true },
    );
    const [msg] = await once(worker, 'message');
    assert.equal(msg, 'capturing');
    await sleep(30);
    await worker.terminate();
  }
  await sleep(100);
  assert.equal(openFds(), before, 'every capture socket the workers opened was closed');
});
