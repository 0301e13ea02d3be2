/**
 * `redis://[USER:PASSWORD@]HOST[:PORT]/KEY[?db=N|?cluster=1]` (or `rediss://` for TLS): where events are
 * published to and consumed from. The path is the stream's key, percent-decoded, so a Redis Cluster hash tag
 * (`/{sensors}:http`, braces percent-encoded or not) reaches Redis as typed.
 *
 * `?cluster=1` says HOST:PORT is one node of a Redis Cluster: the client learns the slot map from it and
 * sends each command to the node owning the key's slot, following MOVED/ASK when slots move. It is said, not
 * detected: the publisher must accept events (and queue them) before Redis has ever answered, so the kind of
 * client cannot wait for a first connection; a plain client pointed at a cluster gets MOVED, and
 * movedHint() turns that error into the advice to add the parameter.
 */

export interface RedisStreamTarget {
  host: string;
  port: number;
  /** The stream's key. */
  key: string;
  /** Logical database (SELECT); 0 unless `?db=N`. Redis Cluster has only 0. */
  db: number;
  /** `?cluster=1`: HOST:PORT is a seed node of a Redis Cluster. */
  cluster: boolean;
  username?: string;
  password?: string;
  /** rediss:// */
  tls: boolean;
  /** The URL without the password, for messages. */
  display: string;
}

export class RedisUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

export const DEFAULT_REDIS_PORT = 6379;

/** Parses a stream URL; throws RedisUrlError saying what is wrong. */
export function parseRedisStreamUrl(text: string): RedisStreamTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RedisUrlError(`not a URL: ${JSON.stringify(text)} (expected redis://HOST:PORT/KEY)`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new RedisUrlError(`${JSON.stringify(text)}: the scheme must be redis:// or rediss://`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new RedisUrlError(`${JSON.stringify(text)}: no host`);
  const port = url.port === '' ? DEFAULT_REDIS_PORT : Number(url.port);
  let key: string;
  try {
    key = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } catch {
    throw new RedisUrlError(`${JSON.stringify(text)}: the key is not valid percent-encoding`);
  }
  if (key === '') throw new RedisUrlError(`${JSON.stringify(text)}: no stream key (redis://HOST:PORT/KEY)`);
  let db = 0;
  let cluster = false;
  for (const [name, value] of url.searchParams) {
    if (name === 'db') {
      if (!/^\d{1,5}$/.test(value)) throw new RedisUrlError(`${JSON.stringify(text)}: db must be a number`);
      db = Number(value);
    } else if (name === 'cluster') {
      if (!/^[01]$/.test(value)) throw new RedisUrlError(`${JSON.stringify(text)}: cluster must be 1 (a Redis Cluster) or 0`);
      cluster = value === '1';
    } else {
      throw new RedisUrlError(`${JSON.stringify(text)}: unknown parameter ${JSON.stringify(name)} (db or cluster)`);
    }
  }
  if (cluster && db !== 0) throw new RedisUrlError(`${JSON.stringify(text)}: a Redis Cluster has only database 0`);
  const target: RedisStreamTarget = {
    host, port, key, db, cluster, tls: url.protocol === 'rediss:',
    display: `${url.protocol}//${url.hostname}:${port}/${key}${db !== 0 ? `?db=${db}` : ''}${cluster ? '?cluster=1' : ''}`,
  };
  if (url.username !== '') target.username = decodeURIComponent(url.username);
  if (url.password !== '') target.password = decodeURIComponent(url.password);
  return target;
}

/**
 * The hash tag of a key as Redis Cluster computes it (the part between the first `{` and the next `}`, when
 * not empty), or null. All commands here name one key, so a stream lives on one node with or without a tag;
 * a tag keeps related streams (`{site1}:http`, `{site1}:tcp`) on the same node.
 */
export function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

/**
 * An error message from Redis with what to do about it when it is a cluster's redirect: a plain client
 * (no `?cluster=1`) pointed at a cluster node that does not own the key's slot gets `MOVED SLOT HOST:PORT`.
 */
export function movedHint(message: string): string {
  return /^(MOVED|ASK) \d+ /.test(message) ? `${message} (a Redis Cluster node: add ?cluster=1 to the URL)` : message;
}

/** movedHint() on an error thrown by a Redis command (anything else is handed back as it is). */
export function withMovedHint(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const message = movedHint(e.message);
  return message === e.message ? e : new Error(message);
}
