/**
 * Every cipher suite we claim decrypts: curl (SSLKEYLOGFILE, --tls-max 1.2 / --tlsv1.3, --ciphers /
 * --tls13-ciphers) fetches a 533 KB body from openssl s_server with a throw-away RSA or ECDSA
 * certificate, tcpdump on lo records it, and our decrypted streams must equal tshark's
 * (-o tls.keylog_file) byte for byte. CBC suites with and without encrypt_then_mac (s_server -no_etm).
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
  assertNoSecretsIn, assertStreamsEqualTshark, byType, freePort, makeCerts, ourHttp, run, sha256, startTcpdump, streamsOf, tlsEvents, tmpDir,
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

/** openssl s_server -WWW in a directory with index.html and big.txt; resolves once it accepts. */
async function sServer(port: number, extra: string[], cert: 'rsa' | 'ec' = 'rsa'): Promise<{ stop(): void; root: string }> {
  const root = fs.mkdtempSync(path.join(dir, 'www-'));
  fs.writeFileSync(path.join(root, 'index.html'), '<p>hello over TLS</p>\n');
  fs.writeFileSync(path.join(root, 'big.txt'), BIG);
  const [k, c] = cert === 'rsa' ? [certs.rsaKey, certs.rsaCert] : [certs.ecKey, certs.ecCert];
  const child = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-key', k, '-cert', c, '-WWW', ...extra],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(child, 'stdout', /ACCEPT/).catch(async () => { await new Promise((r) => setTimeout(r, 500)); });
  return { stop: () => { child.kill('SIGTERM'); }, root };
}

function curl(port: number, keys: string, args: string[], file = 'big.txt'): Buffer {
  const out = run('curl', ['-sS', '-k', '--http1.1', ...args, `https://localhost:${port}/${file}`, '--resolve', `localhost:${port}:127.0.0.1`],
    { env: { ...process.env, SSLKEYLOGFILE: keys } });
  return Buffer.from(out, 'latin1');
}

interface Case { name: string; curl: string[]; suite: string; server?: string[]; cert?: 'rsa' | 'ec' }

