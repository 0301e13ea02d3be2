/**
 * Http2ConnectionParser on exact byte streams: every frame type, padding, CONTINUATION, trailers, 1xx,
 * push, RST_STREAM mid-body, GOAWAY, unknown frame types, h2c upgrade, gRPC framing, mid-stream joins,
 * hostile peers (CONTINUATION floods, HPACK bombs, too many streams) — and the same events however the
 * bytes are cut.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { looksLikeHttp2Frames, matchClientPreface } from '../lib/http2/connection.js';
import { parseGrpcPath } from '../lib/http2/grpc.js';
import {
  PREFACE, assertH2SplitInvariant, atFrame, frame, h2OfType, hpackIndexed, hpackLiteral, plainBlock, runH2, settings, u32,
  type Segment,
} from './helpers/h2.js';

const DATA = 0, HEADERS = 1, PRIORITY = 2, RST = 3, SETTINGS = 4, PUSH = 5, PING = 6, GOAWAY = 7, WINDOW = 8, CONT = 9;
const END_STREAM = 1, END_HEADERS = 4, PADDED = 8, PRIO = 0x20;

const req = (path: string, extra: Array<[string, string]> = [], method = 'GET'): Buffer =>
  plainBlock([[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'example.test'], ...extra]);
const res = (status: number, extra: Array<[string, string]> = []): Buffer => plainBlock([[':status', String(status)], ...extra]);

function exchange(): Segment[] {
  const gz = zlib.gzipSync(Buffer.from('compressed body '.repeat(50)));
  const padded = Buffer.concat([Buffer.from([4]), Buffer.from('padded'), Buffer.alloc(4)]);
  return [
    ['client', Buffer.concat([PREFACE, settings([[1, 4096], [4, 65535]]), frame(WINDOW, 0, 0, u32(1000))])],
    ['server', Buffer.concat([settings([[3, 100]]), settings([], true)])],
    ['client', Buffer.concat([
      settings([], true),
      // stream 1: GET with priority fields, header block split over HEADERS + 2 CONTINUATION
      frame(HEADERS, PRIO | END_STREAM, 1, Buffer.concat([u32(0), Buffer.from([15]), req('/one').subarray(0, 10)])),
      frame(CONT, 0, 1, req('/one').subarray(10, 20)),
      frame(CONT, END_HEADERS, 1, req('/one').subarray(20)),
      // stream 3: POST with a padded body and trailers
      frame(HEADERS, END_HEADERS | PADDED, 3, Buffer.concat([Buffer.from([3]), req('/post', [['content-type', 'text/plain']], 'POST'), Buffer.alloc(3)])),
      frame(DATA, PADDED, 3, padded),
      frame(DATA, 0, 3, ' and more'),
      frame(HEADERS, END_HEADERS | END_STREAM, 3, plainBlock([['x-checksum', 'abc']])),
      frame(PRIORITY, 0, 5, Buffer.concat([u32(1), Buffer.from([200])])),
      frame(0x42, 0xff, 7, 'an extension frame: ignored'),
      frame(PING, 0, 0, Buffer.alloc(8, 1)),
      frame(HEADERS, END_HEADERS | END_STREAM, 5, req('/gzip', [['accept-encoding', 'gzip']])),
    ])],
    ['server', Buffer.concat([
      frame(PING, 1, 0, Buffer.alloc(8, 1)),
      frame(HEADERS, END_HEADERS, 3, res(100)),
      frame(HEADERS, END_HEADERS, 1, res(200, [['content-type', 'text/plain']])),
      frame(DATA, 0, 1, 'hello '),
      frame(HEADERS, END_HEADERS, 5, res(200, [['content-encoding', 'gzip']])),
      frame(DATA, 0, 5, gz.subarray(0, 20)),
      frame(DATA, END_STREAM, 1, 'world'),
      frame(DATA, END_STREAM, 5, gz.subarray(20)),
      frame(HEADERS, END_HEADERS, 3, res(201)),
      frame(DATA, 0, 3, 'created'),
      frame(HEADERS, END_HEADERS | END_STREAM, 3, plainBlock([['x-trailer', 'done']])),
      frame(GOAWAY, 0, 0, Buffer.concat([u32(5), u32(0), Buffer.from('bye')])),
    ])],
  ];
}

test('one connection: continuation, priority, padding, trailers, 100, gzip, ping, unknown frames, goaway', () => {
  const events = runH2(exchange());
  assert.deepEqual(h2OfType(events, 'h2-error'), []);
  const requests = h2OfType(events, 'request');
  assert.deepEqual(requests.map((r) => [r.streamId, r.method, r.url, r.authority, r.index, r.version, r.protocol]), [
    [1, 'GET', '/one', 'example.test', 1, 'HTTP/2', 'HTTP/2'],
    [3, 'POST', '/post', 'example.test', 2, 'HTTP/2', 'HTTP/2'],
    [5, 'GET', '/gzip', 'example.test', 3, 'HTTP/2', 'HTTP/2'],
  ]);
  assert.equal(requests[1]!.body?.toString(), 'padded and more');
  assert.deepEqual(requests[1]!.trailers, [['x-checksum', 'abc']]);
  assert.deepEqual(requests[1]!.headers, [['content-type', 'text/plain']]);
  const responses = h2OfType(events, 'response');
  assert.deepEqual(responses.map((r) => [r.streamId, r.status, r.interim === true, r.request?.url]), [
    [3, 100, true, '/post'],
    [1, 200, false, '/one'],
    [5, 200, false, '/gzip'],
    [3, 201, false, '/post'],
  ]);
  assert.equal(responses[1]!.body?.toString(), 'hello world');
  assert.equal(responses[2]!.body?.toString(), 'compressed body '.repeat(50));
  assert.deepEqual(responses[2]!.contentEncoding, ['gzip']);
  assert.equal(responses[3]!.body?.toString(), 'created');
  assert.deepEqual(responses[3]!.trailers, [['x-trailer', 'done']]);
  const goaway = h2OfType(events, 'h2-goaway');
  assert.deepEqual(goaway.map((g) => [g.from, g.lastStreamId, g.error, g.debug]), [['server', 5, 'NO_ERROR', 'bye']]);
});

test('split-invariance: the same events however the bytes are cut', () => {
  assertH2SplitInvariant(exchange(), 42, 60);
});

test('RST_STREAM mid-body: the response is reported incomplete with the reset; later frames on it are errors', () => {
  const events = runH2([
    ['client', Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS | END_STREAM, 1, req('/big'))])],
    ['server', Buffer.concat([settings(), frame(HEADERS, END_HEADERS, 1, res(200)), frame(DATA, 0, 1, 'partial')])],
    ['client', frame(RST, 0, 1, u32(8))],
    ['server', frame(DATA, 0, 1, 'late')],
  ]);
  const rst = h2OfType(events, 'h2-rst');
  assert.deepEqual(rst.map((r) => [r.from, r.streamId, r.error]), [['client', 1, 'CANCEL']]);
  const [response] = h2OfType(events, 'response');
  assert.equal(response!.incomplete, true);
  assert.equal(response!.body?.toString(), 'partial');
  assert.deepEqual(response!.reset, { from: 'client', errorCode: 8, error: 'CANCEL' });
  assert.deepEqual(h2OfType(events, 'h2-error').map((e) => e.code), ['H2_STREAM_STATE']);
});

test('server push: PUSH_PROMISE reported, the pushed response paired with the promised request', () => {
  const events = runH2([
    ['client', Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS | END_STREAM, 1, req('/index.html'))])],
    ['server', Buffer.concat([
      settings(),
      frame(PUSH, END_HEADERS, 1, Buffer.concat([u32(2), req('/style.css')])),
      frame(HEADERS, END_HEADERS, 1, res(200)),
      frame(HEADERS, END_HEADERS, 2, res(200, [['content-type', 'text/css']])),
      frame(DATA, END_STREAM, 2, 'body{}'),
      frame(DATA, END_STREAM, 1, '<html>'),
    ])],
  ]);
  assert.deepEqual(h2OfType(events, 'h2-error'), []);
  const [push] = h2OfType(events, 'h2-push');
  assert.deepEqual([push!.streamId, push!.promisedStreamId, push!.method, push!.url, push!.authority], [1, 2, 'GET', '/style.css', 'example.test']);
  const responses = h2OfType(events, 'response');
  assert.deepEqual(responses.map((r) => [r.streamId, r.request?.url, r.body?.toString()]), [[2, '/style.css', 'body{}'], [1, '/index.html', '<html>']]);
});

test('h2c upgrade: stream 1 answers the HTTP/1.1 request; later streams are ordinary', () => {
  const at = atFrame(1);
  const events = runH2([
    ['client', Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS | END_STREAM, 3, req('/next'))])],
    ['server', Buffer.concat([settings(), frame(HEADERS, END_HEADERS, 1, res(200)), frame(DATA, END_STREAM, 1, 'upgraded'),
      frame(HEADERS, END_HEADERS | END_STREAM, 3, res(204))])],
  ], { start: 'upgrade', upgradeRequest: { method: 'GET', url: '/first', index: 1, requestStart: at, requestSent: at } });
  assert.deepEqual(h2OfType(events, 'h2-error'), []);
  assert.deepEqual(h2OfType(events, 'request').map((r) => [r.streamId, r.url, r.index]), [[3, '/next', 2]]);
  assert.deepEqual(h2OfType(events, 'response').map((r) => [r.streamId, r.status, r.request?.url, r.request?.index]), [[1, 200, '/first', 1], [3, 204, '/next', 2]]);
});

test('gRPC: service/method, length-prefixed messages (compressed flag), grpc-status/message from trailers', () => {
  const msg = (payload: Buffer, compressed = false): Buffer => Buffer.concat([Buffer.from([compressed ? 1 : 0]), u32(payload.length), payload]);
  const gz = zlib.gzipSync(Buffer.alloc(500, 7));
  const grpcHeaders: Array<[string, string]> = [['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-encoding', 'gzip']];
  const body = Buffer.concat([msg(Buffer.from('first')), msg(gz, true)]);
  const events = runH2([
    ['client', Buffer.concat([PREFACE, settings(),
      frame(HEADERS, END_HEADERS, 1, req('/helloworld.Greeter/SayHello', grpcHeaders, 'POST')),
      frame(DATA, 0, 1, body.subarray(0, 7)), frame(DATA, END_STREAM, 1, body.subarray(7))])],
    ['server', Buffer.concat([settings(), frame(HEADERS, END_HEADERS, 1, res(200, [['content-type', 'application/grpc']])),
      frame(DATA, 0, 1, msg(Buffer.from('reply'))),
      frame(HEADERS, END_HEADERS | END_STREAM, 1, plainBlock([['grpc-status', '5'], ['grpc-message', 'not%20found%3A%20x']]))])],
  ]);
  const [request] = h2OfType(events, 'request');
  assert.deepEqual({ ...request!.grpc, stats: undefined }, { service: 'helloworld.Greeter', method: 'SayHello', encoding: 'gzip', stats: undefined });
  assert.deepEqual(request!.grpc!.stats, { messages: 2, compressedMessages: 1, messageBytes: 5 + gz.length, sizes: [{ length: 5, compressed: false }, { length: gz.length, compressed: true, decodedLength: 500 }] });
  const [response] = h2OfType(events, 'response');
  assert.equal(response!.grpc!.status, 5);
  assert.equal(response!.grpc!.statusName, 'NOT_FOUND');
  assert.equal(response!.grpc!.message, 'not found: x');
  assert.equal(response!.grpc!.stats.messages, 1);
  assert.deepEqual(parseGrpcPath('/a.b.C/D'), { service: 'a.b.C', method: 'D' });
  assert.equal(parseGrpcPath('/index.html'), undefined);
});

test('mid-stream join: frame boundary found, unknown HPACK entries reported per stream, DATA still decoded', () => {
  const streamFrames = Buffer.concat([
    frame(DATA, 0, 1, 'tail of an earlier body'),
    frame(HEADERS, END_HEADERS | END_STREAM, 3, Buffer.concat([hpackIndexed(2), hpackIndexed(70), hpackLiteral(4, '/later')])),
  ]);
  const events = runH2([
    ['client', Buffer.concat([Buffer.from('xq7'), streamFrames])],
    ['server', Buffer.concat([frame(HEADERS, END_HEADERS, 3, Buffer.concat([hpackIndexed(8), hpackIndexed(65)])), frame(DATA, END_STREAM, 3, 'ok')])],
  ], { start: 'midstream' });
  const codes = h2OfType(events, 'h2-error').map((e) => [e.from, e.code, e.streamId]);
  assert.deepEqual(codes, [
    ['client', 'H2_MIDSTREAM', 0], ['client', 'H2_STREAM_UNSEEN', 1], ['client', 'H2_HPACK_UNKNOWN', 3],
    ['server', 'H2_MIDSTREAM', 0], ['server', 'H2_HPACK_UNKNOWN', 3],
  ]);
  const bodies = h2OfType(events, 'body').map((b) => [b.streamId, b.data.toString()]);
  assert.deepEqual(bodies, [[1, 'tail of an earlier body'], [3, 'ok']]);
  const [request] = h2OfType(events, 'request');
  assert.deepEqual([request!.method, request!.url, request!.headersIncomplete], ['GET', '/later', 1]);
  const [response] = h2OfType(events, 'response');
  assert.deepEqual([response!.status, response!.headersIncomplete, response!.body?.toString()], [200, 1, 'ok']);
  assert.equal(looksLikeHttp2Frames(streamFrames), true);
  assert.equal(looksLikeHttp2Frames(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), false);
  assert.equal(matchClientPreface(PREFACE.subarray(0, 10)), 'maybe');
  assert.equal(matchClientPreface(Buffer.from('GET / HTTP/1.1')), 'no');
});

test('hostile peers: CONTINUATION flood, HPACK bomb, too many streams, oversized frames — typed errors, bounded', () => {
  const flood: Buffer[] = [PREFACE, settings(), frame(HEADERS, 0, 1, req('/flood'))];
  for (let i = 0; i < 200; i++) flood.push(frame(CONT, 0, 1, Buffer.alloc(1000, 0x41)));
  flood.push(frame(CONT, END_HEADERS, 1, Buffer.alloc(10, 0x41)), frame(HEADERS, END_HEADERS | END_STREAM, 3, req('/after')));
  let events = runH2([['client', Buffer.concat(flood)]], { maxHeaderBlockBytes: 16 * 1024 });
  assert.deepEqual(h2OfType(events, 'h2-error').map((e) => e.code), ['H2_HEADER_BLOCK_TOO_LARGE', 'H2_INCOMPLETE']);
  assert.deepEqual(h2OfType(events, 'request').map((r) => r.url), ['/after'], 'the connection goes on after the skipped block');

  const bombHeaders = Buffer.concat([hpackLiteral('x-bomb', 'b'.repeat(4000), 'incremental'), Buffer.alloc(2000, hpackIndexed(62)[0])]);
  events = runH2([['client', Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS | END_STREAM, 1, Buffer.concat([req('/bomb'), bombHeaders]))])]],
    { hpack: { maxHeaderListSize: 32 * 1024, maxTableSize: 65536, maxStringLength: 65536 } });
  assert.deepEqual(h2OfType(events, 'h2-error').map((e) => [e.code, e.message.split(':')[0]]), [
    ['H2_HPACK', 'HPACK_LIST_TOO_LARGE'], ['H2_INCOMPLETE', 'the connection ended with stream 1 open'],
  ]);
  const [bomb] = h2OfType(events, 'request');
  assert.ok(bomb!.headers.length < 10);

  const many: Buffer[] = [PREFACE, settings()];
  for (let id = 1; id <= 41; id += 2) many.push(frame(HEADERS, END_HEADERS, id, req(`/s${id}`)));
  events = runH2([['client', Buffer.concat(many)]], { maxStreams: 8 });
  assert.equal(h2OfType(events, 'h2-error').filter((e) => e.code === 'H2_TOO_MANY_STREAMS').length, 13);

  events = runH2([['client', Buffer.concat([PREFACE, settings(), frame(DATA, 0, 1, Buffer.alloc(20000)), frame(HEADERS, END_HEADERS | END_STREAM, 1, req('/ok'))])]]);
  assert.equal(h2OfType(events, 'h2-error')[0]!.code, 'H2_DESYNC');
  assert.deepEqual(h2OfType(events, 'request').map((r) => r.url), ['/ok'], 'resynchronised at the next frame');
});

test('malformed frames are reported and skipped by their length', () => {
  const events = runH2([['client', Buffer.concat([
    PREFACE, settings(),
    frame(SETTINGS, 0, 1, Buffer.alloc(6)), // SETTINGS on a stream
    frame(PING, 0, 0, Buffer.alloc(7)), // PING of 7
    frame(WINDOW, 0, 0, u32(0)), // increment 0
    frame(DATA, PADDED, 1, Buffer.from([9, 1, 2])), // padding longer than the payload
    frame(CONT, END_HEADERS, 1, 'x'), // CONTINUATION without a block
    frame(HEADERS, END_HEADERS | END_STREAM, 3, req('/fine')),
  ])]]);
  assert.deepEqual(h2OfType(events, 'h2-error').map((e) => e.code), [
    'H2_FRAME', 'H2_FRAME', 'H2_FRAME', 'H2_STREAM_UNSEEN', 'H2_FRAME', 'H2_CONTINUATION', 'H2_INCOMPLETE',
  ]);
  assert.deepEqual(h2OfType(events, 'request').map((r) => r.url), ['/fine']);
  void RST;
});
