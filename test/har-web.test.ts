/**
 * The web view's waterfall and "Download HAR", in headless Chromium on `pcap-pipe serve` fed
 * samples/http-sample.pcap:
 * - one waterfall row per exchange tshark sees, grouped by TCP connection (tshark's tcp.stream), groups in
 *   the order the connections started and rows in start order; every row has its send, wait and receive
 *   bars one after another on the shared time axis, and a connection's first exchange its connect bar;
 * - the filter box narrows the waterfall and the downloaded HAR to the same exchanges (status:4xx: tshark's
 *   4xx responses), and the download passes the HAR 1.2 schema.
 * A screenshot goes to test-artifacts/waterfall-sample.png.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { REPO_ROOT } from './helpers/oracle';
import { schemaErrors, specProblems, tsharkRows } from './har-helpers';
import { SAMPLE, startServe, tsharkAvailable } from './web-test-helpers';
import type { HarLog } from '../lib/har/types';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const skip = !fs.existsSync(CHROMIUM) ? `${CHROMIUM} not installed` : !tsharkAvailable() ? 'tshark not installed' : false;

interface Seg { phase: string; left: number; right: number }
interface WfRow { connection: string; start: number; label: string; segs: Seg[] }

/** The little of the DOM the page functions use (tsconfig has no "dom" lib). */
interface Rect { left: number; right: number }
interface Node { dataset: Record<string, string>; textContent: string | null; querySelectorAll(s: string): ArrayLike<Node>; getBoundingClientRect(): Rect }
declare const document: { querySelectorAll(s: string): ArrayLike<Node> };

async function waterfallRows(page: Page): Promise<WfRow[]> {
  return page.evaluate(() => Array.from(document.querySelectorAll('#wf-rows .wf-row')).map((row) => ({
    connection: row.dataset.connection ?? '',
    start: Number(row.dataset.start),
    label: `${row.querySelectorAll('.wf-method')[0]?.textContent ?? ''} ${row.querySelectorAll('.wf-path')[0]?.textContent ?? ''}`,
    segs: Array.from(row.querySelectorAll('.wf-seg')).map((s) => {
      const r = s.getBoundingClientRect();
      return { phase: s.dataset.phase ?? '', left: r.left, right: r.right };
    }),
  })));
}

async function waitRows(page: Page, n: number): Promise<void> {
  await page.waitForFunction((count) => document.querySelectorAll('#wf-rows .wf-row').length === count, n, { polling: 100, timeout: 20_000 });
}

test('waterfall: bars per exchange, grouped by connection, in order; Download HAR for the filter', { skip, timeout: 90_000 }, async () => {
  const requests = tsharkRows(SAMPLE, 'http.request', ['tcp.stream', 'http.request.method', 'http.request.uri']);
  const fourxx = tsharkRows(SAMPLE, 'http.response.code >= 400 && http.response.code < 500', ['http.response.code']);
  const fd = fs.openSync(SAMPLE, 'r');
  const serve = await startServe(fd);
  fs.closeSync(fd);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(serve.url);
    await page.click('#wf-toggle');
    await waitRows(page, requests.length);
    const rows = await waterfallRows(page);

    // grouped by connection: tshark's streams, each group contiguous, groups in start order
    const streams = [...new Set(requests.map((r) => r[0]))];
    const groupOrder = rows.map((r) => r.connection).filter((c, i, a) => a.indexOf(c) === i);
    assert.deepEqual([...groupOrder].sort(), [...streams].sort());
    for (const c of groupOrder) {
      const at = rows.map((r, i) => (r.connection === c ? i : -1)).filter((i) => i >= 0);
      assert.equal(at[at.length - 1]! - at[0]! + 1, at.length, `connection ${c} contiguous`);
      for (let i = 1; i < at.length; i++) assert.ok(rows[at[i]!]!.start >= rows[at[i - 1]!]!.start, 'rows in start order');
    }
    const firstStarts = groupOrder.map((c) => rows.find((r) => r.connection === c)!.start);
    assert.deepEqual(firstStarts, [...firstStarts].sort((a, b) => a - b), 'groups in the order the connections started');
    // the labels are tshark's methods and URIs
    assert.deepEqual(rows.map((r) => r.label).sort(), requests.map(([, m, u]) => `${m} ${u}`).sort());

    // bars: send, wait, receive one after another; connect first on a connection's first exchange
    for (const r of rows) {
      const phases = r.segs.map((s) => s.phase);
      for (const p of ['send', 'wait', 'receive']) assert.ok(phases.includes(p), `${r.label}: ${p} bar`);
      for (let i = 1; i < r.segs.length; i++) assert.ok(r.segs[i]!.left >= r.segs[i - 1]!.left - 0.5, `${r.label}: ${phases.join(',')} in order`);
    }
    for (const c of groupOrder) assert.equal(rows.find((r) => r.connection === c)!.segs[0]!.phase, 'connect', `connection ${c} starts with its handshake`);
    // one time axis: a later start is further right
    const sorted = [...rows].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i]!.segs[0]!.left >= sorted[i - 1]!.segs[0]!.left - 0.5);
    assert.ok(sorted[sorted.length - 1]!.segs[0]!.left > sorted[0]!.segs[0]!.left + 50, 'spread over the axis');

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'waterfall-sample.png') });

    // the filter narrows the waterfall, and the download is the same exchanges
    await page.fill('#filter', 'status:4xx');
    await waitRows(page, fourxx.length);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#har-download')]);
    const file = await download.path();
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as HarLog;
    assert.equal(schemaErrors(doc), '');
    assert.deepEqual(specProblems(doc), []);
    assert.deepEqual(doc.log.entries.map((e) => e.response.status).sort(), fourxx.map(([c]) => Number(c)).sort());
    assert.ok(doc.log.entries.every((e) => e.response.content.text !== undefined || e.response.content.size === 0), 'the download has the bodies');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await browser.close();
    await serve.stop();
  }
});
