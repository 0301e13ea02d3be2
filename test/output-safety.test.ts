/**
 * Output safety under hostile captures (issue 16, point 5): every text printer escapes control
 * characters (pcapng interface names in `info` too), NDJSON escapes C1 controls and U+2028/2029 and
 * keeps lengths exact, the web view serves captured bodies under a sandbox CSP, bounds what it queues
 * for a page that asks for details and never reads, and warns when bound to a non-loopback address.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { WebSocket } from 'ws';
import { jsonLine, jsonText } from '../lib/core/json-line';
import { readCaptureFile } from '../streams/read';
import { isLoopbackHost, MAX_CLIENT_BACKLOG_BYTES, startWebView } from '../streams/web';
import { pcapFile, pcapngFile, tcpConversation } from './helpers/craft';
import { waitForOutput } from './helpers/child';

const BIN = path.join(__dirname, '..', 'bin');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-safety-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, data: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

function run(bin: string, args: string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(BIN, bin), ...args], { timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Terminal-active bytes: C0 controls but TAB/LF, DEL, and C1 controls as UTF-8 (C2 80..C2 9F). */
function assertNoControls(out: Buffer, what: string): void {
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    const c0 = (b < 0x20 && b !== 0x0a && b !== 0x09) || b === 0x7f;
    const c1 = b === 0xc2 && i + 1 < out.length && out[i + 1]! >= 0x80 && out[i + 1]! <= 0x9f;
    assert.ok(!c0 && !c1, `${what}: raw control byte 0x${b.toString(16)} at ${i}: ${JSON.stringify(out.subarray(Math.max(0, i - 20), i + 20).toString('latin1'))}`);
  }
}

const OSC52 = 'eth0\x1b]52;c;ZXZpbA==\x07';
const CLEAR = '\x1b[2J\x07bell\u009b2J';

test('info escapes pcapng if_name / if_description (OSC 52, ESC[2J, BEL, CSI), in text and in --json', () => {
  const file = write('evil-ifname.pcapng', pcapngFile([Buffer.alloc(60)], { name: OSC52, description: CLEAR }));
  const text = run('pcap-pipe.js', ['info', file]);
  assert.equal(text.status, 0, text.stderr);
  assertNoControls(text.stdout, 'info');
  assert.ok(text.stdout.toString().includes('eth0\\x1b]52;c;ZXZpbA==\\x07 "\\x1b[2J\\x07bell\\x9b2J"'), text.stdout.toString());
  const json = run('pcap-pipe.js', ['info', '--json', file]);
  assertNoControls(json.stdout, 'info --json');
  const parsed = JSON.parse(json.stdout.toString()) as { interfaces: { name: string; description: string }[] };
  assert.equal(parsed.interfaces[0]!.name, OSC52, 'the JSON still means the exact name');
  assert.equal(parsed.interfaces[0]!.description, CLEAR);
});

test('jsonText: ASCII text (the fast path) still has DEL escaped; other text as JSON.stringify gives it', () => {
  assert.equal(jsonText({ s: 'ascii only\u007f' }), '{"s":"ascii only\\u007f"}');
  assert.equal(jsonText({ s: '\u007f' }), '{"s":"\\u007f"}');
  for (const s of ['plain', 'caf\u00e9', 'emoji \u{1f600}', 'lone \ud800', '\u00a0\u00ff', '']) assert.equal(jsonText({ s }), JSON.stringify({ s }));
  assert.equal(jsonText({ s: '\u00e9\u0085' }), '{"s":"\u00e9\\u0085"}');
});

test('jsonText: C1 controls, DEL and U+2028/2029 escaped, values unchanged; BigInt exact', () => {
  const value = { s: 'a\u009b[2Jb\u2028c\u2029d\u007fe\u0085', n: 2n ** 63n - 1n, small: 5n };
  const text = jsonText(value);
  assert.doesNotMatch(text, /[\u007f-\u009f\u2028\u2029]/);
  assert.equal(text, '{"s":"a\\u009b[2Jb\\u2028c\\u2029d\\u007fe\\u0085","n":"9223372036854775807","small":5}');
  assert.deepEqual(JSON.parse(text), { s: value.s, n: '9223372036854775807', small: 5 });
  assert.ok(jsonLine({}).endsWith('\n'));
});

