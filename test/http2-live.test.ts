/**
 * Real HTTP/2 on loopback, captured by tcpdump on lo, decoded by our parser and by tshark (the oracle):
 * Node's http2 server and client (h2c with prior knowledge: push, 100 concurrent streams, large DATA
 * across frames, trailers, gzip/br, 103 early hints, RST_STREAM mid-body from either side, GOAWAY with
 * debug data), curl --http2-prior-knowledge against nginx, and gRPC with @grpc/grpc-js. Requests,
 * responses, header fields, trailers, pushes, resets, GOAWAYs and body sizes must equal tshark's, and
 * decoded bodies must equal what the servers sent.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { liveSkipReason } from './helpers/live.js';
import { haveTool, startTcpdump, tsharkH2Frames } from './helpers/h2.js';
import { runH2Capture, summariseOurs, summariseTshark, type H2Connection } from './helpers/h2-oracle.js';
import { prng } from './helpers/prng.js';
import type { Http2RequestEvent, Http2ResponseEvent } from '../lib/http2/events.js';

const skip = liveSkipReason() || (!haveTool('tcpdump') || !haveTool('tshark') ? 'tcpdump and tshark needed' : false);

const rand = prng(2026);
const LARGE = Buffer.alloc(1024 * 1024);
for (let i = 0; i < LARGE.length; i++) LARGE[i] = Math.floor(rand() * 256);
const TEXT = Buffer.from('HTTP/2 text that compresses well. '.repeat(400));
const UPLOAD = Buffer.alloc(300 * 1024, 0x55);

function tmpFile(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-h2-')), name);
}

/** Our summary equals tshark's for every connection tshark saw. */
function assertOracle(file: string, port: number, conns: H2Connection[]): void {
  const theirs = summariseTshark(tsharkH2Frames(file, port));
  assert.ok(theirs.size > 0, 'tshark saw HTTP/2');
  assert.deepEqual([...theirs.keys()].sort((a, b) => a - b), conns.map((c) => c.connection), 'same connections');
  for (const conn of conns) assert.deepEqual(summariseOurs(conn.events), theirs.get(conn.connection), `connection ${conn.connection}`);
}

function ofType<T extends string>(conns: H2Connection[], type: T) {
  return conns.flatMap((c) => c.events.filter((e) => e.type === type));
}

function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const p = headers[':path'] ?? '';
  stream.on('error', () => undefined);
  if (p === '/text') return void stream.respond({ ':status': 200, 'content-type': 'text/plain' }), void stream.end('hello h2');
  if (p === '/gzip') return void stream.respond({ ':status': 200, 'content-encoding': 'gzip' }), void stream.end(zlib.gzipSync(TEXT));
  if (p === '/br') return void stream.respond({ ':status': 200, 'content-encoding': 'br' }), void stream.end(zlib.brotliCompressSync(TEXT));
  if (p === '/large') return void stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' }), void stream.end(LARGE);
  if (p === '/early-hints') {
    stream.additionalHeaders({ ':status': 103, link: '</style.css>; rel=preload' });
    stream.respond({ ':status': 200 });
    return void stream.end('after hints');
  }
  if (p === '/trailers') {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123', 'x-count': '3' }));
    return void stream.end('body with trailers');
  }
  if (p === '/echo') {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.concat(parts));
    });
    return;
  }
  if (p === '/push') {
    for (const asset of ['/style.css', '/app.js']) {
      stream.pushStream({ ':path': asset }, (err, push) => {
        if (err) return;
        push.on('error', () => undefined);
        push.respond({ ':status': 200, 'content-type': asset.endsWith('.css') ? 'text/css' : 'text/javascript' });
        push.end(`pushed ${asset}`);
      });
    }
    stream.respond({ ':status': 200, 'content-type': 'text/html' });
    return void stream.end('<html>push</html>');
  }
  if (p === '/endless') {
    // DATA until the client resets the stream
    stream.respond({ ':status': 200 });
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    const more = (): void => {
      if (stream.destroyed || stream.closed) return;
      if (stream.write(chunk)) setImmediate(more);
      else stream.once('drain', more);
    };
    return more();
  }
  if (p === '/server-reset') {
    stream.respond({ ':status': 200 });
    stream.write('some of the body', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    return;
  }
  if (p === '/goaway') {
    stream.respond({ ':status': 200 });
    stream.end('going away', () => stream.session?.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, stream.id, Buffer.from('calm down')));
    return;
  }
  if (p.startsWith('/n/')) {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-n': p.slice(3) });
    return void stream.end(`stream for ${p}`);
  }
  stream.respond({ ':status': 404 });
  stream.end('not found');
}

