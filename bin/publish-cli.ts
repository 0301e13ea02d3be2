/**
 * `--publish redis://HOST:PORT/KEY` (with `--sensor`, `--maxlen`, `--publish-queue`) for the commands that
 * print NDJSON events (http_trace, `pcap-pipe http|ws|tcp|tls|grep`): the command's --json output goes to a
 * Redis stream (streams/redis-publish.ts) instead of stdout, and stderr says how it went. A helper module,
 * not a command.
 */
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { intOption, UsageError, type ParsedArgs } from './cli';
import { DEFAULT_FLUSH_TIMEOUT_MS, DEFAULT_OUTBOX_CAPACITY } from '../lib/redis/outbox';
import { movedHint, parseRedisStreamUrl, RedisUrlError, type RedisStreamTarget } from '../lib/redis/url';
import type { PublisherNotice, RedisPublisher } from '../streams/redis-publish';

export const PUBLISH_STRINGS = ['publish', 'sensor', 'maxlen', 'publish-queue', 'publish-wait'];

export const PUBLISH_USAGE = `  --publish URL      append every event to a Redis stream instead of printing it: URL is
                     redis://HOST:PORT/KEY; each entry is the --json event plus "sensor" (XADD with
                     MAXLEN ~, pipelined); reconnects when Redis goes away, queues meanwhile, and says
                     on stderr how many events were sent and how many could not be (exit status 1).
                     Redis Cluster: redis://HOST:PORT/KEY?cluster=1, HOST:PORT any node (the stream
                     goes to the node owning KEY's slot; a hash tag, {site1}:http, keeps streams
                     together)
  --sensor NAME      the "sensor" field of published events (default: this machine's host name)
  --maxlen N         keep about N entries in the stream (XADD MAXLEN ~ N; default 1000000)
  --publish-queue N  events queued while Redis is away or slow (default ${DEFAULT_OUTBOX_CAPACITY}); past it
                     the newest are dropped and counted
  --publish-wait MS  at the end, how long to wait for an unreachable Redis before counting the queued
                     events as not sent (default ${DEFAULT_FLUSH_TIMEOUT_MS})`;

/** Where and how to publish. */
export interface PublishSetup {
  target: RedisStreamTarget;
  sensor: string;
  maxlen: number;
  capacity: number;
  flushTimeoutMs: number;
}

/** The publish options, or undefined without --publish (then --sensor and the others are usage errors). */
export function publishOptionsFrom(args: ParsedArgs, usage: string): PublishSetup | undefined {
  const url = args.publish as string | undefined;
  if (url === undefined || url === '') {
    for (const o of PUBLISH_STRINGS.slice(1)) if (args[o] !== undefined) throw new UsageError(`--${o} needs --publish`, usage);
    return undefined;
  }
  let target: RedisStreamTarget;
  try {
    target = parseRedisStreamUrl(url);
  } catch (e) {
    if (e instanceof RedisUrlError) throw new UsageError(`--publish: ${e.message}`, usage);
    throw e;
  }
  const sensor = typeof args.sensor === 'string' ? args.sensor : (require('node:os') as typeof import('node:os')).hostname(); // os: with --publish only
  if (sensor === '' || sensor.length > 200) throw new UsageError('--sensor needs a name of 1 to 200 characters', usage);
  return {
    target,
    sensor,
    maxlen: intOption(args, 'maxlen', usage, 1) ?? 1_000_000,
    capacity: intOption(args, 'publish-queue', usage, 1) ?? DEFAULT_OUTBOX_CAPACITY,
    flushTimeoutMs: intOption(args, 'publish-wait', usage, 0) ?? DEFAULT_FLUSH_TIMEOUT_MS,
  };
}

function noticeText(n: PublisherNotice, where: string): string {
  switch (n.kind) {
    case 'connected':
      return n.first ? `publishing to ${where}` : `reconnected to ${where}; sending the ${n.queued} queued events`;
    case 'disconnected':
      return `${where} unreachable${n.error !== undefined ? ` (${n.error})` : ''}; queuing events and retrying`;
    case 'dropping':
      return `the queue of ${n.capacity} events is full: newer events are dropped (counted) until Redis takes them again`;
    case 'refused':
      return `Redis refused events: ${movedHint(n.error)}`;
  }
}

/**
 * Runs `run` with a publisher as its output, then prints the summary line. Returns run's exit status, or 1
 * when some events could not be sent (a partial result is flagged, like a damaged capture).
 */
export async function runPublishing(setup: PublishSetup, name: string, run: (out: Writable) => Promise<number>): Promise<number> {
  const where = setup.target.display;
  // Required only with --publish: every command that offers it would otherwise load the publisher and its client.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { redisPublisher } = require('../streams/redis-publish') as typeof import('../streams/redis-publish');
  const pub: RedisPublisher = redisPublisher({ target: setup.target, sensor: setup.sensor, maxlen: setup.maxlen, capacity: setup.capacity, flushTimeoutMs: setup.flushTimeoutMs });
  pub.on('notice', (n: PublisherNotice) => {
    if (n.kind === 'connected' && n.first) return;
    process.stderr.write(`${name}: ${noticeText(n, where)}\n`);
  });
  let code: number;
  try {
    code = await run(pub);
    // A run that writes without ending its output (grep's text sink): the end flushes the queue.
    if (!pub.writableEnded) pub.end();
    await finished(pub);
  } finally {
    if (!pub.writableFinished) pub.destroy();
  }
  const s = pub.stats();
  const lost = s.dropped + s.malformed;
  const how = [
    s.droppedFull > 0 ? `${s.droppedFull} while the queue was full` : '',
    s.droppedRefused > 0 ? `${s.droppedRefused} refused by Redis` : '',
    s.droppedAtEnd > 0 ? `${s.droppedAtEnd} still queued at the end, Redis unreachable` : '',
    s.malformed > 0 ? `${s.malformed} not JSON objects` : '',
  ].filter((x) => x !== '');
  process.stderr.write(`${name}: published ${s.sent} of ${s.produced + s.malformed} events to ${where} as sensor ${JSON.stringify(setup.sensor)}` +
    `${lost > 0 ? `; ${lost} NOT sent (${how.join(', ')})` : ''}${s.reconnects > 0 ? `; reconnected ${s.reconnects} times` : ''}` +
    `${s.resent > 0 ? `; ${s.resent} events sent again after a broken connection (some may be in the stream twice)` : ''}\n`);
  return lost > 0 ? Math.max(code, 1) : code;
}
