/**
 * --keylog in the commands: http_trace (a capture file, and live on lo with the key log still growing
 * while it captures), pcap-pipe http, ws, follow, and the web view (serve / http_trace --web share
 * startWebView). Traffic: a Node https server (its `keylog` event writes the key log) with keep-alive
 * requests and a WebSocket, captured by tcpdump; tshark with the same key log is the oracle.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { REPO_ROOT } from './helpers/oracle';
import { listening } from './helpers/child';
import { freePort, makeCerts, run, startTcpdump, tmpDir, type Certs } from './helpers/tls-capture';
import { readCaptureFile } from '../streams/read';
import { startWebView } from '../streams/web';
import { tls } from '../streams/tls';
import { addonAvailable } from '../addon/index';

const skip = process.platform !== 'linux' ? 'loopback captures need Linux'
  : process.getuid && process.getuid() !== 0 ? 'tcpdump on lo needs root' : false;
const HTTP_TRACE = path.join(REPO_ROOT, 'dist/bin/http_trace.js');
const PCAP_PIPE = path.join(REPO_ROOT, 'dist/bin/pcap-pipe.js');

let dir = '';
let certs: Certs;
let pcap = '';
let keys = '';

/** A Node https server with a WebSocket endpoint; writes its key log to `keyFile`. */
async function server(keyFile: string, port: number): Promise<https.Server> {
  const srv = https.createServer({ key: fs.readFileSync(certs.rsaKey), cert: fs.readFileSync(certs.rsaCert) }, (req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`you asked for ${req.url}\n`);
  });
  srv.on('keylog', (line) => fs.appendFileSync(keyFile, line));
  new WebSocketServer({ server: srv }).on('connection', (s) => s.on('message', (m) => s.send(`echo ${String(m)}`)));
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  return srv;
}

async function traffic(port: number): Promise<void> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  for (const p of ['/one', '/two', '/three']) {
    await new Promise<void>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: p, agent, rejectUnauthorized: false }, (res) => { res.resume(); res.on('end', () => resolve()); })
        .on('error', reject);
    });
  }
  agent.destroy();
  const ws = new WebSocket(`wss://127.0.0.1:${port}/chat`, { rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    ws.on('open', () => ws.send('hello over wss'));
    ws.on('message', () => ws.close());
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
}

before(async () => {
  if (skip) return;
  dir = tmpDir('cmd');
  certs = makeCerts(dir);
  const port = await freePort();
  pcap = path.join(dir, 'cmd.pcap');
  keys = path.join(dir, 'keys.log');
  const td = await startTcpdump(pcap, port);
  const srv = await server(keys, port);
  try {
    await traffic(port);
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
    await td.stop();
  }
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

function node(args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.SSLKEYLOGFILE;
  const r = spawnSync(process.execPath, args, { input, encoding: 'utf8', env, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** tshark's request lines and status codes of the decrypted capture, in order. */
function tsharkHttp(): string[] {
  return run('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-Y', 'http', '-T', 'fields', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code'])
    .split('\n').filter(Boolean).map((l) => l.split('\t').filter(Boolean).join(' '));
}

function fromJson(stdout: string): string[] {
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.type === 'request' || e.type === 'response')
    .map((e) => (e.type === 'request' ? `${e.method} ${e.url}` : String(e.status)));
}

test('http_trace -r FILE --keylog: the HTTPS exchanges, equal to tshark\'s; without keys: none, and no summary', { skip }, () => {
  const r = node([HTTP_TRACE, '-r', pcap, '--keylog', keys, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const ours = fromJson(r.stdout);
  assert.deepEqual(ours.slice(0, 6), ['GET /one', '200', 'GET /two', '200', 'GET /three', '200']);
  assert.deepEqual(ours, tsharkHttp());
  assert.equal(r.stderr, '');
  const none = node([HTTP_TRACE, '-r', pcap, '--json']);
  assert.equal(none.status, 0);
  assert.deepEqual(fromJson(none.stdout), []);
});

test('pcap-pipe http --keylog (stdin) prints the requests; a missing key is summarised on stderr', { skip }, () => {
  const r = node([PCAP_PIPE, 'http', '--keylog', keys], fs.readFileSync(pcap));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /GET \/one/);
  assert.match(r.stdout, /200/);
  const empty = path.join(dir, 'empty.log');
  fs.writeFileSync(empty, '# nothing\n');
  const e = node([PCAP_PIPE, 'http', '--keylog', empty], fs.readFileSync(pcap));
  assert.equal(e.status, 0);
  assert.match(e.stderr, /2 of 2 TLS connections not decrypted \(no-key 2\)/);
});

test('pcap-pipe ws --keylog: the WebSocket messages inside TLS', { skip }, () => {
  const r = node([PCAP_PIPE, 'ws', '--json', '--keylog', keys, pcap]);
  assert.equal(r.status, 0, r.stderr);
  const msgs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.type === 'ws-message');
  assert.deepEqual(msgs.map((m) => [m.from, m.data]), [['client', 'hello over wss'], ['server', 'echo hello over wss']]);
});

test('pcap-pipe follow --keylog --raw: the decrypted bytes of both connections', { skip }, () => {
  const r = spawnSync(process.execPath, [PCAP_PIPE, 'follow', '--raw', '--keylog', keys, pcap], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  const text = r.stdout.toString('latin1');
  assert.match(text, /GET \/one HTTP\/1\.1\r\n/);
  assert.match(text, /you asked for \/three\n/);
  assert.match(text, /GET \/chat HTTP\/1\.1\r\n/);
});

test('web view (pcap-pipe serve, http_trace --web) with a tls() stage: the exchanges are rows', { skip }, async () => {
  const view = await startWebView(readCaptureFile(pcap), { input: 'file', tls: tls({ keyLogFiles: [keys] }) });
  try {
    await view.done;
    assert.equal(view.model.rowCount, 4, 'three GETs and the WebSocket upgrade');
  } finally {
    await view.close();
  }
});

test('http_trace -i lo --keylog: live, with the key log written while capturing', { skip: skip || (!addonAvailable() && 'libpcap addon not built') }, async () => {
  const port = await freePort();
  const liveKeys = path.join(dir, 'live-keys.log');
  fs.writeFileSync(liveKeys, '');
  const trace = spawn(process.execPath, [HTTP_TRACE, '-i', 'lo', '-f', `tcp port ${port}`, '--keylog', liveKeys, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  trace.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  await listening(trace);
  const srv = await server(liveKeys, port);
  try {
    await traffic(port);
    // Results come as packets arrive; wait for the last response, then stop the capture.
    for (let i = 0; i < 100 && !/"url":"\/three"[\s\S]*"status":200[\s\S]*ws-message/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
    const exited = new Promise<number | null>((r) => trace.on('exit', (code) => r(code)));
    trace.kill('SIGINT');
    assert.equal(await exited, 0);
  }
  assert.deepEqual(fromJson(out).slice(0, 6), ['GET /one', '200', 'GET /two', '200', 'GET /three', '200']);
});