function request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = client.request(headers);
    const parts: Buffer[] = [];
    let status = 0;
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve({ status, body: Buffer.concat(parts) }));
    req.on('close', () => resolve({ status, body: Buffer.concat(parts) }));
    req.on('error', reject);
    req.end(body);
  });
}

test('Node http2 h2c (prior knowledge): equal to tshark field by field; bodies equal what was sent', { skip }, async () => {
  const server = http2.createServer();
  server.on('stream', serve);
  server.on('sessionError', () => undefined);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const file = tmpFile('node-h2c.pcap');
  const capture = await startTcpdump(file, `tcp port ${port}`);
  const sent: Record<string, Buffer> = {};
  try {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => undefined);
    const pushed: string[] = [];
    client.on('stream', (push, headers) => {
      pushed.push(String(headers[':path']));
      push.on('data', () => undefined);
    });
    sent['/text'] = (await request(client, { ':path': '/text' })).body;
    const parallel = await Promise.all([
      request(client, { ':path': '/gzip', 'accept-encoding': 'gzip' }),
      request(client, { ':path': '/br', 'accept-encoding': 'br' }),
      request(client, { ':path': '/large' }),
      request(client, { ':path': '/trailers', te: 'trailers' }),
      request(client, { ':path': '/early-hints' }),
      request(client, { ':method': 'POST', ':path': '/echo', 'content-type': 'application/octet-stream' }, UPLOAD),
      request(client, { ':path': '/push' }),
      ...Array.from({ length: 100 }, (_, i) => request(client, { ':path': `/n/${i}`, 'x-request': `r${i}` })),
    ]);
    assert.equal(parallel[2]!.body.length, LARGE.length);
    assert.deepEqual(parallel[5]!.body, UPLOAD);
    // RST_STREAM from the client in the middle of an endless body
    await new Promise<void>((resolve) => {
      const req = client.request({ ':path': '/endless' });
      req.on('data', () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on('close', () => resolve());
      req.on('error', () => undefined);
    });
    // RST_STREAM from the server after part of the body
    await new Promise<void>((resolve) => {
      const req = client.request({ ':path': '/server-reset' });
      req.on('data', () => undefined);
      req.on('close', () => resolve());
      req.on('error', () => undefined);
    });
    await new Promise((r) => setTimeout(r, 50));
    client.close();
    await new Promise<void>((resolve) => client.on('close', () => resolve()));
    // a second connection the server sends GOAWAY (with debug data) on
    const second = http2.connect(`http://127.0.0.1:${port}`);
    second.on('error', () => undefined);
    const goawaySeen = new Promise<void>((resolve) => second.once('goaway', () => resolve()));
    await request(second, { ':path': '/goaway' });
    await goawaySeen;
    second.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(pushed.sort(), ['/app.js', '/style.css']);
  } finally {
    await capture.stop();
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const conns = runH2Capture(file);
  assert.equal(conns.length, 2);
  assertOracle(file, port, conns);
  const errors = ofType(conns, 'h2-error').map((e) => (e as { code: string }).code);
  assert.ok(errors.every((c) => c === 'H2_STREAM_STATE' || c === 'H2_INCOMPLETE'), `only late DATA after a reset may be reported: ${errors}`);
  const responses = ofType(conns, 'response') as Http2ResponseEvent[];
  const byUrl = (url: string) => responses.filter((r) => r.request?.url === url && !r.interim);
  assert.deepEqual(byUrl('/text')[0]!.body, sent['/text']);
  assert.deepEqual(byUrl('/gzip')[0]!.body, TEXT);
  assert.deepEqual(byUrl('/br')[0]!.body, TEXT);
  assert.deepEqual(byUrl('/large')[0]!.body, LARGE);
  assert.deepEqual(byUrl('/echo')[0]!.body, UPLOAD);
  assert.deepEqual(byUrl('/trailers')[0]!.trailers, [['x-checksum', 'abc123'], ['x-count', '3']]);
  assert.deepEqual(responses.filter((r) => r.interim).map((r) => r.status), [103]);
  assert.deepEqual(byUrl('/style.css')[0]!.body?.toString(), 'pushed /style.css');
  assert.equal(byUrl('/endless')[0]!.incomplete, true);
  assert.equal(byUrl('/endless')[0]!.reset?.error, 'CANCEL');
  // Node ends the stream and then resets it (RST_STREAM NO_ERROR): both seen, as tshark sees them
  const serverReset = byUrl('/server-reset')[0]!;
  assert.equal(serverReset.body?.toString(), 'some of the body');
  assert.ok(ofType(conns, 'h2-rst').some((r) => (r as { from: string; streamId: number }).from === 'server' && (r as { streamId: number }).streamId === serverReset.streamId));
  const requests = ofType(conns, 'request') as Http2RequestEvent[];
  assert.equal(requests.filter((r) => r.url.startsWith('/n/')).length, 100);
  assert.deepEqual(requests.find((r) => r.url === '/echo')!.body, UPLOAD);
  const goaway = ofType(conns, 'h2-goaway').find((g) => (g as { debug?: string }).debug !== undefined) as { error: string; debug: string } | undefined;
  assert.deepEqual([goaway?.error, goaway?.debug], ['ENHANCE_YOUR_CALM', 'calm down']);
  for (const r of responses) assert.ok(r.timing.total !== undefined && r.timing.total >= 0);
});

test('curl --http2-prior-knowledge against nginx (listen ... http2): equal to tshark', { skip: skip || (!haveTool('nginx') || !haveTool('curl') ? 'nginx and curl needed' : false) }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-h2-nginx-'));
  fs.chmodSync(dir, 0o755); // nginx's worker runs as nobody
  fs.writeFileSync(path.join(dir, 'index.html'), '<html>nginx over h2c</html>\n', { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'big.txt'), TEXT, { mode: 0o644 });
  const port = await freePort();
  // nginx 1.22 (Debian 12) has the http_v2 module but not the `http2 on` directive (1.25.1): `listen ... http2`.
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 10;
  server {
    listen 127.0.0.1:${port} http2;
    root ${dir};
    location = /status { return 418 "teapot\\n"; }
  }
}
`);
  const nginx = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let nginxErr = '';
  nginx.stderr.on('data', (d: Buffer) => { nginxErr += d.toString(); });
  const file = tmpFile('nginx-h2c.pcap');
  try {
    await waitForPort(port);
    const capture = await startTcpdump(file, `tcp port ${port}`);
    try {
      const url = (p: string) => `http://127.0.0.1:${port}${p}`;
      // one connection per request: curl 7.88 does not get a second response on a reused prior-knowledge connection
      for (const p of ['/index.html', '/big.txt', '/status', '/missing']) {
        const r = spawnSync('curl', ['-s', '--http2-prior-knowledge', '-H', 'accept-encoding: gzip', '-o', '/dev/null', url(p)], { encoding: 'utf8' });
        assert.equal(r.status, 0, `curl ${p}: ${r.stderr} ${nginxErr}`);
      }
      // a POST to a static file: 405, and nginx may reset the stream rather than read the body
      spawnSync('curl', ['-s', '-o', '/dev/null', '--http2-prior-knowledge', '--data-binary', 'x'.repeat(5000), url('/index.html')], { encoding: 'utf8' });
    } finally {
      await capture.stop();
    }
  } finally {
    nginx.kill('SIGTERM');
    await new Promise((r) => nginx.once('exit', r));
  }
  const conns = runH2Capture(file);
  assert.equal(conns.length, 5);
  assertOracle(file, port, conns);
  const responses = ofType(conns, 'response') as Http2ResponseEvent[];
  assert.deepEqual(responses.map((r) => [r.request?.url, r.status]), [['/index.html', 200], ['/big.txt', 200], ['/status', 418], ['/missing', 404], ['/index.html', 405]]);
  assert.equal(responses[0]!.body?.toString(), '<html>nginx over h2c</html>\n');
  assert.deepEqual(responses[1]!.contentEncoding, ['gzip']);
  assert.deepEqual(responses[1]!.body, TEXT);
  assert.deepEqual(ofType(conns, 'h2-error').filter((e) => (e as { code: string }).code !== 'H2_INCOMPLETE'), []);
});

