/**
 * The input side of a sharded worker when the capture is a regular file (`--workers N` with -r FILE, or
 * stdin redirected from a file): the worker reads the whole file itself (the page cache makes that a
 * memcpy per read; several reads in flight as the one-thread reader does), walks every record header,
 * and builds and runs only its own packets (lib/shard/walk.ts). The reading thread sends no packets: it
 * merges the workers' tagged output and nothing else.
 *
 * Why not ship packets: on the pipe path (streams/shard.ts) the reading thread parses every record, hashes
 * it, copies its bytes into a batch (a memcpy of the whole capture into fresh buffers), and the worker
 * builds every record a second time; measured on the 1M-packet bench capture that made `--workers 1` cost
 * 60-80 % more CPU than one thread. Here a worker pays, for each packet of the other workers, only the
 * record header and the flow hash.
 *
 * Flow control: a worker sends its output after every read (its watermark is the last packet parsed) and
 * waits when MAX_AHEAD of its outputs are not yet written by the reading thread (which acknowledges them
 * as the merge emits them and stdout takes them), so a slow stdout or a slower worker bounds memory.
 */
import * as fs from 'node:fs';
import { CaptureError } from '../lib/core/errors';
import { CaptureParser } from '../lib/formats/detect';
import { ShardWalk } from '../lib/shard/walk';
import type { WorkerOutput } from '../lib/shard/merge';
import { DEFAULT_FILE_CHUNK, descriptorPosition, type CaptureFileSource } from './read';

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

/** Outputs a worker may have sent that the reading thread has not written yet. */
export const MAX_AHEAD = 8;

/** Reading thread → worker: read this file, keep flows `me` of `workers`. */
export interface FileShardStart {
  t: 'file';
  source: CaptureFileSource;
  me: number;
  workers: number;
  /** The router's holdFragments (lib/shard/router.ts): false for a chain that does not defragment. */
  holdFragments: boolean;
}

/** Reading thread → worker: `emitted` of its outputs are written (a running count). */
export interface FileShardAck {
  t: 'ack';
  emitted: number;
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

/** What the file reader drives: the worker's stages (streams/shard-worker.ts TraceWorker). */
export interface FileShardWorker {
  filePacket: import('../lib/shard/walk').WalkTarget['packet'];
  fileSweep: import('../lib/shard/walk').WalkTarget['sweep'];
  fileSecrets(text: string): void;
  output(watermark: number): WorkerOutput;
  end(msg: { t: 'end'; baseSec: number; clock: number; frame: number; tsSec: number; tsNsec: number }): WorkerOutput;
}

/** Counts the reading thread's acknowledgements; room() waits until fewer than MAX_AHEAD are pending. */
export class AckGate {
  private sent = 0;
  private acked = 0;
  private wake: (() => void) | undefined;

  sentOne(): void {
    this.sent++;
  }

  ack(emitted: number): void {
    if (emitted > this.acked) this.acked = emitted;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async room(): Promise<void> {
    while (this.sent - this.acked >= MAX_AHEAD) await new Promise<void>((r) => { this.wake = r; });
  }
}

type Post = (msg: { t: 'out'; read: FileShardRead } & WorkerOutput, transfer: ArrayBuffer[]) => void;

function readAt(fd: number, position: number, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // a fresh buffer per read: records are views into it, and the stages may keep a view (tcp's last segment)
    const buf = Buffer.allocUnsafe(size);
    fs.read(fd, buf, 0, size, position, (err, n) => { if (err) reject(err); else resolve(buf.subarray(0, n)); });
  });
}

/**
 * Reads the file and runs worker `me`'s packets through `worker`, posting its output after every read;
 * returns the final output (watermark Infinity) and the report, after the end-of-input flush.
 */
export async function readShardFile(worker: FileShardWorker, start: FileShardStart, gate: AckGate, post: Post,
  chunkSize = DEFAULT_FILE_CHUNK): Promise<{ out: WorkerOutput; report: FileShardReport }> {
  const src = start.source;
  const ownFd = typeof src === 'string';
  const fd = ownFd ? await new Promise<number>((res, rej) => fs.open(src, 'r', (e, f) => { if (e) rej(e); else res(f); })) : src.fd;
  let position = ownFd ? 0 : src.position;
  const walk = new ShardWalk(start.me, start.workers, {
    packet: (i, c, b, rec, s) => worker.filePacket(i, c, b, rec, s),
    sweep: (i, c, b, f, s, n) => worker.fileSweep(i, c, b, f, s, n),
    secrets: (text) => worker.fileSecrets(text),
  }, start.holdFragments);
  const parser = new CaptureParser(walk);
  let bytes = 0;
  let damaged: CaptureError | undefined;
  // one read ahead: the next read is in flight while this one is parsed
  let next: Promise<Buffer> | undefined = readAt(fd, position, chunkSize);
  try {
    while (next !== undefined) {
      const chunk = await next;
      next = undefined;
      if (chunk.length === 0) break;
      position += chunk.length;
      if (chunk.length === chunkSize) next = readAt(fd, position, chunkSize);
      bytes += chunk.length;
      try {
        parser.write(chunk);
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        damaged = e;
        break;
      }
      const out = worker.output(walk.index);
      gate.sentOne();
      post({ t: 'out', ...out, read: { bytes, packets: walk.index + 1 } }, [out.meta.buffer as ArrayBuffer, out.data.buffer as ArrayBuffer]);
      await gate.room();
    }
    if (damaged === undefined) {
      try {
        parser.end();
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        damaged = e;
      }
    }
  } finally {
    // a read still in flight (after a failure) completes before its descriptor is closed
    if (next !== undefined) await next.catch(() => undefined);
    if (ownFd) fs.closeSync(fd);
  }
  walk.end();
  const c = walk.clock;
  const out = worker.end({ t: 'end', baseSec: c.baseSec, clock: c.clock, frame: c.frame, tsSec: c.tsSec, tsNsec: c.tsNsec });
  const report: FileShardReport = { bytes, packets: walk.index + 1, linkTypes: walk.linkTypes };
  if (damaged !== undefined) {
    report.damaged = { code: damaged.code, message: damaged.message, ...(damaged.offset !== undefined ? { offset: damaged.offset } : {}) };
  }
  return { out, report };
}

