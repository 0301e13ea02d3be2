/**
 * One worker of a sharded trace (`--workers N`, streams/shard.ts): a worker_threads entry point that runs
 * the stages the command runs on one thread — decode (with defragmentation), tcp, tls, http, selection and
 * the printer — on the flows the reading thread routes to it, and sends back the printed lines.
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
import { parentPort, workerData } from 'node:worker_threads';
import type { PacketRecord } from '../lib/core/record';
import { forEachPacked, type PackedBatch } from '../lib/shard/batch';
import { OUT_FIELDS, type WorkerOutput } from '../lib/shard/merge';
import { TimeFormatter, type TimeStyle } from '../lib/core/time';
import type { HttpFilterSpec } from '../lib/trace/filter';
import type { HttpTraceEvent } from '../lib/trace/output';
import { countEvent, countPacket, emptyTraceCounts, type TraceCounts } from '../lib/trace/summary';
import type { Packet } from '../lib/layers/decode';
import type { TcpLimits } from '../lib/tcp/reassembler';
import type { ReassemblerShard } from '../lib/tcp/sharded';
import { DecodeStream } from './decode';
import { HttpStream } from './http';
import { HttpTracePrinter, HttpTraceSelect } from './http-trace';
import { TcpStream } from './tcp';
import { TlsStream } from './tls';
import { FileShard, type FileShardChunk, type FileShardRead, type FileShardReport, type FileShardStart } from './shard-file';

/** What the trace commands tell their workers (structured-cloned: RegExps travel, class instances do not). */
export interface TraceWorkerConfig {
  kind: 'http-trace';
  filter: HttpFilterSpec;
  tcpEvents: boolean;
  websocketOnly: boolean;
  maxBodyKept: number;
  tcpLimits?: Partial<TcpLimits>;
  /** Put a tls() stage between tcp and http (always on capture files: pcapng secrets, ALPN). */
  tls: boolean;
  keyLogFiles: string[];
  print: {
    json: boolean; headers: boolean; showHeader?: RegExp; bodies: boolean; maxBody: number; tcpVerbose: boolean;
    color: boolean; websocketOnly?: boolean; timeStyle?: TimeStyle;
  };
  /** Count packets and events for the closing counts (lib/trace/summary.ts). */
  counts: boolean;
  /** Tests only: throw when the packet with this global index comes. */
  throwAt?: number;
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
  | { t: 'stats'; tls?: { stats: TlsStream['stats']; keys: number }; counts?: TraceCounts; input?: FileShardReport }
  | { t: 'fail'; message: string; stack?: string };

type Next = (x: unknown) => void;
interface SyncStage { runSync(item: never, next: Next): void; finishSync(next: Next): void; drainSync?(next: Next): void }

/** The worker's stage chain and its tagged output. */
export class TraceWorker {
  private readonly decode: DecodeStream;
  private readonly tcp: TcpStream;
  private readonly tls: TlsStream | undefined;
  private readonly stages: SyncStage[];
  private readonly printer: HttpTracePrinter;
  /** Index of the tcp stage in `stages`. */
  private readonly tcpAt: number;
  /** The closing counts, when asked for. */
  readonly counts: TraceCounts | undefined;
  /** The reassembler's view of the whole capture (lib/tcp/sharded.ts). */
  private readonly shard: ReassemblerShard;
  private readonly json: boolean;
  // output of the batch being handled: the lines' bytes, and OUT_FIELDS numbers per item
  private buf: Buffer = Buffer.allocUnsafeSlow(OUT_BUFFER_BYTES);
  private bytes = 0;
  private meta: number[] = [];
  private tagIndex = 0;
  private tagSub = 0;
  /** Highest index handled: tags never go back (held fragments come late, see lib/shard/router.ts). */
  private position = -1;
  /** The event being printed (its connection numbers go with its line). */
  private printing: HttpTraceEvent | undefined;
  private readonly emitEvent: Next;
  private readonly emitLine: Next;
  /** nexts[k]: feeds stage k (made once: no closure per packet). */
  private readonly nexts: Next[] = [];

