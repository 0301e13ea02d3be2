/**
 * `redis://[USER:PASSWORD@]HOST[:PORT]/KEY[?db=N]` (or `rediss://` for TLS): where events are published to
 * and consumed from. The path is the stream's key, percent-decoded, so a Redis Cluster hash tag
 * (`/{sensors}:http`, braces percent-encoded or not) reaches Redis as typed.
 */

export interface RedisStreamTarget {
  host: string;
  port: number;
  /** The stream's key. */
  key: string;
  /** Logical database (SELECT); 0 unless `?db=N`. Redis Cluster has only 0. */
  db: number;
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
  for (const [name, value] of url.searchParams) {
    if (name !== 'db') throw new RedisUrlError(`${JSON.stringify(text)}: unknown parameter ${JSON.stringify(name)} (only db)`);
    if (!/^\d{1,5}$/.test(value)) throw new RedisUrlError(`${JSON.stringify(text)}: db must be a number`);
    db = Number(value);
  }
  const target: RedisStreamTarget = {
    host, port, key, db, tls: url.protocol === 'rediss:',
    display: `${url.protocol}//${url.hostname}:${port}/${key}${db !== 0 ? `?db=${db}` : ''}`,
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
