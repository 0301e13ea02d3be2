/**
 * A sharded trace (`--workers N`): the reading thread routes packet records by flow (lib/shard/router.ts)
 * to N worker_threads (streams/shard-worker.ts) in packed batches, keeps the capture clock one thread's
 * TCP reassembler would keep (lib/shard/clock.ts) and tells the workers where idle sweeps fall, and merges
 * the workers' printed lines back into the order one thread prints them (lib/shard/merge.ts).
 *
 *   reader ─▶ FlowRouter ─▶ BatchPacker ×N ══postMessage(transfer)══▶ worker: decode…printer (tagged lines)
 *   stdout ◀─ OrderedMerge (k-way by packet index, up to the lowest watermark) ◀══ lines + watermark ══╝
 *
 * A regular capture file (`file`) takes the other path: this thread reads it into shared chunks that every
 * worker parses, each keeping its own flows (streams/shard-file.ts); no packet is routed or copied here.
 *
 * Flow control: at most MAX_IN_FLIGHT batches per worker are unanswered before the reader waits, and the
 * reader waits for stdout's 'drain' when it is full, so memory stays bounded whoever is slowest.
 * A worker that fails (throws, exits) ends the run with its message; the other workers are terminated.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import { deserialize } from 'node:v8';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { PacketRecord } from '../lib/core/record';
import { SECRETS_TYPE_TLS } from '../lib/formats/format';
import { BatchPacker } from '../lib/shard/batch';
import { CaptureClock } from '../lib/shard/clock';
import { OrderedMerge } from '../lib/shard/merge';
import { FlowRouter } from '../lib/shard/router';
import { emptyTraceCounts, type TraceCounts } from '../lib/trace/summary';
import { tlsSpecOf } from './chain-spec';
import type { CaptureFileSource } from './read';
import { readShared, type FileShardRead, type FileShardReport } from './shard-file';
import type { FromWorker, ShardWorkerData, ToWorker, TraceWorkerConfig } from './shard-worker';
import type { SecretsSource, TlsStream } from './tls';

/** Batches a worker may have unanswered before the reader waits for it. */
const MAX_IN_FLIGHT = 4;
/**
 * Bytes per read of a regular file (shared by the workers: streams/shard-file.ts). Each chunk is a message
 * to every worker and an output message back. Measured at --workers 1 on the 1M bench capture (CPU s, the
 * reading thread's in brackets): 512 KiB 3.57-3.60 (0.58), 2 MiB 3.22-3.27 (0.45), 8 MiB 3.40-3.52 (0.27,
 * but the GC threads' grow, and 330-380 MiB RSS).
 */
const FILE_CHUNK = 2 * 1024 * 1024;
/**
 * File chunks a worker may have unanswered: so that a worker does not run dry while this thread waits for a
 * core on a busy machine (4 chunks of 2 MiB: ~30 ms of a worker's work).
 */
const MAX_CHUNKS_IN_FLIGHT = 4;
/** Input bytes routed between two rounds of batches to every worker (a round also ends each read chunk). */
const ROUND_BYTES = 512 * 1024;
const IP_PROTO_TCP = 6;

export interface ShardRunOptions {
  workers: number;
  config: TraceWorkerConfig;
  /**
   * PacketRecords, single or in arrays (batch mode): the pipe path. Not read when `file` is given (destroy
   * it unread: the workers read the file themselves, streams/shard-file.ts).
   */
  source: Readable;
  /** A regular capture file (a path, or stdin's descriptor and offset): read here, parsed by every worker. */
  file?: CaptureFileSource;
  /** How far the workers have read `file` (the progress line). */
  onRead?: (read: FileShardRead) => void;
  /** Where the merged lines go (bytes); with the 'objects' printer, the objects (an object-mode Writable). */
  out: Writable;
  /** The capture reader: its pcapng Decryption Secrets Blocks go to every worker's tls stage. */
  secrets?: SecretsSource;
}

