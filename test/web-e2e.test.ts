/**
 * The live view end to end, in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core;
 * no browser download):
 * - `pcap-pipe serve` fed samples/http-sample.pcap on stdin: the rows show tshark's methods, URLs and
 *   statuses; clicking a row shows its body (gzip JSON pretty-printed, the `{foo:` POST body as text);
 *   the filter narrows the table; the WebSocket messages tshark sees show up.
 * - `pcap-pipe capture -i lo -B 16 -w - 'tcp port P' | pcap-pipe serve` while a Node HTTP + WebSocket server
 *   and client talk on 127.0.0.1: the page, opened before the traffic, fills by itself; an image body
 *   is shown as an image.
 * - A page from another origin cannot open the WebSocket.
 * Screenshots go to test-artifacts/.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './helpers/oracle.js';
import { liveSkipReason } from './helpers/live.js';
import { PCAP_PIPE, SAMPLE, startServe, tsharkAvailable, tsharkHttp, type ServeChild } from './web-test-helpers.js';

/** The little of the DOM the page functions below use (tsconfig has no "dom" lib). */
interface PageElement { textContent: string | null; naturalWidth?: number }
declare const document: { querySelectorAll(sel: string): ArrayLike<PageElement>; querySelector(sel: string): PageElement | null };

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });
const browserSkip = !fs.existsSync(CHROMIUM) ? `${CHROMIUM} not installed` : !tsharkAvailable() ? 'tshark not installed' : false;
const liveSkip = browserSkip || liveSkipReason();

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

interface TableRow { method: string; url: string; status: string; hidden: boolean }

async function tableRows(page: Page): Promise<TableRow[]> {
  return page.$$eval('#rows tr', (trs) => trs.map((tr) => {
    // cells by class, not position: a column added to the table (Sensor) must not shift what is read
    const cell = (sel: string): string => tr.querySelector(sel)?.textContent ?? '';
    return { method: cell('td.method'), url: cell('td.url'), status: cell('td.c-status'), hidden: (tr as unknown as { hidden: boolean }).hidden };
  }));
}

async function visibleUrls(page: Page): Promise<string[]> {
  return (await tableRows(page)).filter((r) => !r.hidden).map((r) => `${r.method} ${r.url}`);
}

/** Types into the filter box and waits for the server's filtered rows (the table filters server-side). */
async function setFilter(page: Page, text: string): Promise<void> {
  await page.fill('#filter', text);
  await page.waitForFunction((f) => {
    const wrap = document.querySelector('#table-wrap') as unknown as { dataset: Record<string, string | undefined> } | null;
    return wrap?.dataset.filter === f && wrap.dataset.state === 'ready';
  }, text.trim(), { polling: 50 });
}

function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return errors;
}

test('serve a capture file: rows, bodies, filter and WebSocket messages match tshark', { skip: browserSkip, timeout: 60_000 }, async () => {
  const oracle = tsharkHttp(SAMPLE);
  const fd = fs.openSync(SAMPLE, 'r');
  const serve = await startServe(fd);
  fs.closeSync(fd);
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors = pageErrors(page);
    await page.goto(serve.url);
    await page.waitForFunction((n) => document.querySelectorAll('#rows tr').length === n && !Array.from(document.querySelectorAll('#rows tr td.c-status')).some((td) => td.textContent === '…'), oracle.requests.length, { polling: 100 });
    const rows = await tableRows(page);
    assert.deepEqual(rows.map((r) => [r.method, r.url, Number(r.status.split(' ')[0])]), oracle.requests.map((r, i) => [r.method, r.uri, oracle.responses[i]?.code]));

    // click the gzip JSON row: the decoded body, pretty-printed, is tshark's body
    const jsonIndex = oracle.responses.findIndex((r) => r.uri === '/data.json');
    assert.ok(jsonIndex >= 0);
    await page.click(`#rows tr:nth-child(${jsonIndex + 1})`);
    await page.waitForSelector('#detail-body pre.json');
    const shown = await page.textContent('#detail-body pre.json');
    assert.deepEqual(JSON.parse(shown ?? ''), JSON.parse((oracle.responses[jsonIndex] as { body: string }).body));
    assert.match(shown ?? '', /\n {2}"items": \[/, 'pretty-printed');
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-sample.png') });

    // the article's unquoted POST body is shown as text
    const postIndex = oracle.requests.findIndex((r) => r.method === 'POST');
    await page.click(`#rows tr:nth-child(${postIndex + 1})`);
    await page.waitForFunction(() => document.querySelector('#detail-title')?.textContent?.includes('→'), undefined, { polling: 100 });
    const bodies = await page.$$eval('#detail-body pre.body', (pres) => pres.map((p) => p.textContent));
    assert.equal(bodies[0], '{foo:');
    assert.deepEqual(JSON.parse(bodies[1] ?? ''), JSON.parse((oracle.responses[postIndex] as { body: string }).body));

    // the filter narrows the table
    const expectVisible = (pred: (i: number) => boolean): string[] => oracle.requests.filter((_, i) => pred(i)).map((r) => `${r.method} ${r.uri}`);
    await setFilter(page, 'status:404');
    assert.deepEqual(await visibleUrls(page), expectVisible((i) => oracle.responses[i]?.code === 404));
    await setFilter(page, 'status:4xx');
    assert.deepEqual(await visibleUrls(page), expectVisible((i) => String(oracle.responses[i]?.code).startsWith('4')));
    await setFilter(page, 'POST');
    assert.deepEqual(await visibleUrls(page), expectVisible((i) => oracle.requests[i]?.method === 'POST'));
    await setFilter(page, 'method:get url:/data');
    assert.deepEqual(await visibleUrls(page), expectVisible((i) => oracle.requests[i]?.method === 'GET' && (oracle.requests[i]?.uri ?? '').includes('/data')));
    assert.match(await page.textContent('#shown') ?? '', /^1 of 7 exchanges match/);
    await setFilter(page, '');
    assert.equal((await visibleUrls(page)).length, oracle.requests.length);

    // every text WebSocket message tshark sees is in the WebSocket panel
    const wsTexts = await page.$$eval('#ws-messages td.preview', (tds) => tds.map((td) => td.textContent));
    for (const t of oracle.wsTexts) assert.ok(wsTexts.includes(t), `WebSocket message ${t}`);
    assert.equal(await page.textContent('#c-requests'), String(oracle.requests.length));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    assert.equal(await serve.stop(), 0);
  }
});

