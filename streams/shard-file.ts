/**
 * The input side of a sharded run when the capture is a regular file (`--workers N` with -r FILE, or stdin
 * redirected from a file). The reading thread reads the file once into SharedArrayBuffer chunks (2 MiB
 * reads, one ahead) and posts every chunk to every worker: shared, not copied.
 * Each worker parses every record header of every chunk, and builds and runs only its own packets
 * (lib/shard/walk.ts: the flow hash, the fragment rule, the whole capture's TCP clock and sweeps, all
 * computed by each worker as the reading thread computes them on the pipe path). The reading thread does no
 * packet work: it reads, and merges the workers' tagged output.
 *
 * Why: on the pipe path (streams/shard.ts) the reading thread parses every record, hashes it, copies its
 * bytes into a batch per worker (a memcpy of the whole capture into fresh buffers), and the worker builds
 * every record a second time; on the 1M-packet bench capture that made `--workers 1` cost 60-80 % more CPU
 * than one thread. Here a worker pays, for each packet of the other workers, its record header and flow hash.
 * Reading the file in each worker instead costs a second read and page-faulting of 1.1 GB (~0.4 s of CPU
 * in the thread pool per read, measured with perf): the shared chunks avoid it.
 *
 * The chunks are never reused (records are views into them, and the stages may keep one: tcp's last
 * delivered segment); a chunk is freed when no worker holds a view of it any more.
 *
 * With one worker (`--workers 1`) nothing is shared: each chunk is a plain ArrayBuffer transferred to it
 * (a SharedArrayBuffer is zeroed when made, ~0.1 s of the reading thread on the 1M bench capture), and the
 * worker builds every record without judging its header first (SingleWalk: no flow hash, no clock), its
 * chain running as one thread's (streams/shard-worker.ts TraceWorker's `single`).
 */
import * as fs from 'node:fs';
import { CaptureError } from '../lib/core/errors';
import { CaptureParser } from '../lib/formats/detect';
import type { WorkerOutput } from '../lib/shard/merge';
import { ShardWalk, SingleWalk, type FileWalk, type WalkTarget } from '../lib/shard/walk';
import { descriptorPosition, type CaptureFileSource } from './read';

/**
 * The source the workers read for `file` ('-': stdin) when it is a regular file, else undefined (a pipe,
 * a terminal: the reading thread ships the packets, streams/shard.ts).
 */
export function fileShardSource(file: string): CaptureFileSource | undefined {
  try {
    if (file !== '-') return fs.statSync(file).isFile() ? file : undefined;
    if (!fs.fstatSync(0).isFile()) return undefined;
  } catch {
    return undefined;
  }
  const position = descriptorPosition(0);
  return position === undefined ? undefined : { fd: 0, position };
}

/** Reading thread → worker: take flows `me` of `workers` of the chunks that follow. */
export interface FileShardStart {
  t: 'file';
  me: number;
  workers: number;
  /** The router's holdFragments (lib/shard/router.ts): false for a chain that does not defragment. */
  holdFragments: boolean;
}

/** Reading thread → worker: the next bytes of the file (a view of a SharedArrayBuffer). */
export interface FileShardChunk {
  t: 'chunk';
  data: Uint8Array;
}

/** How far the worker has read (the progress line). */
export interface FileShardRead {
  bytes: number;
  packets: number;
}

/** What the worker found reading the file (worker 0's goes to stderr and the exit status). */
export interface FileShardReport extends FileShardRead {
  linkTypes: number[];
  /** The file was damaged here (the complete packets before were used). */
  damaged?: { code: string; message: string; offset?: number };
}

/** What the chunks drive: the worker's stages (streams/shard-worker.ts TraceWorker). */
export interface FileShardWorker {
  filePacket: WalkTarget['packet'];
  fileSweep: WalkTarget['sweep'];
  fileSecrets(text: string): void;
  output(watermark: number): WorkerOutput;
  end(msg: { t: 'end'; baseSec: number; clock: number; frame: number; tsSec: number; tsNsec: number }): WorkerOutput;
}

/** One worker's side: the file's chunks in, its own packets through the stages, the output of each chunk out. */
export class FileShard {
  private readonly walk: FileWalk;
  private readonly parser: CaptureParser;
  private bytes = 0;
  /** Set once the file was found damaged: the rest is ignored, as the one-thread reader ignores it. */
  private damaged: CaptureError | undefined;

  constructor(private readonly worker: FileShardWorker, start: FileShardStart) {
    const target: WalkTarget = {
      packet: (i, c, b, rec, s) => worker.filePacket(i, c, b, rec, s),
      sweep: (i, c, b, f, s, n) => worker.fileSweep(i, c, b, f, s, n),
      secrets: (text) => worker.fileSecrets(text),
    };
    // the only worker owns every packet: no flow hash, no clock of its own (lib/shard/walk.ts SingleWalk)
    this.walk = start.workers === 1 ? new SingleWalk(target) : new ShardWalk(start.me, start.workers, target, start.holdFragments);
    this.parser = new CaptureParser(this.walk);
  }

  /** The next chunk of the file: the output of its packets (everything up to its last packet is handled). */
  chunk(data: Uint8Array): { out: WorkerOutput; read: FileShardRead } {
    this.bytes += data.length;
    if (this.damaged === undefined) {
      try {
        this.parser.write(Buffer.from(data.buffer, data.byteOffset, data.length));
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        this.damaged = e;
      }
    }
    return { out: this.worker.output(this.walk.index), read: { bytes: this.bytes, packets: this.walk.index + 1 } };
  }

  /** End of the file: the end-of-input flush, and what reading found. */
  end(): { out: WorkerOutput; report: FileShardReport } {
    if (this.damaged === undefined) {
      try {
        this.parser.end();
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        this.damaged = e;
      }
    }
    const walk = this.walk;
    walk.end();
    const c = walk.clock;
    const out = this.worker.end({ t: 'end', baseSec: c.baseSec, clock: c.clock, frame: c.frame, tsSec: c.tsSec, tsNsec: c.tsNsec });
    const report: FileShardReport = { bytes: this.bytes, packets: walk.index + 1, linkTypes: walk.linkTypes };
    const d = this.damaged;
    if (d !== undefined) report.damaged = { code: d.code, message: d.message, ...(d.offset !== undefined ? { offset: d.offset } : {}) };
    return { out, report };
  }
}

/**
 * Reads `size` bytes of `fd` at `position` into a new SharedArrayBuffer (fewer at the end of the file), or,
 * for the only worker (`shared` false), into a plain ArrayBuffer that is transferred to it: a
 * SharedArrayBuffer comes zeroed (calloc: ~0.1 s of this thread over 1.1 GB), a transferred buffer does not.
 */
export function readShared(fd: number, position: number, size: number, shared = true): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const view = shared ? new Uint8Array(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size);
    fs.read(fd, view, 0, size, position, (err, n) => { if (err) reject(err); else resolve(view.subarray(0, n)); });
  });
}
