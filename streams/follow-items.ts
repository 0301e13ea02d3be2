/**
 * `pcap-pipe follow` in the workers of `--workers N`: TCP events in, what FollowSink (streams/follow.ts)
 * prints out — as items for the merge (lib/shard/merge.ts) instead of writes to stdout.
 *
 * FollowSink prints a connection's chunks under its header and writes a new header (closing the open
 * block first) only when another connection's bytes came in between: which block is open depends on
 * every connection, so a worker cannot decide it. It sends each chunk after an ITEM_OPEN header item and
 * each connection's closing rule as an ITEM_CLOSE item; the merge, which sees every connection in the
 * one-thread order, prints a header only when its block is not the open one, a rule only when it is,
 * and the last rule at the end — FollowSink's decisions, made where they can be made.
 */
import { FOLLOW_END, FollowCollector, followHeader, formatFollowChunk, type FollowChunk, type FollowConnection, type FollowHexOffsets } from '../lib/tcp/follow';
import { isTcpEvent, type TcpEvent } from '../lib/tcp/events';
import { ITEM_CLOSE, ITEM_OPEN, type BlockLine } from '../lib/shard/merge';
import type { FollowMode } from './follow';

/** What the merge writes to close an open block (and at the end, when one is open). */
export const FOLLOW_BLOCK_END = Buffer.from(FOLLOW_END);

type Emit = (item: string | Uint8Array | BlockLine) => void;

export class FollowItems {
  private readonly collector: FollowCollector;
  /** Per connection (this worker's numbers): its hex offsets, and whether a chunk of it was printed. */
  private readonly printing = new Map<number, { offsets: FollowHexOffsets; printedAny: boolean }>();
  private next: Emit = () => undefined;

  constructor(private readonly mode: FollowMode) {
    this.collector = new FollowCollector({
      keepBytes: false,
      onData: (conn, ev) => {
        if (mode === 'raw') this.next(ev.bytes);
        else this.chunk(conn, { direction: ev.direction, bytes: ev.bytes });
      },
      onMissing: (conn, chunk) => {
        if (mode !== 'raw') this.chunk(conn, chunk);
      },
    });
  }

  private stateOf(conn: FollowConnection): { offsets: FollowHexOffsets; printedAny: boolean } {
    let st = this.printing.get(conn.connection);
    if (st === undefined) {
      st = { offsets: { 'client-to-server': 0, 'server-to-client': 0 }, printedAny: false };
      this.printing.set(conn.connection, st);
    }
    return st;
  }

  private open(conn: FollowConnection): void {
    this.next({ text: followHeader(this.mode === 'hex' ? 'hex' : 'ascii', conn), block: ITEM_OPEN, connection: conn.connection, at: 'tcp.stream eq ' });
  }

  private chunk(conn: FollowConnection, chunk: FollowChunk): void {
    const st = this.stateOf(conn);
    const text = formatFollowChunk(this.mode === 'hex' ? 'hex' : 'ascii', chunk, st.offsets);
    if (text === '') return;
    this.open(conn);
    st.printedAny = true;
    this.next(text);
  }

  /** Synchronous use in a worker (see BatchTransform.runSync). */
  runSync(ev: unknown, next: Emit): void {
    this.next = next;
    if (!isTcpEvent(ev)) return;
    this.collector.event(ev as TcpEvent);
    if (ev.type !== 'end') return;
    const conn = this.collector.get(ev.connection);
    if (conn === undefined) return;
    if (this.mode !== 'raw') {
      // FollowSink.endConnection: a connection without bytes still gets its (empty) block
      if (this.printing.get(conn.connection)?.printedAny !== true) this.open(conn);
      this.next({ text: FOLLOW_END, block: ITEM_CLOSE, connection: conn.connection });
    }
    this.printing.delete(conn.connection);
    this.collector.delete(ev.connection);
  }

  finishSync(): void {
    // the block left open is closed by the merge at the end
  }
}
