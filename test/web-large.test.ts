/**
 * The web view shows a whole file (issue: it used to keep only the newest 2,000 exchanges). The capture is
 * made here from a real exchange: the keep-alive connection of samples/http-sample.pcap (6 requests made by
 * a real client and server on 127.0.0.1) copied 8,334 times with its client port rewritten (10000 + copy,
 * checksums fixed) and its time shifted, written with the project's own pcap writer: 50,004 exchanges.
 *
 * `pcap-pipe serve FILE` in headless Chromium: the page says 50,004 exchanges and nothing dropped; scrolled
 * to the first row, the middle and the last, it shows the right copy of the right request at each; the
 * first exchange's headers and body (long gone from memory: spilled to the temp file) still open; the
 * filter works over the whole file.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { PcapWriter } from '../lib/formats/pcap';
import type { PacketRecord } from '../lib/core/record';
import { REPO_ROOT } from './helpers/oracle.js';
import { SAMPLE, startServe } from './web-test-helpers.js';

interface PageElement { textContent: string | null; scrollTop: number; scrollHeight: number; dataset: Record<string, string | undefined> }
declare const document: { querySelectorAll(sel: string): ArrayLike<PageElement & { querySelectorAll(sel: string): ArrayLike<PageElement> }>; querySelector(sel: string): PageElement | null };

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const skip = !fs.existsSync(CHROMIUM) ? `${CHROMIUM} not installed` : false;
const COPIES = 8334;
const FIRST_PORT = 10000;
/** The requests of the copied connection, in order (what http_trace prints for samples/http-sample.pcap). */
const REQUESTS = ['GET /', 'GET /data.json', 'GET /stream', 'POST /api/items', 'GET /missing', 'HEAD /'];
const EXCHANGES = COPIES * REQUESTS.length;

/** RFC 1624: the Internet checksum after one 16-bit word changed from `old` to `now`. */
function adjustChecksum(sum: number, old: number, now: number): number {
  let s = (~sum & 0xffff) + (~old & 0xffff) + now;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Where the TCP header of an Ethernet/IPv4 frame starts, or -1. */
function tcpOffset(frame: Buffer): number {
  if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800 || frame[23] !== 6) return -1;
  return 14 + ((frame[14] as number) & 0x0f) * 4;
}

/** The large capture, written to `file`; returns its size in bytes. */
function writeLargeCapture(file: string): number {
  const records = parseCaptureBuffer(fs.readFileSync(SAMPLE));
  // The first connection's client port: the source port of the first SYN.
  const syn = records.find((r) => { const t = tcpOffset(r.data); return t > 0 && ((r.data[t + 13] as number) & 0x12) === 0x02; }) as PacketRecord;
  const clientPort = syn.data.readUInt16BE(tcpOffset(syn.data));
  const conn = records.filter((r) => { const t = tcpOffset(r.data); return t > 0 && (r.data.readUInt16BE(t) === clientPort || r.data.readUInt16BE(t + 2) === clientPort); });
  const writer = new PcapWriter({ nanosecond: true });
  const out = fs.openSync(file, 'w');
  let size = 0;
  const put = (b: Buffer): void => { fs.writeSync(out, b); size += b.length; };
  put(writer.fileHeader(syn.linkType));
  const chunk: Buffer[] = [];
  for (let k = 0; k < COPIES; k++) {
    const port = FIRST_PORT + k;
    const shiftNs = k * 50_000_000; // 50 ms apart: the connection lasts ~48 ms
    for (const r of conn) {
      const data = Buffer.from(r.data);
      const t = tcpOffset(data);
      for (const at of [t, t + 2]) {
        if (data.readUInt16BE(at) !== clientPort) continue;
        data.writeUInt16BE(port, at);
        data.writeUInt16BE(adjustChecksum(data.readUInt16BE(t + 16), clientPort, port), t + 16);
      }
      const ns = r.tsNsec + shiftNs;
      const rec: PacketRecord = { ...r, data, tsSec: r.tsSec + Math.floor(ns / 1e9), tsNsec: ns % 1e9, nanoPrecision: true };
      chunk.push(writer.record(rec));
    }
    if (chunk.length > 4096 || k === COPIES - 1) {
      put(Buffer.concat(chunk));
      chunk.length = 0;
    }
  }
  fs.closeSync(out);
  return size;
}

interface ShownRow { id: string | undefined; client: string; method: string; url: string; status: string }

async function shownRows(page: Page): Promise<ShownRow[]> {
  return page.$$eval('#rows tr', (trs) => trs.map((tr) => {
    // cells by class, not position: a column added to the table (Sensor) must not shift what is read
    const cell = (sel: string): string => tr.querySelector(sel)?.textContent ?? '';
    return { id: (tr as unknown as PageElement).dataset.id, client: cell('td.c-client'), method: cell('td.method'), url: cell('td.url'), status: cell('td.c-status') };
  }));
}