/** A 1x1 PNG (red), made here so its bytes are known. */
function tinyPng(): Buffer {
  return Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');
}

test('live: capture -i lo | serve, the open page fills by itself as traffic happens', { skip: liveSkip, timeout: 60_000 }, async () => {
  // the application: a Node HTTP server with a WebSocket echo, on 127.0.0.1
  const app = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      if (req.url === '/pixel.png') {
        res.writeHead(200, { 'Content-Type': 'image/png' });
        res.end(tinyPng());
      } else if (req.method === 'POST') {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ stored: JSON.parse(body) }));
      } else if (req.url === '/teapot') {
        res.writeHead(418, { 'Content-Type': 'text/plain' });
        res.end('short and stout\n');
      } else {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`live ${req.url}\n`);
      }
    });
  });
  const wss = new WebSocketServer({ server: app, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`echo: ${d.toString()}`)));
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const port = (app.address() as AddressInfo).port;

  // No --immediate: with it and the default 256 KiB snaplen the kernel ring holds only a few frames, and
  // a busy machine (Chromium, 2 cores) dropped packets in the kernel. Blocks (≤ 1 s latency) and 16 MiB don't.
  const capture = spawn(process.execPath, [PCAP_PIPE, 'capture', '-i', 'lo', '-B', '16', '-w', '-', `tcp port ${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let capErr = '';
  await new Promise<void>((resolve, reject) => {
    capture.stderr.on('data', (d: Buffer) => { capErr += d.toString(); if (capErr.includes('listening on')) resolve(); });
    capture.on('exit', () => reject(new Error(`capture exited: ${capErr}`)));
  });
  const captureExited = new Promise((resolve) => capture.once('exit', resolve));
  const stopCapture = async (): Promise<void> => {
    if (capture.exitCode === null && capture.signalCode === null) capture.kill('SIGINT');
    await captureExited;
  };
  let serve: ServeChild | undefined;
  const browser = await launch();
  try {
    // what serve reads, kept for a look when something goes wrong
    capture.stdout.pipe(fs.createWriteStream(path.join(ARTIFACTS, 'web-live.pcap')));
    serve = await startServe(capture.stdout);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors = pageErrors(page);
    await page.goto(serve.url);
    await page.waitForSelector('#status-dot.live');
    assert.equal(await page.$$eval('#rows tr', (t) => t.length), 0, 'nothing yet');

    // the traffic, while the page is open
    const request = (method: string, p: string, body?: string): Promise<{ status: number; body: Buffer }> => new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: p, method, agent: false, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end(body);
    });
    const sent: [string, string, number][] = [];
    for (const [method, p, body] of [['GET', '/live/one'], ['POST', '/live/items', '{"name":"widget","n":3}'], ['GET', '/teapot'], ['GET', '/pixel.png']] as [string, string, string?][]) {
      const r = await request(method, p, body);
      sent.push([method, p, r.status]);
    }
    const ws = new WebSocket(`ws://127.0.0.1:${port}/live-socket`, { perMessageDeflate: false });
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send('hello from the live test');
    const echo = await new Promise<string>((resolve) => ws.on('message', (d) => resolve(d.toString())));
    assert.equal(echo, 'echo: hello from the live test');
    ws.close();

    // rows appear by themselves, with what the client saw
    try {
      await page.waitForFunction((n) => Array.from(document.querySelectorAll('#rows tr td.c-status')).filter((td) => /^\d/.test(td.textContent ?? '')).length >= n, sent.length + 1, { timeout: 15_000, polling: 100 });
    } catch (e) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-live-failed.png') });
      await stopCapture();
      throw new Error(`${(e as Error).message}; rows: ${JSON.stringify(await tableRows(page))}; serve: ${serve.stderr()}; capture: ${capErr}`);
    }
    const rows = await tableRows(page);
    assert.deepEqual(rows.slice(0, sent.length).map((r) => [r.method, r.url, Number(r.status.split(' ')[0])]), sent);
    assert.deepEqual([rows[sent.length]?.method, rows[sent.length]?.url, rows[sent.length]?.status.split(' ')[0]], ['GET', '/live-socket', '101']);
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#ws-messages td.preview')).some((td) => td.textContent === 'echo: hello from the live test'), undefined, { timeout: 10_000, polling: 100 });
    const wsTexts = await page.$$eval('#ws-messages td.preview', (tds) => tds.map((td) => td.textContent));
    assert.ok(wsTexts.includes('hello from the live test'));

    // the image body is shown as an image
    await page.click(`#rows tr:nth-child(${sent.findIndex(([, p]) => p === '/pixel.png') + 1})`);
    await page.waitForSelector('#detail-body img.body');
    await page.waitForFunction(() => document.querySelector('#detail-body img.body')?.naturalWidth === 1, undefined, { polling: 100 });
    // the POST body, pretty-printed JSON both ways
    await page.click(`#rows tr:nth-child(${sent.findIndex(([m]) => m === 'POST') + 1})`);
    await page.waitForFunction(() => document.querySelectorAll('#detail-body pre.json').length === 2, undefined, { polling: 100 });
    const json = await page.$$eval('#detail-body pre.json', (pres) => pres.map((p) => JSON.parse(p.textContent ?? '')));
    assert.deepEqual(json, [{ name: 'widget', n: 3 }, { stored: { name: 'widget', n: 3 } }]);
    // pause: new rows wait; resume: they show
    await page.click('#pause');
    assert.equal(await page.textContent('#pause'), 'Resume');
    const before = (await tableRows(page)).length;
    assert.equal((await request('GET', '/after-pause')).status, 200);
    await page.waitForFunction(() => /updates waiting/.test(document.querySelector('#paused-note')?.textContent ?? ''), undefined, { timeout: 10_000, polling: 100 });
    assert.equal((await tableRows(page)).length, before, 'no new row while paused');
    await page.click('#pause');
    await page.waitForFunction((n) => document.querySelectorAll('#rows tr').length === n, before + 1, { timeout: 10_000, polling: 100 });
    assert.deepEqual((await tableRows(page)).slice(-1).map((r) => r.url), ['/after-pause']);
    // the counters moved
    assert.notEqual(await page.textContent('#c-packets'), '0');
    assert.match(await page.textContent('#c-conns') ?? '', /^\d+ \/ [1-9]/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-live.png') });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await stopCapture();
    if (serve) assert.equal(await serve.stop(), 0);
    wss.close();
    await new Promise((resolve) => app.close(resolve));
  }
});

test('a page from another origin cannot open the WebSocket; the page\'s own origin can', { skip: browserSkip, timeout: 60_000 }, async () => {
  const fd = fs.openSync(SAMPLE, 'r');
  const serve = await startServe(fd);
  fs.closeSync(fd);
  const wsUrl = `ws://${new URL(serve.url).host}/ws`;
  // another local site: a page that tries to read the capture
  const other = http.createServer((_req, res) => { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end('<!doctype html><title>other</title>'); });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`;
  const browser = await launch();
  /** Runs in the page: the browser's own WebSocket, so the browser sets the Origin. */
  const attempt = (url: string): string => `new Promise((resolve) => {
    const ws = new globalThis.WebSocket(${JSON.stringify(url)});
    ws.onopen = () => { ws.close(); resolve('open'); };
    ws.onerror = () => resolve('error');
  })`;
  try {
    const page = await browser.newPage();
    await page.goto(otherUrl);
    assert.equal(await page.evaluate(attempt(wsUrl)), 'error');
    await page.goto(serve.url);
    assert.equal(await page.evaluate(attempt(wsUrl)), 'open');
  } finally {
    await browser.close();
    await new Promise((resolve) => other.close(resolve));
    assert.equal(await serve.stop(), 0);
  }
});
