/**
 * One worker of a sharded run (`--workers N`, shard(): streams/shard.ts): a worker_threads entry point that
 * builds the chain the command runs on one thread from its description (streams/chain-spec.ts: decode, tcp,
 * tls, http, selection, grep, a user's module stage, and the printer), runs it on the flows the reading
 * thread routes to it, and sends back the printed lines (or, for shard(), the serialised objects).
 *
 * The stages are the same classes as the command's pipeline, driven synchronously one packet at a time
 * (BatchTransform.runSync) instead of as streams: then every output line is known to come from one packet,
 * and is tagged with that packet's global index for the merge (lib/shard/merge.ts). The order of a
 * stream pipeline is the same: each stage handles its input in order and emits in order.
 *
 * Tags (index, sub): the packet's own outputs are (i, i); a sweep at packet i releases connections in the
 * one-thread LRU order, which is the order of each connection's last packet, so their outputs are
 * (i, last packet of the connection) — before packet i's own, and interleaved between workers as one
 * thread would; the end-of-input flush is (Infinity, last packet of the connection); what later stages
 * flush at the very end, (Infinity, Infinity).
 *
 * Connection numbers: the reassembler numbers connections per worker; one thread numbers them in order
 * of their first packet over the whole capture. The worker reports each new connection as a marker at its
 * packet, and for each line where the number sits in it, so the merge puts the global number in.
 */
import { serialize } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { TimeFormatter } from '../lib/core/time';
import type { GrepMatch, PacketVerdict } from '../lib/grep/grep';
import type { TcpReassembler } from '../lib/tcp/reassembler';
import type { PacketRecord } from '../lib/core/record';
import { forEachPacked, type PackedBatch } from '../lib/shard/batch';
import { idAt, locateGrep, locateHttpTrace, locateTcp, type Located } from '../lib/shard/locate';
import { OUT_FIELDS, type BlockLine, type WorkerOutput } from '../lib/shard/merge';
import type { HttpTraceEvent } from '../lib/trace/output';
import { countEvent, countPacket, emptyTraceCounts, type TraceCounts } from '../lib/trace/summary';
import type { Packet } from '../lib/layers/decode';
import type { ReassemblerShard } from '../lib/tcp/sharded';
import { buildPrinter, buildStages, tlsSpecOf, type ChainSpec, type PrinterSpec } from './chain-spec';
import { FollowItems } from './follow-items';
import type { GrepStream } from './grep';
import { TcpStream } from './tcp';
import { TlsStream } from './tls';
import { FileShard, type FileShardChunk, type FileShardRead, type FileShardReport, type FileShardStart } from './shard-file';

/** What a sharded command tells its workers (structured-cloned: RegExps travel, class instances do not). */
export interface TraceWorkerConfig {
  /** The command's chain, as it runs on one thread (streams/chain-spec.ts); its printer makes the lines. */
  chain: ChainSpec & { printer: PrinterSpec };
  /** Count packets and events for the closing counts (lib/trace/summary.ts). */
  counts: boolean;
  /** Tests only: throw when the packet with this global index comes. */
  throwAt?: number;
}

/** What the reading thread starts a worker with (worker_threads' workerData). */
export interface ShardWorkerData {
  pcapPipeShard: true;
  config: TraceWorkerConfig;
  /** Workers of the run: with one, it runs as one thread (see TraceWorker's `single`). */
  workers: number;
}

/** Reading thread → worker (a regular file: 'file', its chunks, 'eof': streams/shard-file.ts; else batches, then 'end'). */
export type ToWorker =
  | { t: 'batch'; batch: PackedBatch; sweeps: Float64Array | null; baseSec: number; upTo: number; secrets: string[] | null }
  | { t: 'end'; baseSec: number; clock: number; frame: number; tsSec: number; tsNsec: number }
  | FileShardStart | FileShardChunk | { t: 'eof' };

/** First size of a batch's output buffer (it grows for big batches). */
const OUT_BUFFER_BYTES = 256 * 1024;

