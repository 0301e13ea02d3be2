/**
 * `?cluster=1` against a real 3-master Redis Cluster on loopback (test/helpers/redis-cluster.ts). The URL
 * names the first node and the stream key is one whose slot another node serves, so every command really
 * goes through the slot map / MOVED (checked: the seed node itself answers MOVED for the key). Two sensors
 * (http_trace -r on the sample, pcap-pipe ws on a fixture) publish while two consumers of one group split
 * the stream: every event once over both, equal to the local --json output plus "sensor", all acknowledged,
 * and the entries are on the owning node. The web view (serve --from) of the same stream shows the
 * capture's table. Without ?cluster=1 the publisher gets MOVED, counts every event as refused, and says to
 * add the parameter. The node owning the key SIGKILLed mid-publish and restarted: the cluster client stays
 * ready (two masters answer), yet the publisher reports the outage, queues, drops and counts as for a lost
 * single server, and the consumer rides through. Conditions are waited for, never timed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, REPO_ROOT } from './helpers/oracle';
import { BIN, canonical, localEvents, redisAvailable, runBin, startConsumer, waitUntil, type Run } from './helpers/redis';
import { RedisCluster } from './helpers/redis-cluster';
import { isUnanswered } from '../lib/redis/errors';
import { movedHint, parseRedisStreamUrl, RedisUrlError } from '../lib/redis/url';
import { readCaptureFile } from '../streams/read';
import { httpEvents } from '../streams/trace';
import { startPublishedWebView } from '../streams/web-redis';
import { WebModel, type ExchangeRow, type WebModelEvent } from '../lib/web/model';

const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const WS = fixture('websocket-text-binary.pcap');
const inCi = process.env.CI === 'true' || process.env.CI === '1';
// Under CI a missing redis-server fails the tests (the cluster start throws), it does not skip them.
const skip = !redisAvailable() && !inCi ? 'redis-server is not installed' : false;

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
const sorted = (evs: unknown[]): string[] => evs.map(canonical).sort();

/** What a row shows, without ids, times and connection numbers (the view assigns those). */
function shown(row: ExchangeRow): string {
  const { id: _i, time: _t, connection: _c, ...rest } = row;
  return canonical(rest);
}

test('?cluster=1 in a stream URL: a cluster seed; only database 0; a MOVED error says to add it', () => {
  const t = parseRedisStreamUrl('redis://127.0.0.1:7001/{site1}:http?cluster=1');
  assert.deepEqual([t.host, t.port, t.key, t.cluster, t.display], ['127.0.0.1', 7001, '{site1}:http', true, 'redis://127.0.0.1:7001/{site1}:http?cluster=1']);
  assert.equal(parseRedisStreamUrl('redis://h/k').cluster, false);
  assert.equal(parseRedisStreamUrl('redis://h/k?cluster=0').cluster, false);
  for (const bad of ['redis://h/k?cluster=yes', 'redis://h/k?cluster=1&db=2']) assert.throws(() => parseRedisStreamUrl(bad), RedisUrlError, bad);
  assert.match(movedHint('MOVED 9189 127.0.0.1:7002'), /add \?cluster=1 to the URL/);
  assert.equal(movedHint('OOM command not allowed'), 'OOM command not allowed');
});

test('unanswered (send again) or refused (count it): what a failed command means', () => {
  for (const m of ['Connection is closed.', 'Too many Cluster redirections. Last error: ReplyError: MOVED 10709 127.0.0.1:7002',
    'CLUSTERDOWN The cluster is down', 'TRYAGAIN Multiple keys request during rehashing of slot', 'LOADING Redis is loading the dataset in memory',
    "Cluster isn't ready and enableOfflineQueue options is false", 'connect ECONNREFUSED 127.0.0.1:7000']) assert.ok(isUnanswered(m), m);
  for (const m of ['OOM command not allowed when used memory > \'maxmemory\'', 'WRONGTYPE Operation against a key holding the wrong kind of value',
    'MOVED 9189 127.0.0.1:7002', 'NOGROUP No such key or consumer group', 'ERR The ID specified in XADD is equal or smaller']) assert.ok(!isUnanswered(m), m);
});

