/**
 * `RedisGroupReader`: reads a Redis stream as one consumer of a consumer group, the way `pcap-pipe consume`
 * and `pcap-pipe serve --from` need it:
 *
 *  1. XGROUP CREATE KEY GROUP START MKSTREAM (a group that exists already is fine);
 *  2. this consumer's own pending entries first (XREADGROUP ... 0: what it read before a crash, unacked);
 *  3. then, every `claimEveryMs`, XAUTOCLAIM: entries another consumer read but did not acknowledge for
 *     `claimIdleMs` (it died mid-batch) become ours;
 *  4. otherwise XREADGROUP ... COUNT N BLOCK MS STREAMS KEY > : new entries.
 *
 * The caller acknowledges (ack()) after it printed or handed on an entry, so an entry is lost only if Redis
 * loses it; a consumer killed between reading and acknowledging leaves its entries pending for the others.
 * The client waits through reconnects (its offline queue), and an unanswered command (a Redis Cluster's
 * node for the key away) is sent again after a backoff (untilAnswered); a group lost with a restarted Redis
 * (no persistence: NOGROUP) is created again.
 */
import { entryFromFields, type StreamEntry } from '../lib/redis/entry';
import type { RedisStreamTarget } from '../lib/redis/url';
import { connectRedis, untilAnswered, type RedisClient } from './redis-client';

export const DEFAULT_READ_COUNT = 100;
export const DEFAULT_BLOCK_MS = 1000;
export const DEFAULT_CLAIM_IDLE_MS = 60_000;

export interface GroupReaderOptions {
  target: RedisStreamTarget;
  group: string;
  consumer: string;
  /** Entries per XREADGROUP / XAUTOCLAIM. */
  count?: number;
  /** XREADGROUP BLOCK: how long one read waits for new entries. */
  blockMs?: number;
  /** Pending entries idle this long are claimed from their consumer (presumed dead). */
  claimIdleMs?: number;
  /** Where a new group starts: '0' everything still in the stream (default), '$' only new entries. */
  start?: string;
  client?: RedisClient;
  /** A command came back unanswered and will be sent again (a cluster node away): for a notice. */
  onRetry?: (e: Error) => void;
}

/** Where a batch came from. */
export type BatchSource = 'own-pending' | 'claimed' | 'new';

export interface EntryBatch {
  source: BatchSource;
  entries: StreamEntry[];
}

type RawEntry = [id: string, fields: string[] | null];

export class RedisGroupReader {
  readonly client: RedisClient;
  private readonly ownClient: boolean;
  private readonly key: string;
  private readonly count: number;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private readonly claimEveryMs: number;
  private ownPendingDone = false;
  private ownPendingCursor = '0';
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  private closed = false;
  /** Entries claimed from other consumers, in total. */
  claimed = 0;

  constructor(private readonly opts: GroupReaderOptions) {
    this.ownClient = opts.client === undefined;
    this.client = opts.client ?? connectRedis(opts.target, { offlineQueue: true, clientName: `pcap-pipe-consume-${opts.consumer}`.replace(/[^\x21-\x7e]/g, '_') });
    this.client.on('error', () => undefined); // reconnects are the client's business; commands wait for it
    this.key = opts.target.key;
    this.count = opts.count ?? DEFAULT_READ_COUNT;
    this.blockMs = opts.blockMs ?? DEFAULT_BLOCK_MS;
    this.claimIdleMs = opts.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
    // Often enough that a dead consumer's entries move on soon after they become claimable.
    this.claimEveryMs = Math.max(100, Math.min(10_000, Math.floor(this.claimIdleMs / 4)));
  }

  /** Creates the group (and the stream) unless it exists. */
  async ensureGroup(): Promise<void> {
    try {
      await this.patiently(() => this.client.call('XGROUP', 'CREATE', this.key, this.opts.group, this.opts.start ?? '0', 'MKSTREAM'));
    } catch (e) {
      if (!/BUSYGROUP/.test((e as Error).message)) throw e;
    }
  }

