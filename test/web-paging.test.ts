/**
 * The web view's table over a whole file (lib/web/model.ts rowRange, the two tiers of rows and details,
 * streams/web-spill.ts): any stretch of the rows, filtered or not; rows kept while their headers and bodies
 * leave memory for the spill file (and come back from it); a late response for an exchange that left
 * memory; the caps counted; updates bounded. The browser side is test/web-large.test.ts.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MAX_UPDATE_ROWS, WebModel, parseRowFilter, rowMatches, type ExchangeRow, type WebHttpEvent } from '../lib/web/model.js';
import type { HttpRequestEvent, HttpResponseEvent } from '../lib/http/events.js';
import { TempFileDetailStore } from '../streams/web-spill.js';

const CONN = { connection: 1, client: '127.0.0.1:5000', server: '127.0.0.1:80' };

function request(index: number, method = 'GET', connection = 1): WebHttpEvent {
  const sec = 1000 + index;
  const body = method === 'POST' ? Buffer.from(`body of ${index}`) : undefined;
  const ev: HttpRequestEvent = {
    type: 'request', ts: sec.toFixed(9), frame: index, from: 'client', method, url: `/r/${index}`, version: 'HTTP/1.1',
    headers: [['Host', `h${index % 3}.test`]], index, bodyLength: body?.length ?? 0, decodedLength: body?.length ?? 0,
    startTs: sec.toFixed(9), startFrame: index,
  };
  if (body) ev.body = body;
  return { ...ev, ...CONN, connection };
}

function response(index: number, status: number, connection = 1): WebHttpEvent {
  const sec = 1000 + index;
  const body = Buffer.from(`response ${index}`);
  const ev: HttpResponseEvent = {
    type: 'response', ts: (sec + 0.1).toFixed(9), frame: index, from: 'server', status, reason: 'R', version: 'HTTP/1.1',
    headers: [['Content-Type', 'text/plain']], request: { method: 'GET', url: `/r/${index}`, index },
    bodyLength: body.length, decodedLength: body.length, startTs: (sec + 0.05).toFixed(9), startFrame: index, body,
    timing: { requestStart: sec, requestSent: sec, firstByte: sec + 0.05, complete: sec + 0.1, wait: 0.05, transfer: 0.05, total: 0.1 },
  };
  return { ...ev, ...CONN, connection };
}

/** n exchanges, each on its own connection index: every 10th a POST, status 404 every 7th. */
function fill(m: WebModel, n: number): void {
  for (let i = 1; i <= n; i++) {
    m.event(request(i, i % 10 === 0 ? 'POST' : 'GET', i));
    m.event(response(i, i % 7 === 0 ? 404 : 200, i));
  }
}

test('rowRange: any stretch of the rows, and of the rows a filter matches, with the totals', () => {
  const m = new WebModel({ maxRows: 100_000 });
  fill(m, 5000);
  const all = m.rowRange(0, 3);
  assert.equal(all.total, 5000);
  assert.deepEqual(all.rows.map((r) => r.url), ['/r/1', '/r/2', '/r/3']);
  assert.deepEqual(m.rowRange(4998, 10).rows.map((r) => r.id), [4999, 5000]);
  assert.deepEqual(m.rowRange(6000, 10).rows, []);
  assert.equal(m.rowRange(0, 1_000_000).rows.length, 1000, 'one answer carries MAX_ROW_RANGE rows at most');
  // filtered: the same answer as filtering every row by hand
  const every: ExchangeRow[] = [];
  for (let from = 0; from < 5000; from += 1000) every.push(...m.rowRange(from, 1000).rows);
  for (const filter of ['method:POST', 'status:4xx', 'h1.test', 'post status:404', 'url:/r/49']) {
    const want = every.filter((r) => rowMatches(r, parseRowFilter(filter))).map((r) => r.id);
    assert.ok(want.length > 0, filter);
    const first = m.rowRange(0, 1000, filter);
    assert.equal(first.total, want.length, filter);
    assert.deepEqual(first.rows.map((r) => r.id), want.slice(0, 1000), filter);
    const tail = m.rowRange(want.length - 2, 5, filter);
    assert.deepEqual(tail.rows.map((r) => r.id), want.slice(-2), filter);
  }
  assert.equal(m.rowRange(0, 10, 'method:post status:404').total, 5000 / 70 | 0);
  // a change to a row changes what a filter matches
  m.event(request(5001, 'GET', 5001));
  assert.equal(m.rowRange(0, 10, 'status:pending').total, 1);
  m.event(response(5001, 503, 5001));
  assert.equal(m.rowRange(0, 10, 'status:pending').total, 0);
  assert.deepEqual(m.rowRange(0, 10, 'status:503').rows.map((r) => r.id), [5001]);
});