/** Numbers per sweep in a batch's `sweeps`: index, clock, frame, tsSec, tsNsec. */
export const SWEEP_FIELDS = 5;

/** Worker → reading thread. */
export type FromWorker =
  | ({ t: 'out'; read?: FileShardRead } & WorkerOutput)
  | {
    t: 'stats'; tls?: { stats: TlsStream['stats']; keys: number }; counts?: TraceCounts; input?: FileShardReport;
    grep?: { selected: number; matches: number };
  }
  | { t: 'fail'; message: string; stack?: string };

type Next = (x: unknown) => void;
interface SyncStage { runSync(item: never, next: Next): void; finishSync(next: Next): void; drainSync?(next: Next): void }

/** The worker's stage chain and its tagged output. */
export class TraceWorker {
  /**
   * The stage that reassembles TCP (tcp(), or grep() in stream mode: its own reassembler), and that
   * reassembler: it runs on the whole capture's clock and sweeps (lib/tcp/sharded.ts).
   */
  private readonly tcp: SyncStage | undefined;
  private readonly reassembler: TcpReassembler | undefined;
  private readonly tls: TlsStream | undefined;
  private readonly stages: SyncStage[];
  private readonly printer: SyncStage;
  /** Where the printer's lines hold connection numbers (lib/shard/locate.ts). */
  private readonly locate: (ev: never, text: string) => Located;
  /** Index of the tcp stage in `stages` (-1: none: nothing crosses flows, every output is its packet's). */
  private readonly tcpAt: number;
  /** The closing counts, when asked for. */
  readonly counts: TraceCounts | undefined;
  /** The chain's grep stage, if any (its counts decide grep's exit status). */
  readonly grep: GrepStream<PacketVerdict> | undefined;
  /** The reassembler's view of the whole capture (lib/tcp/sharded.ts). */
  private readonly shard: ReassemblerShard;
  // output of the batch being handled: the lines' bytes, and OUT_FIELDS numbers per item
  private buf: Buffer = Buffer.allocUnsafeSlow(OUT_BUFFER_BYTES);
  private bytes = 0;
  private meta: number[] = [];
  private tagIndex = 0;
  private tagSub = 0;
  /** Highest index handled: tags never go back (held fragments come late, see lib/shard/router.ts). */
  private position = -1;
  /** The event being printed (its connection numbers go with its line). */
  private printing: unknown;
  private readonly emitEvent: Next;
  private readonly emitLine: Next;
  /** nexts[k]: feeds stage k (made once: no closure per packet). */
  private readonly nexts: Next[] = [];

