/**
 * The web view fed from published events (lib/web/published.ts, `pcap-pipe serve --from`): the events
 * http_trace --json prints, turned back into parser events, give the model the same table as the capture
 * itself (only the row times differ: the request's `ts` instead of its first byte); two sensors with the
 * same connection numbers stay apart; a sensor that starts again is noticed; malformed events are counted;
 * rows carry their sensor and the filter's `sensor:` word selects them.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT, fixture } from './helpers/oracle';
import { readCaptureFile } from '../streams/read';
import { httpEvents } from '../streams/trace';
import { WebModel, parseRowFilter, rowMatches, type ExchangeRow, type WebModelEvent } from '../lib/web/model';
import { PublishedEventAdapter } from '../lib/web/published';

const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const BIN = path.join(REPO_ROOT, 'dist', 'bin');

function published(file: string, extra: string[] = []): Record<string, unknown>[] {
  const r = spawnSync(process.execPath, [path.join(BIN, 'http_trace.js'), '-r', file, '--json', '--tcp-verbose', ...extra], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function localModel(file: string): Promise<WebModel> {
  const model = new WebModel({ maxRows: 100_000 });
  // HTTP/2 events are not in these captures (and the model ignores them)
  for await (const ev of httpEvents(readCaptureFile(file))) model.event(ev as WebModelEvent);
  return model;
}

/** A row without what legitimately differs (id, time, sensor). */
function comparable(row: ExchangeRow): Omit<ExchangeRow, 'id' | 'time' | 'sensor' | 'connection'> {
  const { id: _i, time: _t, sensor: _s, connection: _c, ...rest } = row;
  return rest;
}

const rowsOf = (m: WebModel): ExchangeRow[] => m.rowRange(0, 1000).rows;

for (const file of [SAMPLE, fixture('http-pipelined-gzip.pcap'), fixture('http-post-chunked-retrans.pcap'), fixture('http-keepalive-304.pcap')]) {
  test(`published events of ${path.basename(file)} make the table the capture makes`, async () => {
    const local = await localModel(file);
    const model = new WebModel({ maxRows: 100_000 });
    const adapter = new PublishedEventAdapter();
    for (const ev of published(file, ['--bodies'])) {
      const a = adapter.adapt('s1', { ...ev, sensor: 's1' });
      if (a) model.event(a.event, a.sensor);
    }
    const want = rowsOf(local);
    const got = rowsOf(model);
    assert.ok(want.length > 0);
    assert.deepEqual(got.map(comparable), want.map(comparable));
    assert.ok(got.every((r) => r.sensor === 's1'));
    assert.equal(adapter.counts.malformed, 0);
    assert.ok(adapter.counts.adapted > 0);
    // the bodies the detail view shows are the capture's
    for (const r of want) {
      const [a, b] = [local.detail(r.id), model.detail(got[want.indexOf(r)]!.id)];
      assert.equal(b?.response?.body, a?.response?.body, `body of row ${r.id}`);
      assert.deepEqual(b?.request?.headers, a?.request?.headers);
    }
    assert.equal(model.snapshot().sensors, true);
    assert.equal(local.snapshot().sensors, false);
  });
}

test('two sensors with the same connection numbers stay apart; sensor: filters them', () => {
  const events = published(SAMPLE);
  const model = new WebModel({ maxRows: 100_000 });
  const adapter = new PublishedEventAdapter();
  // interleaved, as two publishers' entries are in one stream
  for (let i = 0; i < events.length; i++) {
    for (const s of ['edge-a', 'edge-b']) {
      const a = adapter.adapt(s, events[i]!);
      if (a) model.event(a.event, a.sensor);
    }
  }
  const requests = events.filter((e) => e.type === 'request').length;
  const all = model.rowRange(0, 1000);
  assert.equal(all.total, 2 * requests);
  assert.ok(all.rows.every((r) => r.status !== null), 'every response found its own sensor\'s request');
  for (const s of ['edge-a', 'edge-b']) {
    const mine = model.rowRange(0, 1000, `sensor:${s}`);
    assert.equal(mine.total, requests, s);
    assert.ok(mine.rows.every((r) => r.sensor === s));
  }
  assert.equal(model.rowRange(0, 1000, 'sensor:edge').total, 2 * requests);
  assert.equal(model.rowRange(0, 1000, 'edge-b').total, requests, 'free text matches the sensor too');
  assert.equal(model.rowRange(0, 1000, 'sensor:nobody').total, 0);
  assert.ok(!rowMatches({ method: 'GET', host: 'h', url: '/', status: 200, client: 'c', server: 's' }, parseRowFilter('sensor:x')), 'a row without sensor');
});

test('a sensor that starts again (connection numbers from 0) is noticed; the oldest connections are forgotten past the bound', () => {
  // without TCP events (no `end` to forget a connection by): only the request index going back tells
  const events = published(fixture('http-keepalive-304.pcap')).filter((e) => e.type === 'request' || e.type === 'response');
  const model = new WebModel({ maxRows: 100_000 });
  const adapter = new PublishedEventAdapter();
  const small = new PublishedEventAdapter(2);
  for (let round = 0; round < 2; round++) {
    for (const ev of events) {
      const a = adapter.adapt('s', ev);
      if (a) model.event(a.event, a.sensor);
      small.adapt('s', ev);
      assert.ok(small.connectionCount <= 2);
    }
  }
  const requests = events.filter((e) => e.type === 'request').length;
  const rows = model.rowRange(0, 1000).rows;
  assert.equal(rows.length, 2 * requests);
  assert.ok(rows.every((r) => r.status !== null && r.method !== null), 'each response with its own request');
  assert.equal(new Set(rows.map((r) => r.connection)).size, 2 * new Set(events.map((e) => e.connection)).size, 'the second run got connections of its own');
});

test('malformed and foreign events are counted, never thrown; kinds the page does not show are skipped', () => {
  const adapter = new PublishedEventAdapter();
  const [req] = published(SAMPLE).filter((e) => e.type === 'request');
  assert.ok(req);
  for (const bad of [
    { ...req, ts: 5 }, { ...req, connection: -1 }, { ...req, headers: [['a']] }, { ...req, method: 1 },
    { ...req, bodyLength: 'x' }, { type: 'response', ts: '1.0', frame: 1, connection: 0, client: 'a', server: 'b', status: 200, reason: 'OK', version: 'HTTP/1.1', headers: [], bodyLength: 0, decodedLength: 0, timing: { firstByte: 'x' } },
    { type: 'mystery' }, {},
  ]) assert.equal(adapter.adapt('s', bad as Record<string, unknown>), null, JSON.stringify(bad).slice(0, 100));
  assert.equal(adapter.counts.malformed, 8);
  assert.equal(adapter.adapt('s', { type: 'tls-connection' }), null);
  assert.equal(adapter.adapt('s', { frame: 3, match: 'GET' }), null);
  assert.equal(adapter.counts.skipped, 2);
  const ok = adapter.adapt('', { ...req, sensor: 'from-event' });
  assert.equal(ok?.sensor, 'from-event', 'an entry without a sensor field takes the event\'s');
  assert.equal(adapter.counts.adapted, 1);
});