const REQ = (url: string): Buffer => Buffer.from(`GET ${url} HTTP/1.1\r\nHost: x\r\nUser-Agent: \x1b]0;pwn\x07\r\n\r\n`, 'latin1');
const RES = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Evil: \x9b2J\r\n\r\nhi\x1b[2J', 'latin1');

test('http_trace / http / ws / tcp / print / grep print no raw control byte from a hostile exchange (text and --json)', () => {
  const file = write('c1.pcap', pcapFile(tcpConversation([['c', REQ('/a\xc2\x9b2J\xe2\x80\xa8')], ['s', RES]])));
  const runs: [string, string[]][] = [
    ['http_trace.js', ['-r', file, '--headers', '--bodies', '--no-color']],
    ['http_trace.js', ['-r', file, '--json', '--bodies']],
    ['pcap-pipe.js', ['http', '--headers', '--bodies', file]],
    ['pcap-pipe.js', ['tcp', file]],
    ['pcap-pipe.js', ['tcp', '--json', file]],
    ['pcap-pipe.js', ['print', '-x', file]],
    ['pcap-pipe.js', ['print', '--json', file]],
    ['pcap-pipe.js', ['grep', '--text', 'GET', file]],
    ['pcap-pipe.js', ['grep', '--json', 'GET', file]],
    ['network_grep.js', ['-I', file, 'GET']],
  ];
  for (const [bin, args] of runs) {
    const r = run(bin, args);
    assert.ok(r.status === 0 || r.status === 1, `${bin} ${args.join(' ')}: ${r.status} ${r.stderr}`);
    assertNoControls(r.stdout, `${bin} ${args.join(' ')}`);
    assertNoControls(Buffer.from(r.stderr), `${bin} ${args.join(' ')} (stderr)`);
  }
  const json = run('http_trace.js', ['-r', file, '--json']).stdout.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; url?: string });
  assert.equal(json.find((e) => e.type === 'request')?.url, '/a\xc2\x9b2J\xe2\x80\xa8', 'the JSON value is the exact URL (latin1)');
});

