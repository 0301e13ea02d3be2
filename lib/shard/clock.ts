/**
 * The TCP reassembler's capture clock, kept by the reading thread for a sharded run (`--workers N`).
 *
 * One thread's reassembler (lib/tcp/reassembler.ts) advances its clock with every TCP packet of every
 * connection, and every second of capture time sweeps ALL connections for idle ones (ending them with
 * `end` reason 'idle' and forgetting closed ones after closedLinger), stamping what the sweep releases
 * with the packet that triggered it. A worker only sees its own flows, so it cannot know either: the
 * reading thread runs the same arithmetic here, over every packet routed as TCP, and tells the workers
 * the clock after each of their packets and where the sweeps fall (every worker runs each sweep on its
 * own connections, stamped with the triggering packet).
 *
 * Which packets advance the clock: one thread advances it in TcpReassembler.packet() for packets whose
 * decode has a TCP layer and that are not IP fragments. Here: packets the flow hash classifies as
 * unfragmented TCP ('flow', protocol 6). They differ only for TCP packets the decoder refuses (truncated
 * or malformed TCP/IP headers: one thread ignores them, here they advance the clock) and for TCP segments
 * rebuilt from IP fragments (one thread advances the clock with the rebuilt packet, here the next
 * unfragmented TCP packet does). Either moves a sweep by at most one packet, and that changes the output
 * only when a connection's idle timeout falls in between.
 */

/** The interval between sweeps, as in TcpReassembler (SWEEP_INTERVAL_NS). */
const SWEEP_INTERVAL_NS = 1e9;

export class CaptureClock {
  /** tsSec of the first clock packet (NaN before it). */
  baseSec = NaN;
  /** ns since baseSec: the largest packet time seen (-Infinity before the first). */
  clock = -Infinity;
  private lastSweep = -Infinity;
  /** The last clock packet's stamp (the end-of-input flush is stamped with it). */
  frame = 0;
  tsSec = 0;
  tsNsec = 0;
  /** True once a clock packet was seen. */
  seen = false;

  /** A TCP packet: advances the clock; true when one thread would sweep at this packet. */
  advance(frame: number, tsSec: number, tsNsec: number): boolean {
    if (this.baseSec !== this.baseSec) this.baseSec = tsSec;
    const now = (tsSec - this.baseSec) * 1e9 + tsNsec;
    if (now > this.clock) this.clock = now;
    this.frame = frame;
    this.tsSec = tsSec;
    this.tsNsec = tsNsec;
    this.seen = true;
    if (this.clock - this.lastSweep >= SWEEP_INTERVAL_NS) {
      this.lastSweep = this.clock;
      return true;
    }
    return false;
  }
}
