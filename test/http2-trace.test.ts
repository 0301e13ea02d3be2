/**
 * HTTP/2 through the whole pipeline and the commands: captures of real programs on loopback (tcpdump on
 * lo) read by `http_trace` and `pcap-pipe http`. HTTP/2 exchanges come out like HTTP/1.x ones, with the
 * protocol and stream named; gRPC lines show service/method and grpc-status; an HTTP/1.1 `Upgrade: h2c`
 * (curl --http2 against a small h2c server) continues as HTTP/2 on stream 1; tshark counts the same.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { liveSkipReason } from './helpers/live.js';
import { frame, haveTool, plainBlock, settings, startTcpdump, tsharkH2Frames } from './helpers/h2.js';

const skip = liveSkipReason() || (!haveTool('tcpdump') || !haveTool('tshark') ? 'tcpdump and tshark needed' : false);
const DIST = path.join(__dirname, '..');
const HTTP_TRACE = path.join(DIST, 'bin', 'http_trace.js');
const PCAP_PIPE = path.join(DIST, 'bin', 'pcap-pipe.js');

type Json = Record<string, unknown> & { type: string; connection: number };

function run(script: string, args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { input, env: { ...process.env, TZ: 'UTC' }, maxBuffer: 256 << 20 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function ndjson(text: string): Json[] {
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Json);
}

function tmpFile(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-h2t-')), name);
}

test('http_trace and pcap-pipe http show HTTP/2 and gRPC exchanges like HTTP/1.x ones', { skip }, async () => {
  // an HTTP/2 server and a gRPC server, on two ports, in one capture
  const h2server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2server.on('session', (s) => sessions.add(s));
  h2server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': headers[':path'] === '/missing' ? 404 : 200, 'content-type': 'text/plain' });
    stream.end(`h2 says hi to ${headers[':path']}`);
  });
  await new Promise<void>((resolve) => h2server.listen(0, '127.0.0.1', resolve));
  const h2port = (h2server.address() as net.AddressInfo).port;
  const pass = (b: Buffer) => b;
  const service: grpc.ServiceDefinition = {
    SayHello: { path: '/helloworld.Greeter/SayHello', requestStream: false, responseStream: false, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
  };
  const grpcServer = new grpc.Server();
  grpcServer.addService(service, {
    SayHello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      if (call.request.toString() === 'nobody') return cb({ code: grpc.status.NOT_FOUND, details: 'no such person' });
      cb(null, Buffer.from(`hello ${call.request.toString()}`));
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const file = tmpFile('h2-grpc.pcap');
  const capture = await startTcpdump(file, `tcp port ${h2port} or tcp port ${grpcPort}`);
  try {
    const client = http2.connect(`http://127.0.0.1:${h2port}`);
    for (const p of ['/a', '/b', '/missing']) {
      await new Promise<void>((resolve, reject) => {
        const req = client.request({ ':path': p });
        req.on('data', () => undefined);
        req.on('end', resolve);
        req.on('error', reject);
        req.end();
      });
    }
    client.close();
    const Client = grpc.makeGenericClientConstructor(service, 'Greeter');
    const g = new Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    for (const name of ['world', 'nobody']) {
      await new Promise<void>((resolve) => g.SayHello(Buffer.from(name), () => resolve()));
    }
    g.close();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    await capture.stop();
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => h2server.close(() => resolve()));
    await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
  }
  const json = run(HTTP_TRACE, ['-r', file, '--json']);
  assert.equal(json.status, 0, json.stderr);
  const events = ndjson(json.stdout);
  const requests = events.filter((e) => e.type === 'request');
  const responses = events.filter((e) => e.type === 'response');
  assert.deepEqual(requests.map((r) => [r.protocol, r.version, r.method, r.url]), [
    ['HTTP/2', 'HTTP/2', 'GET', '/a'], ['HTTP/2', 'HTTP/2', 'GET', '/b'], ['HTTP/2', 'HTTP/2', 'GET', '/missing'],
    ['HTTP/2', 'HTTP/2', 'POST', '/helloworld.Greeter/SayHello'], ['HTTP/2', 'HTTP/2', 'POST', '/helloworld.Greeter/SayHello'],
  ]);
  assert.deepEqual(requests.map((r) => r.streamId), [1, 3, 5, 1, 3]);
  assert.deepEqual(responses.map((r) => [r.status, (r.request as { url: string }).url, r.streamId]), [
    [200, '/a', 1], [200, '/b', 3], [404, '/missing', 5], [200, '/helloworld.Greeter/SayHello', 1], [200, '/helloworld.Greeter/SayHello', 3],
  ]);
  assert.deepEqual(responses.map((r) => (r.grpc as { statusName?: string } | undefined)?.statusName), [undefined, undefined, undefined, 'OK', 'NOT_FOUND']);
  assert.deepEqual(events.filter((e) => e.type === 'h2-error'), []);
  // tshark: as many HEADERS with :method and with :status
  for (const port of [h2port, grpcPort]) {
    const frames = tsharkH2Frames(file, port).filter((f) => f.type === 1);
    const conns = new Set(frames.map((f) => f.tcpStream));
    const ours = (type: string) => events.filter((e) => e.type === type && conns.has(e.connection)).length;
    assert.equal(ours('request'), frames.filter((f) => f.headers.some(([n]) => n === ':method')).length);
    assert.equal(ours('response'), frames.filter((f) => f.headers.some(([n]) => n === ':status')).length);
  }
  // the human lines
  const human = run(HTTP_TRACE, ['-r', file]);
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /#1 GET \/a HTTP\/2 stream 1/);
  assert.match(human.stdout, /#3 404 HTTP\/2 stream 5/);
  assert.match(human.stdout, /POST \/helloworld\.Greeter\/SayHello HTTP\/2 stream 3 grpc helloworld\.Greeter\/SayHello 1 msg/);
  assert.match(human.stdout, /200 HTTP\/2 stream 3 grpc-status 5 NOT_FOUND "no such person"/);
  assert.match(human.stdout, /h2 GOAWAY NO_ERROR/);
  // pcap-pipe http on stdin: the same NDJSON
  const piped = run(PCAP_PIPE, ['http', '--json'], fs.readFileSync(file));
  assert.equal(piped.status, 0, piped.stderr);
  assert.deepEqual(ndjson(piped.stdout).filter((e) => e.type === 'request').map((r) => r.url), requests.map((r) => r.url));
});

/**
 * A minimal h2c server for the upgrade path (Node's http2 module does not do `Upgrade: h2c`): it answers
 * the HTTP/1.1 request with 101, then speaks HTTP/2 — SETTINGS, the response to stream 1, ACKs — and
 * closes when the client does.
 */