/** Scrolls the table so that row `index` (0-based) is in view and waits until the rows there are loaded. */
async function scrollToRow(page: Page, index: number): Promise<ShownRow[]> {
  await page.evaluate((i) => {
    const wrap = document.querySelector('#table-wrap') as PageElement;
    const h = (document.querySelector('#rows tr') as unknown as { getBoundingClientRect(): { height: number } }).getBoundingClientRect().height;
    wrap.scrollTop = i * h;
  }, index);
  // The scroll is handled on a later frame: until then the rows of the old position are still shown and
  // 'ready', so wait for the row asked for itself, loaded (a placeholder has no data-id).
  await page.waitForFunction((id) => {
    const wrap = document.querySelector('#table-wrap') as PageElement;
    return wrap.dataset.state === 'ready' && document.querySelectorAll('#rows tr.placeholder').length === 0
      && document.querySelector(`#rows tr[data-id="${id}"]`) !== null;
  }, index + 1, { polling: 100, timeout: 30_000 });
  return shownRows(page);
}

/** What row `index` must show: copy index / 6 of the connection, request index % 6. */
function expected(index: number): { client: string; request: string } {
  return { client: `127.0.0.1:${FIRST_PORT + Math.floor(index / REQUESTS.length)}`, request: REQUESTS[index % REQUESTS.length] as string };
}

function rowAt(rows: ShownRow[], index: number): ShownRow | undefined {
  return rows.find((r) => r.id === String(index + 1));
}

test(`the web view of a file with ${EXCHANGES} exchanges keeps every one reachable: first, middle, last`, { skip, timeout: 400_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-web-large-'));
  const file = path.join(dir, 'large.pcap');
  const bytes = writeLargeCapture(file);
  t.diagnostic(`capture: ${bytes} bytes`);
  const serve = await startServe('ignore', [file]);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(serve.url);
    // The whole file is read: the page counts every exchange and says nothing was dropped.
    await page.waitForFunction((n) => document.querySelector('#shown')?.textContent === `${n} exchanges` && document.querySelector('#state-label')?.textContent === 'input ended', EXCHANGES, { polling: 250, timeout: 240_000 });
    assert.equal(await page.textContent('#dropped'), '');
    assert.equal(await page.textContent('#c-requests'), `${(EXCHANGES / 1000).toFixed(1)}k`);

    // The page opens at the end: the last exchange.
    const lastIndex = EXCHANGES - 1;
    let rows = await scrollToRow(page, lastIndex);
    let row = rowAt(rows, lastIndex);
    assert.deepEqual(row && { client: row.client, request: `${row.method} ${row.url}` }, expected(lastIndex));
    assert.match(row?.status ?? '', /^200/);

    // The first exchange, far above: still there, and its headers and body still open.
    rows = await scrollToRow(page, 0);
    row = rowAt(rows, 0);
    assert.deepEqual(row && { client: row.client, request: `${row.method} ${row.url}` }, expected(0));
    assert.ok(rows.length < 200, `only the rows in view are rendered (${rows.length})`);
    await page.click('#rows tr[data-id="1"]');
    await page.waitForFunction(() => document.querySelector('#detail-title')?.textContent?.includes('→'), undefined, { polling: 100 });
    const detail = await page.textContent('#detail-body');
    assert.match(detail ?? '', /Request · GET HTTP\/1\.1/);
    assert.match(detail ?? '', /Response · 200 OK/);
    assert.doesNotMatch(detail ?? '', /not kept/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-large-first.png') });

    // Somewhere in the middle: the right copy of the right request.
    for (const index of [25_000, 41_237]) {
      rows = await scrollToRow(page, index);
      row = rowAt(rows, index);
      assert.deepEqual(row && { client: row.client, request: `${row.method} ${row.url}` }, expected(index), `row ${index}`);
    }

    // The filter runs over the whole file: every POST, the last one at the end.
    await page.fill('#filter', 'method:POST');
    await page.waitForFunction((n) => document.querySelector('#shown')?.textContent === `${n} of ${n * 6} exchanges match` && (document.querySelector('#table-wrap') as PageElement).dataset.state === 'ready', COPIES, { polling: 100, timeout: 30_000 });
    rows = await shownRows(page);
    assert.ok(rows.every((r) => r.method === 'POST' && r.url === '/api/items'));
    assert.equal(rows[rows.length - 1]?.client, `127.0.0.1:${FIRST_PORT + COPIES - 1}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-large-filter.png') });
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    assert.equal(await serve.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
