/**
 * Routes packet records to workers by their flow (lib/shard/flow-hash.ts), keeping the fragments of one IP
 * datagram together with the rest of its connection.
 *
 * The choice for fragments: a datagram's fragments go where its FIRST fragment (the one with the ports)
 * goes, which is where the connection's unfragmented packets go, so the worker's defragmenter rebuilds the
 * segment next to the connection it belongs to. The router remembers, per datagram (addresses, protocol,
 * IP id), the worker its first fragment took (`maxDatagrams` entries, oldest forgotten first). A later
 * fragment that arrives before its first fragment (Linux used to send them last-first) is held here,
 * bounded by `maxHeldFragments` / `maxHeldBytes`, and sent right before the first fragment when it comes —
 * in their capture order, which is also the order the one-thread defragmenter saw them in. Held fragments
 * whose first fragment never comes (limits, end of input) go to the worker their addresses pick
 * (`addressHash`): the datagram cannot be rebuilt anyway, and its fragments come out as given up.
 *
 * Hashing fragments by addresses only would have been simpler but would split every fragmented connection
 * from its unfragmented packets; hashing every packet by addresses only would put all of a host pair's
 * connections (the whole bench capture: 127.0.0.1 talking to itself) on one worker.
 */
import type { PacketRecord } from '../core/record';
import { FlowHasher, workerOf, type FlowHashOptions } from './flow-hash';

export interface FlowRouterLimits {
  /** Datagrams whose first fragment's worker is remembered (default 4096). */
  maxDatagrams: number;
  /** Later fragments held while their first fragment has not come (default 1024). */
  maxHeldFragments: number;
  /** Bytes of held fragments (default 4 MiB). */
  maxHeldBytes: number;
}

export const DEFAULT_ROUTER_LIMITS: Readonly<FlowRouterLimits> = Object.freeze({
  maxDatagrams: 4096, maxHeldFragments: 1024, maxHeldBytes: 4 * 1024 * 1024,
});

export interface FlowRouterOptions extends FlowHashOptions {
  limits?: Partial<FlowRouterLimits>;
  /**
   * Hold a later fragment until its datagram's first fragment comes (default true: the worker's
   * defragmenter needs them together). False for chains that judge each packet alone (grep per packet,
   * no defragmentation): a held fragment would be handled after later packets and print after them; it
   * goes at once to its datagram's worker when the first fragment was seen, else to its address's.
   */
  holdFragments?: boolean;
}

/** Where `route` sends a record: the worker index and the record (a held copy when it was held). */
export type RouteSink = (worker: number, rec: PacketRecord) => void;

interface Held {
  rec: PacketRecord;
  worker: number;
}

export class FlowRouter {
  /** What the last routed packet was (the classification of FlowHasher, reused). */
  readonly hasher: FlowHasher;
  private readonly limits: FlowRouterLimits;
  /** fragment key → worker of the datagram's first fragment (Map order: oldest first). */
  private readonly datagrams = new Map<string, number>();
  /** fragment key → later fragments waiting for their first fragment (Map order: oldest first). */
  private readonly held = new Map<string, Held[]>();
  private heldCount = 0;
  private heldBytes = 0;
  private readonly holdFragments: boolean;
  /** Counters (for tests and stats). */
  readonly stats = { packets: 0, other: 0, fragments: 0, heldFragments: 0, orphanFragments: 0 };

  constructor(readonly workers: number, opts: FlowRouterOptions = {}) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
    this.hasher = new FlowHasher(opts);
    this.limits = { ...DEFAULT_ROUTER_LIMITS, ...opts.limits };
    this.holdFragments = opts.holdFragments ?? true;
  }

  /** Routes one record: calls `sink` zero or more times (held fragments come out later, in order). */
  route(rec: PacketRecord, sink: RouteSink): void {
    this.stats.packets++;
    const info = this.hasher.classify(rec.data, rec.linkType);
    switch (info.kind) {
      case 'flow':
        sink(workerOf(info.hash, this.workers), rec);
        return;
      case 'other':
        this.stats.other++;
        sink(0, rec);
        return;
      case 'first-fragment': {
        this.stats.fragments++;
        const worker = workerOf(info.hash, this.workers);
        this.remember(info.fragmentKey, worker);
        const waiting = this.held.get(info.fragmentKey);
        if (waiting !== undefined) this.release(info.fragmentKey, waiting, worker, sink);
        sink(worker, rec);
        return;
      }
      case 'fragment': {
        this.stats.fragments++;
        const known = this.datagrams.get(info.fragmentKey);
        if (known !== undefined) sink(known, rec);
        else if (!this.holdFragments) sink(workerOf(info.addressHash, this.workers), rec);
        else this.hold(info.fragmentKey, rec, workerOf(info.addressHash, this.workers), sink);
        return;
      }
    }
  }

  /** End of input: held fragments whose first fragment never came go to their address's worker. */
  flush(sink: RouteSink): void {
    for (const [key, list] of this.held) this.release(key, list, -1, sink);
  }

  private remember(key: string, worker: number): void {
    this.datagrams.delete(key);
    this.datagrams.set(key, worker);
    if (this.datagrams.size > this.limits.maxDatagrams) {
      const oldest = this.datagrams.keys().next().value as string;
      this.datagrams.delete(oldest);
    }
  }

  /** Holds a copy (the record's bytes are a view into a read chunk, which must not be pinned). */
  private hold(key: string, rec: PacketRecord, fallback: number, sink: RouteSink): void {
    const copy: PacketRecord = { ...rec, data: Buffer.from(rec.data) };
    let list = this.held.get(key);
    if (list === undefined) {
      list = [];
      this.held.set(key, list);
    }
    list.push({ rec: copy, worker: fallback });
    this.heldCount++;
    this.heldBytes += copy.data.length;
    this.stats.heldFragments++;
    while ((this.heldCount > this.limits.maxHeldFragments || this.heldBytes > this.limits.maxHeldBytes) && this.held.size > 0) {
      const [oldKey, oldList] = this.held.entries().next().value as [string, Held[]];
      this.release(oldKey, oldList, -1, sink);
    }
  }

  /** Sends a datagram's held fragments to `worker` (-1: each to its address's worker, as orphans). */
  private release(key: string, list: Held[], worker: number, sink: RouteSink): void {
    this.held.delete(key);
    for (const h of list) {
      this.heldCount--;
      this.heldBytes -= h.rec.data.length;
      if (worker < 0) this.stats.orphanFragments++;
      sink(worker < 0 ? h.worker : worker, h.rec);
    }
  }
}