  /**
   * `single`: the only worker of the run (`--workers 1`). It sees every packet, so its chain is one
   * thread's as it is: its reassembler keeps its own clock and sweeps (no ReassemblerShard: what the
   * reading thread sends of the clock and sweeps is ignored), its connection numbers are the whole
   * capture's (no markers, nothing located for the merge to renumber: lib/shard/merge.ts takes the numbers
   * as they are), and each output is tagged with the packet being handled, or Infinity at the end.
   */
  constructor(private readonly config: TraceWorkerConfig, private readonly single = false) {
    const chain = config.chain;
    const counts = this.counts = config.counts ? emptyTraceCounts() : undefined;
    const tlsSpec = tlsSpecOf(chain);
    // the same stages as the one-thread chain (streams/chain-spec.ts); the counts see what the one-thread taps see
    this.tls = tlsSpec !== undefined ? new TlsStream({ keyLogFiles: tlsSpec.keyLogFiles }) : undefined;
    const built = buildStages(chain.stages, {
      ...(this.tls !== undefined ? { tls: this.tls } : {}),
      ...(counts !== undefined ? { onPacket: (p: Packet) => countPacket(counts, p.errors.length > 0), onEvent: (ev: HttpTraceEvent) => countEvent(counts, ev) } : {}),
    });
    for (const st of built) {
      if (typeof (st as unknown as SyncStage).runSync !== 'function') throw new Error(`shard worker: the stage ${st.constructor.name} cannot run synchronously (no runSync)`);
    }
    this.stages = built as unknown as SyncStage[];
    // (grep's modules are loaded only by a grep chain: by name, not instanceof)
    const grepStage = built.find((st): st is GrepStream<PacketVerdict> => st.constructor.name === 'GrepStream') as GrepStream<PacketVerdict> | undefined;
    this.grep = grepStage;
    this.tcpAt = built.findIndex((st) => st instanceof TcpStream || (st === grepStage && grepStage.streamGrep !== undefined));
    const reasm = built[this.tcpAt];
    this.tcp = reasm as unknown as SyncStage | undefined;
    this.reassembler = reasm === undefined ? undefined : reasm instanceof TcpStream ? reasm.reassembler : grepStage?.streamGrep?.reassembler;
    this.shard = {
      baseSec: NaN, clock: -Infinity, position: -1, sweepAtPosition: -1,
      onCreate: (id) => { this.marker(id); },
      // what the previous connection's release made goes down the chain under its own tag first
      onRelease: (last) => { this.drainTcp(); this.tagSub = last; },
      // a sweep run inside a packet (see batch()): the packet's own outputs that follow have the packet's tag
      onSweepEnd: () => { this.drainTcp(); this.tagSub = this.tagIndex; },
    };
    if (!single) this.reassembler?.shardedBy(this.shard);
    const p = chain.printer;
    // follow's blocks are decided by the merge (streams/follow-items.ts): its lines hold no numbers to locate
    this.printer = (p.printer === 'follow' ? new FollowItems(p.mode) : p.printer === 'grep' ? grepPrinter(p, grepStage, (m) => { this.printing = m; this.emitLine(m.text); })
      : p.printer === 'objects' ? PASS_ON : buildPrinter(p)) as unknown as SyncStage;

    this.locate = single ? () => NO_IDS : p.printer === 'http-trace' ? (ev: never, text: string) => locateHttpTrace(ev, text, p.json)
      : p.printer === 'grep' ? (ev: never, text: string) => locateGrep(ev, text, p.json)
      : p.printer === 'tcp' ? (ev: never, text: string) => locateTcp(ev, text, p.json) : () => NO_IDS;
    this.emitLine = p.printer === 'objects' ? (x) => { this.object(x); } : (line) => { this.line(line as string | Uint8Array | BlockLine); };
    this.emitEvent = (ev) => {
      this.printing = ev;
      this.printer.runSync(ev as never, this.emitLine);
    };
    for (let k = 0; k < this.stages.length; k++) {
      const stage = this.stages[k]!;
      const after = k + 1;
      this.nexts.push((x) => stage.runSync(x as never, after === this.stages.length ? this.emitEvent : this.nexts[after]!));
    }
    this.nexts.push(this.emitEvent);
  }

  /** Feeds `item` to stage `k` and on down the chain, synchronously. */
  private feed(k: number, item: unknown): void {
    this.nexts[k]!(item);
  }

  /** Finishes stage k (and what it releases goes on down), then the next ones. */
  private finishFrom(k: number): void {
    for (let s = k; s < this.stages.length; s++) this.stages[s]!.finishSync(this.nexts[s + 1]!);
    this.printer.finishSync(this.emitLine);
  }

  /** What the tcp stage produced outside handle() (a sweep), on down the chain. */
  private drainTcp(): void {
    this.tcp?.drainSync?.(this.nexts[this.tcpAt + 1]!);
  }