test('a 3-master Redis Cluster, key off the seed node: two sensors publish, two consumers split it, every event once; serve --from shows it', { skip }, async () => {
  const cluster = await RedisCluster.start();
  try {
    const seed = cluster.ports[0] as number;
    const key = await cluster.keyNotOn(seed, 'pcap', 'events');
    const owner = await cluster.ownerOf(key);
    assert.notEqual(owner, seed);
    // The seed node does not serve the key: a plain client of it is redirected.
    const plain = await cluster.direct(seed);
    try {
      await assert.rejects(plain.xlen(key), /^ReplyError: MOVED \d+ 127\.0\.0\.1:(\d+)$|MOVED/);
    } finally {
      plain.disconnect();
    }

    const url = cluster.url(key);
    // Small batches: the two captures give some 60 events, and both consumers should get a share.
    const common = ['--group', 'central', '--json', '--batch', '2', '--block', '200'];
    const c1 = startConsumer(url, 'c1', common);
    const c2 = startConsumer(url, 'c2', common);
    const a = ['http_trace.js', ['-r', SAMPLE, '--tcp-verbose']] as const;
    const b = ['pcap-pipe.js', ['ws', WS]] as const;
    const expectA = localEvents(a[0], [...a[1], '--json'], 'edge-a');
    const expectB = localEvents(b[0], [...b[1], '--json'], 'edge-ws');
    assert.ok(expectA.length > 30 && expectB.length >= 4, `${expectA.length} ${expectB.length}`);
    assert.equal(new Set(expectA.map(canonical)).size, expectA.length, 'the events are distinct');
    let r1: Run;
    let r2: Run;
    try {
      // Both reading (each known to the group, which its first XREADGROUP does) before anything is published.
      const watch = await cluster.direct(owner);
      try {
        await waitUntil('both consumers in the group', async () => {
          try {
            return ((await watch.call('XINFO', 'CONSUMERS', key, 'central')) as unknown[]).length === 2;
          } catch {
            return false; // no group yet
          }
        });
      } finally {
        watch.disconnect();
      }
      const [pa, pb] = await Promise.all([
        runBin(a[0], [...a[1], '--publish', url, '--sensor', 'edge-a']),
        runBin(b[0], [...b[1], '--publish', url, '--sensor', 'edge-ws']),
      ]);
      assert.equal(pa.code, 0, pa.stderr);
      assert.equal(pb.code, 0, pb.stderr);
      assert.match(pa.stderr, new RegExp(`published ${expectA.length} of ${expectA.length} events to redis://127\\.0\\.0\\.1:${seed}/\\{pcap-\\d+\\}:events\\?cluster=1 as sensor "edge-a"\\n$`));
      assert.match(pb.stderr, new RegExp(`published ${expectB.length} of ${expectB.length} events`));
      const expected = [...expectA, ...expectB];
      await waitUntil('the consumers to print as many events as were published', () => lines(c1.out()).length + lines(c2.out()).length >= expected.length);
    } finally {
      [r1, r2] = await Promise.all([c1.interrupt(), c2.interrupt()]);
    }
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    const got1 = lines(r1.stdout).map((l) => JSON.parse(l) as unknown);
    const got2 = lines(r2.stdout).map((l) => JSON.parse(l) as unknown);
    assert.ok(got1.length > 0 && got2.length > 0, `both consumers got work: ${got1.length} + ${got2.length}: ${r1.stderr} ${r2.stderr}`);
    assert.equal(got1.length + got2.length, expectA.length + expectB.length, 'no event lost or doubled');
    assert.deepEqual(sorted([...got1, ...got2]), sorted([...expectA, ...expectB]));
    // Each sensor's events in its own order within each consumer's share (one publisher's XADDs keep their order).
    for (const got of [got1, got2]) {
      const mine = got.filter((e) => (e as { sensor: string }).sensor === 'edge-a').map(canonical);
      const order = new Map(expectA.map((e, i) => [canonical(e), i]));
      const idx = mine.map((k) => order.get(k) as number);
      assert.deepEqual(idx, [...idx].sort((x, y) => x - y));
    }
    assert.match(r1.stderr, new RegExp(`consume: ${got1.length} events from redis://127\\.0\\.0\\.1:${seed}/\\{pcap-\\d+\\}:events\\?cluster=1 as "c1" of group "central"`));

    // The stream is on the node that owns its slot, every entry acknowledged.
    const direct = await cluster.direct(owner);
    try {
      assert.equal(await direct.xlen(key), expectA.length + expectB.length);
      assert.equal(Number(((await direct.call('XPENDING', key, 'central')) as unknown[])[0]), 0, 'everything acknowledged');
    } finally {
      direct.disconnect();
    }

    // serve --from, through the cluster too: the view of the whole stream is the sample's own table.
    const view = await startPublishedWebView(parseRedisStreamUrl(url), { port: 0, start: '0' });
    try {
      await waitUntil('the view to read the whole stream', () => view.counts().entries >= expectA.length + expectB.length);
      assert.equal(view.counts().entries, expectA.length + expectB.length);
      const model = new WebModel({ maxRows: 100_000 });
      for await (const ev of httpEvents(readCaptureFile(SAMPLE))) model.event(ev as WebModelEvent, 'edge-a');
      const want = model.rowRange(0, 1000).rows.map(shown).sort();
      assert.ok(want.length >= 5, String(want.length));
      assert.deepEqual(view.model.rowRange(0, 1000, 'sensor:edge-a').rows.map(shown).sort(), want);
    } finally {
      await view.close();
    }
  } finally {
    cluster.stop();
  }
});