const CASES: Case[] = [
  { name: '1.3 AES-128-GCM', curl: ['--tlsv1.3', '--tls13-ciphers', 'TLS_AES_128_GCM_SHA256'], suite: 'TLS_AES_128_GCM_SHA256' },
  { name: '1.3 AES-256-GCM', curl: ['--tlsv1.3', '--tls13-ciphers', 'TLS_AES_256_GCM_SHA384'], suite: 'TLS_AES_256_GCM_SHA384' },
  { name: '1.3 ChaCha20', curl: ['--tlsv1.3', '--tls13-ciphers', 'TLS_CHACHA20_POLY1305_SHA256'], suite: 'TLS_CHACHA20_POLY1305_SHA256' },
  { name: '1.2 ECDHE-RSA AES-128-GCM', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-RSA-AES128-GCM-SHA256'], suite: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' },
  { name: '1.2 ECDHE-RSA AES-256-GCM', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-RSA-AES256-GCM-SHA384'], suite: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384' },
  { name: '1.2 ECDHE-RSA ChaCha20', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-RSA-CHACHA20-POLY1305'], suite: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256' },
  { name: '1.2 ECDHE-ECDSA AES-128-GCM', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256'], suite: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', cert: 'ec' },
  { name: '1.2 ECDHE-ECDSA ChaCha20', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-CHACHA20-POLY1305'], suite: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', cert: 'ec' },
  { name: '1.2 RSA AES-128-CBC HMAC-SHA1 ETM', curl: ['--tls-max', '1.2', '--ciphers', 'AES128-SHA'], suite: 'TLS_RSA_WITH_AES_128_CBC_SHA' },
  { name: '1.2 RSA AES-128-CBC HMAC-SHA1 no ETM', curl: ['--tls-max', '1.2', '--ciphers', 'AES128-SHA'], suite: 'TLS_RSA_WITH_AES_128_CBC_SHA', server: ['-no_etm'] },
  { name: '1.2 RSA AES-256-CBC HMAC-SHA256 ETM', curl: ['--tls-max', '1.2', '--ciphers', 'AES256-SHA256'], suite: 'TLS_RSA_WITH_AES_256_CBC_SHA256' },
  { name: '1.2 RSA AES-256-CBC HMAC-SHA256 no ETM', curl: ['--tls-max', '1.2', '--ciphers', 'AES256-SHA256'], suite: 'TLS_RSA_WITH_AES_256_CBC_SHA256', server: ['-no_etm'] },
  { name: '1.2 ECDHE-RSA AES-256-CBC HMAC-SHA384 ETM', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-RSA-AES256-SHA384'], suite: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384' },
  { name: '1.2 ECDHE-RSA AES-256-CBC HMAC-SHA384 no ETM', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-RSA-AES256-SHA384'], suite: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384', server: ['-no_etm'] },
  { name: '1.2 ECDHE-ECDSA AES-128-CBC HMAC-SHA256', curl: ['--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-SHA256'], suite: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', cert: 'ec', server: ['-no_etm'] },
];

/** One capture per case: curl fetches a 533 KB body; returns the files to run the pipeline and tshark on. */
async function captureCase(c: Case): Promise<{ pcap: string; keys: string; port: number; body: Buffer }> {
  const port = await freePort();
  const base = path.join(dir, c.name.replace(/[^a-zA-Z0-9]+/g, '-'));
  const pcap = `${base}.pcap`;
  const keys = `${base}.keys`;
  const td = await startTcpdump(pcap, port);
  const server = await sServer(port, c.server ?? [], c.cert);
  try {
    const body = curl(port, keys, c.curl);
    return { pcap, keys, port, body };
  } finally {
    server.stop();
    await td.stop();
  }
}

for (const c of CASES) {
  test(`${c.name}: decrypted bytes equal tshark's, the body arrives whole`, { skip }, async () => {
    const cap = await captureCase(c);
    assert.equal(cap.body.toString('latin1'), BIG, 'curl got the body');
    const events = await tlsEvents(cap.pcap, { keyLogFiles: [cap.keys] }, true);
    const conns = byType(events, 'tls-connection');
    assert.equal(conns.length, 1);
    assert.equal(conns[0].cipherSuite, c.suite);
    assert.equal(conns[0].decryptable, true);
    assert.equal(conns[0].version, c.curl.includes('--tlsv1.3') ? 'TLS 1.3' : 'TLS 1.2');
    assert.equal(conns[0].sni, 'localhost');
    assert.deepEqual(byType(events, 'tls-error'), []);
    if (c.suite.includes('_CBC_')) assert.equal(conns[0].encryptThenMac, !(c.server ?? []).includes('-no_etm'), 'encrypt_then_mac as negotiated');
    assertStreamsEqualTshark(events, cap.pcap, cap.keys, cap.port);
    // HTTP on the decrypted stream: the request tshark saw (tshark 4.0 does not dissect s_server's
    // close-delimited HTTP/1.0 response: its bytes are compared above), the status, the body's hash.
    assert.deepEqual(ourHttp(events).filter((l) => l.startsWith('GET')), tsharkHttp(cap.pcap, cap.keys).filter((l) => l.startsWith('GET')));
    const res = byType(events, 'response')[0];
    assert.equal(res.status, 200);
    const body = Buffer.concat(byType(events, 'body').filter((b) => b.from === 'server').map((b) => b.data as Buffer));
    if (body.length > 0) assert.equal(sha256(body), sha256(BIG));
    else assert.ok((streamsOf(events).get(0)?.server.toString('latin1') ?? '').endsWith(BIG));
    if (!c.curl.includes('--tlsv1.3')) {
      const cert = (conns[0].certificates as { subject: string; issuer: string; validTo: string }[])[0];
      assert.match(cert.subject, /CN=localhost/);
      assert.match(cert.issuer, /CN=localhost/);
      assert.ok(Date.parse(cert.validTo) > Date.now());
    }
    assertNoSecretsIn(JSON.stringify(events.map((e) => ({ ...e, bytes: undefined }))), cap.keys);
  });
}

