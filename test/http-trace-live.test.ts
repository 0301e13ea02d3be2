/**
 * End to end on loopback: a real server (node:http, here, on 127.0.0.1 and ::1) and a real client (curl)
 * talk while `pcap-pipe capture -i lo` records them; `http_trace -r FILE --json --bodies` must then tell
 * what the programs did: the server's own log of requests (method, URL, body sha256) and of the content it
 * sent (status, sha256 before content coding) is the oracle. Covers keep-alive, chunked, gzip, HEAD, 304,
 * 204, 100-continue, IPv6 and a 3 MB body.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { liveSkipReason, sleep } from './helpers/live.js';
import { listening } from './helpers/child';

const DIST = path.join(__dirname, '..');
const PCAP_PIPE = path.join(DIST, 'bin', 'pcap-pipe.js');
const HTTP_TRACE = path.join(DIST, 'bin', 'http_trace.js');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function hasCurl(): boolean {
  return spawnSync('curl', ['--version']).status === 0;
}

const skip = liveSkipReason() || (!hasCurl() && 'curl not installed');

/** What the server saw and sent, in order: the oracle. */
interface Exchange { method: string; url: string; requestSha: string; requestLength: number; status: number; contentSha: string; contentLength: number }

/** A deterministic body of n bytes (text, so it is printed as text). */
function bigBody(n: number): Buffer {
  const line = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-pcap-pipe\n');
  const out = Buffer.alloc(n);
  for (let off = 0; off < n; off += line.length) line.copy(out, off);
  return out;
}

const BIG = bigBody(3 * 1024 * 1024 + 17);
const JSON_CONTENT = Buffer.from(JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) }));

function makeServer(log: Exchange[]): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const send = (status: number, content: Buffer, headers: http.OutgoingHttpHeaders = {}, wire?: Buffer): void => {
        log.push({ method: req.method!, url: req.url!, requestSha: sha256(body), requestLength: body.length, status, contentSha: sha256(req.method === 'HEAD' ? Buffer.alloc(0) : content), contentLength: req.method === 'HEAD' ? 0 : content.length });
        res.writeHead(status, headers);
        res.end(wire ?? content);
      };
      switch (req.url) {
        case '/text': return send(200, Buffer.from('hello world\n'), { 'Content-Type': 'text/plain', 'Content-Length': '12' });
        case '/chunked': {
          const parts = ['first piece\n', 'second piece\n', 'third\n'];
          log.push({ method: req.method!, url: req.url!, requestSha: sha256(body), requestLength: body.length, status: 200, contentSha: sha256(Buffer.from(parts.join(''))), contentLength: parts.join('').length });
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          let i = 0;
          const next = (): void => { if (i < parts.length) { res.write(parts[i++]); setTimeout(next, 5); } else res.end(); };
          return next();
        }
        case '/gzip': {
          const wire = zlib.gzipSync(JSON_CONTENT);
          return send(200, JSON_CONTENT, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': String(wire.length) }, wire);
        }
        case '/etag':
          if (req.headers['if-none-match'] === '"v1"') return send(304, Buffer.alloc(0), { ETag: '"v1"' });
          return send(200, Buffer.from('tagged'), { ETag: '"v1"' });
        case '/empty': return send(204, Buffer.alloc(0));
        case '/upload': return send(200, Buffer.from(`got ${body.length}`), { 'Content-Type': 'text/plain' });
        case '/big': return send(200, BIG, { 'Content-Type': 'text/plain', 'Content-Length': String(BIG.length) });
        case '/v6': return send(200, Buffer.from('over ipv6'), { 'Content-Type': 'text/plain' });
        default: return send(404, Buffer.from('not found'));
      }
    });
  });
}

function listen(server: http.Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-s', '-S', '--max-time', '20', ...args], { maxBuffer: 16 << 20, encoding: 'buffer' }, (e, out) => (e ? reject(e) : resolve(out.toString('latin1'))));
  });
}

type Json = Record<string, unknown> & { type: string; connection: number; frame: number };