export interface ShardRunResult {
  /** The tls stages' statistics, summed (connections) — undefined without a tls stage. */
  tls?: { stats: TlsStream['stats']; keys: number };
  /** The closing counts, summed over the workers (when config.counts). */
  counts?: TraceCounts;
  /** The grep stage's counts, summed (a chain with a grep stage). */
  grep?: { selected: number; matches: number };
  /** With `file`: what reading it found (damage, link types). */
  input?: FileShardReport;
}

export class WorkerFailure extends Error {}

export async function runSharded(opts: ShardRunOptions): Promise<ShardRunResult> {
  const n = opts.workers;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const merge = new OrderedMerge(n, opts.config.chain.printer.printer === 'follow' ? (require('./follow-items') as typeof import('./follow-items')).FOLLOW_BLOCK_END : undefined);
  // one worker runs as one thread (streams/shard-worker.ts, single mode): its connection numbers are the
  // whole capture's, and it keeps the clock and sweeps itself
  // a chain that does not defragment judges each fragment alone: none is held back (lib/shard/router.ts)
  const holdFragments = !opts.config.chain.stages.some((s) => s.stage === 'decode' && s.defragment === false);
  const router = new FlowRouter(n, { holdFragments });
  const clock = new CaptureClock();
  const packers = Array.from({ length: n }, () => new BatchPacker());
  const sweeps: number[][] = Array.from({ length: n }, () => []);
  const inFlight = new Array<number>(n).fill(0);
  let secrets: string[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const poke = (): void => { const w = wake; wake = undefined; w?.(); };
  const withTls = tlsSpecOf(opts.config.chain) !== undefined;
  const tls: ShardRunResult['tls'] = withTls ? { stats: { connections: 0, decrypted: 0, notDecrypted: {} }, keys: 0 } : undefined;
  const finished = new Array<boolean>(n).fill(false);
  const counts: TraceCounts | undefined = opts.config.counts ? emptyTraceCounts() : undefined;
  const out = opts.out;
  let outFull = false;
  const objects = opts.config.chain.printer.printer === 'objects';
  const grep = { selected: 0, matches: 0 };
  let withGrep = false;
  /** What both paths return: the summed statistics. */
  const result = (): ShardRunResult => ({ ...(tls !== undefined ? { tls } : {}), ...(counts !== undefined ? { counts } : {}), ...(withGrep ? { grep } : {}) });
  const file = opts.file;
  let input: FileShardReport | undefined;

  const fail = (e: Error): void => {
    if (failure === undefined) failure = e;
    poke();
  };

  const workers = Array.from({ length: n }, (_, w) => {
    const worker = new Worker(path.join(__dirname, 'shard-worker.js'), { workerData: { pcapPipeShard: true, config: opts.config, workers: n } satisfies ShardWorkerData });
    worker.on('message', (msg: FromWorker) => {
      if (msg.t === 'out') {
        inFlight[w]!--;
        merge.add(w, msg);
        if (msg.watermark === Infinity) finished[w] = true;
        if (w === 0 && msg.read !== undefined) opts.onRead?.(msg.read);
        if (objects) {
          // shard(): the objects, deserialised, their connection numbers the whole capture's
          for (const item of merge.takeItems()) {
            const ev = deserialize(item.data) as { connection?: number; previous?: number };
            if (item.connection >= 0) ev.connection = item.connection;
            if (item.previous >= 0) ev.previous = item.previous;
            if (!out.write(ev)) outFull = true;
          }
        } else {
          const list = merge.take();
          if (list.length > 0 && !out.write(list.length === 1 ? list[0]! : Buffer.concat(list))) outFull = true;
        }
      } else if (msg.t === 'stats') {
        if (w === 0 && msg.input !== undefined) input = msg.input;
        const t = msg.tls;
        if (tls !== undefined && t !== undefined) {
          tls.stats.connections += t.stats.connections;
          tls.stats.decrypted += t.stats.decrypted;
          for (const [k, v] of Object.entries(t.stats.notDecrypted)) {
            const key = k as keyof typeof t.stats.notDecrypted;
            tls.stats.notDecrypted[key] = (tls.stats.notDecrypted[key] ?? 0) + (v ?? 0);
          }
          tls.keys = Math.max(tls.keys, t.keys);
        }
        if (msg.grep !== undefined) {
          grep.selected += msg.grep.selected;
          grep.matches += msg.grep.matches;
          withGrep = true;
        }
        if (counts !== undefined && msg.counts !== undefined) {
          const c = counts as unknown as Record<string, number>, m = msg.counts as unknown as Record<string, number>;
          for (const k of Object.keys(c)) c[k] = c[k]! + (m[k] ?? 0);
        }
      } else {
        fail(new WorkerFailure(`worker ${w + 1} of ${n} failed: ${msg.message}`));
      }
      poke();
    });
    worker.on('error', (e: Error) => fail(new WorkerFailure(`worker ${w + 1} of ${n} failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!finished[w]) fail(new WorkerFailure(`worker ${w + 1} of ${n} exited (status ${code}) before the end of its input`));
    });
    return worker;
  });

  const onSecrets = (s: { type: number; data: Buffer }): void => {
    if (s.type === SECRETS_TYPE_TLS) secrets.push(s.data.toString('latin1'));
  };
  if (opts.secrets !== undefined && withTls) {
    for (const s of opts.secrets.secrets ?? []) onSecrets(s);
    opts.secrets.on('decryption-secrets', onSecrets);
  }

  let index = -1;
  let routedBytes = 0;
  let current: PacketRecord | undefined;
  const info = router.hasher.info;

  const post = (w: number, msg: ToWorker, transfer: ArrayBuffer[]): void => {
    inFlight[w]!++;
    workers[w]!.postMessage(msg, transfer);
  };

  /** Sends worker w what it has (also when empty: its watermark moves on), all routed up to `upTo`. */
  const send = (w: number, upTo: number, withSecrets: string[] | null): void => {
    const b = packers[w]!.take();
    const sw = sweeps[w]!;
    const sweepArray = sw.length > 0 ? Float64Array.from(sw) : null;
    sw.length = 0;
    const transfer = [b.meta.buffer as ArrayBuffer, b.data.buffer as ArrayBuffer];
    if (sweepArray !== null) transfer.push(sweepArray.buffer);
    post(w, { t: 'batch', batch: b, sweeps: sweepArray, baseSec: clock.baseSec, upTo, secrets: withSecrets }, transfer);
  };

  /** A batch to every worker: everything routed up to `upTo` (secrets found since the last round go first). */
  const round = (upTo: number): void => {
    const s = secrets.length > 0 ? secrets : null;
    for (let w = 0; w < n; w++) send(w, upTo, s);
    if (s !== null) secrets = [];
    routedBytes = 0;
  };

  const sink = (w: number, rec: PacketRecord): void => {
    if (rec === current && info.kind === 'flow' && info.protocol === IP_PROTO_TCP) {
      if (clock.advance(rec.frame, rec.tsSec, rec.tsNsec)) {
        for (let k = 0; k < n; k++) sweeps[k]!.push(index, clock.clock, rec.frame, rec.tsSec, rec.tsNsec);
      }
    }
    // a full batch: a round now, up to the packet before this one (a sweep of this packet goes with the
    // round and runs after the batch's records, which is before this packet in the next one)
    if (!packers[w]!.fits(rec)) round(index - 1);
    packers[w]!.add(rec, index, clock.clock);
    routedBytes += rec.data.length;
  };

  const waitForWorkers = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined) throw failure;
      let busy = false;
      for (let w = 0; w < n; w++) if (inFlight[w]! >= (file !== undefined ? MAX_CHUNKS_IN_FLIGHT : MAX_IN_FLIGHT)) busy = true;
      if (!busy && !outFull) return;
      if (outFull && !busy) {
        outFull = false;
        if (!out.writableNeedDrain) continue;
        // stdout is full: wait for it (or for a worker's news: a failure)
        const onDrain = (): void => poke();
        out.once('drain', onDrain);
        try {
          await new Promise<void>((r) => { wake = r; });
        } finally {
          out.off('drain', onDrain);
        }
        continue;
      }
      await new Promise<void>((r) => { wake = r; });
    }
  };

  const route = (rec: PacketRecord): void => {
    index++;
    current = rec;
    router.route(rec, sink);
  };

  try {
    if (file !== undefined) {
      // every worker takes every chunk of the file (shared, not copied: streams/shard-file.ts)
      opts.source.destroy();
      for (let w = 0; w < n; w++) workers[w]!.postMessage({ t: 'file', me: w, workers: n, holdFragments } satisfies ToWorker);
      // the only worker is given each chunk (transferred: not zeroed first, as a shared one is)
      await readChunks(file, n > 1, async (data) => {
        if (failure !== undefined) throw failure;
        if (n === 1) post(0, { t: 'chunk', data }, [data.buffer as ArrayBuffer]);
        else for (let w = 0; w < n; w++) post(w, { t: 'chunk', data }, []);
        await waitForWorkers();
      });
      for (let w = 0; w < n; w++) workers[w]!.postMessage({ t: 'eof' } satisfies ToWorker);
      while (!merge.done) {
        if (failure !== undefined) throw failure;
        await new Promise<void>((r) => { wake = r; });
      }
      if (failure !== undefined) throw failure;
      if (outFull && out.writableNeedDrain) await once(out, 'drain');
      return { ...result(), ...(input !== undefined ? { input } : {}) };
    }
    for await (const chunk of opts.source as AsyncIterable<PacketRecord | PacketRecord[]>) {
      if (failure !== undefined) throw failure;
      if (Array.isArray(chunk)) for (let i = 0; i < chunk.length; i++) route(chunk[i]!);
      else route(chunk);
      current = undefined;
      if (routedBytes >= ROUND_BYTES || secrets.length > 0) round(index);
      await waitForWorkers();
    }
    current = undefined;
    router.flush(sink);
    round(index);
    for (let w = 0; w < n; w++) {
      post(w, { t: 'end', baseSec: clock.baseSec, clock: clock.clock, frame: clock.frame, tsSec: clock.tsSec, tsNsec: clock.tsNsec }, []);
    }
    while (!merge.done) {
      if (failure !== undefined) throw failure;
      await new Promise<void>((r) => { wake = r; });
    }
    if (failure !== undefined) throw failure;
    if (outFull && out.writableNeedDrain) await once(out, 'drain');
  } catch (e) {
    opts.source.destroy();
    throw e;
  } finally {
    (opts.secrets as unknown as NodeJS.EventEmitter | undefined)?.removeListener?.('decryption-secrets', onSecrets);
    for (const w of workers) {
      w.removeAllListeners('exit');
      w.on('error', () => undefined);
      void w.terminate();
    }
  }
  return result();
}

/** Reads `file` in FILE_CHUNK chunks (shared, or plain to transfer), one read ahead, handing each to `each` in order. */
async function readChunks(file: CaptureFileSource, shared: boolean, each: (data: Uint8Array) => Promise<void>): Promise<void> {
  const ownFd = typeof file === 'string';
  const fd = ownFd ? fs.openSync(file, 'r') : file.fd;
  let position = ownFd ? 0 : file.position;
  let next: Promise<Uint8Array> | undefined = readShared(fd, position, FILE_CHUNK, shared);
  try {
    while (next !== undefined) {
      const data: Uint8Array = await next;
      next = undefined;
      if (data.length === 0) break;
      position += data.length;
      if (data.length === FILE_CHUNK) next = readShared(fd, position, FILE_CHUNK, shared);
      await each(data);
    }
  } finally {
    // a read still in flight (after a failure) completes before its descriptor is closed
    if (next !== undefined) await next.catch(() => undefined);
    if (ownFd) fs.closeSync(fd);
  }
}
