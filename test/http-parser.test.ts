import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { HttpConnectionParser } from '../lib/http/parser.js';
import { decodeContent, looksLikeZlibHeader, parseContentEncoding } from '../lib/http/content-decoding.js';
import type { HttpParserEvent } from '../lib/http/events.js';
import { assertSplitInvariant, atFrame, ofType, prng, randomSplit, runSegments } from './http-test-helpers.js';
import type { Segment } from './http-test-helpers.js';

const c = (s: string | Buffer): Segment => ['client', typeof s === 'string' ? Buffer.from(s) : s];
const s = (x: string | Buffer): Segment => ['server', typeof x === 'string' ? Buffer.from(x) : x];

/** Every split of the exchange gives the same events (20 random rounds of 1 + round pieces). */
function checkSplitInvariant(segments: Segment[], seed = 1): HttpParserEvent[] {
  return assertSplitInvariant(segments, seed, 20, (round) => 1 + round);
}

test('parses a keep-alive GET with Content-Length and pairs the response', () => {
  const ev = checkSplitInvariant([
    c('GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nX-Mixed-Case: A\r\n\r\n'),
    s('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello'),
    c('GET /two HTTP/1.1\r\nHost: example.com\r\n\r\n'),
    s('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'),
  ]);
  const [r1, r2] = ofType(ev, 'request');
  assert.equal(r1!.method, 'GET');
  assert.equal(r1!.url, '/index.html?q=1');
  assert.deepEqual(r1!.headers, [['Host', 'example.com'], ['User-Agent', 't'], ['X-Mixed-Case', 'A']]);
  assert.equal(r2!.index, 2);
  const [a, b] = ofType(ev, 'response');
  assert.equal(a!.status, 200);
  assert.equal(a!.body!.toString(), 'hello');
  assert.equal(a!.bodyLength, 5);
  assert.deepEqual(a!.request, { method: 'GET', url: '/index.html?q=1', index: 1 });
  assert.equal(b!.status, 404);
  assert.equal(b!.reason, 'Not Found');
  assert.deepEqual(b!.request, { method: 'GET', url: '/two', index: 2 });
  assert.equal(ofType(ev, 'http-error').length, 0);
});

test('pairs pipelined requests (several before the first response), HEAD responses carry no body', () => {
  const ev = checkSplitInvariant([
    c('HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz'),
    s('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nTransfer-Encoding: chunked\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' +
      'HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone'),
  ]);
  const res = ofType(ev, 'response');
  assert.deepEqual(res.map((r) => [r.request?.method, r.request?.url, r.status, r.bodyLength]), [
    ['HEAD', '/a', 200, 0],
    ['GET', '/b', 200, 2],
    ['POST', '/c', 201, 4],
  ]);
  assert.equal(ofType(ev, 'request')[2]!.body!.toString(), 'xyz');
});

test('204, 304 and 1xx have no body; 100 Continue is interim and does not consume the request', () => {
  const ev = checkSplitInvariant([
    c('PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n'),
    s('HTTP/1.1 100 Continue\r\n\r\n'),
    c('data'),
    s('HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n'),
    c('GET /cached HTTP/1.1\r\n\r\n'),
    s('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n'),
  ]);
  const res = ofType(ev, 'response');
  assert.deepEqual(res.map((r) => [r.status, r.interim ?? false, r.request?.url, r.bodyLength]), [
    [100, true, '/up', 0],
    [204, false, '/up', 0],
    [304, false, '/cached', 0],
  ]);
  assert.equal(ofType(ev, 'request')[0]!.body!.toString(), 'data');
});

test('de-chunks with extensions and trailers, in requests and responses', () => {
  const ev = checkSplitInvariant([
    c('POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;name=value;x="q"\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n'),
    s('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\nA\r\n0123456789\r\n00000\r\n\r\n'),
  ]);
  const [req] = ofType(ev, 'request');
  assert.equal(req!.body!.toString(), 'Wikipedia');
  assert.equal(req!.bodyLength, 9);
  assert.deepEqual(req!.trailers, [['X-Checksum', 'abc'], ['X-Other', '1']]);
  const [res] = ofType(ev, 'response');
  assert.equal(res!.body!.toString(), '0123456789');
});