test('capture on lo → http_trace -r --json --bodies tells what a node server and curl did', { skip, timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-http-live-'));
  const file = path.join(dir, 'live.pcap');
  const log: Exchange[] = [];
  const v4 = makeServer(log);
  const v6 = makeServer(log);
  const p4 = await listen(v4, '127.0.0.1');
  const p6 = await listen(v6, '::1');
  const cap = spawn(process.execPath, [PCAP_PIPE, 'capture', '-i', 'lo', '--immediate', '-B', '64', '-w', file, `tcp port ${p4} or tcp port ${p6}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let capErr = '';
  try {
    await listening(cap);
    cap.stderr?.on('data', (d: Buffer) => { capErr += d.toString(); });
    const base = `http://127.0.0.1:${p4}`;
    // keep-alive: three requests on one connection (chunked and gzip among them)
    await curl(['--compressed', '-o', '/dev/null', `${base}/text`, '-o', '/dev/null', `${base}/chunked`, '-o', '/dev/null', `${base}/gzip`]);
    await curl(['-I', `${base}/text`]); // HEAD
    await curl(['-H', 'If-None-Match: "v1"', `${base}/etag`]); // 304
    await curl([`${base}/empty`]); // 204
    const upload = bigBody(200_000);
    const uploadFile = path.join(dir, 'upload.bin');
    fs.writeFileSync(uploadFile, upload);
    await curl(['-H', 'Expect: 100-continue', '--expect100-timeout', '10', '--data-binary', `@${uploadFile}`, `${base}/upload`]); // 100-continue
    const big = await curl(['--compressed', `${base}/big`]);
    assert.equal(big.length, BIG.length);
    await curl(['-g', `http://[::1]:${p6}/v6`]); // IPv6
    await sleep(300);
  } finally {
    cap.kill('SIGINT');
    await new Promise((resolve) => cap.once('exit', resolve));
    v4.close();
    v6.close();
  }
  assert.match(capErr, /0 packets dropped by kernel/, capErr);

  const r = spawnSync(process.execPath, [HTTP_TRACE, '-r', file, '--json', '--bodies'], { maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  const events = r.stdout.toString().split('\n').filter((l) => l).map((l) => JSON.parse(l) as Json);
  assert.ok(!events.some((e) => e.type === 'http-error'), 'no parse errors');
  const requests = events.filter((e) => e.type === 'request');
  const finals = events.filter((e) => e.type === 'response' && !e.interim);
  const body = (e: Json): Buffer => Buffer.from((e.body as string | undefined) ?? '', e.bodyEncoding === 'base64' ? 'base64' : 'utf8');

  // every exchange the server logged, in order, with its request and final response
  assert.deepEqual(
    requests.map((q) => [q.method, q.url, q.decodedLength, sha256(body(q))]),
    log.map((x) => [x.method, x.url, x.requestLength, x.requestSha]),
  );
  assert.deepEqual(
    finals.map((s) => [(s.request as { url: string }).url, s.status, s.decodedLength, sha256(body(s))]),
    log.map((x) => [x.url, x.status, x.contentLength, x.contentSha]),
  );
  for (const s of finals) assert.equal(s.bodyTruncated, undefined);

  // keep-alive: the first three on one connection, numbered 1..3; the others on their own connections
  const conns = requests.map((q) => q.connection);
  assert.equal(conns[0], conns[1]);
  assert.equal(conns[1], conns[2]);
  assert.deepEqual(requests.slice(0, 3).map((q) => q.index), [1, 2, 3]);
  assert.equal(new Set(conns).size, requests.length - 2);
  const byUrl = (url: string): Json => finals.find((s) => (s.request as { url: string }).url === url)!;
  const header = (e: Json, name: string): string | undefined => (e.headers as [string, string][]).find(([n]) => n.toLowerCase() === name)?.[1];
  assert.equal(header(byUrl('/chunked'), 'transfer-encoding'), 'chunked');
  assert.deepEqual(byUrl('/gzip').contentEncoding, ['gzip']);
  assert.ok((byUrl('/gzip').bodyLength as number) < JSON_CONTENT.length);
  assert.equal(byUrl('/big').bodyLength, BIG.length);
  // 100-continue: an interim 100 for the upload, before its final response, paired with it
  const interim = events.filter((e) => e.type === 'response' && e.interim);
  assert.deepEqual(interim.map((e) => [e.status, (e.request as { url: string }).url]), [[100, '/upload']]);
  assert.ok(interim[0]!.frame < byUrl('/upload').frame);
  // IPv6 endpoints
  assert.match(String(byUrl('/v6').client), /^\[::1\]:\d+$/);
  assert.equal(byUrl('/v6').server, `[::1]:${p6}`);
  // timing: request sent → first byte → complete, in capture time
  for (const s of finals) {
    const t = s.timing as Record<string, number>;
    assert.ok(t.requestStart! <= t.firstByte! && t.firstByte! <= t.complete!, JSON.stringify(t));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
