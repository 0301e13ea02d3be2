/**
 * `redisPublisher()`: the end of a chain that prints NDJSON (an http/tcp/tls/grep printer with json on)
 * appending each line to a Redis stream instead of stdout:
 *
 *   XADD KEY MAXLEN ~ N * sensor NAME event {...,"sensor":NAME}
 *
 * many XADDs per round trip (a pipeline of up to `batchSize`, at most MAX_BATCHES_IN_FLIGHT at once). While
 * Redis answers, a full queue holds the chain back (backpressure: a file is read no faster than Redis takes
 * it). While Redis is away the chain is not held (a live capture cannot wait): events queue up to
 * `capacity` and the newest past it are dropped and counted (lib/redis/outbox.ts); the client reconnects
 * with backoff and the queue drains. At the end it waits `flushTimeoutMs` for an absent Redis, then counts
 * what is left as dropped. `stats()` tells at any time; nothing is lost without being counted.
 *
 * A batch that comes back unanswered while the client says it is ready (a Redis Cluster whose node for the
 * stream's slot is gone, the others still up; lib/redis/errors.ts) counts as Redis being away too: sending
 * pauses (reconnectDelay() backoff, then one more try), the chain is no longer held, the queue bound and
 * the drop counting apply, and stderr says so, as when a single server goes away.
 */
import { Writable } from 'node:stream';
import { Outbox, DEFAULT_FLUSH_TIMEOUT_MS, DEFAULT_OUTBOX_CAPACITY, type OutboxCounters } from '../lib/redis/outbox';
import { isUnanswered } from '../lib/redis/errors';
import { EVENT_FIELD, SENSOR_FIELD, sensorJson, withSensor } from '../lib/redis/entry';
import type { RedisStreamTarget } from '../lib/redis/url';
import { clientErrorText, connectRedis, reconnectDelay, type RedisClient } from './redis-client';

export const DEFAULT_MAXLEN = 1_000_000;
export const DEFAULT_BATCH = 500;
export const MAX_BATCHES_IN_FLIGHT = 2;
export { DEFAULT_FLUSH_TIMEOUT_MS };

export interface RedisPublisherOptions {
  target: RedisStreamTarget;
  /** The `sensor` field of every entry. */
  sensor: string;
  /** `MAXLEN ~ N` on every XADD (approximate trimming: Redis trims whole macro nodes, cheaply). */
  maxlen?: number;
  /** Events queued locally (Redis away or slow) before new ones are dropped. */
  capacity?: number;
  /** XADDs per pipeline. */
  batchSize?: number;
  /** At the end, how long to wait for an absent Redis before dropping what is queued. */
  flushTimeoutMs?: number;
  /** A client to use instead of connecting (tests); it is not closed at the end. */
  client?: RedisClient;
}

/** The publisher's connection changes, for the command to report on stderr. */
export type PublisherNotice =
  | { kind: 'connected'; first: boolean; queued: number }
  | { kind: 'disconnected'; error: string | undefined; queued: number }
  | { kind: 'dropping'; capacity: number }
  | { kind: 'refused'; error: string };

export interface PublisherStats extends OutboxCounters {
  /** Lines that were not a JSON object (never printed by our commands; counted, not sent). */
  malformed: number;
  reconnects: number;
  connected: boolean;
}