test('reads a close-delimited response until the end of the connection', () => {
  const ev = checkSplitInvariant([c('GET / HTTP/1.0\r\n\r\n'), s('HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall the rest\r\nGET / HTTP/1.1\r\n')]);
  const [res] = ofType(ev, 'response');
  assert.equal(res!.body!.toString(), 'all the rest\r\nGET / HTTP/1.1\r\n');
  assert.equal(res!.incomplete, undefined);
  // A response with Transfer-Encoding not ending in chunked is close-delimited too.
  const ev2 = runSegments([c('GET / HTTP/1.1\r\n\r\n'), s('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc')]);
  assert.equal(ofType(ev2, 'response')[0]!.bodyLength, 3);
});

test('decodes gzip, zlib deflate, raw deflate, br and stacked codings; bodies arrive as body events', () => {
  const text = Buffer.from('Hello decoded world! '.repeat(200));
  const cases: Array<[string, Buffer]> = [
    ['gzip', zlib.gzipSync(text)],
    ['x-gzip', zlib.gzipSync(text)],
    ['deflate', zlib.deflateSync(text)],
    ['deflate', zlib.deflateRawSync(text)],
    ['br', zlib.brotliCompressSync(text)],
    ['deflate, gzip', zlib.gzipSync(zlib.deflateSync(text))],
  ];
  for (const [coding, encoded] of cases) {
    const ev = runSegments([
      c('GET / HTTP/1.1\r\n\r\n'),
      s(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: ${coding}\r\nContent-Length: ${encoded.length}\r\n\r\n`), encoded])),
    ]);
    const [res] = ofType(ev, 'response');
    assert.equal(res!.decodeError, undefined, coding);
    assert.equal(res!.bodyLength, encoded.length, coding);
    assert.equal(res!.decodedLength, text.length, coding);
    assert.ok(res!.body!.equals(text), coding);
    assert.ok(Buffer.concat(ofType(ev, 'body').map((b) => b.data)).equals(encoded), `${coding}: body events carry the coded bytes`);
  }
  assert.deepEqual(parseContentEncoding('X-GZIP, identity ,br'), ['gzip', 'br']);
  assert.equal(looksLikeZlibHeader(zlib.deflateSync('a')), true);
  assert.equal(looksLikeZlibHeader(zlib.deflateRawSync('a')), false);
});

test('a decompression bomb is cut off at maxDecodedLength and flagged', () => {
  const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024)); // 50 MB of zeros in ~50 KB
  const ev = runSegments(
    [c('GET /bomb HTTP/1.1\r\n\r\n'), s(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`), bomb]))],
    { maxDecodedLength: 1024 * 1024 },
  );
  const [res] = ofType(ev, 'response');
  assert.equal(res!.decodeLimitExceeded, true);
  assert.equal(res!.body, undefined);
  assert.equal(res!.bodyLength, bomb.length);
  assert.ok(ofType(ev, 'http-error').some((e) => e.code === 'HTTP_DECODE'));
  assert.deepEqual(decodeContent(Buffer.from('not gzip'), ['gzip'], 100).data, undefined);
  assert.match(decodeContent(Buffer.from('x'), ['zstd'], 100).error!, /unsupported/);
});

