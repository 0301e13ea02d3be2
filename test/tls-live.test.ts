/**
 * TLS decryption of real programs on loopback, tshark (-o tls.keylog_file) as the oracle: Node
 * https/tls (the `keylog` event) with keep-alive and large bodies (HTTP compared with tshark's),
 * a HelloRetryRequest, session resumption (1.2 and 1.3), KeyUpdate both ways (openssl s_client 'K'),
 * and a WebSocket over TLS. The cipher suite matrix is in tls-ciphers.test.ts.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import * as tlsNode from 'node:tls';
import { WebSocketServer } from 'ws';
import {
  assertStreamsEqualTshark, byType, freePort, makeCerts, ourHttp, run, sha256, startTcpdump, streamsOf, tlsEvents, tmpDir,
  tsharkHttp, type Certs, type Ev,
} from './helpers/tls-capture';
import { waitForOutput } from './helpers/child';

const skip = process.platform !== 'linux' ? 'loopback captures need Linux'
  : process.getuid && process.getuid() !== 0 ? 'tcpdump on lo needs root' : false;

let dir = '';
let certs: Certs;
const BIG = randomBytes(400 * 1024).toString('base64'); // a body of many records

before(() => {
  if (skip) return;
  dir = tmpDir('live');
  certs = makeCerts(dir);
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/** A Node https server writing its key log; `fn` makes requests against it while tcpdump records. */
async function withNodeServer(
  name: string, serverOpts: https.ServerOptions, handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
  fn: (port: number) => Promise<void>, setup?: (srv: https.Server) => void,
): Promise<{ pcap: string; keys: string; port: number }> {
  const port = await freePort();
  const pcap = path.join(dir, `${name}.pcap`);
  const keys = path.join(dir, `${name}.keys`);
  const td = await startTcpdump(pcap, port);
  const server = https.createServer({ key: fs.readFileSync(certs.rsaKey), cert: fs.readFileSync(certs.rsaCert), ...serverOpts }, handler);
  server.on('keylog', (line) => fs.appendFileSync(keys, line));
  if (setup) setup(server);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  try {
    await fn(port);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await td.stop();
  }
  return { pcap, keys, port };
}

function get(port: number, pathName: string, agent: https.Agent | undefined, extra: https.RequestOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: pathName, agent, rejectUnauthorized: false, servername: 'localhost', ...extra }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve(Buffer.concat(parts)));
    }).on('error', reject);
  });
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`Node https ${version} keep-alive: several requests, a large body, HTTP equal to tshark's`, { skip }, async () => {
    const cap = await withNodeServer(`node-keepalive-${version}`, { maxVersion: version, minVersion: version }, (req, res) => {
      res.setHeader('X-Path', req.url ?? '');
      res.end(req.url === '/big' ? BIG : `small ${req.url}`);
    }, async (port) => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      for (const p of ['/a', '/big', '/b', '/big', '/c']) await get(port, p, agent);
      agent.destroy();
    });
    const events = await tlsEvents(cap.pcap, { keyLogFiles: [cap.keys] }, true);
    assert.deepEqual(byType(events, 'tls-error'), []);
    const conns = byType(events, 'tls-connection');
    assert.equal(conns.length, 1);
    assert.equal(conns[0].version, version === 'TLSv1.2' ? 'TLS 1.2' : 'TLS 1.3');
    assertStreamsEqualTshark(events, cap.pcap, cap.keys, cap.port);
    assert.deepEqual(ourHttp(events), tsharkHttp(cap.pcap, cap.keys));
    assert.deepEqual(ourHttp(events), ['GET /a', '200', 'GET /big', '200', 'GET /b', '200', 'GET /big', '200', 'GET /c', '200']);
    const responses = byType(events, 'response');
    const xPath = responses.map((r) => (r.headers as [string, string][]).find(([k]) => k.toLowerCase() === 'x-path')?.[1]);
    assert.deepEqual(xPath, ['/a', '/big', '/b', '/big', '/c']);
    // Body hashes: the two large bodies arrive whole.
    const bodies = new Map<number, Buffer[]>();
    for (const b of byType(events, 'body')) {
      if (b.from !== 'server') continue;
      const k = b.index as number;
      bodies.set(k, [...(bodies.get(k) ?? []), b.data as Buffer]);
    }
    const hashes = [...bodies.values()].map((parts) => sha256(Buffer.concat(parts)));
    assert.equal(hashes.filter((h) => h === sha256(BIG)).length, 2);
  });
}

