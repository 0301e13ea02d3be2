/**
 * The bounded lists of the web view: the newest entries of a log (WebSocket messages, TCP trouble) with
 * what was added since the last update, and the per-second series. Each drops its oldest entries past its
 * limit and counts them.
 */
import type { SeriesPoint } from './types.js';

/** The newest `max` entries, and the ones added since takeNew() (also at most `max`). */
export class RecentLog<T> {
  private kept: T[] = [];
  private fresh: T[] = [];
  /** Entries that fell off the kept list. */
  dropped = 0;

  constructor(private readonly max: number) {}

  push(entry: T): void {
    this.kept.push(entry);
    this.fresh.push(entry);
    if (this.kept.length > this.max) {
      this.kept.shift();
      this.dropped++;
    }
    if (this.fresh.length > this.max) this.fresh.shift();
  }

  /** A copy of the kept entries, oldest first. */
  all(): T[] {
    return [...this.kept];
  }

  get hasNew(): boolean {
    return this.fresh.length > 0;
  }

  /** The entries added since the last call (the array is handed over, not copied). */
  takeNew(): T[] {
    const fresh = this.fresh;
    this.fresh = [];
    return fresh;
  }
}

/** Per-second points of capture time: the newest `maxSeconds` seconds, and which changed since takeChanged(). */
export class Series {
  private readonly points = new Map<number, SeriesPoint>();
  private readonly changedSeconds = new Set<number>();
  /** Points that fell off. */
  dropped = 0;

  constructor(private readonly maxSeconds: number) {}

  /** The point of second `t`, created when new; marked changed (the caller is about to add to it). */
  point(t: number): SeriesPoint {
    let p = this.points.get(t);
    if (!p) {
      p = { t, requests: 0, responses: 0, responseTimeSum: 0, responseTimeMax: 0, packets: 0, bytes: 0 };
      this.points.set(t, p);
      this.trim(t);
    }
    this.changedSeconds.add(t);
    return p;
  }

  /** Copies of every kept point, in insertion order. */
  all(): SeriesPoint[] {
    return [...this.points.values()].map((p) => ({ ...p }));
  }

  get hasChanged(): boolean {
    return this.changedSeconds.size > 0;
  }

  /** Copies of the points changed since the last call, in time order. */
  takeChanged(): SeriesPoint[] {
    const out: SeriesPoint[] = [];
    for (const t of [...this.changedSeconds].sort((a, b) => a - b)) {
      const p = this.points.get(t);
      if (p) out.push({ ...p });
    }
    this.changedSeconds.clear();
    return out;
  }

  private remove(t: number): void {
    this.points.delete(t);
    this.changedSeconds.delete(t);
    this.dropped++;
  }

  /** Keeps maxSeconds seconds ending at the newest one (captures can jump back and forth in time). */
  private trim(latest: number): void {
    const max = this.maxSeconds;
    if (this.points.size <= max) return;
    let newest = latest;
    for (const t of this.points.keys()) if (t > newest) newest = t;
    for (const t of [...this.points.keys()]) {
      if (this.points.size <= max) break;
      if (t <= newest - max) this.remove(t);
    }
    // Still too many (points spread over a wider span than max seconds but not older than it cannot happen;
    // out-of-order timestamps can leave a few): drop the oldest.
    while (this.points.size > max) {
      let oldest = Infinity;
      for (const t of this.points.keys()) if (t < oldest) oldest = t;
      this.remove(oldest);
    }
  }
}

/** The wall-clock window rates are measured over. */
const RATE_WINDOW_MS = 1000;
/** Samples kept for the rate window (tick every 100-250 ms: a few seconds). */
const MAX_RATE_SAMPLES = 64;

/** The running totals rates are taken of, and the rates (per second) written back. */
export interface RateCounters {
  packets: number;
  bytes: number;
  requests: number;
  packetsPerSecond: number;
  bytesPerSecond: number;
  requestsPerSecond: number;
}

/** Rates over the last second of wall-clock time, from samples of running totals. */
export class RateMeter {
  private readonly samples: { now: number; packets: number; bytes: number; requests: number }[] = [];

  /** Samples the totals at `now` (ms) and writes the rates into `c`; true when a rate changed. */
  tick(now: number, c: RateCounters): boolean {
    const samples = this.samples;
    samples.push({ now, packets: c.packets, bytes: c.bytes, requests: c.requests });
    while (samples.length > MAX_RATE_SAMPLES || (samples.length > 2 && now - (samples[1] as { now: number }).now >= RATE_WINDOW_MS)) samples.shift();
    const first = samples[0] as { now: number; packets: number; bytes: number; requests: number };
    const span = (now - first.now) / 1000;
    const pps = span > 0 ? Math.round((c.packets - first.packets) / span) : 0;
    const bps = span > 0 ? Math.round((c.bytes - first.bytes) / span) : 0;
    const rps = span > 0 ? Math.round(((c.requests - first.requests) / span) * 10) / 10 : 0;
    if (pps === c.packetsPerSecond && bps === c.bytesPerSecond && rps === c.requestsPerSecond) return false;
    c.packetsPerSecond = pps;
    c.bytesPerSecond = bps;
    c.requestsPerSecond = rps;
    return true;
  }
}