test('keeps at most maxBody bytes of a body and flags the truncation', () => {
  const body = Buffer.alloc(10_000, 0x61);
  const ev = runSegments([c('GET / HTTP/1.1\r\n\r\n'), s(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n'), body]))], { maxBody: 100 });
  const [res] = ofType(ev, 'response');
  assert.equal(res!.body!.length, 100);
  assert.equal(res!.bodyTruncated, true);
  assert.equal(res!.bodyLength, 10_000);
  assert.equal(res!.decodedLength, 10_000);
});

test('resynchronises after garbage at the next request line, and reports it', () => {
  const ev = checkSplitInvariant([
    c('GET /1 HTTP/1.1\r\n\r\n'),
    c('\x00\x01garbage that is not http\r\nmore junk POST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi'),
  ]);
  const req = ofType(ev, 'request');
  assert.deepEqual(req.map((r) => [r.method, r.url]), [['GET', '/1'], ['POST', '/2']]);
  assert.equal(req[1]!.body!.toString(), 'hi');
  const codes = ofType(ev, 'http-error').map((e) => e.code);
  assert.ok(codes.includes('HTTP_BAD_START_LINE'));
  assert.ok(codes.includes('HTTP_DESYNC'));
});

test('a capture that starts mid-message skips to the first message start (HTTP on any port, any role)', () => {
  const ev = checkSplitInvariant([
    c('ly the end of an earlier body\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n'),
    s('tail of a response}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  ]);
  assert.equal(ofType(ev, 'request')[0]!.url, '/next');
  assert.equal(ofType(ev, 'response')[0]!.request!.url, '/next');
  assert.deepEqual(ofType(ev, 'http-error').map((e) => e.code).sort(), ['HTTP_MIDSTREAM', 'HTTP_MIDSTREAM']);
});

test('non-HTTP traffic produces no events', () => {
  const rand = prng(7);
  const tls = Buffer.alloc(200_000);
  for (let i = 0; i < tls.length; i++) tls[i] = Math.floor(rand() * 256);
  tls[0] = 0x16;
  const ev = runSegments([c(tls), s(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'))]);
  assert.deepEqual(ev, []);
});

test('a gap inside a body of known length keeps sync; a gap in a head resynchronises', () => {
  const events: HttpParserEvent[] = [];
  const p = new HttpConnectionParser((e) => events.push(e));
  p.data('client', Buffer.from('GET / HTTP/1.1\r\n\r\n'), atFrame(1));
  p.data('server', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123'), atFrame(2));
  p.gap('server', 4, atFrame(3));
  p.data('server', Buffer.from('89HTTP/1.1 200 OK\r\nContent'), atFrame(4));
  p.gap('server', 5, atFrame(5));
  p.data('server', Buffer.from('xx\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'), atFrame(6));
  p.end(atFrame(7));
  const res = ofType(events, 'response');
  assert.equal(res[0]!.missingBytes, 4);
  assert.equal(res[0]!.bodyLength, 6);
  assert.equal(res[0]!.body!.toString(), '012389');
  assert.equal(res[res.length - 1]!.status, 204);
  assert.ok(ofType(events, 'http-error').filter((e) => e.code === 'HTTP_GAP').length === 2);
});

test('the end of the connection inside a body reports an incomplete message', () => {
  const ev = runSegments([c('POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc')]);
  const [req] = ofType(ev, 'request');
  assert.equal(req!.incomplete, true);
  assert.equal(req!.bodyLength, 3);
  assert.ok(ofType(ev, 'http-error').some((e) => e.code === 'HTTP_INCOMPLETE'));
});

test('bounds the header block by maxHeaderBytes', () => {
  const big = 'X-Big: ' + 'a'.repeat(5000) + '\r\n';
  const events: HttpParserEvent[] = [];
  const p = new HttpConnectionParser((e) => events.push(e), { maxHeaderBytes: 4096 });
  p.data('client', Buffer.from('GET /ok HTTP/1.1\r\n\r\n'), atFrame(1));
  for (let i = 0; i < 100; i++) {
    p.data('client', Buffer.from(i === 0 ? 'GET / HTTP/1.1\r\n' + big : big), atFrame(2 + i));
    assert.ok(p.bufferedBytes <= 4096 + 5100 + 8192, `buffered ${p.bufferedBytes}`);
  }
  assert.ok(ofType(events, 'http-error').some((e) => e.code === 'HTTP_HEADER_OVERFLOW'));
});

test('rejects a bad Content-Length and resynchronises', () => {
  const ev = runSegments([c('POST /a HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nGET /b HTTP/1.1\r\n\r\n')]);
  assert.ok(ofType(ev, 'http-error').some((e) => e.code === 'HTTP_BAD_CONTENT_LENGTH'));
  assert.deepEqual(ofType(ev, 'request').map((r) => [r.url, r.incomplete ?? false]), [['/a', true], ['/b', false]]);
});

test('obs-fold header continuation lines are joined; bare LF line ends are accepted', () => {
  const ev = runSegments([c('GET / HTTP/1.1\nX-Long: one\n  two\nHost: h\n\n')]);
  assert.deepEqual(ofType(ev, 'request')[0]!.headers, [['X-Long', 'one two'], ['Host', 'h']]);
});

test('a non-websocket 101 and a CONNECT tunnel make the rest of the connection opaque', () => {
  const ev = runSegments([
    c('POST /attach HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n'),
    s('HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n\x01\x00\x00\x00raw stream GET / HTTP/1.1\r\n\r\n'),
    c('\x00\x01 anything'),
  ]);
  const [up] = ofType(ev, 'http-upgrade');
  assert.equal(up!.protocol, 'tcp');
  assert.equal(up!.websocket, false);
  assert.equal(ofType(ev, 'request').length, 1);
  assert.equal(ofType(ev, 'response').length, 1);
  assert.equal(ofType(ev, 'http-error').length, 0);
  const ev2 = runSegments([c('CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n\x16\x03\x01'), s('HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03')]);
  assert.deepEqual(ofType(ev2, 'http-upgrade').map((u) => [u.protocol, u.websocket]), [['CONNECT', false]]);
  assert.equal(ofType(ev2, 'http-error').length, 0);
});

test('bytes sent after an upgrade request are HTTP again when the server refuses', () => {
  const ev = runSegments([
    c('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\nGET /next HTTP/1.1\r\n\r\n'),
    s('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
  ]);
  assert.deepEqual(ofType(ev, 'response').map((r) => [r.status, r.request?.url]), [[400, '/ws'], [200, '/next']]);
  assert.equal(ofType(ev, 'http-upgrade').length, 0);
});

test('timing is in capture time: request sent, first byte, complete', () => {
  const events: HttpParserEvent[] = [];
  const p = new HttpConnectionParser((e) => events.push(e));
  const t = (sec: number, nsec: number, frame: number) => ({ ts: `${sec}.${String(nsec).padStart(9, '0')}`, tsSec: sec, tsNsec: nsec, frame });
  p.data('client', Buffer.from('POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n'), t(10, 0, 1));
  p.data('client', Buffer.from('ab'), t(10, 250_000_000, 2));
  p.data('server', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n'), t(11, 0, 3));
  p.data('server', Buffer.from('ok'), t(12, 500_000_000, 4));
  const [res] = ofType(events, 'response');
  assert.deepEqual(res!.timing, { requestStart: 10, requestSent: 10.25, firstByte: 11, complete: 12.5, wait: 0.75, transfer: 1.5, total: 2.5 });
  assert.equal(res!.startFrame, 3);
  assert.equal(res!.frame, 4);
});

test('fuzz: mutated and randomly split HTTP streams never throw and stay within the limits', () => {
  const gz = zlib.gzipSync('compressed body '.repeat(50));
  const base: Segment[] = [
    c('POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nGET /b HTTP/1.1\r\n\r\n'),
    s(Buffer.concat([Buffer.from(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`), gz])),
    s('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil close'),
  ];
  const rand = prng(42);
  const limits = { maxHeaderBytes: 2048, maxBody: 4096, maxEncodedBody: 4096, maxDecodedLength: 8192, maxUpgradeBuffer: 4096 };
  for (let round = 0; round < 400; round++) {
    const mutated: Segment[] = base.map(([from, bytes]) => {
      const copy = Buffer.from(bytes);
      const flips = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < flips; i++) copy[Math.floor(rand() * copy.length)] = Math.floor(rand() * 256);
      return [from, copy];
    });
    const pieces = randomSplit(mutated, rand, 1 + Math.floor(rand() * 40));
    const events: HttpParserEvent[] = [];
    const p = new HttpConnectionParser((e) => events.push(e), limits);
    let frame = 0;
    for (const [from, bytes] of pieces) {
      if (rand() < 0.02) p.gap(from, Math.floor(rand() * 50), atFrame(++frame));
      p.data(from, bytes, atFrame(++frame));
      assert.ok(p.bufferedBytes <= 2 * (8192 + 2048) + 4096, `buffered ${p.bufferedBytes}`);
    }
    p.end(atFrame(++frame));
    for (const e of events) {
      if ((e.type === 'request' || e.type === 'response') && e.body) assert.ok(e.body.length <= 4096);
    }
  }
});

test('sha256 of a body does not depend on segmentation (chunked + gzip)', () => {
  const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => String.fromCharCode(32 + (i * 7) % 90)).join(''));
  const gz = zlib.gzipSync(text);
  const chunks = [gz.subarray(0, 100), gz.subarray(100, 101), gz.subarray(101)];
  const chunked = Buffer.concat([
    Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n'),
    ...chunks.flatMap((ch) => [Buffer.from(`${ch.length.toString(16)}\r\n`), ch, Buffer.from('\r\n')]),
    Buffer.from('0\r\n\r\n'),
  ]);
  const ev = checkSplitInvariant([c('GET / HTTP/1.1\r\n\r\n'), s(chunked)], 3);
  const [res] = ofType(ev, 'response');
  assert.equal(createHash('sha256').update(res!.body!).digest('hex'), createHash('sha256').update(text).digest('hex'));
  assert.equal(res!.bodyLength, gz.length);
});

// Leniencies (named like llhttp's lenient* flags): the defaults read what real traffic sends; each flag
// set to false makes that point a violation.
test('lenientLeadingEmptyLines: CRLFs before a request line are skipped by default, a violation when strict', () => {
  const segments = [
    c('GET /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\n\r\nGET /b HTTP/1.1\r\n\r\n'),
    s('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'),
  ];
  const lenient = runSegments(segments);
  assert.deepEqual(ofType(lenient, 'request').map((r) => r.url), ['/a', '/b']);
  assert.equal(ofType(lenient, 'http-error').length, 0);
  const strict = runSegments(segments, { lenientLeadingEmptyLines: false });
  assert.deepEqual(ofType(strict, 'request').map((r) => r.url), ['/a', '/b']); // found again by hunting
  assert.deepEqual(ofType(strict, 'http-error').map((e) => e.code).sort(), ['HTTP_BAD_START_LINE', 'HTTP_DESYNC']);
});

test('lenientBareLfAfterChunk: chunk data ended by a bare LF is read by default, a violation when strict', () => {
  const segments = [
    c('GET / HTTP/1.1\r\n\r\n'),
    s('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n'),
  ];
  const lenient = runSegments(segments);
  assert.equal(ofType(lenient, 'response')[0]!.body!.toString(), 'abc');
  assert.equal(ofType(lenient, 'http-error').length, 0);
  const strict = runSegments(segments, { lenientBareLfAfterChunk: false });
  assert.deepEqual(ofType(strict, 'http-error').map((e) => e.code), ['HTTP_BAD_CHUNK']);
});

test('lenientRequestLine: a malformed request line with a known method is shown flagged by default, rejected when strict', () => {
  const segments = [c('GET /old-style\r\nHost: x\r\n\r\n')];
  const lenient = runSegments(segments);
  assert.deepEqual(ofType(lenient, 'request').map((r) => [r.method, r.url, r.version]), [['GET', '/old-style', '']]);
  assert.deepEqual(ofType(lenient, 'http-error').map((e) => e.code), ['HTTP_BAD_START_LINE']);
  const strict = runSegments(segments, { lenientRequestLine: false });
  assert.equal(ofType(strict, 'request').length, 0);
});
