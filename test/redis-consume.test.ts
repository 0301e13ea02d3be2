/**
 * `pcap-pipe consume` against a real redis-server on loopback: two sensors publishing two captures while
 * two consumers of one group split the stream (every event exactly once over both, compared with the local
 * --json outputs plus "sensor"); and a consumer SIGKILLed after reading a batch but before acknowledging
 * it, whose pending entries the other consumer claims with XAUTOCLAIM. Conditions are waited for, never timed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { fixture, REPO_ROOT } from './helpers/oracle';
import { BIN, canonical, localEvents, redisAvailable, RedisServer, runBin, startConsumer, waitUntil, type Run } from './helpers/redis';
import { entryFromFields, type StreamEntry } from '../lib/redis/entry';
import { formatStreamEntry } from '../lib/redis/print';

const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const skip = !redisAvailable() && !inCi ? 'redis-server is not installed' : false;

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
const sorted = (evs: unknown[]): string[] => evs.map(canonical).sort();

async function client(port: number): Promise<Redis> {
  const c = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true });
  await c.connect();
  return c;
}

test('a human line per consumed event: sensor first, captured text escaped, unreadable entries said', () => {
  const e: StreamEntry = entryFromFields('1-0', ['sensor', 's\x1b1', 'event', JSON.stringify({
    type: 'request', ts: '1795699464.381282000', client: '10.0.0.1:1', server: '10.0.0.2:80', index: 1, method: 'GET', url: '/a\x1b[2J', sensor: 's\x1b1',
  })]);
  const line = formatStreamEntry(e);
  assert.match(line, /^\d\d:\d\d:\d\d\.381282 \[s\\x1b1\] 10\.0\.0\.1:1 → 10\.0\.0\.2:80 #1 GET \/a\\x1b\[2J$/);
  assert.match(formatStreamEntry(entryFromFields('2-0', ['x', 'y'])), /^- \[\?\] entry 2-0: no "event" field$/);
});

test('two sensors publish while two consumers of one group split the stream: every event exactly once', { skip }, async () => {
  const redis = await RedisServer.start();
  try {
    const url = redis.url('{lab}:events');
    const common = ['--group', 'central', '--json', '--batch', '10', '--block', '200'];
    // The consumers first: their group is made with the stream (MKSTREAM) and they read while sensors publish.
    const c1 = startConsumer(url, 'c1', common);
    const c2 = startConsumer(url, 'c2', common);
    const a = ['http', '--tcp-verbose', SAMPLE];
    const b = ['tcp', fixture('http-206-long-flow-zerowin-ooo.pcap')];
    const [pa, pb] = await Promise.all([
      runBin('pcap-pipe.js', [...a, '--publish', url, '--sensor', 'sensor-a']),
      runBin('pcap-pipe.js', [...b, '--publish', url, '--sensor', 'sensor-b']),
    ]);
    assert.equal(pa.code, 0, pa.stderr);
    assert.equal(pb.code, 0, pb.stderr);
    const expected = [...localEvents('pcap-pipe.js', [...a, '--json'], 'sensor-a'), ...localEvents('pcap-pipe.js', [...b, '--json'], 'sensor-b')];
    await waitUntil('the consumers to print as many events as were published', () => lines(c1.out()).length + lines(c2.out()).length >= expected.length);
    // Ctrl-C: each stops cleanly (exit 0, its summary on stderr)
    const [r1, r2] = await Promise.all([c1.interrupt(), c2.interrupt()]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    const got1 = lines(r1.stdout).map((l) => JSON.parse(l) as unknown);
    const got2 = lines(r2.stdout).map((l) => JSON.parse(l) as unknown);
    assert.ok(got1.length > 0 && got2.length > 0, `both consumers got work: ${got1.length} + ${got2.length}`);
    assert.equal(got1.length + got2.length, expected.length, 'no event lost or doubled');
    assert.deepEqual(sorted([...got1, ...got2]), sorted(expected));
    assert.match(r1.stderr, new RegExp(`consume: ${got1.length} events from .* as "c1" of group "central"`));
    const c = await client(redis.port);
    try {
      assert.equal(Number(((await c.call('XPENDING', '{lab}:events', 'central')) as unknown[])[0]), 0, 'everything acknowledged');
    } finally {
      c.disconnect();
    }
  } finally {
    redis.stop();
  }
});

test('a consumer killed after reading, before acknowledging: the other claims its pending entries (XAUTOCLAIM)', { skip }, async () => {
  const redis = await RedisServer.start();
  const c = await client(redis.port);
  try {
    const key = 'events';
    const url = redis.url(key);
    const args = ['tcp', fixture('http-206-long-flow-zerowin-ooo.pcap')];
    const pub = await runBin('pcap-pipe.js', [...args, '--publish', url, '--sensor', 's']);
    assert.equal(pub.code, 0, pub.stderr);
    const expected = localEvents('pcap-pipe.js', [...args, '--json'], 's');
    assert.equal(await c.xlen(key), expected.length);

    // Consumer "doomed": its stdout is a pipe nobody reads, so its first batch (500 events of ~2 kB: far more than
    // the pipe and the reading side's buffer hold) can never be written in full: it has read entries it can never
    // acknowledge. Then SIGKILL.
    const doomed = spawn(process.execPath, [path.join(BIN, 'pcap-pipe.js'), 'consume', url, '--group', 'g', '--consumer', 'doomed', '--json', '--batch', '500'], { stdio: ['ignore', 'pipe', 'pipe'] });
    doomed.stdout.pause();
    const pendingOf = async (who: string): Promise<string[]> => ((await c.call('XPENDING', key, 'g', '-', '+', 10000, who)) as [string][]).map((p) => p[0]);
    await waitUntil('the doomed consumer to hold unacknowledged entries', async () => {
      try {
        return (await pendingOf('doomed')).length > 0;
      } catch {
        return false; // the group is not there yet
      }
    });
    const exited = new Promise((resolve) => doomed.once('close', resolve));
    doomed.kill('SIGKILL');
    // What it did write before dying (its complete lines) was printed by it.
    let doomedOut = '';
    doomed.stdout.on('data', (d: Buffer) => { doomedOut += d.toString(); });
    doomed.stdout.resume();
    await exited;
    const orphaned = await pendingOf('doomed');
    assert.ok(orphaned.length > 0);
    const orphanedEvents = new Set<string>();
    for (const id of orphaned) {
      const [entry] = await c.xrange(key, id, id);
      orphanedEvents.add(canonical(entryFromFields(id, entry![1]).event));
    }

    const survivor = await runBin('pcap-pipe.js', ['consume', url, '--group', 'g', '--consumer', 'survivor', '--json', '--claim-idle', '300', '--block', '200', '--until-idle', '1000']);
    assert.equal(survivor.code, 0, survivor.stderr);
    assert.match(survivor.stderr, new RegExp(`\\(${orphaned.length} claimed from other consumers\\)`));
    const doomedLines = doomedOut.split('\n').slice(0, -1); // the last piece may be cut mid-line
    const all = [...doomedLines, ...lines(survivor.stdout)].map((l) => canonical(JSON.parse(l)));
    // Nothing lost: every published event was printed by one of them.
    const counts = new Map<string, number>();
    for (const k of all) counts.set(k, (counts.get(k) ?? 0) + 1);
    for (const ev of expected) assert.ok(counts.has(canonical(ev)), `lost: ${canonical(ev).slice(0, 120)}`);
    // The claimed entries were printed by the survivor; an event printed twice is one the doomed consumer
    // wrote but never acknowledged (at-least-once), never another.
    const survivorSet = new Set(lines(survivor.stdout).map((l) => canonical(JSON.parse(l))));
    for (const k of orphanedEvents) assert.ok(survivorSet.has(k), 'an orphaned entry was not claimed');
    for (const [k, n] of counts) if (n > 1) assert.ok(orphanedEvents.has(k) && n === 2, `printed ${n} times: ${k.slice(0, 120)}`);
    assert.equal(Number(((await c.call('XPENDING', key, 'g')) as unknown[])[0]), 0, 'everything acknowledged');
  } finally {
    c.disconnect();
    redis.stop();
  }
});
