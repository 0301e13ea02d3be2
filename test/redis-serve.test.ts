/**
 * `pcap-pipe serve --from redis://...` against a real redis-server on loopback: a view started before two
 * sensors (real http_trace --publish processes on two captures, --sensor a and b) shows every exchange of
 * both with its sensor, none lost or doubled, as the page's WebSocket API gives the rows; `sensor:NAME`
 * selects one sensor's; a second view started afterwards with --start 0 shows the same rows, and one with
 * the default start (`$`, from now on) none of them. The table each capture should give is what the web
 * model makes of the capture itself.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import { fixture, REPO_ROOT } from './helpers/oracle';
import { canonical, redisAvailable, RedisServer, runBin, waitUntil } from './helpers/redis';
import { startServe, type ServeChild } from './web-test-helpers';
import { readCaptureFile } from '../streams/read';
import { httpEvents } from '../streams/trace';
import { WebModel, type ExchangeRow, type RowRange, type WebModelEvent } from '../lib/web/model';

const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const OTHER = fixture('http-pipelined-gzip.pcap');
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const skip = !redisAvailable() && !inCi ? 'redis-server is not installed' : false;

/** What a row shows, without ids and times (and connection numbers, which the view assigns). */
function shown(row: ExchangeRow): string {
  const { id: _i, time: _t, connection: _c, ...rest } = row;
  return canonical(rest);
}

async function expectedRows(file: string, sensor: string): Promise<string[]> {
  const model = new WebModel({ maxRows: 100_000 });
  for await (const ev of httpEvents(readCaptureFile(file))) model.event(ev as WebModelEvent, sensor);
  return model.rowRange(0, 1000).rows.map(shown).sort();
}

/** A page of the view: asks for rows over its WebSocket, as the browser page does. */
class Page {
  private waiting: ((r: RowRange) => void) | undefined;
  snapshot: Record<string, unknown> | undefined;
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as { type: string } & Record<string, unknown>;
      if (m.type === 'snapshot') this.snapshot = m;
      if (m.type === 'rows' && this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(m as unknown as RowRange);
      }
    });
  }

  static async open(url: string): Promise<Page> {
    const u = new URL(url);
    const ws = new WebSocket(`ws://${u.host}/ws`, { origin: u.origin });
    const page = new Page(ws); // listening before the snapshot can arrive
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    await waitUntil('the snapshot', () => page.snapshot !== undefined);
    return page;
  }

  rows(filter = ''): Promise<RowRange> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.ws.send(JSON.stringify({ type: 'rows', from: 0, count: 1000, filter }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The rows once `n` are there and answered (no timing assertion: a generous bound against hanging). */
async function settledRows(page: Page, n: number, filter = ''): Promise<ExchangeRow[]> {
  let last: RowRange | undefined;
  await waitUntil(`${n} answered rows (have ${last?.total})`, async () => {
    last = await page.rows(filter);
    return last.total >= n && last.rows.every((r) => r.status !== null || r.state === 'incomplete');
  });
  // and no more come (a doubled entry would add a row): one more look after the stream is quiet
  await new Promise((r) => setTimeout(r, 500));
  return (await page.rows(filter)).rows;
}

test('serve --from: two sensors publishing two captures show in one view, every exchange once, with its sensor', { skip }, async () => {
  const redis = await RedisServer.start();
  const views: ServeChild[] = [];
  const pages: Page[] = [];
  try {
    const url = redis.url('{pcap}:events');
    const live = await startServe('ignore', ['--from', url]);
    views.push(live);
    const page = await Page.open(live.url);
    pages.push(page);
    const [a, b] = await Promise.all([
      runBin('http_trace.js', ['-r', SAMPLE, '--bodies', '--tcp-verbose', '--publish', url, '--sensor', 'edge-a']),
      runBin('http_trace.js', ['-r', OTHER, '--publish', url, '--sensor', 'edge-b']),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const wantA = await expectedRows(SAMPLE, 'edge-a');
    const wantB = await expectedRows(OTHER, 'edge-b');
    assert.ok(wantA.length >= 5 && wantB.length >= 3, `${wantA.length} ${wantB.length}`);

    const got = await settledRows(page, wantA.length + wantB.length);
    assert.deepEqual(got.map(shown).sort(), [...wantA, ...wantB].sort());
    assert.equal(page.snapshot?.sensors, false, 'nothing had arrived when the page connected');
    const onlyB = await page.rows('sensor:edge-b');
    assert.deepEqual(onlyB.rows.map(shown).sort(), wantB);

    // a view started now: --start 0 reads what the stream holds, the default only what comes next
    const history = await startServe('ignore', ['--from', url, '--start', '0']);
    views.push(history);
    const fresh = await startServe('ignore', ['--from', url]);
    views.push(fresh);
    const hp = await Page.open(history.url);
    const fp = await Page.open(fresh.url);
    pages.push(hp, fp);
    assert.deepEqual((await settledRows(hp, wantA.length + wantB.length)).map(shown).sort(), [...wantA, ...wantB].sort());
    assert.equal((await fp.rows()).total, 0);
    const again = await runBin('http_trace.js', ['-r', OTHER, '--publish', url, '--sensor', 'edge-c']);
    assert.equal(again.code, 0, again.stderr);
    const wantC = await expectedRows(OTHER, 'edge-c');
    assert.deepEqual((await settledRows(fp, wantC.length)).map(shown).sort(), wantC);
    assert.equal(fp.snapshot?.har, false);

    for (const p of pages) p.close();
    pages.length = 0;
    for (const v of views.splice(0)) {
      assert.equal(await v.stop(), 0, v.stderr());
      assert.match(v.stderr(), /read \d+ entries from redis:\/\/127\.0\.0\.1:\d+\/\{pcap\}:events: \d+ events shown, \d+ of kinds the page does not show\n$/);
    }
  } finally {
    for (const p of pages) p.close();
    for (const v of views) await v.stop();
    redis.stop();
  }
});

test('serve --from usage errors: a bad URL, a capture with it, a bad --start, --start without --from', () => {
  for (const [args, msg] of [
    [['--from', 'http://x/k'], /--from: .*scheme/],
    [['--from', 'redis://127.0.0.1/k', SAMPLE], /no capture FILE/],
    [['--from', 'redis://127.0.0.1/k', '--start', 'yesterday'], /--start needs/],
    [['--start', '0', SAMPLE], /--start needs --from/],
  ] as const) {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js'), 'serve', ...args], { encoding: 'utf8', input: '' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
});
