/**
 * streams/web.ts and `pcap-pipe serve`, without a browser: only the page's own assets are served (all
 * else 404), the WebSocket refuses foreign or missing Origins, a page that connects late gets the
 * history (checked against tshark on samples/http-sample.pcap), detail requests answer with headers and
 * bodies, and a source fed slowly reaches a connected page as batched updates.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { PassThrough } from 'node:stream';
import { WebSocket } from 'ws';
import { readCaptureFile } from '../streams/read.js';
import { findWebAssets, startWebView, type WebView } from '../streams/web.js';
import type { PacketRecord } from '../lib/core/record.js';
import type { ExchangeDetail, WebSnapshot, WebUpdate } from '../lib/web/model.js';
import { SAMPLE, startServe, tsharkAvailable, tsharkHttp } from './web-test-helpers.js';

const skip = tsharkAvailable() ? false : 'tshark not installed';

function get(url: string, opts: { method?: string; path?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: opts.path ?? u.pathname, method: opts.method ?? 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

type PageMessage = ({ type: 'snapshot' } & WebSnapshot) | ({ type: 'update' } & WebUpdate) | { type: 'detail'; id: number; detail: ExchangeDetail | null };

/** Opens the WebSocket with the given Origin header (undefined: none); resolves open or the refusal status. */
function openPage(url: string, origin: string | undefined, wsPath = '/ws'): Promise<{ ws?: WebSocket; messages: PageMessage[]; status?: number }> {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}${wsPath}`, origin === undefined ? {} : { origin });
  const messages: PageMessage[] = [];
  ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as PageMessage));
  return new Promise((resolve) => {
    ws.on('open', () => resolve({ ws, messages }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ messages, status: res.statusCode });
      ws.terminate();
    });
    ws.on('error', () => resolve({ messages }));
  });
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('serves only its own assets: everything else is 404, with a strict CSP', async () => {
  const view = await startWebView(readCaptureFile(SAMPLE), { port: 0 });
  try {
    assert.match(view.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(view.url);
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'] ?? '', /^text\/html/);
    assert.match(String(page.headers['content-security-policy'] ?? ''), /default-src 'none'.*script-src 'self'/);
    assert.equal(page.body, fs.readFileSync(`${findWebAssets()}/index.html`, 'utf8'));
    for (const p of ['/app.js', '/style.css', '/favicon.svg', '/index.html']) assert.equal((await get(view.url, { path: p })).status, 200, p);
    const foreign = ['/package.json', '/../package.json', '/%2e%2e/package.json', '/web/index.html', '/web/app.js', '/dist/streams/web.js',
      '/etc/passwd', '/app.js/', '//app.js', '/APP.JS', '/favicon.ico', '/ws', '/index.html/..', '/samples/http-sample.pcap', '/.git/config'];
    for (const p of foreign) {
      const r = await get(view.url, { path: p });
      assert.equal(r.status, 404, p);
      assert.equal(r.body, 'not found\n', p);
    }
    assert.equal((await get(view.url, { method: 'POST' })).status, 405);
    assert.equal((await get(view.url, { method: 'DELETE', path: '/nope' })).status, 404);
  } finally {
    await view.close();
  }
});

test('the WebSocket refuses foreign and missing Origins (403) and unknown paths (404)', async () => {
  const view = await startWebView(readCaptureFile(SAMPLE), { port: 0 });
  try {
    const port = new URL(view.url).port;
    for (const origin of [undefined, 'null', 'http://evil.example', `http://evil.example:${port}`, `http://127.0.0.1:${Number(port) + 1}`,
      `https://127.0.0.1:${port}`, `http://127.0.0.2:${port}`, `http://127.0.0.1:${port}.evil.example`, `http://localhost.evil.example:${port}`]) {
      const r = await openPage(view.url, origin);
      assert.equal(r.ws, undefined, `origin ${origin}`);
      assert.equal(r.status, 403, `origin ${origin}`);
    }
    const wrongPath = await openPage(view.url, `http://127.0.0.1:${port}`, '/socket');
    assert.equal(wrongPath.status, 404);
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const r = await openPage(view.url, origin);
      assert.ok(r.ws, `own origin ${origin} accepted`);
      r.ws.close();
    }
  } finally {
    await view.close();
  }
});

