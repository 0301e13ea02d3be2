/**
 * Real HTTP from Node's http server on 127.0.0.1, recorded by a TCP relay (the bytes a sniffer sees,
 * each direction in order), decoded by HttpConnectionParser. The client is a raw socket, so requests
 * are truly pipelined (all written before the first response). Every body we decode must equal what the
 * server sent; every response must be paired with its request.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { ofType, prng, randomSplit, runSegments, startRelay } from './http-test-helpers.js';
import type { Segment } from './http-test-helpers.js';

const rand = prng(77);
const large = Buffer.alloc(1024 * 1024);
for (let i = 0; i < large.length; i++) large[i] = Math.floor(rand() * 256);
const text = Buffer.from('Some text that compresses well. '.repeat(500));

/** What each path serves (decoded content), and how. */
function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '';
  const body: Buffer[] = [];
  req.on('data', (d: Buffer) => body.push(d));
  req.on('end', () => {
    if (url === '/text') res.end('hello');
    else if (url === '/chunked') {
      res.setHeader('Trailer', 'X-Sum');
      res.write('first ');
      res.write('second ');
      res.addTrailers({ 'X-Sum': '42' });
      res.end('third');
    } else if (url === '/gzip') {
      res.setHeader('Content-Encoding', 'gzip');
      res.end(zlib.gzipSync(text));
    } else if (url === '/br') {
      res.setHeader('Content-Encoding', 'br');
      res.end(zlib.brotliCompressSync(text));
    } else if (url === '/raw-deflate') {
      res.setHeader('Content-Encoding', 'deflate');
      res.end(zlib.deflateRawSync(text));
    } else if (url === '/chunked-gzip') {
      res.setHeader('Content-Encoding', 'gzip');
      const gz = zlib.gzipSync(text);
      res.write(gz.subarray(0, 100));
      res.end(gz.subarray(100));
    } else if (url === '/304') {
      res.statusCode = 304;
      res.end();
    } else if (url === '/204') {
      res.statusCode = 204;
      res.end();
    } else if (url === '/large') res.end(large);
    else if (url === '/echo') res.end(Buffer.concat(body));
    else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
}

async function withServer(fn: (port: number) => Promise<void>): Promise<Segment[]> {
  const server = http.createServer(handler);
  server.on('checkContinue', (req, res) => {
    res.writeContinue();
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const relay = await startRelay((server.address() as net.AddressInfo).port);
  try {
    await fn(relay.port);
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    await relay.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return relay.segments;
}

/** Writes `chunks` (waiting `waitFor` between them when given) and resolves when the server closes. */
function rawClient(port: number, chunks: Array<string | Buffer>, waitFor?: RegExp): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let next = 0;
    const writeNext = () => {
      if (next < chunks.length) sock.write(chunks[next++]!);
    };
    sock.on('connect', () => {
      if (waitFor) writeNext();
      else while (next < chunks.length) writeNext();
    });
    sock.on('data', (d: Buffer) => {
      received.push(d);
      if (waitFor && waitFor.test(Buffer.concat(received).toString('latin1'))) writeNext();
    });
    sock.on('end', () => resolve(Buffer.concat(received)));
    sock.on('error', reject);
  });
}

test('pipelined keep-alive requests against node:http: pairing, HEAD/304/204, chunked+trailers, gzip/br/deflate, 1 MB', async () => {
  const requests = [
    'GET /text HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'HEAD /text HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /chunked HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\n\r\n',
    'GET /gzip HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /br HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /raw-deflate HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /chunked-gzip HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /304 HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /204 HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /large HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
    'GET /text HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
  ];
  const segments = await withServer((port) => rawClient(port, [requests.join('')]).then(() => undefined));
  assert.equal(segments.filter((s) => s[0] === 'client').length, 1, 'all requests in one write: pipelined');
  const events = runSegments(segments);
  assert.deepEqual(ofType(events, 'http-error'), []);
  const responses = ofType(events, 'response');
  const expected: Array<[string, string, number, Buffer]> = [
    ['GET', '/text', 200, Buffer.from('hello')],
    ['HEAD', '/text', 200, Buffer.alloc(0)],
    ['GET', '/chunked', 200, Buffer.from('first second third')],
    ['GET', '/gzip', 200, text],
    ['GET', '/br', 200, text],
    ['GET', '/raw-deflate', 200, text],
    ['GET', '/chunked-gzip', 200, text],
    ['GET', '/304', 304, Buffer.alloc(0)],
    ['GET', '/204', 204, Buffer.alloc(0)],
    ['GET', '/large', 200, large],
    ['POST', '/echo', 200, Buffer.from('hello world')],
    ['GET', '/text', 200, Buffer.from('hello')],
  ];
  assert.deepEqual(
    responses.map((r) => [r.request?.method, r.request?.url, r.status, (r.body ?? Buffer.alloc(0)).toString('hex')]),
    expected.map(([m, u, s, b]) => [m, u, s, b.toString('hex')]),
  );
  assert.deepEqual(responses[2]!.trailers, [['X-Sum', '42']]);
  assert.equal(responses[1]!.bodyLength, 0, 'HEAD: no body despite Content-Length');
  const echo = ofType(events, 'request').find((r) => r.url === '/echo')!;
  assert.equal(echo.body!.toString(), 'hello world');
  assert.deepEqual(echo.trailers, [['X-Trailer', 't']]);
  // The same bytes in other segmentations give the same messages.
  const again = runSegments(randomSplit(segments, prng(3), 3000));
  assert.deepEqual(
    ofType(again, 'response').map((r) => (r.body ?? Buffer.alloc(0)).toString('hex')),
    responses.map((r) => (r.body ?? Buffer.alloc(0)).toString('hex')),
  );
});

test('Expect: 100-continue against node:http: interim 100 paired with the request, body after it', async () => {
  const body = 'x'.repeat(5000);
  const segments = await withServer((port) =>
    rawClient(
      port,
      [`POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, body],
      /100 Continue\r\n\r\n/,
    ).then(() => undefined),
  );
  const events = runSegments(segments);
  assert.deepEqual(ofType(events, 'http-error'), []);
  const responses = ofType(events, 'response');
  assert.deepEqual(responses.map((r) => [r.status, r.interim ?? false, r.request?.url]), [[100, true, '/echo'], [200, false, '/echo']]);
  assert.equal(responses[1]!.body!.toString(), body);
  // Event order follows the wire: 100, then the request (complete once its body arrived), then the 200.
  assert.deepEqual(events.filter((e) => e.type === 'request' || e.type === 'response').map((e) => e.type), ['response', 'request', 'response']);
});