test('gRPC (@grpc/grpc-js): service/method, messages counted and sized, grpc-status/message; equal to tshark', { skip }, async () => {
  const passThrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
  const service: grpc.ServiceDefinition = {
    SayHello: { path: '/helloworld.Greeter/SayHello', requestStream: false, responseStream: false, requestSerialize: passThrough.serialize, requestDeserialize: passThrough.deserialize, responseSerialize: passThrough.serialize, responseDeserialize: passThrough.deserialize },
    Count: { path: '/helloworld.Greeter/Count', requestStream: false, responseStream: true, requestSerialize: passThrough.serialize, requestDeserialize: passThrough.deserialize, responseSerialize: passThrough.serialize, responseDeserialize: passThrough.deserialize },
  };
  const server = new grpc.Server();
  server.addService(service, {
    SayHello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      if (call.request.toString() === 'nobody') return cb({ code: grpc.status.NOT_FOUND, details: 'no such person: nobody' });
      cb(null, Buffer.from(`hello ${call.request.toString()}`));
    },
    Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 0; i < 5; i++) call.write(Buffer.alloc(1000 * (i + 1), 0x30 + i));
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const file = tmpFile('grpc.pcap');
  const capture = await startTcpdump(file, `tcp port ${port}`);
  try {
    const Client = grpc.makeGenericClientConstructor(service, 'Greeter');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    const unary = (name: string) => new Promise<{ err?: grpc.ServiceError; reply?: Buffer }>((resolve) => {
      client.SayHello(Buffer.from(name), (err: grpc.ServiceError | null, reply?: Buffer) => resolve(err ? { err } : { reply: reply! }));
    });
    assert.equal((await unary('world')).reply?.toString(), 'hello world');
    assert.equal((await unary('nobody')).err?.code, grpc.status.NOT_FOUND);
    const counted = await new Promise<number>((resolve, reject) => {
      const call = client.Count(Buffer.from('go')) as grpc.ClientReadableStream<Buffer>;
      let n = 0;
      call.on('data', () => n++);
      call.on('end', () => resolve(n));
      call.on('error', reject);
    });
    assert.equal(counted, 5);
    client.close();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    await capture.stop();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
  const conns = runH2Capture(file);
  assertOracle(file, port, conns);
  const requests = ofType(conns, 'request') as Http2RequestEvent[];
  assert.deepEqual(requests.map((r) => [r.grpc?.service, r.grpc?.method, r.grpc?.stats.messages]), [
    ['helloworld.Greeter', 'SayHello', 1], ['helloworld.Greeter', 'SayHello', 1], ['helloworld.Greeter', 'Count', 1],
  ]);
  const responses = ofType(conns, 'response') as Http2ResponseEvent[];
  assert.deepEqual(responses.map((r) => [r.grpc?.status, r.grpc?.statusName, r.grpc?.message, r.grpc?.stats.messages]), [
    [0, 'OK', 'OK', 1], [5, 'NOT_FOUND', 'no such person: nobody', 0], [0, 'OK', 'OK', 5],
  ]);
  // the Count replies: 1000..5000 octets each (grpc-js sends them uncompressed; the compressed flag is
  // covered by the parser tests)
  const sizes = responses[2]!.grpc!.stats.sizes.map((s) => s.decodedLength ?? s.length);
  assert.deepEqual(sizes, [1000, 2000, 3000, 4000, 5000]);
  // tshark's gRPC dissector counts the same messages
  const tsharkMessages = spawnSync('tshark', ['-r', file, '-d', `tcp.port==${port},http2`, '-Y', 'grpc', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', '-e', 'grpc.message_length'], { encoding: 'utf8' })
    .stdout.split('\n').filter((l) => l).flatMap((l) => l.split(',')).map(Number);
  const ours = [...requests, ...responses].flatMap((e) => e.grpc!.stats.sizes.map((s) => s.length));
  assert.deepEqual(ours.sort((a, b) => a - b), tsharkMessages.sort((a, b) => a - b));
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port}`);
}
