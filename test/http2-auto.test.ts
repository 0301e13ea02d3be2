/**
 * AutoHttpConnectionParser: HTTP/1.x or HTTP/2 per connection from the bytes — the preface (also when the
 * server speaks first), HTTP/1.x, `Upgrade: h2c` with the client's preface held until the 101, a
 * refused upgrade, ALPN, a mid-stream join — with the same events however the bytes are cut.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AutoHttpConnectionParser, type AnyHttpEvent } from '../lib/http2/auto.js';
import { PREFACE, atFrame, frame, plainBlock, settings, type Segment } from './helpers/h2.js';
import { prng } from './helpers/prng.js';

const req = (path: string): Buffer => plainBlock([[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', 'x.test']]);

function run(segments: Segment[], opts: ConstructorParameters<typeof AutoHttpConnectionParser>[1] = {}, alpn?: string): AnyHttpEvent[] {
  const events: AnyHttpEvent[] = [];
  const p = new AutoHttpConnectionParser((e) => events.push(e), opts);
  if (alpn) p.useAlpn(alpn);
  let n = 0;
  for (const [from, bytes] of segments) p.data(from, bytes, atFrame(++n));
  p.end(atFrame(++n));
  return events;
}

function summary(events: AnyHttpEvent[]): string[] {
  return events.filter((e) => e.type !== 'body').map((e) => {
    switch (e.type) {
      case 'request': return `request ${e.version} ${e.method} ${e.url}${'streamId' in e ? ` s${e.streamId}` : ''}`;
      case 'response': return `response ${e.version} ${e.status} ${e.request?.url}${'streamId' in e ? ` s${e.streamId}` : ''}`;
      case 'http-upgrade': return `upgrade ${e.protocol} ${e.decodedAs ?? e.reason}`;
      case 'h2-error': case 'http-error': return `${e.type} ${e.code}`;
      default: return e.type;
    }
  });
}

function resplit(segments: Segment[], rand: () => number): Segment[] {
  const out: Segment[] = [];
  for (const [from, bytes] of segments) for (let i = 0; i < bytes.length;) {
    const n = 1 + Math.floor(rand() * 9);
    out.push([from, bytes.subarray(i, i + n)]);
    i += n;
  }
  return out;
}

const h2Exchange: Segment[] = [
  ['server', settings([[3, 100]])], // Node sends its SETTINGS before the client's preface arrives
  ['client', Buffer.concat([PREFACE, settings(), frame(1, 5, 1, req('/prior'))])],
  ['server', Buffer.concat([settings([], true), frame(1, 4, 1, plainBlock([[':status', '200']])), frame(0, 1, 1, 'ok')])],
];

const upgradeExchange: Segment[] = [
  ['client', Buffer.from('GET /up HTTP/1.1\r\nHost: x.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n')],
  ['client', Buffer.concat([PREFACE, settings(), frame(1, 5, 3, req('/second'))])], // sent before the 101 was seen
  ['server', Buffer.concat([
    Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'),
    settings(), frame(1, 4, 1, plainBlock([[':status', '200']])), frame(0, 1, 1, 'first'),
    frame(1, 5, 3, plainBlock([[':status', '204']])),
  ])],
];

test('prior knowledge: HTTP/2 even when the server speaks first; split anywhere, same events', () => {
  const expected = ['request HTTP/2 GET /prior s1', 'response HTTP/2 200 /prior s1'];
  assert.deepEqual(summary(run(h2Exchange)), expected);
  const rand = prng(9);
  for (let i = 0; i < 50; i++) assert.deepEqual(summary(run(resplit(h2Exchange, rand))), expected);
});

test('HTTP/1.x stays HTTP/1.x; ALPN h2 decides HTTP/2 up front', () => {
  const h1: Segment[] = [['client', Buffer.from('GET /one HTTP/1.1\r\nHost: x\r\n\r\n')], ['server', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')]];
  assert.deepEqual(summary(run(h1)), ['request HTTP/1.1 GET /one', 'response HTTP/1.1 200 /one']);
  const events = run(h2Exchange.slice(1), {}, 'h2');
  assert.deepEqual(summary(events), ['request HTTP/2 GET /prior s1', 'response HTTP/2 200 /prior s1']);
});

test('Upgrade: h2c — HTTP/1.1 request, 101, stream 1 answers it as HTTP/2, held client frames decoded', () => {
  const expected = [
    'request HTTP/1.1 GET /up', 'response HTTP/1.1 101 /up', 'upgrade h2c h2c',
    'request HTTP/2 GET /second s3', 'response HTTP/2 200 /up s1', 'response HTTP/2 204 /second s3',
  ];
  assert.deepEqual(summary(run(upgradeExchange)), expected);
  const rand = prng(11);
  for (let i = 0; i < 50; i++) assert.deepEqual(summary(run(resplit(upgradeExchange, rand))), expected);
});

test('a refused upgrade stays HTTP/1.1; a mid-stream join of HTTP/2 frames is HTTP/2', () => {
  const refused: Segment[] = [
    ['client', Buffer.from('GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n')],
    ['server', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno')],
  ];
  assert.deepEqual(summary(run(refused)), ['request HTTP/1.1 GET /up', 'response HTTP/1.1 200 /up']);
  const joined: Segment[] = [['server', Buffer.concat([frame(0, 0, 7, 'tail'), frame(1, 4, 9, plainBlock([[':status', '200']])), frame(0, 1, 9, 'x')])]];
  assert.deepEqual(summary(run(joined, { midStream: true })), ['h2-error H2_MIDSTREAM', 'h2-error H2_STREAM_UNSEEN', 'response HTTP/2 200 undefined s9']);
});
