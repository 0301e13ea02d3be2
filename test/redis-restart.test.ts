/**
 * Redis killed (SIGKILL) and restarted in the middle of a publish, with a consumer reading all along. The
 * publisher reads its capture from a pipe the test feeds: the first half while Redis is up, the rest while it
 * is down (its small queue fills: events are dropped and counted), then Redis comes back on the same port.
 * Redis here keeps an append-only file fsynced on every write, so a crash loses nothing it acknowledged and
 * the test sees only our own accounting: what the publisher says it sent is exactly what the consumer
 * printed (distinct events), sent + dropped = produced, and the consumer prints no event that was not
 * produced. A batch in flight at the kill is sent again (at-least-once) and said so; its copies are the only
 * repeats allowed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture } from './helpers/oracle';
import { BIN, canonical, localEvents, redisAvailable, RedisServer, waitUntil } from './helpers/redis';
import { Redis } from 'ioredis';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const skip = !redisAvailable() && !inCi ? 'redis-server is not installed' : false;

test('Redis killed and restarted mid-run: every event delivered after the reconnect or counted as dropped, none silently lost', { skip }, async () => {
  const redis = await RedisServer.start({ persist: true });
  const key = 'events';
  const url = redis.url(key);
  const capture = fixture('http-206-long-flow-zerowin-ooo.pcap');
  const expected = localEvents('pcap-pipe.js', ['tcp', '--json', capture], 's1');
  const expectedSet = new Set(expected.map(canonical));
  assert.equal(expectedSet.size, expected.length, 'the events are distinct');

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
  const c = new Redis({ host: '127.0.0.1', port: redis.port, protocol: 2, lazyConnect: true, retryStrategy: () => 100 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    const bytes = fs.readFileSync(capture);
    const half = Math.floor(bytes.length / 2);
    publisher.stdin.write(bytes.subarray(0, half));
    await waitUntil('events of the first half in the stream and consumed', async () => (await c.xlen(key)) > 0 && consumed.split('\n').length > 1);
    c.disconnect();

    await redis.kill();
    publisher.stdin.end(bytes.subarray(half));
    await waitUntil('the publisher to notice and its queue to fill', () => /unreachable/.test(pubErr) && /queue of 20 events is full/.test(pubErr));
    await redis.restart();

    const code = await publisherClosed;
    assert.equal(code, 1, `some events were dropped, so exit status 1: ${pubErr}`);
    const m = /published (\d+) of (\d+) events .*; (\d+) NOT sent \((\d+) while the queue was full\)(?:; reconnected (\d+) times)?(?:; (\d+) events sent again)?/.exec(pubErr);
    assert.ok(m, pubErr);
    const [sent, produced, notSent, full, reconnects, resent] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
    assert.equal(produced, expected.length, 'every event produced is counted');
    assert.equal(sent + notSent, produced, 'sent + dropped = produced');
    assert.equal(notSent, full);
    assert.ok(notSent > 0 && reconnects >= 1, pubErr);
    // Events queued during the outage went out after the restart: what the consumer reads below includes
    // entries written to the new server, so it read across the restart (not only what it had before).
    const queuedAtReconnect = /reconnected to .*; sending the (\d+) queued events/.exec(pubErr);
    assert.ok(queuedAtReconnect !== null && Number(queuedAtReconnect[1]) > 0, `queued events sent after the reconnect: ${pubErr}`);

    // The consumer rode through the outage too: it prints every event sent (the stream kept them all)
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
    c.disconnect();
    publisher.kill('SIGKILL');
    consumer.kill('SIGKILL');
    redis.stop();
  }
});
