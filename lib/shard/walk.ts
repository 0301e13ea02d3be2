/**
 * One worker's view of a capture file whose every chunk it parses (`--workers N` on a regular file:
 * streams/shard-file.ts). Every worker parses every record header of the file, but builds records only for
 * its own packets: this is the parser sink (lib/formats/format.ts) that decides, from the record bytes and
 * time alone, which packets are its own, and keeps what the reading thread keeps on the pipe path
 * (streams/shard.ts) for all of them:
 *   - the global index of every packet (the merge orders output by it; frame - 1 of a single file);
 *   - the flow routing (lib/shard/router.ts: the flow hash, and the fragments of a datagram where its first
 *     fragment goes), computed identically by every worker, so each packet is its own in exactly one;
 *   - the whole capture's TCP clock and where one thread's idle sweeps fall (lib/shard/clock.ts): a sweep
 *     triggered by another worker's packet is run here at that packet's place in the capture, a sweep
 *     triggered by an own packet inside that packet, as one thread runs it.
 * No packet is routed or copied by the reading thread; it reads the file and merges the workers' output.
 *
 * The decisions are those of streams/shard.ts, packet by packet: unfragmented TCP/UDP/... by flow hash,
 * non-IP packets to worker 0, fragments through the FlowRouter (their records are built in every worker:
 * the router keeps state per datagram and may hold a fragment until its first fragment comes).
 */
import type { PacketRecord } from '../core/record';
import { SECRETS_TYPE_TLS, type InterfaceInfo, type ParserSink } from '../formats/format';
import { CaptureClock } from './clock';
import { workerOf } from './flow-hash';
import { FlowRouter } from './router';

const IP_PROTO_TCP = 6;

/** What the walk drives: the worker's stages. */
export interface WalkTarget {
  /**
   * An own packet: its global index, the capture clock after it (ns since clockBaseSec), and whether one
   * thread's reassembler sweeps inside it.
   */
  packet(index: number, clock: number, baseSec: number, rec: PacketRecord, sweepHere: boolean): void;
  /** A sweep triggered by another worker's packet `index` (clock after it, and that packet's stamp). */
  sweep(index: number, clock: number, baseSec: number, frame: number, tsSec: number, tsNsec: number): void;
  /** A TLS key log found in the file (pcapng Decryption Secrets Block), in file order. */
  secrets?(text: string): void;
}

/** What FileShard (streams/shard-file.ts) reads of a walk: the packets seen, the clock, the link types. */
export interface FileWalk extends ParserSink {
  /** Global index of the last packet seen (-1 before the first). */
  readonly index: number;
  readonly clock: CaptureClock;
  readonly linkTypes: number[];
  /** End of input. */
  end(): void;
}

/**
 * The walk of the only worker (`--workers 1`): every packet is its own, so no record header is judged
 * before its record is built (no skip(): no flow hash, no fragment rule), and no clock is kept: the
 * worker's reassembler keeps its own, as one thread's does (streams/shard-worker.ts, single mode).
 */
export class SingleWalk implements FileWalk {
  index = -1;
  readonly clock = new CaptureClock();
  readonly linkTypes: number[] = [];

  constructor(private readonly target: WalkTarget) {}

  packet(rec: PacketRecord): void {
    this.target.packet(++this.index, 0, NaN, rec, false);
  }

  interface(info: InterfaceInfo): void {
    if (!this.linkTypes.includes(info.linkType)) this.linkTypes.push(info.linkType);
  }

  decryptionSecrets(type: number, data: Buffer): void {
    if (type === SECRETS_TYPE_TLS) this.target.secrets?.(data.toString('latin1'));
  }

  end(): void {}
}

/** What to do with the record the parser builds after skip() said no. */
const OWN = 1, OWN_SWEEP = 2, ROUTE = 3;

export class ShardWalk implements FileWalk {
  /** Global index of the last packet seen (-1 before the first). */
  index = -1;
  readonly clock = new CaptureClock();
  /** Link types of the file's interfaces (for the "not supported" line). */
  readonly linkTypes: number[] = [];
  private readonly router: FlowRouter;
  private pending = 0;
  private pendingClock = 0;
  private readonly routeSink: (w: number, rec: PacketRecord) => void;

  constructor(private readonly me: number, private readonly workers: number, private readonly target: WalkTarget, holdFragments = true) {
    this.router = new FlowRouter(workers, { holdFragments });
    this.routeSink = (w, rec) => {
      if (w === this.me) this.target.packet(this.index, this.clock.clock, this.clock.baseSec, rec, false);
    };
  }

  skip(data: Buffer, offset: number, caplen: number, linkType: number, _fcs: number | undefined, tsSec: number, tsNsec: number): boolean {
    const index = ++this.index;
    const info = this.router.hasher.classifyAt(data, offset, caplen, linkType);
    if (info.kind === 'flow') {
      const sweep = info.protocol === IP_PROTO_TCP && this.clock.advance(index + 1, tsSec, tsNsec);
      if (workerOf(info.hash, this.workers) === this.me) {
        this.pending = sweep ? OWN_SWEEP : OWN;
        this.pendingClock = this.clock.clock;
        return false;
      }
      if (sweep) this.target.sweep(index, this.clock.clock, this.clock.baseSec, index + 1, tsSec, tsNsec);
      return true;
    }
    if (info.kind === 'other') {
      if (this.me !== 0) return true;
      this.pending = OWN;
      this.pendingClock = this.clock.clock;
      return false;
    }
    this.pending = ROUTE;
    return false;
  }

  packet(rec: PacketRecord): void {
    if (this.pending === ROUTE) this.router.route(rec, this.routeSink);
    else this.target.packet(this.index, this.pendingClock, this.clock.baseSec, rec, this.pending === OWN_SWEEP);
  }

  interface(info: InterfaceInfo): void {
    if (!this.linkTypes.includes(info.linkType)) this.linkTypes.push(info.linkType);
  }

  decryptionSecrets(type: number, data: Buffer): void {
    if (type === SECRETS_TYPE_TLS) this.target.secrets?.(data.toString('latin1'));
  }

  /** End of input: fragments still held go to their address's worker (as the reading thread's flush). */
  end(): void {
    this.router.flush(this.routeSink);
  }
}