test('rows outlive their details: the oldest details leave memory, spill to the store, and come back', () => {
  const store = new TempFileDetailStore();
  try {
    const m = new WebModel({ maxRows: 100_000, maxDetailRows: 50 }, store);
    fill(m, 3000);
    assert.equal(m.rowCount, 3000);
    assert.equal(m.detailCount, 50);
    const s = m.snapshot(10);
    assert.equal(s.rowsKept, 3000);
    assert.equal(s.firstRowId, 1);
    assert.deepEqual(s.rows.map((r) => r.id), Array.from({ length: 10 }, (_, i) => 2991 + i), 'the snapshot carries the newest rows asked for');
    assert.equal(s.dropped.rows, 0);
    assert.equal(s.dropped.details, 0);
    for (const id of [1, 10, 1234, 2950, 3000]) {
      const d = m.detail(id);
      assert.equal(d?.detailDropped, undefined, `detail ${id}`);
      assert.equal(d?.row.url, `/r/${id}`);
      assert.equal(Buffer.from(d?.response?.body ?? '', 'base64').toString(), `response ${id}`);
      assert.deepEqual(d?.request?.headers, [['Host', `h${id % 3}.test`]]);
      if (id % 10 === 0) assert.equal(Buffer.from(d?.request?.body ?? '', 'base64').toString(), `body of ${id}`);
    }
    assert.ok(store.bytes > 0);
    // held body bytes count only what is in memory
    assert.ok(m.heldBodyBytes <= 50 * 2 * 20, `held ${m.heldBodyBytes}`);
  } finally {
    store.close();
  }
});

test('a response to a request whose detail already left memory completes its row and its stored detail', () => {
  const store = new TempFileDetailStore();
  try {
    const m = new WebModel({ maxRows: 1000, maxDetailRows: 5 }, store);
    m.event(request(1, 'GET', 1));
    for (let i = 2; i <= 20; i++) { m.event(request(i, 'GET', i)); m.event(response(i, 200, i)); }
    assert.equal(m.detail(1)?.response, undefined, 'stored while still waiting');
    m.event(response(1, 201, 1));
    assert.equal(m.rowCount, 20, 'no orphan row: the response found its request');
    const d = m.detail(1);
    assert.equal(d?.row.status, 201);
    assert.equal(d?.response?.status, 201);
    assert.equal(Buffer.from(d?.response?.body ?? '', 'base64').toString(), 'response 1');
  } finally {
    store.close();
  }
});

test('without a store, details that leave memory are counted and the row says so; rows beyond maxRows drop', () => {
  const m = new WebModel({ maxRows: 40, maxDetailRows: 10 });
  fill(m, 100);
  const s = m.snapshot();
  assert.equal(s.rowsKept, 40);
  assert.equal(s.firstRowId, 61);
  assert.equal(s.rowsTotal, 100);
  assert.equal(s.dropped.rows, 60);
  assert.equal(s.dropped.details, 90, 'every exchange that left memory (those of dropped rows too) is counted once');
  assert.deepEqual(m.detail(61), { id: 61, row: s.rows[0], detailDropped: true });
  assert.equal(m.detail(95)?.detailDropped, undefined);
  assert.equal(m.detail(60), undefined, 'a dropped row has no detail at all');
  assert.deepEqual(m.rowRange(0, 2).rows.map((r) => r.id), [61, 62]);
});

test('the spill store is bounded: past maxBytes it refuses, and the model counts what it could not keep', () => {
  const store = new TempFileDetailStore(4096);
  try {
    const m = new WebModel({ maxRows: 1000, maxDetailRows: 2 }, store);
    fill(m, 200);
    assert.ok(store.bytes <= 4096, `${store.bytes} bytes`);
    const s = m.snapshot();
    assert.ok(s.dropped.details > 100, `${s.dropped.details} not kept`);
    assert.equal(m.detail(2)?.detailDropped, undefined, 'the first ones fit');
    assert.equal(m.detail(150)?.detailDropped, true);
    assert.equal(m.detail(200)?.detailDropped, undefined, 'the newest are in memory');
  } finally {
    store.close();
  }
  assert.equal(store.get(1), undefined, 'closed: nothing comes back');
  assert.equal(store.put(1, { id: 1 } as never), false);
});

test('an update carries at most MAX_UPDATE_ROWS changed rows, the newest, and says when it cut', () => {
  const m = new WebModel({ maxRows: 100_000 });
  fill(m, MAX_UPDATE_ROWS + 123);
  const u = m.takeUpdate();
  assert.equal(u?.rowsTruncated, true);
  assert.equal(u?.rows.length, MAX_UPDATE_ROWS);
  assert.equal(u?.rows[u.rows.length - 1]?.id, MAX_UPDATE_ROWS + 123);
  assert.equal(u?.rowsKept, MAX_UPDATE_ROWS + 123);
  m.event(request(9999, 'GET', 9999));
  const v = m.takeUpdate();
  assert.equal(v?.rowsTruncated, false);
  assert.deepEqual(v?.rows.map((r) => r.url), ['/r/9999']);
});