async function h2cUpgradeServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on('data', (d: Buffer) => {
      if (upgraded) {
        // after the preface: acknowledge the client's SETTINGS (type 4, no ACK flag) when one arrives
        if (d.includes(Buffer.from([0x00, 0x00, 0x00, 0x04, 0x00]))) socket.write(settings([], true));
        return;
      }
      head = Buffer.concat([head, d]);
      if (!head.includes('\r\n\r\n')) return;
      upgraded = true;
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
      const body = 'upgraded to h2c';
      socket.write(Buffer.concat([
        settings([[3, 100]]),
        frame(1, 4, 1, plainBlock([[':status', '200'], ['content-type', 'text/plain'], ['content-length', String(body.length)]])),
        frame(0, 1, 1, body),
      ]));
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

test('curl --http2 (Upgrade: h2c): the HTTP/1.1 request, the upgrade, then stream 1 as HTTP/2', { skip: skip || (!haveTool('curl') ? 'curl needed' : false) }, async () => {
  const server = await h2cUpgradeServer();
  const file = tmpFile('h2c-upgrade.pcap');
  const capture = await startTcpdump(file, `tcp port ${server.port}`);
  let body = '';
  try {
    // not spawnSync: the server runs in this process
    body = await new Promise<string>((resolve) => {
      execFile('curl', ['-s', '--http2', '--max-time', '10', `http://127.0.0.1:${server.port}/up`], (_e, stdout) => resolve(stdout));
    });
  } finally {
    await capture.stop();
    await server.close();
  }
  assert.equal(body, 'upgraded to h2c');
  const out = run(HTTP_TRACE, ['-r', file, '--json', '--bodies']);
  assert.equal(out.status, 0, out.stderr);
  const events = ndjson(out.stdout);
  const request = events.find((e) => e.type === 'request')!;
  assert.deepEqual([request.method, request.url, request.version], ['GET', '/up', 'HTTP/1.1']);
  assert.ok((request.headers as Array<[string, string]>).some(([n, v]) => n.toLowerCase() === 'upgrade' && v === 'h2c'));
  const upgrade = events.find((e) => e.type === 'http-upgrade')!;
  assert.deepEqual([upgrade.protocol, upgrade.decodedAs, upgrade.websocket], ['h2c', 'h2c', false]);
  const responses = events.filter((e) => e.type === 'response');
  assert.deepEqual(responses.map((r) => [r.status, r.version, r.streamId ?? null, (r.request as { url: string }).url]), [
    [101, 'HTTP/1.1', null, '/up'], [200, 'HTTP/2', 1, '/up'],
  ]);
  assert.equal(responses[1]!.body, 'upgraded to h2c');
  assert.deepEqual(events.filter((e) => e.type === 'h2-error' || e.type === 'http-error'), []);
  // tshark follows the upgrade too: one packet with HEADERS, :status 200, among frames of streams 0 and 1
  const tshark = spawnSync('tshark', ['-r', file, '-Y', 'http2.type == 1', '-T', 'fields', '-e', 'http2.streamid', '-e', 'http2.headers.status'], { encoding: 'utf8' });
  const [ids, status] = tshark.stdout.trim().split('\t');
  assert.ok(ids!.split(',').includes('1'), ids);
  assert.equal(status, '200');
});