  batch(msg: Extract<ToWorker, { t: 'batch' }>): WorkerOutput {
    if (msg.secrets !== null && this.tls !== undefined) for (const s of msg.secrets) this.tls.keyLog.addText(s);
    this.shard.baseSec = msg.baseSec;
    // the only worker's reassembler sweeps on its own clock, as one thread's
    const sweeps = this.single ? null : msg.sweeps;
    let next = 0;
    const r = this.shard;
    const throwAt = this.config.throwAt;
    forEachPacked(msg.batch, (index, clock, rec) => {
      // the sweeps one thread runs before this packet (triggered by other workers' packets)
      while (sweeps !== null && next < sweeps.length && sweeps[next]! < index) {
        this.sweep(sweeps, next);
        next += SWEEP_FIELDS;
      }
      if (index === throwAt) throw new Error(`test: worker failure at packet ${index}`);
      if (sweeps !== null && next < sweeps.length && sweeps[next]! === index) {
        // this packet triggers a sweep: one thread runs it inside TcpReassembler.packet(), after the packet
        // found its connection (a connection the sweep ends still takes this packet, as a late one)
        r.sweepAtPosition = index;
        this.packet(index, clock, rec, r);
        // a packet that did not reach the reassembler's clock (not TCP after all): the sweep on its own
        if (r.sweepAtPosition === index) {
          r.sweepAtPosition = -1;
          this.sweep(sweeps, next);
        }
        next += SWEEP_FIELDS;
        return;
      }
      this.packet(index, clock, rec, r);
    });
    while (sweeps !== null && next < sweeps.length) {
      this.sweep(sweeps, next);
      next += SWEEP_FIELDS;
    }
    return this.take(msg.upTo);
  }

  private packet(index: number, clock: number, rec: PacketRecord, r: ReassemblerShard): void {
    if (index > this.position) this.position = index;
    this.tagIndex = this.position;
    this.tagSub = this.position;
    r.position = this.position;
    if (clock > r.clock) r.clock = clock;
    this.feed(0, rec);
  }

  /** A sweep triggered by another worker's packet (or by one of ours that turned out not to be TCP). */
  private sweep(sweeps: Float64Array, at: number): void {
    this.sweepAt(sweeps[at]!, sweeps[at + 1]!, sweeps[at + 2]!, sweeps[at + 3]!, sweeps[at + 4]!);
  }

  private sweepAt(index: number, clock: number, frame: number, tsSec: number, tsNsec: number): void {
    if (index > this.position) this.position = index;
    this.tagIndex = this.position;
    this.shard.clock = clock;
    this.reassembler?.stampAt(frame, tsSec, tsNsec, true);
  }

  // --- a regular file: the worker parses its shared chunks (streams/shard-file.ts, lib/shard/walk.ts: a WalkTarget)

  /** An own packet of the file, in capture order (sweepHere: one thread sweeps inside it). */
  filePacket(index: number, clock: number, baseSec: number, rec: PacketRecord, sweepHere: boolean): void {
    if (index === this.config.throwAt) throw new Error(`test: worker failure at packet ${index}`);
    const r = this.shard;
    r.baseSec = baseSec;
    if (!sweepHere) {
      this.packet(index, clock, rec, r);
      return;
    }
    r.sweepAtPosition = index;
    this.packet(index, clock, rec, r);
    // not TCP to the decoder after all: the sweep on its own, after the packet (as on the pipe path)
    if (r.sweepAtPosition === index) {
      r.sweepAtPosition = -1;
      this.sweepAt(index, clock, rec.frame, rec.tsSec, rec.tsNsec);
    }
  }

  /** A sweep triggered by another worker's packet of the file. */
  fileSweep(index: number, clock: number, baseSec: number, frame: number, tsSec: number, tsNsec: number): void {
    this.shard.baseSec = baseSec;
    this.sweepAt(index, clock, frame, tsSec, tsNsec);
  }

  /** A TLS key log from the file (pcapng Decryption Secrets Block). */
  fileSecrets(text: string): void {
    this.tls?.keyLog.addText(text);
  }

  /** The output so far, everything handled up to packet `watermark`. */
  output(watermark: number): WorkerOutput {
    return this.take(watermark);
  }

