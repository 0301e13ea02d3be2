/**
 * The Redis connection the publisher and the consumer share: ioredis, loaded on first use (commands that
 * do not publish or consume never pay its load time), pointed at a parsed stream URL, with a backoff on
 * reconnects. Only `import type` from ioredis at the top: nothing is loaded until connectRedis() runs.
 *
 * With `?cluster=1` the client is an ioredis `Cluster` seeded with the URL's HOST:PORT: it reads the slot
 * map (CLUSTER SLOTS) and sends every command to the master owning the key's slot, following MOVED/ASK.
 * Every command here names the one stream key, so a pipeline of XADDs, XREADGROUP BLOCK, XAUTOCLAIM and
 * XACK all go to that one node, as they go to the one server otherwise; the two clients emit the same
 * 'ready' / 'close' / 'error' events and have the same status names, which is all the publisher and the
 * readers look at.
 */
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { isUnanswered } from '../lib/redis/errors';
import type { RedisStreamTarget } from '../lib/redis/url';

/** A single server's client, or a cluster's. */
export type RedisClient = Redis | Cluster;

/** First reconnect after this long, doubling each time up to RECONNECT_MAX_MS. */
export const RECONNECT_BASE_MS = 50;
export const RECONNECT_MAX_MS = 2000;

/** The delay before reconnect attempt `attempt` (1, 2, ...): exponential with a cap, a little jitter against herds. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 20));
  return Math.round(exp * (0.8 + 0.4 * random()));
}

export interface ConnectOptions {
  /**
   * Commands given while disconnected wait for the reconnect (the consumer), or fail at once (the
   * publisher: it keeps its own bounded queue and counts what it cannot send).
   */
  offlineQueue: boolean;
  /** Name shown by CLIENT LIST. */
  clientName?: string;
}

let ioredis: typeof import('ioredis') | undefined;

/** ioredis, required on first use. */
function loadIoredis(): typeof import('ioredis') {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  ioredis ??= require('ioredis') as typeof import('ioredis');
  return ioredis;
}

/** A client for `target` that connects at once and reconnects forever with reconnectDelay(). */
export function connectRedis(target: RedisStreamTarget, opts: ConnectOptions): RedisClient {
  const node = nodeOptions(target, opts);
  if (target.cluster) {
    const options: ClusterOptions = {
      // The whole cluster lost (every node closed): the same backoff as a single server's reconnects.
      clusterRetryStrategy: (times: number) => reconnectDelay(times),
      enableOfflineQueue: opts.offlineQueue,
      enableReadyCheck: true,
      // Each node's own connection: RESP2, the name, credentials and TLS of the URL. Its host and port come
      // from the slot map; a node's TLS name is its own host (Node's default), not the seed's.
      redisOptions: { ...node, ...(target.tls ? { tls: {} } : {}) },
    };
    return new (loadIoredis().Cluster)([{ host: target.host, port: target.port }], options);
  }
  return new (loadIoredis().Redis)({
    ...node,
    host: target.host,
    port: target.port,
    db: target.db,
    retryStrategy: (times: number) => reconnectDelay(times),
    enableOfflineQueue: opts.offlineQueue,
    ...(target.tls ? { tls: { servername: target.host } } : {}),
  });
}

/** The options of one connection to one server (or one cluster node). */
function nodeOptions(target: RedisStreamTarget, opts: ConnectOptions): RedisOptions {
  return {
    // RESP2: replies are plain arrays whatever the server version (ioredis 6 asks for RESP3 by default).
    protocol: 2,
    // A command in flight when the connection broke: the publisher re-queues it itself (and counts it);
    // the consumer's reads are safe to repeat.
    autoResendUnfulfilledCommands: opts.offlineQueue,
    maxRetriesPerRequest: opts.offlineQueue ? null : 0,
    connectTimeout: 5000,
    enableReadyCheck: true,
    ...(opts.clientName !== undefined ? { connectionName: opts.clientName } : {}),
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  };
}

/**
 * What a client's 'error' says: a cluster's "Failed to refresh slots cache." (no seed node answered) with
 * the last node's own error, the reason a person can act on.
 */
export function clientErrorText(e: Error): string {
  const last = (e as Error & { lastNodeError?: unknown }).lastNodeError;
  return last instanceof Error && last.message !== '' ? `${e.message} ${last.message}` : e.message;
}

/**
 * A reader's command, sent again after reconnectDelay() while it comes back unanswered (lib/redis/errors.ts)
 * and `stopped()` is false. A single server's client holds commands over a reconnect itself (its offline
 * queue); a cluster's gives up on a slot whose node is away after a few redirections, and this waits
 * instead, so a reader rides through a node's outage as through a server's. `onRetry` hears each wait.
 */
export async function untilAnswered<T>(fn: () => Promise<T>, stopped: () => boolean, onRetry?: (e: Error) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (stopped() || !(e instanceof Error) || !isUnanswered(e.message)) throw e;
      onRetry?.(e);
      await new Promise((resolve) => setTimeout(resolve, reconnectDelay(attempt)));
    }
  }
}