test('a cluster node named without ?cluster=1: MOVED, every event counted as refused, the advice on stderr', { skip }, async () => {
  const cluster = await RedisCluster.start();
  try {
    const seed = cluster.ports[0] as number;
    const key = await cluster.keyNotOn(seed, 'plain', 'events');
    const n = localEvents('pcap-pipe.js', ['ws', '--json', WS], 's').length;
    const r = await runBin('pcap-pipe.js', ['ws', WS, '--publish', cluster.url(key, seed, false), '--sensor', 's']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Redis refused events: MOVED \d+ 127\.0\.0\.1:\d+ \(a Redis Cluster node: add \?cluster=1 to the URL\)/);
    assert.match(r.stderr, new RegExp(`published 0 of ${n} events .*; ${n} NOT sent \\(${n} refused by Redis\\)`));
  } finally {
    cluster.stop();
  }
});

test('the node owning the stream killed and restarted mid-run: every event delivered after it is back or counted as dropped', { skip }, async () => {
  // As test/redis-restart.test.ts for one server: the publisher reads its capture from a pipe, the first half
  // while the cluster is whole, the rest while the key's node is down (the other two still answer: MOVED to
  // the dead node, then CLUSTERDOWN), then that node comes back from its nodes.conf and append-only file.
  const cluster = await RedisCluster.start({ persist: true });
  const capture = fixture('http-206-long-flow-zerowin-ooo.pcap');
  const expected = localEvents('pcap-pipe.js', ['tcp', '--json', capture], 's1');
  const expectedSet = new Set(expected.map(canonical));
  assert.equal(expectedSet.size, expected.length, 'the events are distinct');
  const seed = cluster.ports[0] as number;
  const key = await cluster.keyNotOn(seed, 'restart', 'events');
  const owner = await cluster.ownerOf(key);
  const url = cluster.url(key);
  const consumer = spawn(process.execPath, [path.join(BIN, 'pcap-pipe.js'), 'consume', url, '--group', 'g', '--consumer', 'c', '--json', '--block', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let consumed = '';
  let consumerErr = '';
  consumer.stdout.on('data', (d: Buffer) => { consumed += d.toString(); });
  consumer.stderr.on('data', (d: Buffer) => { consumerErr += d.toString(); });
  const consumerClosed = new Promise<number | null>((resolve) => consumer.on('close', resolve));
  const publisher = spawn(process.execPath, [path.join(BIN, 'pcap-pipe.js'), 'tcp', '--publish', url, '--sensor', 's1', '--publish-queue', '20', '--publish-wait', '120000'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let pubErr = '';
  publisher.stderr.on('data', (d: Buffer) => { pubErr += d.toString(); });
  const publisherClosed = new Promise<number | null>((resolve) => publisher.on('close', resolve));
  try {
    const bytes = fs.readFileSync(capture);
    const half = Math.floor(bytes.length / 2);
    publisher.stdin.write(bytes.subarray(0, half));
    await waitUntil('events of the first half consumed', () => consumed.split('\n').length > 1);

    await cluster.kill(owner);
    publisher.stdin.end(bytes.subarray(half));
    await waitUntil(`the publisher to notice and its queue to fill: ${pubErr}`, () => /unreachable/.test(pubErr) && /queue of 20 events is full/.test(pubErr));
    await cluster.restart(owner);

    const code = await publisherClosed;
    assert.equal(code, 1, `some events were dropped, so exit status 1: ${pubErr}`);
    const m = /published (\d+) of (\d+) events .*; (\d+) NOT sent \((\d+) while the queue was full\)(?:; reconnected (\d+) times)?(?:; (\d+) events sent again)?/.exec(pubErr);
    assert.ok(m, pubErr);
    const [sent, produced, notSent, full, reconnects, resent] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
    assert.equal(produced, expected.length, 'every event produced is counted');
    assert.equal(sent + notSent, produced, 'sent + dropped = produced');
    assert.equal(notSent, full);
    assert.ok(notSent > 0 && reconnects >= 1, pubErr);
    const queuedAtReconnect = /reconnected to .*; sending the (\d+) queued events/.exec(pubErr);
    assert.ok(queuedAtReconnect !== null && Number(queuedAtReconnect[1]) > 0, `queued events sent after the reconnect: ${pubErr}`);

    const distinct = (): Set<string> => new Set(consumed.split('\n').filter((l) => l !== '').map((l) => canonical(JSON.parse(l))));
    await waitUntil(`the consumer to print the ${sent} events sent`, () => distinct().size >= sent);
    consumer.kill('SIGINT');
    assert.equal(await consumerClosed, 0, consumerErr);
    const lines = consumed.split('\n').filter((l) => l !== '');
    const got = distinct();
    assert.equal(got.size, sent, 'delivered = sent');
    for (const k of got) assert.ok(expectedSet.has(k), `not produced: ${k.slice(0, 120)}`);
    assert.ok(lines.length - got.size <= resent, `repeats only from a batch sent again: ${lines.length - got.size} > ${resent}`);
  } finally {
    publisher.kill('SIGKILL');
    consumer.kill('SIGKILL');
    cluster.stop();
  }
});
