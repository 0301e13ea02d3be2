/**
 * http_trace and `pcap-pipe http|ws` skip the tls() stage's work on a classic pcap read without a key
 * log (streams/tls.ts skipWithoutSecrets): nothing can be decrypted there, and the printed trace and the
 * HAR show nothing of TLS connections they cannot decrypt. This proves it output-neutral: the same capture
 * as pcapng (editcap; no Decryption Secrets Block, so the stage runs and reports every TLS connection) must
 * give byte-identical stdout, stderr, exit status and HAR. Traffic: curl against a Node HTTP/2 + HTTP/1.1
 * TLS server (ALPN h2 and http/1.1, TLS 1.2 — its ALPN is in the clear ServerHello, the stage would
 * announce it — and 1.3), concurrently with plain HTTP and a WebSocket on another port, captured by
 * tcpdump on lo; plus the openssl s_server + curl fixture without its key log.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { REPO_ROOT } from './helpers/oracle';
import { listening } from './helpers/child';
import { freePort, hasProgram, makeCerts, tmpDir } from './helpers/tls-capture';
import { readCaptureFile } from '../streams/read';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { tls } from '../streams/tls';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';

const skip = process.platform !== 'linux' ? 'loopback captures need Linux'
  : process.getuid && process.getuid() !== 0 ? 'tcpdump on lo needs root'
    : !hasProgram('curl') || !hasProgram('editcap', ['-V']) ? 'needs curl and editcap' : false;
const HTTP_TRACE = path.join(REPO_ROOT, 'dist/bin/http_trace.js');
const PCAP_PIPE = path.join(REPO_ROOT, 'dist/bin/pcap-pipe.js');
const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'tls', 'openssl-s_server-curl-tls13-tls12-nokey.pcap');

let dir = '';
/** [classic pcap, the same packets as pcapng] per capture. */
const captures: Array<{ name: string; pcap: string; pcapng: string }> = [];

function curl(args: string[]): Promise<void> {
  return new Promise((resolve) => {
    const c = spawn('curl', ['-sk', '-o', '/dev/null', '--max-time', '10', ...args], { stdio: 'ignore' });
    c.on('exit', () => resolve());
  });
}

before(async () => {
  if (skip) return;
  dir = tmpDir('skip');
  const certs = makeCerts(dir);
  const tlsPort = await freePort();
  const plainPort = await freePort();
  const pcap = path.join(dir, 'mixed.pcap');
  const td = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '32768', '-U', '-s', '0', '-w', pcap, `tcp port ${tlsPort} or tcp port ${plainPort}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  await listening(td);
  // HTTP/2 and HTTP/1.1 over TLS, chosen by ALPN
  const secure = http2.createSecureServer({ key: fs.readFileSync(certs.rsaKey), cert: fs.readFileSync(certs.rsaCert), allowHTTP1: true }, (req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`secret answer to ${req.url}\n`);
  });
  await new Promise<void>((r) => secure.listen(tlsPort, '127.0.0.1', r));
  const plain = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`plain answer to ${req.url}\n`);
  });
  new WebSocketServer({ server: plain }).on('connection', (s) => s.on('message', (m) => s.send(`echo ${String(m)}`)));
  await new Promise<void>((r) => plain.listen(plainPort, '127.0.0.1', r));
  try {
    const https = `https://127.0.0.1:${tlsPort}`;
    const url = `http://127.0.0.1:${plainPort}`;
    // concurrent TLS and plain connections, so the order of events across connections counts too
    await Promise.all([
      curl(['--http2', '--tlsv1.2', '--tls-max', '1.2', `${https}/h2-tls12`]),
      curl(['--http1.1', '--tlsv1.2', '--tls-max', '1.2', `${https}/h1-tls12`]),
      curl([`${url}/plain-1`, `${url}/plain-2`]),
      curl(['--http2', '--tlsv1.3', `${https}/h2-tls13`, `${https}/h2-tls13-again`]),
      curl(['--http1.1', '--tlsv1.3', `${https}/h1-tls13`]),
      curl(['-X', 'POST', '-d', 'a body', `${url}/plain-post`]),
    ]);
    const ws = new WebSocket(`ws://127.0.0.1:${plainPort}/chat`);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => ws.send('hello in the clear'));
      ws.on('message', () => ws.close());
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
  } finally {
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise<void>((resolve) => td.on('exit', () => resolve()));
    td.kill('SIGINT');
    await exited;
    await new Promise<void>((r) => secure.close(() => r()));
    plain.closeAllConnections();
    await new Promise<void>((r) => plain.close(() => r()));
  }
  const fixture = path.join(dir, 'fixture.pcap');
  fs.copyFileSync(FIXTURE, fixture);
  for (const [name, file] of [['mixed', pcap], ['fixture', fixture]] as const) {
    const pcapng = file.replace(/\.pcap$/, '.pcapng');
    const r = spawnSync('editcap', ['-F', 'pcapng', file, pcapng]);
    assert.equal(r.status, 0, String(r.stderr));
    captures.push({ name, pcap: file, pcapng });
  }
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/** Every event of tls() on a capture file, read without a key log. */
async function stageEvents(file: string): Promise<{ events: Record<string, unknown>[]; skipped: boolean }> {
  const events: Record<string, unknown>[] = [];
  const reader = readCaptureFile(file);
  const stage = tls({ captureReader: reader, skipWithoutSecrets: true });
  await pipeline(reader, decode({ depth: 'transport' }), tcp(), stage, new Writable({
    objectMode: true,
    write(chunk: Record<string, unknown>, _e, cb) { events.push(chunk); cb(); },
  }));
  return { events, skipped: stage.skipped };
}

