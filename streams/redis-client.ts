/**
 * The Redis connection the publisher and the consumer share: ioredis, loaded on first use (commands that
 * do not publish or consume never pay its load time), pointed at a parsed stream URL, with a backoff on
 * reconnects. Only `import type` from ioredis at the top: nothing is loaded until connectRedis() runs.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { RedisStreamTarget } from '../lib/redis/url';

export type { Redis as RedisClient } from 'ioredis';

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
export function connectRedis(target: RedisStreamTarget, opts: ConnectOptions): Redis {
  const Client = loadIoredis().Redis;
  const options: RedisOptions = {
    host: target.host,
    port: target.port,
    db: target.db,
    // RESP2: replies are plain arrays whatever the server version (ioredis 6 asks for RESP3 by default).
    protocol: 2,
    retryStrategy: (times: number) => reconnectDelay(times),
    enableOfflineQueue: opts.offlineQueue,
    // A command in flight when the connection broke: the publisher re-queues it itself (and counts it);
    // the consumer's reads are safe to repeat.
    autoResendUnfulfilledCommands: opts.offlineQueue,
    maxRetriesPerRequest: opts.offlineQueue ? null : 0,
    connectTimeout: 5000,
    enableReadyCheck: true,
    ...(opts.clientName !== undefined ? { connectionName: opts.clientName } : {}),
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: { servername: target.host } } : {}),
  };
  return new Client(options);
}