  end(msg: Extract<ToWorker, { t: 'end' }>): WorkerOutput {
    if (this.single) {
      // one thread's end: each stage finishes in chain order, what it releases going on down
      this.tagIndex = Infinity;
      this.tagSub = Infinity;
      this.finishFrom(0);
      return this.take(Infinity);
    }
    this.shard.baseSec = msg.baseSec;
    if (msg.clock > this.shard.clock) this.shard.clock = msg.clock;
    this.tagIndex = Infinity;
    const tcp = this.tcp;
    if (tcp !== undefined && this.reassembler !== undefined) {
      // decode's end (fragments given up) goes through tcp as one thread's does, first: fragments, no output
      this.tagSub = -Infinity;
      for (let k = 0; k < this.tcpAt; k++) this.stages[k]!.finishSync(this.nexts[k + 1]!);
      this.reassembler.stampAt(msg.frame, msg.tsSec, msg.tsNsec, false);
      // the flush releases connections oldest first; onRelease sets each one's sub-tag
      tcp.finishSync(this.nexts[this.tcpAt + 1]!);
    }
    this.tagSub = Infinity;
    this.finishFrom(this.tcpAt + 1);
    return this.take(Infinity);
  }

  tlsStats(): { stats: TlsStream['stats']; keys: number } | undefined {
    return this.tls === undefined ? undefined : { stats: this.tls.stats, keys: this.tls.keyLog.size };
  }

  private marker(id: number): void {
    this.meta.push(this.tagIndex, this.tagSub, -1, -1, id, -1, -1, 0);
  }

  /** One output of the printer: a line (its connection numbers located), raw bytes, or a block item. */
  private line(item: string | Uint8Array | BlockLine): void {
    if (typeof item === 'string') {
      const [p1, id1, p2, id2] = this.printing !== undefined ? this.locate(this.printing as never, item) : NO_IDS;
      this.meta.push(this.tagIndex, this.tagSub, this.text(item), p1, id1, p2, id2, 0);
    } else if (item instanceof Uint8Array) {
      if (this.bytes + item.length > this.buf.length) this.grow(item.length);
      this.buf.set(item, this.bytes);
      this.bytes += item.length;
      this.meta.push(this.tagIndex, this.tagSub, item.length, -1, -1, -1, -1, 0);
    } else {
      const p1 = item.at !== undefined && !this.single ? idAt(item.text, item.at, item.connection) : -1;
      this.meta.push(this.tagIndex, this.tagSub, this.text(item.text), p1, item.connection, -1, -1, item.block);
    }
  }

  /**
   * An output object (shard()): serialised into the batch's buffer; its connection numbers (a numeric
   * `connection`, as TCP and HTTP events have, and a numeric `previous` beside it, as port-reuse has) are
   * made global by the merge. Only with a tcp stage: the numbers are its reassembler's.
   */
  private object(x: unknown): void {
    const bytes = serialize(x);
    if (this.bytes + bytes.length > this.buf.length) this.grow(bytes.length);
    this.buf.set(bytes, this.bytes);
    this.bytes += bytes.length;
    const ev = x as { type?: unknown; connection?: unknown; previous?: unknown } | null;
    const id1 = this.reassembler !== undefined && !this.single && typeof ev?.connection === 'number' ? ev.connection : -1;
    // `previous` beside `connection` is a connection number too (a port-reuse event's, or a user's copy of it)
    const id2 = id1 >= 0 && typeof ev?.previous === 'number' ? ev.previous : -1;
    this.meta.push(this.tagIndex, this.tagSub, bytes.length, -1, id1, -1, id2, 0);
  }

  /** The text's UTF-8 bytes go straight into the batch's buffer (a transferable, not a string to clone); returns their length. */
  private text(text: string): number {
    if (this.bytes + text.length * 3 > this.buf.length) this.grow(text.length * 3);
    const n = this.buf.write(text, this.bytes, 'utf8');
    this.bytes += n;
    return n;
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.bytes + need));
    this.buf.copy(bigger, 0, 0, this.bytes);
    this.buf = bigger;
  }

  private take(watermark: number): WorkerOutput {
    const out: WorkerOutput = { data: new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.bytes), meta: Float64Array.from(this.meta), watermark };
    this.buf = Buffer.allocUnsafeSlow(OUT_BUFFER_BYTES);
    this.bytes = 0;
    this.meta = [];
    return out;
  }
}