test('a WebSocket length of 2^63-1 is printed exactly, never through a float', () => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const req = Buffer.from(`GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const res = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  const frame = Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0]);
  frame.writeBigUInt64BE(2n ** 63n - 1n, 2);
  const file = write('ws-huge-length.pcap', pcapFile(tcpConversation([['c', req], ['s', res], ['s', frame]])));
  for (const args of [['ws', '--json', file], ['ws', file]]) {
    const out = run('pcap-pipe.js', args).stdout.toString();
    assert.match(out, /9223372036854775807/, out);
    assert.doesNotMatch(out, /9223372036854776000/);
  }
});

test('http_trace on a link type the decoder cannot read: a clear message and exit 1; --max-body -5 is a usage error', () => {
  const file = write('linktype-147.pcap', pcapFile([Buffer.from('GET / HTTP/1.1\r\n\r\n')], 147));
  for (const [bin, args] of [['http_trace.js', ['-r', file]], ['pcap-pipe.js', ['http', file]], ['pcap-pipe.js', ['ws', file]]] as const) {
    const r = run(bin, [...args]);
    assert.equal(r.status, 1, `${bin}: ${r.stderr}`);
    assert.match(r.stderr, /link type 147 .* is not supported by the decoder/);
  }
  const neg = run('http_trace.js', ['--max-body', '-5', '-r', file]);
  assert.equal(neg.status, 2);
  assert.match(neg.stderr, /option --max-body needs a whole number >= 0, got "-5"/);
  assert.doesNotMatch(neg.stderr, /unknown option/);
});

function get(url: string, pathName: string, host?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: pathName, headers: host ? { host } : {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>window.__xss=4</script><rect width="9" height="9"/></svg>';

function svgCapture(bodyBytes = 0): Buffer {
  const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, 0x41) : Buffer.from(SVG);
  const type = bodyBytes > 0 ? 'text/plain' : 'image/svg+xml';
  const res = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
  return pcapFile(tcpConversation([['c', Buffer.from('GET /logo.svg HTTP/1.1\r\nHost: x\r\n\r\n')], ['s', res]]));
}

test('web view: a captured body is served raw only under a sandbox CSP, to requests naming this server', async () => {
  const view = await startWebView(readCaptureFile(write('svg.pcap', svgCapture())), { port: 0 });
  try {
    await view.done;
    const id = [...view.model.snapshot().rows][0]!.id;
    const r = await get(view.url, `/body/${id}/response`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), SVG);
    assert.equal(r.headers['content-type'], 'image/svg+xml');
    assert.match(String(r.headers['content-security-policy']), /^sandbox;/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    const download = await get(view.url, `/body/${id}/response?download`);
    assert.equal(download.headers['content-type'], 'application/octet-stream');
    assert.match(String(download.headers['content-disposition']), /^attachment;/);
    assert.equal((await get(view.url, `/body/${id}/response`, 'evil.example:80')).status, 403, 'a foreign Host (DNS rebinding) is refused');
    assert.equal((await get(view.url, `/body/${id}/request`)).status, 404, 'the request had no body');
    assert.equal((await get(view.url, '/body/99999/response')).status, 404);
  } finally {
    await view.close();
  }
});

test('web view: a page that requests details and never reads cannot grow the server past the backlog bound', async () => {
  const BODY = 512 * 1024;
  const view = await startWebView(readCaptureFile(write('big-body.pcap', svgCapture(BODY))), { port: 0, updateIntervalMs: 50 });
  try {
    await view.done;
    const id = [...view.model.snapshot().rows][0]!.id;
    const u = new URL(view.url);
    const ws = new WebSocket(`ws://${u.host}/ws`, { origin: `http://${u.host}` });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.pause(); // never read again
    const REQUESTS = 2000; // unbounded, that is 2000 replies of ~700 KB: 1.4 GB
    let peak = 0;
    for (let i = 0; i < REQUESTS; i++) {
      ws.send(JSON.stringify({ type: 'detail', id }));
      if (i % 50 === 0) {
        await new Promise((r) => setTimeout(r, 5));
        peak = Math.max(peak, view.server.backlogBytes);
      }
    }
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 25));
      peak = Math.max(peak, view.server.backlogBytes);
    }
    const reply = Math.ceil((BODY * 4) / 3) + 4096;
    assert.ok(peak > 0, 'replies were queued');
    assert.ok(peak <= MAX_CLIENT_BACKLOG_BYTES + 2 * reply, `server backlog peaked at ${peak} bytes (bound ${MAX_CLIENT_BACKLOG_BYTES} + one reply)`);
    ws.terminate();
  } finally {
    await view.close();
  }
});

test('isLoopbackHost', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com']) assert.equal(isLoopbackHost(h), false, h);
});

const NS = `sturdy-web-${process.pid}`;
const canNetns = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;

test('serve --host 0.0.0.0 warns loudly and its banner shows the address really bound (in a private netns)', { skip: !canNetns && 'needs root and ip netns' }, async () => {
  const file = write('svg2.pcap', svgCapture());
  assert.equal(spawnSync('ip', ['netns', 'add', NS]).status, 0);
  try {
    spawnSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    const child = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(BIN, 'pcap-pipe.js'), 'serve', '--host', '0.0.0.0', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      await waitForOutput(child, 'stdout', /listening on/);
      await waitForOutput(child, 'stderr', /WARNING/).catch(() => undefined);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.on('close', r));
    }
    assert.match(stdout, /listening on 0\.0\.0\.0:\d+/);
    assert.match(stderr, /WARNING: listening on 0\.0\.0\.0:\d+, not a loopback address/);
  } finally {
    spawnSync('ip', ['netns', 'del', NS]);
  }
});

test('serve on the default host prints no warning', async () => {
  const child = spawn(process.execPath, [path.join(BIN, 'pcap-pipe.js'), 'serve', write('svg3.pcap', svgCapture())], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    await waitForOutput(child, 'stderr', /input ended/);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
  }
  assert.doesNotMatch(stderr, /WARNING/);
  void Readable;
});