test('HelloRetryRequest: the client offers a key share the server does not take', { skip }, async () => {
  const cap = await withNodeServer('hrr', { ecdhCurve: 'X25519', minVersion: 'TLSv1.3' }, (_req, res) => res.end('after HRR'), async (port) => {
    const body = await get(port, '/hrr', undefined, { ecdhCurve: 'P-256:X25519' } as https.RequestOptions);
    assert.equal(body.toString(), 'after HRR');
  });
  const events = await tlsEvents(cap.pcap, { keyLogFiles: [cap.keys] }, true);
  const conn = byType(events, 'tls-connection')[0];
  assert.equal(conn.helloRetryRequest, true);
  assert.equal(conn.decryptable, true);
  assertStreamsEqualTshark(events, cap.pcap, cap.keys, cap.port);
  assert.deepEqual(ourHttp(events), ['GET /hrr', '200']);
});

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`session resumption (${version}): the second connection resumes and decrypts`, { skip }, async () => {
    const cap = await withNodeServer(`resume-${version}`, { maxVersion: version }, (req, res) => res.end(`resumed? ${req.url}`), async (port) => {
      let session: Buffer | undefined;
      for (let i = 0; i < 2; i++) {
        await new Promise<void>((resolve, reject) => {
          const s = tlsNode.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, maxVersion: version, session });
          s.on('session', (sess: Buffer) => { session = sess; });
          s.on('secureConnect', () => { s.write(`GET /${i} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`); });
          s.on('data', () => undefined);
          s.on('end', () => { s.end(); resolve(); });
          s.on('error', reject);
        });
      }
    });
    const events = await tlsEvents(cap.pcap, { keyLogFiles: [cap.keys] }, true);
    const conns = byType(events, 'tls-connection');
    assert.equal(conns.length, 2);
    assert.equal(conns[1].resumed, true);
    assert.ok(conns.every((c) => c.decryptable === true));
    assertStreamsEqualTshark(events, cap.pcap, cap.keys, cap.port);
    assert.deepEqual(ourHttp(events), ['GET /0', '200', 'GET /1', '200']);
  });
}

test('KeyUpdate in both directions (openssl s_client "K") keeps decrypting', { skip }, async () => {
  const port = await freePort();
  const pcap = path.join(dir, 'keyupdate.pcap');
  const keys = path.join(dir, 'keyupdate.keys');
  const td = await startTcpdump(pcap, port);
  const server = tlsNode.createServer({ key: fs.readFileSync(certs.rsaKey), cert: fs.readFileSync(certs.rsaCert) }, (s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  try {
    const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-keylogfile', keys],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    let echoed = '';
    client.stdout.on('data', (d: Buffer) => { echoed += d.toString(); });
    const waitEcho = async (s: string): Promise<void> => {
      for (let i = 0; i < 100 && !echoed.includes(s); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(echoed.includes(s), `echo of ${s}`);
    };
    await waitForOutput(client, 'stderr', /verify|depth|CONNECTED/).catch(() => undefined);
    client.stdin.write('before update\n');
    await waitEcho('before update');
    client.stdin.write('K\n');
    await new Promise((r) => setTimeout(r, 200));
    client.stdin.write('after update\n');
    await waitEcho('after update');
    client.stdin.write('K\n');
    await new Promise((r) => setTimeout(r, 200));
    client.stdin.write('after second update\n');
    await waitEcho('after second update');
    client.stdin.end();
    const exited = new Promise<void>((r) => client.on('exit', () => r()));
    const timer = setTimeout(() => client.kill('SIGTERM'), 5000);
    await exited;
    clearTimeout(timer);
  } finally {
    server.close();
    await td.stop();
  }
  const events = await tlsEvents(pcap, { keyLogFiles: [keys] });
  assert.deepEqual(byType(events, 'tls-error'), []);
  const s = streamsOf(events).get(0);
  assert.equal(s?.client.toString(), 'before update\nafter update\nafter second update\n');
  assert.equal(s?.server.toString(), 'before update\nafter update\nafter second update\n');
  assertStreamsEqualTshark(events, pcap, keys, port);
});

test('WebSocket over TLS: messages come out of the decrypted stream', { skip }, async () => {
  const messages = ['hello', 'x'.repeat(70000), 'bye'];
  const cap = await withNodeServer('wss', {}, (_req, res) => res.end(), async (port) => {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`wss://127.0.0.1:${port}/chat`, { rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => { for (const m of messages) ws.send(m); });
      let n = 0;
      ws.on('message', () => { if (++n === messages.length) { ws.close(); } });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
  }, (srv) => {
    const wss = new WebSocketServer({ server: srv });
    wss.on('connection', (sock) => sock.on('message', (m, isBinary) => sock.send(m, { binary: isBinary })));
  });
  const events = await tlsEvents(cap.pcap, { keyLogFiles: [cap.keys] }, true);
  assert.deepEqual(byType(events, 'tls-error'), []);
  const texts = byType(events, "ws-message").map((m) => `${m.from}:${(m.data as Buffer).toString()}`);
  const sent = messages.flatMap((m) => [`client:${m}`, `server:${m}`]);
  assert.deepEqual([...texts].sort(), [...sent].sort());
  assertStreamsEqualTshark(events, cap.pcap, cap.keys, cap.port);
});

