/**
 * The http() stream and httpEvents(): on the corpus captures they give exactly the events of the
 * parser-level wiring the oracle tests check (test/http-test-helpers runHttpCapture), each with its
 * connection, client and server; TCP events pass through in order (start before the connection's HTTP
 * events, end after them) unless tcpEvents is false; batches stay batches; foreign chunks pass.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { fixture } from './helpers/oracle.js';
import { runHttpCapture, normalise } from './http-test-helpers.js';
import type { HttpParserEvent } from '../lib/http/events.js';
import { isTcpEvent, type TcpEvent } from '../lib/tcp/events.js';
import { http, isHttpStreamEvent, type HttpStreamEvent } from '../streams/http.js';
import { httpEvents, httpTracePipeline } from '../streams/trace.js';
import { readCaptureFile } from '../streams/read.js';

const files = [
  'http-100-continue-chunked.pcap',
  'http-pipelined-gzip.pcap',
  'http-keepalive-304.pcap',
  'http-post-chunked-retrans.pcap',
  'null-ipv6-http-keepalive-chunked-304.pcap',
  'websocket-fragmented-ping-close.pcap',
  'websocket-text-binary.pcap',
  'ipv4-fragments-socks5-http.pcap',
];

async function collect(stream: Readable): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const chunk of stream) {
    if (Array.isArray(chunk)) out.push(...(chunk as unknown[]));
    else out.push(chunk);
  }
  return out;
}

for (const file of files) {
  for (const batch of [false, true]) {
    test(`httpEvents(${file}${batch ? ', batch' : ''}) equals the parser-level wiring, TCP events in order`, async () => {
      const events = await collect(httpEvents(readCaptureFile(fixture(file), { batch })));
      const expected = runHttpCapture(fixture(file));
      const http = events.filter(isHttpStreamEvent);
      for (const conn of expected) {
        const mine = http.filter((e) => e.connection === conn.connection);
        for (const e of mine) {
          assert.equal(e.client, conn.client);
          assert.equal(e.server, conn.server);
        }
        const strip = (list: HttpParserEvent[]): unknown[] => normalise(list.map((e) => {
          const { connection: _c, client: _cl, server: _s, ...rest } = e as HttpStreamEvent;
          return rest as HttpParserEvent;
        }));
        assert.deepEqual(strip(mine as HttpParserEvent[]), strip(conn.events), `connection ${conn.connection}`);
        assert.deepEqual(mine.map((e) => e.frame), conn.events.map((e) => e.frame), 'same frames');
      }
      assert.equal(http.length, expected.reduce((n, c) => n + c.events.length, 0));
      // order: each connection's start comes before its HTTP events and its end after them
      const pos = new Map<string, number>();
      events.forEach((e, i) => {
        if (isTcpEvent(e) && (e.type === 'start' || e.type === 'end')) pos.set(`${e.type}/${e.connection}`, i);
      });
      events.forEach((e, i) => {
        if (!isHttpStreamEvent(e)) return;
        assert.ok(pos.get(`start/${e.connection}`)! < i && i < pos.get(`end/${e.connection}`)!, `${e.type} inside its connection`);
      });
      assert.ok(events.some((e) => isTcpEvent(e) && (e as TcpEvent).type === 'data'), 'TCP data passes through');
    });
  }
}

test('http({ tcpEvents: false }) drops TCP events; foreign chunks pass through in place', async () => {
  const tcpOnly = await collect(httpEvents(readCaptureFile(fixture('http-keepalive-304.pcap'), { batch: true })));
  const tcpEvents = tcpOnly.filter(isTcpEvent);
  const marker = { type: 'not-tcp', note: 'foreign' };
  const stream = http({ tcpEvents: false });
  const out = await collect(Readable.from([marker, tcpEvents], { objectMode: true }).pipe(stream));
  assert.equal(out[0], marker);
  assert.ok(out.slice(1).every((e) => isHttpStreamEvent(e)));
  assert.equal(out.length - 1, tcpOnly.filter(isHttpStreamEvent).length);
  assert.equal(stream.openConnections, 0, 'every parser dropped at its end');
});

test('http({ tcpData: false }) passes every TCP event but data, and the same HTTP events in the same order', async () => {
  const file = fixture('http-post-chunked-retrans.pcap');
  const all = await collect(httpEvents(readCaptureFile(file, { batch: true })));
  const noData = await collect(httpEvents(readCaptureFile(file, { batch: true }), { tcpData: false }));
  const strip = (list: unknown[]): unknown[] => list.filter((e) => !(isTcpEvent(e) && (e as TcpEvent).type === 'data'));
  assert.ok(all.some((e) => isTcpEvent(e) && (e as TcpEvent).type === 'data'), 'the capture has data events');
  assert.ok(noData.some((e) => isTcpEvent(e) && (e as TcpEvent).type === 'end'), 'end still passes');
  assert.deepEqual(noData, strip(all));
});

test('httpTracePipeline (the hook for other front ends) emits single selected events', async () => {
  const out: unknown[] = [];
  for await (const chunk of httpTracePipeline(readCaptureFile(fixture('http-keepalive-304.pcap'), { batch: true }), { tcpEvents: false })) out.push(chunk);
  const expected = runHttpCapture(fixture('http-keepalive-304.pcap'));
  assert.ok(expected.length > 1);
  for (const conn of expected) {
    assert.deepEqual(
      out.filter((e) => (e as HttpStreamEvent).connection === conn.connection).map((e) => `${(e as HttpStreamEvent).type} ${(e as HttpStreamEvent).frame}`),
      conn.events.filter((e) => e.type !== 'body').map((e) => `${e.type} ${e.frame}`),
    );
  }
  assert.ok(out.every((e) => !Array.isArray(e) && isHttpStreamEvent(e)));
  const withTcp = await collect(httpTracePipeline(readCaptureFile(fixture('http-keepalive-304.pcap')), { tcpEvents: true }));
  assert.ok(withTcp.some((e) => (e as TcpEvent).type === 'start'));
  assert.ok(!withTcp.some((e) => (e as TcpEvent).type === 'data'));
});

test('httpTracePipeline batches: true keeps arrays; the NDJSON printer writes them coalesced, the same text as event by event', async () => {
  const { httpTracePrinter } = await import('../streams/http-trace.js');
  const { pipeline } = await import('node:stream/promises');
  const { Writable } = await import('node:stream');
  const print = { json: true, headers: false, bodies: false, maxBody: 0, tcpVerbose: false, color: false };
  const source = (batches: boolean): Readable => httpTracePipeline(readCaptureFile(fixture('http-pipelined-gzip.pcap'), { batch: true }), { batches });
  const runs: { chunks: number; arrays: number; text: string }[] = [];
  for (const batches of [false, true]) {
    let arrays = 0;
    for await (const chunk of source(batches)) if (Array.isArray(chunk)) arrays++;
    const chunks: string[] = [];
    const sink = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c.toString()); cb(); } });
    await pipeline(source(batches), httpTracePrinter(print), sink);
    runs.push({ chunks: chunks.length, arrays, text: chunks.join('') });
  }
  const [single, batched] = runs as [typeof runs[0], typeof runs[0]];
  assert.ok(single.text.split('\n').length > 3, 'the capture has events');
  assert.equal(batched.text, single.text);
  assert.equal(single.arrays, 0);
  assert.ok(batched.arrays > 0, 'arrays out with batches: true');
  // a small capture's output (< 64 KiB) is gathered into one write: at the next event-loop turn or the end
  assert.equal(batched.chunks, 1);
});
