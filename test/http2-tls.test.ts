/**
 * h2 inside TLS: Node's http2 secure server (ALPN h2) and client on loopback, the server's key log
 * written as it goes, captured by tcpdump on lo. decode → tcp → tls(key log) → http() gives HTTP/2
 * events (ALPN from the tls-connection event decides HTTP/2), equal to tshark's with the same key log.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import { liveSkipReason } from './helpers/live.js';
import { haveTool, startTcpdump, tsharkH2Frames } from './helpers/h2.js';
import { summariseOurs, summariseTshark } from './helpers/h2-oracle.js';
import { makeCerts, tlsEvents, tmpDir } from './helpers/tls-capture.js';
import type { Http2Event } from '../lib/http2/events.js';

const skip = liveSkipReason() || (!haveTool('tcpdump') || !haveTool('tshark') || !haveTool('openssl') ? 'tcpdump, tshark and openssl needed' : false);

test('h2 over TLS with a key log: ALPN h2 decides HTTP/2; equal to tshark -o tls.keylog_file', { skip }, async () => {
  const dir = tmpDir('h2');
  const certs = makeCerts(dir);
  const keyLog = path.join(dir, 'keys.log');
  const server = http2.createSecureServer({ key: fs.readFileSync(certs.ecKey), cert: fs.readFileSync(certs.ecCert) });
  server.on('keylog', (line: Buffer) => fs.appendFileSync(keyLog, line));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': '1' }));
    stream.end(`secret ${headers[':path']}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const file = path.join(dir, 'h2-tls.pcap');
  const capture = await startTcpdump(file, `tcp port ${port}`);
  try {
    const client = http2.connect(`https://localhost:${port}`, { ca: fs.readFileSync(certs.ecCert) });
    await Promise.all(['/one', '/two', '/three'].map((p) => new Promise<void>((resolve, reject) => {
      const req = client.request({ ':path': p });
      req.on('data', () => undefined);
      req.on('end', resolve);
      req.on('error', reject);
      req.end();
    })));
    client.close();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    await capture.stop();
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const events = await tlsEvents(file, { keyLogFiles: [keyLog] }, true);
  const tlsConn = events.find((e) => e.type === 'tls-connection');
  assert.equal(tlsConn?.alpn, 'h2');
  const h2 = events.filter((e) => ['request', 'response', 'h2-push', 'h2-rst', 'h2-goaway', 'h2-error'].includes(e.type as string)) as unknown as Http2Event[];
  assert.deepEqual(h2.filter((e) => e.type === 'h2-error'), []);
  const requests = h2.filter((e) => e.type === 'request');
  assert.deepEqual(requests.map((r) => [r.type === 'request' && r.protocol, r.type === 'request' && r.url]).sort(), [['HTTP/2', '/one'], ['HTTP/2', '/three'], ['HTTP/2', '/two']]);
  const responses = h2.filter((e) => e.type === 'response');
  for (const r of responses) {
    if (r.type !== 'response') continue;
    assert.equal(r.body?.toString(), `secret ${r.request?.url}`);
    assert.deepEqual(r.trailers, [['x-done', '1']]);
  }
  const theirs = summariseTshark(tsharkH2Frames(file, port, keyLog));
  assert.equal(theirs.size, 1);
  assert.deepEqual(summariseOurs(h2), [...theirs.values()][0]);
});
