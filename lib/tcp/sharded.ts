/**
 * What a sharded run (`--workers N`: lib/shard, streams/shard-worker.ts) sets on a worker's TcpReassembler.
 *
 * A worker sees only its flows, but one thread's reassembler runs on the whole capture: its clock is the
 * largest time of any TCP packet so far, its idle sweeps (every second of capture time) end and forget
 * connections of every flow, each stamped with the packet that triggered the sweep, and the end-of-input
 * flush and the sweeps release connections in least-recently-active order over all flows. With these
 * hooks the worker's reassembler runs on the clock the reading thread keeps (lib/shard/clock.ts), sweeps
 * where one thread would, and tells the worker where each release falls in the one-thread order.
 */
export interface ReassemblerShard {
  /** tsSec of the whole capture's first TCP packet (NaN before it). */
  baseSec: number;
  /** The whole capture's clock (ns since baseSec) after the packet being fed. */
  clock: number;
  /** The global index of the packet being fed; each connection keeps its last one (Connection.lastPosition). */
  position: number;
  /**
   * Sweep when the packet at this position reaches the clock (-1: none): one thread sweeps inside
   * packet(), after the packet found its connection (a connection the sweep ends still takes it, late).
   */
  sweepAtPosition: number;
  /** A connection was made (its number in this reassembler). */
  onCreate(id: number): void;
  /** A connection is about to be released by a sweep or the end-of-input flush. */
  onRelease(lastPosition: number): void;
  /** A sweep is over. */
  onSweepEnd(): void;
}