test('a page opened after the input ended gets the history; details carry headers and bodies (vs tshark)', { skip }, async () => {
  const oracle = tsharkHttp(SAMPLE);
  const view = await startWebView(readCaptureFile(SAMPLE), { port: 0 });
  try {
    await view.done;
    const page = await openPage(view.url, new URL(view.url).origin);
    assert.ok(page.ws);
    const snap = await waitFor('snapshot', () => page.messages.find((m): m is { type: 'snapshot' } & WebSnapshot => m.type === 'snapshot'));
    assert.equal(snap.ended, true);
    assert.deepEqual(snap.rows.map((r) => [r.connection, r.method, r.url]), oracle.requests.map((r) => [r.stream, r.method, r.uri]));
    assert.deepEqual(snap.rows.map((r) => r.status), oracle.responses.map((r) => r.code));
    assert.deepEqual(snap.wsMessages.filter((m) => m.kind === 'text').map((m) => m.preview), oracle.wsTexts);
    for (const [i, row] of snap.rows.entries()) {
      page.ws.send(JSON.stringify({ type: 'detail', id: row.id }));
      const reply = await waitFor(`detail ${row.id}`, () => page.messages.find((m): m is { type: 'detail'; id: number; detail: ExchangeDetail | null } => m.type === 'detail' && m.id === row.id));
      const body = Buffer.from(reply.detail?.response?.body ?? '', 'base64').toString('utf8');
      assert.equal(body, (oracle.responses[i] as { body: string }).body, `body of ${row.method} ${row.url}`);
      assert.ok((reply.detail?.request?.headers.length ?? 0) > 0);
    }
    page.ws.send(JSON.stringify({ type: 'detail', id: 999999 }));
    const none = await waitFor('unknown detail', () => page.messages.find((m) => m.type === 'detail' && m.id === 999999));
    assert.equal((none as { detail: unknown }).detail, null);
    page.ws.send('not json');
    page.ws.send(Buffer.from([1, 2, 3]));
    page.ws.close();
  } finally {
    await view.close();
  }
});

test('a connected page follows a slow source through batched updates', { skip }, async () => {
  const records: PacketRecord[] = [];
  for await (const rec of readCaptureFile(SAMPLE)) records.push(rec as PacketRecord);
  const source = new PassThrough({ objectMode: true });
  const view: WebView = await startWebView(source, { port: 0, updateIntervalMs: 100 });
  try {
    const page = await openPage(view.url, new URL(view.url).origin);
    assert.ok(page.ws);
    await waitFor('snapshot', () => page.messages.length > 0);
    const first = page.messages[0] as { type: string; rows: unknown[] };
    assert.equal(first.type, 'snapshot');
    assert.equal(first.rows.length, 0);
    for (const rec of records) {
      source.write(rec);
      await new Promise((r) => setTimeout(r, 5));
    }
    source.end();
    await view.done;
    const updates = await waitFor('the end', () => {
      const u = page.messages.filter((m): m is { type: 'update' } & WebUpdate => m.type === 'update');
      return u.some((m) => m.ended) ? u : undefined;
    });
    // batched: far fewer messages than packets, and each row's final state arrives
    assert.ok(updates.length < records.length / 2, `${updates.length} updates for ${records.length} packets`);
    const rows = new Map<number, { url: string | null; status: number | null }>();
    for (const u of updates) for (const r of u.rows) rows.set(r.id, r);
    const oracle = tsharkHttp(SAMPLE);
    assert.deepEqual([...rows.values()].map((r) => [r.url, r.status]), oracle.requests.map((r, i) => [r.uri, oracle.responses[i]?.code]));
    assert.equal(updates[updates.length - 1]?.counters.packets, records.length);
    page.ws.close();
  } finally {
    await view.close();
  }
});

test('pcap-pipe serve: stdin capture, URL printed, keeps serving after the input ends, Ctrl-C exits 0', { skip }, async () => {
  const fd = fs.openSync(SAMPLE, 'r');
  const serve = await startServe(fd);
  fs.closeSync(fd);
  try {
    assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    await waitFor('input end', () => serve.stderr().includes('input ended'));
    const page = await get(serve.url);
    assert.equal(page.status, 200);
    const ws = await openPage(serve.url, new URL(serve.url).origin);
    const snap = await waitFor('snapshot', () => ws.messages.find((m): m is { type: 'snapshot' } & WebSnapshot => m.type === 'snapshot'));
    assert.equal(snap.rows.length, tsharkHttp(SAMPLE).requests.length);
    ws.ws?.close();
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

test('pcap-pipe serve --max-rows keeps the newest rows and counts the rest', { skip }, async () => {
  const fd = fs.openSync(SAMPLE, 'r');
  const serve = await startServe(fd, ['--max-rows', '3']);
  fs.closeSync(fd);
  try {
    await waitFor('input end', () => serve.stderr().includes('input ended'));
    const ws = await openPage(serve.url, new URL(serve.url).origin);
    const snap = await waitFor('snapshot', () => ws.messages.find((m): m is { type: 'snapshot' } & WebSnapshot => m.type === 'snapshot'));
    const oracle = tsharkHttp(SAMPLE);
    assert.deepEqual(snap.rows.map((r) => r.url), oracle.requests.slice(-3).map((r) => r.uri));
    assert.equal(snap.rowsTotal, oracle.requests.length);
    assert.equal(snap.dropped.rows, oracle.requests.length - 3);
    ws.ws?.close();
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

test('pcap-pipe serve rejects unknown options and bad ports with usage (exit 2)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { PCAP_PIPE } = await import('./web-test-helpers.js');
  for (const args of [['--bogus'], ['--port', 'x'], ['--port', '70000'], ['--max-rows', '0'], ['a', 'b']]) {
    const r = spawnSync(process.execPath, [PCAP_PIPE, 'serve', ...args], { encoding: 'utf8', input: '' });
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /^pcap-pipe serve: .*\(pcap-pipe serve --help for usage\)\n$/);
  }
  const help = spawnSync(process.execPath, [PCAP_PIPE, 'serve', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--port N/);
});
