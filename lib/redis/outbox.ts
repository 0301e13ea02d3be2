/**
 * The publisher's bounded local queue and its accounting, without I/O (streams/redis-publish.ts does the
 * sending). Every event handed in ends in exactly one of: `sent` (Redis answered the XADD), `dropped`
 * (the queue was full while Redis was away, Redis refused the entry, or the end came before Redis did), or
 * still queued/in flight — so `produced === sent + dropped + queued + inFlight` at all times, and after
 * finish() `produced === sent + dropped`. Nothing is lost without being counted.
 *
 * When full, the newest events are refused (tail drop): what is queued keeps its order, and what Redis gets
 * after an outage is a contiguous run followed by the live events again.
 */

export interface OutboxCounters {
  /** Events handed to push(). */
  produced: number;
  /** Confirmed by Redis. */
  sent: number;
  /** Not sent, ever: see droppedFull / droppedRefused / droppedAtEnd. */
  dropped: number;
  /** Refused because the queue was full (Redis away or too slow). */
  droppedFull: number;
  /** Redis answered the XADD with an error (e.g. OOM, WRONGTYPE). */
  droppedRefused: number;
  /** Still queued when the publisher had to stop (Redis away at the end). */
  droppedAtEnd: number;
  /** Waiting to be sent. */
  queued: number;
  /** Sent, answer not yet seen. */
  inFlight: number;
  /** Events sent again after the connection broke with them in flight (at-least-once: Redis may have kept some of them). */
  resent: number;
}

export const DEFAULT_OUTBOX_CAPACITY = 100_000;
/** Milliseconds the publisher waits at the end for queued events to be sent (--publish-wait). Here, not in streams/redis-publish.ts, so --help and option parsing do not load the publisher. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 10_000;

export class Outbox<T> {
  private items: T[] = [];
  /** Index of the oldest queued item in `items` (a moving head, compacted now and then: O(1) take). */
  private head = 0;
  readonly counters: OutboxCounters = {
    produced: 0, sent: 0, dropped: 0, droppedFull: 0, droppedRefused: 0, droppedAtEnd: 0, queued: 0, inFlight: 0, resent: 0,
  };

  /** `capacity`: events queued (not counting those in flight) before new ones are dropped. */
  constructor(readonly capacity: number = DEFAULT_OUTBOX_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`outbox capacity must be a whole number >= 1, got ${capacity}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Queues one event; false (and counted as dropped) when the queue is full. */
  push(item: T): boolean {
    const c = this.counters;
    c.produced++;
    if (this.length >= this.capacity) {
      c.dropped++;
      c.droppedFull++;
      return false;
    }
    this.items.push(item);
    c.queued++;
    return true;
  }

  /** Up to `max` of the oldest events, now in flight. */
  take(max: number): T[] {
    const n = Math.min(max, this.length);
    const out = this.items.slice(this.head, this.head + n);
    this.head += n;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.counters.queued -= n;
    this.counters.inFlight += n;
    return out;
  }

  /** Redis confirmed `sent` of a batch in flight and refused `refused` of it. */
  settle(sent: number, refused: number): void {
    const c = this.counters;
    c.inFlight -= sent + refused;
    c.sent += sent;
    c.dropped += refused;
    c.droppedRefused += refused;
  }

  /**
   * A batch whose answer never came (the connection broke): back to the front of the queue, to be sent
   * again. Past the capacity, the newest queued events are dropped to make room (they are counted).
   */
  requeue(batch: T[]): void {
    const c = this.counters;
    c.inFlight -= batch.length;
    c.resent += batch.length;
    const rest = this.items.slice(this.head);
    const all = batch.concat(rest);
    const over = Math.max(0, all.length - this.capacity);
    if (over > 0) all.length -= over;
    this.items = all;
    this.head = 0;
    c.queued = all.length;
    c.dropped += over;
    c.droppedFull += over;
  }

  /** The end came and Redis is away: whatever is queued is dropped (and counted). In-flight batches settle on their own. */
  dropQueued(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    const c = this.counters;
    c.queued = 0;
    c.dropped += n;
    c.droppedAtEnd += n;
    return n;
  }

  /** The same as dropQueued() for batches in flight whose answer will never be waited for. */
  dropInFlight(n: number): void {
    const c = this.counters;
    c.inFlight -= n;
    c.dropped += n;
    c.droppedAtEnd += n;
  }
}