const NO_IDS: Located = [-1, -1, -1, -1];

/** The 'objects' printer: each output as it is. */
const PASS_ON: SyncStage = { runSync: (x: never, next: Next) => next(x), finishSync: () => undefined };

/**
 * grep's verdicts printed as `pcap-pipe grep` prints them (GrepSink.verdictText; its `out` is never written),
 * and in stream mode its matches as they are found (GrepSink.matchText: one thread writes them when the grep
 * stage finds them, so they go out under the tag of the packet being handled).
 */
function grepPrinter(p: Extract<PrinterSpec, { printer: 'grep' }>, grep: GrepStream<PacketVerdict> | undefined, onMatch: (m: GrepMatch & { text: string }) => void): SyncStage {
  /* eslint-disable @typescript-eslint/no-var-requires */
  const { GrepSink } = require('./grep-print') as typeof import('./grep-print');
  const { Writable } = require('node:stream') as typeof import('node:stream');
  /* eslint-enable @typescript-eslint/no-var-requires */
  const sink = new GrepSink({
    text: {
      out: new Writable(), json: p.json, color: p.color, hexdump: p.hexdump, layout: p.layout,
      ...(p.timeStyle !== undefined ? { time: new TimeFormatter(p.timeStyle) } : {}),
    },
    stream: p.stream, invert: p.invert,
  });
  if (p.stream) {
    grep?.on('match', (m: GrepMatch) => {
      const text = sink.matchText(m);
      if (text !== '') onMatch({ ...m, text });
    });
  }
  return {
    runSync: (v: never, next: Next) => { const text = sink.verdictText(v as PacketVerdict); if (text !== '') next(text); },
    finishSync: () => undefined,
  };
}

void OUT_FIELDS;

if (parentPort !== null && (workerData as { pcapPipeShard?: boolean } | null)?.pcapPipeShard === true) {
  const port = parentPort;
  const data = workerData as ShardWorkerData;
  const worker = new TraceWorker(data.config, data.workers === 1);
  let failed = false;
  let file: FileShard | undefined;
  const fail = (e: unknown): void => {
    failed = true;
    const err = e as Error;
    port.postMessage({ t: 'fail', message: err?.message ?? String(e), ...(err?.stack !== undefined ? { stack: err.stack } : {}) } satisfies FromWorker);
  };
  const finish = (out: WorkerOutput, input?: FileShardReport): void => {
    const tls = worker.tlsStats();
    const g = worker.grep;
    port.postMessage({
      t: 'stats', ...(tls !== undefined ? { tls } : {}), ...(worker.counts !== undefined ? { counts: worker.counts } : {}), ...(input !== undefined ? { input } : {}),
      ...(g !== undefined ? { grep: { selected: g.selected, matches: g.matches } } : {}),
    } satisfies FromWorker);
    port.postMessage({ t: 'out', ...out } satisfies FromWorker, [out.meta.buffer as ArrayBuffer, out.data.buffer as ArrayBuffer]);
    port.close();
  };
  port.on('message', (msg: ToWorker) => {
    if (failed) return;
    try {
      if (msg.t === 'chunk') {
        const { out, read } = (file as FileShard).chunk(msg.data);
        port.postMessage({ t: 'out', ...out, read } satisfies FromWorker, [out.meta.buffer as ArrayBuffer, out.data.buffer as ArrayBuffer]);
      } else if (msg.t === 'file') {
        file = new FileShard(worker, msg);
      } else if (msg.t === 'eof') {
        const { out, report } = (file as FileShard).end();
        finish(out, report);
      } else if (msg.t === 'batch') {
        const out = worker.batch(msg);
        port.postMessage({ t: 'out', ...out } satisfies FromWorker, [out.meta.buffer as ArrayBuffer, out.data.buffer as ArrayBuffer]);
      } else {
        finish(worker.end(msg));
      }
    } catch (e) {
      fail(e);
    }
  });
}