test('the capture has what makes the stage matter: TLS 1.2 with ALPN h2 and http/1.1, TLS 1.3, plain HTTP', { skip }, async () => {
  const { events, skipped } = await stageEvents(captures[0]!.pcapng);
  assert.equal(skipped, false, 'pcapng: the stage works');
  const conns = events.filter((e) => e.type === 'tls-connection');
  const seen = conns.map((c) => `${String(c.version)} ${String(c.alpn)}`).sort();
  assert.deepEqual(seen, ['TLS 1.2 h2', 'TLS 1.2 http/1.1', 'TLS 1.3 undefined', 'TLS 1.3 undefined'], JSON.stringify(seen));
  assert.ok(conns.every((c) => c.decryptable === false && c.reason === 'no-key'));
  const classic = await stageEvents(captures[0]!.pcap);
  assert.equal(classic.skipped, true, 'classic pcap without a key log: skipped');
  assert.equal(classic.events.filter((e) => String(e.type).startsWith('tls-')).length, 0);
});

function runBoth(cmd: string[], file: string, stdin: boolean): SpawnSyncReturns<Buffer> {
  const args = stdin ? cmd : [...cmd, file];
  const env = { ...process.env };
  delete env.SSLKEYLOGFILE;
  return spawnSync(process.execPath, args, { input: stdin ? fs.readFileSync(file) : undefined, env, maxBuffer: 64 * 1024 * 1024 });
}

const COMMANDS: Array<{ label: string; cmd: string[]; stdin?: boolean; har?: boolean }> = [
  { label: 'http_trace -r', cmd: [HTTP_TRACE, '-r'] },
  { label: 'http_trace -r --json --bodies --tcp-verbose', cmd: [HTTP_TRACE, '--json', '--bodies', '--tcp-verbose', '-r'] },
  { label: 'http_trace -r --headers --bodies', cmd: [HTTP_TRACE, '--headers', '--bodies', '-r'] },
  { label: 'http_trace -r --har', cmd: [HTTP_TRACE, '-r'], har: true },
  { label: 'pcap-pipe http < F', cmd: [PCAP_PIPE, 'http'], stdin: true },
  { label: 'pcap-pipe http --json --tcp-verbose F', cmd: [PCAP_PIPE, 'http', '--json', '--tcp-verbose'] },
  { label: 'pcap-pipe ws F', cmd: [PCAP_PIPE, 'ws'] },
  { label: 'pcap-pipe ws --json < F', cmd: [PCAP_PIPE, 'ws', '--json'], stdin: true },
];

for (const c of COMMANDS) {
  test(`${c.label}: the same stdout, stderr, exit status (and HAR) with the stage skipped (pcap) as with it (pcapng)`, { skip }, () => {
    for (const cap of captures) {
      const results = [cap.pcap, cap.pcapng].map((file) => {
        const har = path.join(dir, `${path.basename(file)}.har`);
        const r = runBoth(c.har ? [...c.cmd.slice(0, -1), '--har', har, '-r'] : c.cmd, file, c.stdin === true);
        return { status: r.status, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1'), har: c.har ? fs.readFileSync(har, 'latin1') : '' };
      });
      const [a, b] = results as [typeof results[0], typeof results[0]];
      assert.equal(a.status, 0, `${cap.name}: ${a.stderr}`);
      assert.ok(a.stdout.length > 0 || c.har === true || cap.name === 'fixture', `${cap.name}: some output`);
      assert.equal(a.stdout, b.stdout, `${cap.name}: stdout`);
      assert.equal(a.stderr, b.stderr, `${cap.name}: stderr`);
      assert.equal(a.status, b.status, `${cap.name}: exit status`);
      assert.equal(a.har, b.har, `${cap.name}: HAR`);
    }
  });
}

test('a TLS 1.2 connection with ALPN h2 and no key is not parsed as HTTP/2 (its records follow, not frames)', { skip }, () => {
  // Before: the stage's tls-connection (alpn h2, not decryptable) made http() parse the encrypted records
  // as HTTP/2 and print H2_BAD_PREFACE and H2_DESYNC; without the stage nothing was printed for them.
  const r = runBoth([HTTP_TRACE, '-r'], captures[0]!.pcapng, false);
  assert.equal(r.status, 0);
  assert.doesNotMatch(r.stdout.toString(), /H2_/);
  assert.match(r.stdout.toString(), /GET \/plain-1/);
});
