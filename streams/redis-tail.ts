/**
 * `RedisStreamTail`: reads a Redis stream the way a viewer does (`pcap-pipe serve --from`), with plain
 * XREAD: every reader sees every entry, nothing is acknowledged, and the stream is left as it was (the
 * consumer groups of `pcap-pipe consume` share entries out instead; streams/redis-consume.ts).
 *
 * Where it starts: `$` (the default) resolves once, at start, to the id of the newest entry (XREVRANGE
 * KEY + - COUNT 1; 0-0 for an empty or missing stream), so no entry added between the start and the first
 * read is missed; `0` is every entry the stream still holds; any other id, the entries after it. Then
 * XREAD COUNT N BLOCK MS STREAMS KEY LAST, LAST being the id of the last entry read. The client waits
 * through reconnects (its offline queue); an unanswered read (a Redis Cluster's node for the key away) is
 * sent again after a backoff (untilAnswered).
 */
import { entryFromFields, type StreamEntry } from '../lib/redis/entry';
import type { RedisStreamTarget } from '../lib/redis/url';
import { connectRedis, untilAnswered, type RedisClient } from './redis-client';

export const DEFAULT_TAIL_COUNT = 500;
export const DEFAULT_TAIL_BLOCK_MS = 1000;

export interface StreamTailOptions {
  target: RedisStreamTarget;
  /** '$' (newest entries only, default), '0' (all kept), or an entry id to read after. */
  start?: string;
  /** Entries per XREAD. */
  count?: number;
  /** How long one XREAD waits for new entries. */
  blockMs?: number;
  client?: RedisClient;
}

/** An entry id as XREAD takes it: MS or MS-SEQ. */
export const ENTRY_ID = /^\d{1,20}(-\d{1,20})?$/;

type RawEntry = [id: string, fields: string[] | null];

export class RedisStreamTail {
  readonly client: RedisClient;
  private readonly ownClient: boolean;
  private readonly key: string;
  private readonly count: number;
  private readonly blockMs: number;
  private last: string | undefined;
  private closed = false;
  /** Entries read so far. */
  entries = 0;

  constructor(private readonly opts: StreamTailOptions) {
    const start = opts.start ?? '$';
    if (start !== '$' && !ENTRY_ID.test(start)) throw new RangeError(`a stream start is $, 0 or an entry id (MS or MS-SEQ), got ${JSON.stringify(start)}`);
    this.ownClient = opts.client === undefined;
    this.client = opts.client ?? connectRedis(opts.target, { offlineQueue: true, clientName: 'pcap-pipe-serve' });
    this.client.on('error', () => undefined); // reconnects are the client's business; commands wait for it
    this.key = opts.target.key;
    this.count = opts.count ?? DEFAULT_TAIL_COUNT;
    this.blockMs = opts.blockMs ?? DEFAULT_TAIL_BLOCK_MS;
    if (start !== '$') this.last = start === '0' ? '0-0' : start;
  }

  /** The id reads continue after (known once start() or the first read() ran). */
  get position(): string | undefined {
    return this.last;
  }

  /** Resolves `$` to the newest entry's id now. */
  async start(): Promise<void> {
    if (this.last !== undefined) return;
    const newest = await untilAnswered(() => this.client.call('XREVRANGE', this.key, '+', '-', 'COUNT', 1), () => this.closed) as RawEntry[] | null;
    this.last = newest?.[0]?.[0] ?? '0-0';
  }

  /** The next entries (empty after a BLOCK that saw none, or after close()). */
  async read(): Promise<StreamEntry[]> {
    await this.start();
    if (this.closed) return [];
    const reply = await untilAnswered(() => this.client.call('XREAD', 'COUNT', this.count, 'BLOCK', this.blockMs, 'STREAMS', this.key, this.last as string), () => this.closed) as [string, RawEntry[]][] | null;
    const raw = reply?.[0]?.[1] ?? [];
    if (raw.length > 0) this.last = raw[raw.length - 1]![0];
    this.entries += raw.length;
    return raw.map(([id, fields]) => entryFromFields(id, fields));
  }

  close(): void {
    this.closed = true;
    if (this.ownClient) this.client.disconnect();
  }
}
