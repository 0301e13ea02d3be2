/**
 * --publish redis://HOST:PORT/KEY against a real redis-server on loopback (test/helpers/redis.ts): two
 * sensor processes publishing from two captures at once, every entry equal to the command's local --json
 * line plus "sensor"; and with Redis unreachable, every event counted as not sent (never silently lost).
 * The pure parts (URL, entry, the outbox's accounting) are checked directly.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { fixture, REPO_ROOT } from './helpers/oracle';
import { BIN, freePort, localEvents, redisAvailable, RedisServer, runBin } from './helpers/redis';
import { entryFromFields, withSensor } from '../lib/redis/entry';
import { Outbox } from '../lib/redis/outbox';
import { hashTag, parseRedisStreamUrl, RedisUrlError } from '../lib/redis/url';

const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const skip = !redisAvailable() && !inCi ? 'redis-server is not installed' : false;

async function streamEvents(port: number, key: string): Promise<{ sensor: string; event: Record<string, unknown> }[]> {
  const client = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true });
  await client.connect();
  try {
    const entries = await client.xrange(key, '-', '+');
    return entries.map(([id, fields]) => {
      const e = entryFromFields(id, fields);
      assert.equal(e.error, undefined, `${id}: ${e.error}`);
      return { sensor: e.sensor, event: e.event as Record<string, unknown> };
    });
  } finally {
    client.disconnect();
  }
}

test('the stream URL: host, port, key (a hash tag as typed), db, and clear errors', () => {
  const t = parseRedisStreamUrl('redis://127.0.0.1:7001/{site1}:http');
  assert.deepEqual([t.host, t.port, t.key, t.db, t.tls], ['127.0.0.1', 7001, '{site1}:http', 0, false]);
  assert.equal(hashTag(t.key), 'site1');
  assert.equal(hashTag('plain'), null);
  assert.equal(hashTag('a{}b'), null);
  const u = parseRedisStreamUrl('rediss://user:p%40ss@[::1]/events%2Fall?db=3');
  assert.deepEqual([u.host, u.port, u.key, u.db, u.tls, u.username, u.password], ['::1', 6379, 'events/all', 3, true, 'user', 'p@ss']);
  assert.ok(!u.display.includes('p@ss') && !u.display.includes('p%40ss'), u.display);
  for (const bad of ['127.0.0.1:6379/k', 'http://h/k', 'redis://h:6379/', 'redis://h/k?x=1', 'redis://h/k?db=x']) {
    assert.throws(() => parseRedisStreamUrl(bad), RedisUrlError, bad);
  }
});

test('an entry: the line with "sensor" added, read back; foreign entries are reported, not thrown', () => {
  assert.equal(withSensor('{"type":"request","frame":4}', '"s1"'), '{"type":"request","frame":4,"sensor":"s1"}');
  assert.equal(withSensor('{}', '"s1"'), '{"sensor":"s1"}');
  assert.equal(withSensor('[1]', '"s1"'), null);
  const e = entryFromFields('1-0', ['sensor', 's1', 'event', '{"type":"end","sensor":"s1"}']);
  assert.deepEqual([e.sensor, e.event], ['s1', { type: 'end', sensor: 's1' }]);
  assert.match(entryFromFields('2-0', ['x', 'y']).error ?? '', /no "event"/);
  assert.match(entryFromFields('3-0', ['event', '{nope']).error ?? '', /not JSON/);
  assert.match(entryFromFields('4-0', null).error ?? '', /deleted/);
});

test('the outbox accounts for every event: produced = sent + dropped + queued + in flight', () => {
  const o = new Outbox<number>(3);
  const check = (): void => {
    const c = o.counters;
    assert.equal(c.produced, c.sent + c.dropped + c.queued + c.inFlight, JSON.stringify(c));
  };
  for (let i = 0; i < 5; i++) o.push(i);
  check();
  assert.equal(o.counters.droppedFull, 2);
  const a = o.take(2);
  assert.deepEqual(a, [0, 1]);
  check();
  o.push(5);
  o.push(6);
  check();
  o.requeue(a); // back in front; the queue is over capacity by 2: the newest go
  check();
  assert.deepEqual(o.take(10), [0, 1, 2]);
  o.settle(2, 1);
  check();
  o.push(7);
  assert.equal(o.dropQueued(), 1);
  check();
  assert.deepEqual([o.counters.sent, o.counters.droppedRefused, o.counters.droppedAtEnd, o.counters.queued, o.counters.inFlight], [2, 1, 1, 0, 0]);
});

test('two sensors publish two captures at once: the stream holds exactly their local --json events plus "sensor"', { skip }, async () => {
  const redis = await RedisServer.start();
  try {
    const url = redis.url('{lab}:events');
    const a = ['http_trace.js', ['-r', SAMPLE, '--tcp-verbose']] as const;
    const b = ['pcap-pipe.js', ['tcp', fixture('http-206-long-flow-zerowin-ooo.pcap')]] as const;
    const [ra, rb] = await Promise.all([
      runBin(a[0], [...a[1], '--publish', url, '--sensor', 'sensor-a']),
      runBin(b[0], [...b[1], '--publish', url, '--sensor', 'sensor-b', '--maxlen', '100000']),
    ]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(ra.stdout, '', 'published events are not printed');
    const expectA = localEvents(a[0], [...a[1], '--json'], 'sensor-a');
    const expectB = localEvents(b[0], [...b[1], '--json'], 'sensor-b');
    assert.ok(expectA.length > 30 && expectB.length > 1000, `${expectA.length} ${expectB.length}`);
    assert.match(ra.stderr, new RegExp(`published ${expectA.length} of ${expectA.length} events to redis://127\\.0\\.0\\.1:\\d+/\\{lab\\}:events as sensor "sensor-a"\\n$`));
    assert.match(rb.stderr, new RegExp(`published ${expectB.length} of ${expectB.length} events`));
    const got = await streamEvents(redis.port, '{lab}:events');
    // Each sensor's events in its own order (one publisher's XADDs keep their order), both complete.
    for (const [name, expected] of [['sensor-a', expectA], ['sensor-b', expectB]] as const) {
      const mine = got.filter((g) => g.sensor === name).map((g) => g.event);
      assert.equal(mine.length, expected.length, name);
      assert.deepEqual(mine, expected, name);
    }
    assert.equal(got.length, expectA.length + expectB.length);
  } finally {
    redis.stop();
  }
});

test('Redis unreachable: every event is counted as not sent, the queue bound too, exit status 1', { skip }, async () => {
  const port = await freePort(); // nothing listens there
  const url = `redis://127.0.0.1:${port}/events`;
  const n = localEvents('pcap-pipe.js', ['http', '--json', SAMPLE], 'x').length;
  const r = await runBin('pcap-pipe.js', ['http', SAMPLE, '--publish', url, '--publish-wait', '300', '--publish-queue', '10']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /unreachable \(connect ECONNREFUSED/);
  assert.match(r.stderr, /queue of 10 events is full/);
  assert.match(r.stderr, new RegExp(`published 0 of ${n} events .*; ${n} NOT sent \\(${n - 10} while the queue was full, 10 still queued at the end, Redis unreachable\\)`));
});

test('--publish usage errors: a bad URL, --sensor without --publish, with --web', () => {
  for (const [script, args, msg] of [
    ['pcap-pipe.js', ['http', '--publish', 'http://x/k', SAMPLE], /--publish: .*scheme/],
    ['pcap-pipe.js', ['tcp', '--sensor', 'x', SAMPLE], /--sensor needs --publish/],
    ['http_trace.js', ['-r', SAMPLE, '--web', '--publish', 'redis://127.0.0.1/k'], /exclude each other/],
    ['pcap-pipe.js', ['grep', '--text', '--publish', 'redis://127.0.0.1/k', 'GET', SAMPLE], /no --text/],
  ] as const) {
    const r = spawnSync(process.execPath, [path.join(BIN, script), ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
});