export class RedisPublisher extends Writable {
  private readonly outbox: Outbox<string>;
  private readonly client: RedisClient;
  private readonly ownClient: boolean;
  private readonly key: string;
  private readonly sensor: string;
  private readonly sensorText: string;
  private readonly maxlen: string;
  private readonly batchSize: number;
  private readonly flushTimeoutMs: number;
  private batchesInFlight = 0;
  private connected = false;
  private everConnected = false;
  private reconnects = 0;
  private malformed = 0;
  private lastError: string | undefined;
  /** A line cut between two chunks (printers push whole lines, but a Writable may be handed any split). */
  private partial = '';
  /** The write callback held back while the queue is over its high-water mark and Redis is taking events. */
  private held: (() => void) | undefined;
  /** _final's callback, once the input ended. */
  private finishing: ((e?: Error | null) => void) | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private dropNoticeGiven = false;
  private reportedDown = false;
  /** Batches came back unanswered with the client ready (a cluster's node away): sending waits for stallTimer. */
  private stalled = false;
  private stallAttempts = 0;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RedisPublisherOptions) {
    super({ decodeStrings: false, highWaterMark: 64 * 1024 });
    this.outbox = new Outbox<string>(opts.capacity ?? DEFAULT_OUTBOX_CAPACITY);
    this.key = opts.target.key;
    this.sensor = opts.sensor;
    this.sensorText = sensorJson(opts.sensor);
    this.maxlen = String(opts.maxlen ?? DEFAULT_MAXLEN);
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH;
    this.flushTimeoutMs = opts.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
    this.ownClient = opts.client === undefined;
    this.client = opts.client ?? connectRedis(opts.target, { offlineQueue: false, clientName: `pcap-pipe-publish-${opts.sensor}`.replace(/[^\x21-\x7e]/g, '_') });
    this.connected = this.client.status === 'ready';
    this.everConnected = this.connected;
    this.client.on('ready', this.onReady);
    this.client.on('close', this.onClose);
    // ioredis emits 'error' for every failed (re)connect; unhandled it would throw. 'close' reports it.
    this.client.on('error', this.onError);
  }

  stats(): PublisherStats {
    return { ...this.outbox.counters, malformed: this.malformed, reconnects: this.reconnects, connected: this.connected };
  }

  /** Connected and not paused after unanswered batches: batches may go out. */
  private get sending(): boolean {
    return this.connected && !this.stalled;
  }

  private readonly onReady = (): void => {
    this.clearStall();
    this.connected = true;
    this.back();
    this.pump();
  };

  /** Redis takes events (again): said once per outage. `sending`: queued events already on their way. */
  private back(sending = 0): void {
    const first = !this.everConnected;
    if (!first && !this.reportedDown) return;
    if (!first) this.reconnects++;
    this.everConnected = true;
    this.reportedDown = false;
    this.lastError = undefined;
    this.emit('notice', { kind: 'connected', first, queued: sending + this.outbox.length } satisfies PublisherNotice);
  }

  /**
   * A batch came back unanswered while the client is ready: pause sending (backoff), report the outage and
   * stop holding the chain back; after the delay one batch more is tried.
   */
  private stall(): void {
    if (this.stalled || this.client.status !== 'ready') return;
    this.stalled = true;
    this.reportDown();
    this.release();
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      this.stalled = false;
      this.pump();
      this.checkFinished();
    }, reconnectDelay(++this.stallAttempts));
  }

  private clearStall(): void {
    if (this.stallTimer !== undefined) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.stalled = false;
    this.stallAttempts = 0;
  }

  /** Once per outage (ioredis says 'close' and 'error' on every failed attempt). */
  private reportDown(): void {
    if (this.reportedDown) return;
    this.reportedDown = true;
    this.emit('notice', { kind: 'disconnected', error: this.lastError, queued: this.outbox.length } satisfies PublisherNotice);
  }

  private readonly onClose = (): void => {
    this.connected = false;
    this.reportDown();
    // Not held back while Redis is away: the queue takes what it can, the rest is counted as dropped.
    this.release();
    this.checkFinished();
  };

  private readonly onError = (e: Error): void => {
    this.lastError = clientErrorText(e);
  };

  override _write(chunk: string | Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.add(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.slice(start);
    this.pump();
    if (this.sending && this.outbox.length >= this.highWater()) this.held = () => done();
    else done();
  }

  private add(line: string): void {
    if (line === '') return;
    const event = withSensor(line, this.sensorText);
    if (event === null) {
      this.malformed++;
      return;
    }
    if (!this.outbox.push(event) && !this.dropNoticeGiven) {
      this.dropNoticeGiven = true;
      this.emit('notice', { kind: 'dropping', capacity: this.outbox.capacity } satisfies PublisherNotice);
    }
  }

  /** Queue length over which the chain is held back (only while Redis is taking events). */
  private highWater(): number {
    return Math.min(this.outbox.capacity, this.batchSize * MAX_BATCHES_IN_FLIGHT * 2);
  }

  private release(): void {
    const held = this.held;
    this.held = undefined;
    held?.();
  }

  /** Sends batches while connected, up to MAX_BATCHES_IN_FLIGHT pipelines at once. */
  private pump(): void {
    while (this.sending && this.batchesInFlight < MAX_BATCHES_IN_FLIGHT && this.outbox.length > 0) {
      this.send(this.outbox.take(this.batchSize));
    }
  }

  private send(batch: string[]): void {
    this.batchesInFlight++;
    const p = this.client.pipeline();
    for (const ev of batch) p.xadd(this.key, 'MAXLEN', '~', this.maxlen, '*', SENSOR_FIELD, this.sensor, EVENT_FIELD, ev);
    p.exec().then(
      (results) => this.settle(batch, results),
      (e: unknown) => this.settle(batch, null, e),
    ).finally(() => {
      this.batchesInFlight--;
      this.pump();
      if (this.held !== undefined && (!this.sending || this.outbox.length < this.highWater())) this.release();
      this.checkFinished();
    });
  }

  /**
   * Per-entry answers: a reply is sent; an error reply from Redis (OOM, WRONGTYPE) is a refusal (dropped,
   * counted: sending it again would fail again). No answer at all (the connection broke with the batch in
   * flight) puts the batch back at the front of the queue: it is sent again after the reconnect.
   */
  private settle(batch: string[], results: [Error | null, unknown][] | null, error?: unknown): void {
    if (results === null || results.length !== batch.length) {
      if (error instanceof Error) this.lastError = error.message;
      this.outbox.requeue(batch);
      this.stall();
      return;
    }
    const unanswered = results.filter(([e]) => e !== null && isUnanswered(e.message)).length;
    if (unanswered > 0) {
      // Keep the ones Redis did not answer, in order; count the rest.
      const again: string[] = [];
      let sent = 0;
      let refused = 0;
      results.forEach(([e], i) => {
        if (e === null) sent++;
        else if (isUnanswered(e.message)) {
          again.push(batch[i] as string);
          this.lastError = e.message;
        } else refused++;
      });
      this.outbox.settle(sent, refused);
      this.outbox.requeue(again);
      this.stall();
      return;
    }
    // Answered: Redis takes events; after a pause for unanswered batches that is the end of an outage.
    if (this.stallAttempts > 0 && !this.stalled) {
      this.stallAttempts = 0;
      this.back(batch.length);
    }
    let refused = 0;
    for (const [e] of results) {
      if (e === null) continue;
      refused++;
      this.lastError = e.message;
    }
    if (refused > 0) this.emit('notice', { kind: 'refused', error: this.lastError ?? 'error' } satisfies PublisherNotice);
    this.outbox.settle(batch.length - refused, refused);
  }

  override _final(done: (e?: Error | null) => void): void {
    if (this.partial !== '') {
      this.add(this.partial);
      this.partial = '';
    }
    this.finishing = done;
    this.pump();
    this.checkFinished();
  }

  /** At the end: done when everything is settled; while Redis is away, give it flushTimeoutMs, then drop. */
  private checkFinished(): void {
    if (this.finishing === undefined) return;
    if (this.outbox.length === 0 && this.batchesInFlight === 0) {
      this.finish();
      return;
    }
    if (!this.sending && this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        if (this.sending) return;
        this.outbox.dropQueued();
        this.checkFinished();
      }, this.flushTimeoutMs);
    } else if (this.sending && this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
  }

  private finish(): void {
    const done = this.finishing;
    if (done === undefined) return;
    this.finishing = undefined;
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.detach();
    done();
  }

  private detach(): void {
    this.clearStall();
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
    if (this.ownClient) {
      // Everything is settled: nothing to wait for. disconnect() also stops the reconnect loop.
      this.client.disconnect();
    }
    this.client.off('error', this.onError);
    if (this.ownClient) this.client.on('error', () => undefined);
  }

  override _destroy(err: Error | null, done: (e?: Error | null) => void): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.release();
    // Destroyed before the end (the chain failed): what is queued was never sent.
    this.outbox.dropQueued();
    this.detach();
    done(err);
  }
}

export function redisPublisher(opts: RedisPublisherOptions): RedisPublisher {
  return new RedisPublisher(opts);
}