  constructor(private readonly config: TraceWorkerConfig) {
    this.decode = new DecodeStream({ depth: 'transport', defragment: true });
    this.tcp = new TcpStream({ limits: config.tcpLimits });
    this.shard = {
      baseSec: NaN, clock: -Infinity, position: -1, sweepAtPosition: -1,
      onCreate: (id) => { this.marker(id); },
      // what the previous connection's release made goes down the chain under its own tag first
      onRelease: (last) => { this.drainTcp(); this.tagSub = last; },
      // a sweep run inside a packet (see batch()): the packet's own outputs that follow have the packet's tag
      onSweepEnd: () => { this.drainTcp(); this.tagSub = this.tagIndex; },
    };
    this.tcp.reassembler.shardedBy(this.shard);
    this.tls = config.tls ? new TlsStream({ keyLogFiles: config.keyLogFiles }) : undefined;
    const http = new HttpStream({ parser: { bodyEvents: false, maxBody: config.maxBodyKept } });
    const counts = this.counts = config.counts ? emptyTraceCounts() : undefined;
    const select = new HttpTraceSelect({
      filter: config.filter, tcpEvents: config.tcpEvents, websocketOnly: config.websocketOnly, batches: true,
      ...(counts !== undefined ? { onEvent: (ev: HttpTraceEvent) => countEvent(counts, ev) } : {}),
    });
    // the closing counts see every decoded packet, as the one-thread chain's tap after decode()
    const tap: SyncStage | undefined = counts === undefined ? undefined : {
      runSync: (p: never, next: Next) => { countPacket(counts, (p as Packet).errors.length > 0); next(p); },
      finishSync: () => undefined,
    };
    const p = config.print;
    this.json = p.json;
    this.printer = new HttpTracePrinter({
      json: p.json, headers: p.headers, showHeader: p.showHeader, bodies: p.bodies, maxBody: p.maxBody, tcpVerbose: p.tcpVerbose,
      color: p.color, websocketOnly: p.websocketOnly, ...(p.timeStyle !== undefined ? { time: new TimeFormatter(p.timeStyle) } : {}),
    });
    this.stages = [this.decode, ...(tap ? [tap] : []), this.tcp, ...(this.tls ? [this.tls] : []), http, select] as unknown as SyncStage[];
    this.tcpAt = this.stages.indexOf(this.tcp as unknown as SyncStage);
    this.emitLine = (line) => { this.line(line as string); };
    this.emitEvent = (ev) => {
      this.printing = ev as HttpTraceEvent;
      this.printer.runSync(ev as HttpTraceEvent, this.emitLine);
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
    this.tcp.drainSync(this.nexts[this.tcpAt + 1]!);
  }

  batch(msg: Extract<ToWorker, { t: 'batch' }>): WorkerOutput {
    if (msg.secrets !== null && this.tls !== undefined) for (const s of msg.secrets) this.tls.keyLog.addText(s);
    this.shard.baseSec = msg.baseSec;
    const sweeps = msg.sweeps;
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
    this.tcp.reassembler.stampAt(frame, tsSec, tsNsec, true);
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
    this.shard.baseSec = msg.baseSec;
    if (msg.clock > this.shard.clock) this.shard.clock = msg.clock;
    this.tagIndex = Infinity;
    // decode's end (fragments given up) goes through tcp as one thread's does, first: fragments, no output
    this.tagSub = -Infinity;
    for (let k = 0; k < this.tcpAt; k++) this.stages[k]!.finishSync(this.nexts[k + 1]!);
    this.tcp.reassembler.stampAt(msg.frame, msg.tsSec, msg.tsNsec, false);
    // the flush releases connections oldest first; onRelease sets each one's sub-tag
    this.tcp.finishSync(this.nexts[this.tcpAt + 1]!);
    this.tagSub = Infinity;
    this.finishFrom(this.tcpAt + 1);
    return this.take(Infinity);
  }

  tlsStats(): { stats: TlsStream['stats']; keys: number } | undefined {
    return this.tls === undefined ? undefined : { stats: this.tls.stats, keys: this.tls.keyLog.size };
  }

  private marker(id: number): void {
    this.meta.push(this.tagIndex, this.tagSub, -1, -1, id, -1, -1);
  }

  private line(text: string): void {
    const ev = this.printing as (HttpTraceEvent & { connection?: unknown; previous?: unknown }) | undefined;
    let p1 = -1, id1 = -1, p2 = -1, id2 = -1;
    if (ev !== undefined) {
      if (this.json) {
        // JSON: "connection" is the 4th key, after ASCII-only values: its character position is its byte position
        if (typeof ev.connection === 'number') {
          p1 = idAt(text, '"connection":', ev.connection);
          id1 = ev.connection;
        }
        if (ev.type === 'port-reuse' && typeof ev.previous === 'number') {
          p2 = idAt(text, '"previous":', ev.previous);
          id2 = ev.previous;
        }
      } else if (ev.type === 'start' || ev.type === 'end' || ev.type === 'port-reuse') {
        id1 = (ev.type === 'port-reuse' ? ev.previous : ev.connection) as number;
        p1 = idAt(text, '#', id1);
        // text lines have arrows (non-ASCII) before the number: the position in bytes
        if (p1 >= 0) p1 = Buffer.byteLength(text.slice(0, p1));
      }
    }
    // the line's UTF-8 bytes go straight into the batch's buffer (a transferable, not a string to clone)
    if (this.bytes + text.length * 3 > this.buf.length) this.grow(text.length * 3);
    const n = this.buf.write(text, this.bytes, 'utf8');
    this.bytes += n;
    this.meta.push(this.tagIndex, this.tagSub, n, p1, id1, p2, id2);
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

/** Where the number `id` follows the first `key` in `text` (the key comes before any captured text). */
function idAt(text: string, key: string, id: number): number {
  const at = text.indexOf(key);
  if (at < 0) return -1;
  const pos = at + key.length;
  if (!text.startsWith(String(id), pos)) throw new Error(`shard worker: connection ${id} not where expected in ${JSON.stringify(text.slice(0, 200))}`);
  return pos;
}

void OUT_FIELDS;

if (parentPort !== null && (workerData as { pcapPipeShard?: boolean } | null)?.pcapPipeShard === true) {
  const port = parentPort;
  const worker = new TraceWorker((workerData as { config: TraceWorkerConfig }).config);
  let failed = false;
  let file: FileShard | undefined;
  const fail = (e: unknown): void => {
    failed = true;
    const err = e as Error;
    port.postMessage({ t: 'fail', message: err?.message ?? String(e), ...(err?.stack !== undefined ? { stack: err.stack } : {}) } satisfies FromWorker);
  };
  const finish = (out: WorkerOutput, input?: FileShardReport): void => {
    const tls = worker.tlsStats();
    port.postMessage({ t: 'stats', ...(tls !== undefined ? { tls } : {}), ...(worker.counts !== undefined ? { counts: worker.counts } : {}), ...(input !== undefined ? { input } : {}) } satisfies FromWorker);
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