  /** The next batch (possibly empty after a BLOCK that saw nothing). `max` caps its size (--count). */
  async read(max = this.count): Promise<EntryBatch> {
    const n = Math.max(1, Math.min(this.count, max));
    return this.patiently(() => this.withGroup(async () => {
      if (!this.ownPendingDone) {
        const own = await this.readGroup(this.ownPendingCursor, n, false);
        if (own.length > 0) {
          this.ownPendingCursor = own[own.length - 1]![0];
          return { source: 'own-pending', entries: own.map(([id, f]) => entryFromFields(id, f)) };
        }
        this.ownPendingDone = true;
      }
      if (Date.now() >= this.nextClaimAt) {
        const claimed = await this.autoClaim(n);
        if (claimed.length > 0) {
          this.claimed += claimed.length;
          return { source: 'claimed', entries: claimed.map(([id, f]) => entryFromFields(id, f)) };
        }
      }
      const fresh = await this.readGroup('>', n, true);
      return { source: 'new', entries: fresh.map(([id, f]) => entryFromFields(id, f)) };
    }), () => {
      // A read whose answer was lost may still have given us entries (they are pending for us now):
      // read our own pending entries first again, rather than leave them to a claim after claimIdleMs.
      this.ownPendingDone = false;
      this.ownPendingCursor = '0';
    });
  }

  /** XACK: the entries are done (printed, written, handed on). */
  async ack(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.patiently(() => this.withGroup(() => this.client.call('XACK', this.key, this.opts.group, ...ids)));
  }

  /** Entries of the group read by some consumer and not acknowledged yet. */
  async pendingCount(): Promise<number> {
    const r = await this.patiently(() => this.withGroup(() => this.client.call('XPENDING', this.key, this.opts.group))) as unknown[];
    return Number(r?.[0] ?? 0);
  }

  /** untilAnswered() until close(), telling opts.onRetry (and `retried`) of each wait. */
  private patiently<T>(fn: () => Promise<T>, retried?: () => void): Promise<T> {
    return untilAnswered(fn, () => this.closed, (e) => {
      retried?.();
      this.opts.onRetry?.(e);
    });
  }

  /** A group lost with its Redis (restarted without persistence) is made again, once per call. */
  private async withGroup<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!/NOGROUP/.test((e as Error).message) || this.closed) throw e;
      await this.ensureGroup();
      return fn();
    }
  }

  private async readGroup(id: string, n: number, block: boolean): Promise<RawEntry[]> {
    const args: (string | number)[] = ['GROUP', this.opts.group, this.opts.consumer, 'COUNT', n];
    if (block) args.push('BLOCK', this.blockMs);
    args.push('STREAMS', this.key, id);
    const reply = await this.client.call('XREADGROUP', ...args) as [string, RawEntry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** One XAUTOCLAIM step; a full pass (cursor back at 0-0) waits claimEveryMs before the next. */
  private async autoClaim(n: number): Promise<RawEntry[]> {
    const reply = await this.client.call('XAUTOCLAIM', this.key, this.opts.group, this.opts.consumer, this.claimIdleMs, this.claimCursor, 'COUNT', n) as [string, RawEntry[] | null, string[]?];
    this.claimCursor = reply?.[0] ?? '0-0';
    if (this.claimCursor === '0-0') this.nextClaimAt = Date.now() + this.claimEveryMs;
    // Redis 6.2 lists a deleted (trimmed) entry as [id, null]; 7 leaves it out and deletes it from the PEL.
    return (reply?.[1] ?? []).filter((e): e is RawEntry => Array.isArray(e));
  }

  /** Stops: a read blocked in Redis is abandoned (its entries stay pending for this consumer, or a claimer). */
  close(): void {
    this.closed = true;
    if (this.ownClient) this.client.disconnect();
  }
}
