/**
 * `pcap-pipe follow`'s sink: reassembled TCP connections printed like Wireshark's Follow TCP Stream, or
 * written one file per direction like tcpflow (with an index). The collecting is lib/tcp/follow.ts.
 *
 * Without a directory the bytes are printed as they are reassembled, in capture order: a connection's
 * block header is written when its first bytes come (again when another connection's bytes came in
 * between) and its closing rule when it ends, so no connection is ever held in memory. With a
 * directory: DIR must be empty or new (`force`: files of an earlier run are replaced); files are
 * created with O_EXCL | O_NOFOLLOW, so a symlink planted in DIR is never followed, and DIR is created
 * without recursion (its parent must exist), so an impossible DIR fails at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { BatchQueueBound, DEFAULT_STAGE_HIGH_WATER_MARK, forEachItem, writableQueueState } from './batch';
import { jsonText } from '../lib/core/json-line';
import type { Batchable } from './typed';
import {
  FOLLOW_END, FollowCollector, followHeader, formatFollowChunk,
  type FollowChunk, type FollowConnection, type FollowDirectionSummary, type FollowHexOffsets,
} from '../lib/tcp/follow';
import { isTcpEvent, type TcpDataEvent, type TcpDirection, type TcpEvent } from '../lib/tcp/events';
import { describeSystemError } from '../lib/core/sys-error';

/** Keeps at most this many direction files open; others are reopened in append mode when needed. */
const MAX_OPEN_FILES = 128;

function fileName(connection: number, direction: TcpDirection): string {
  return `${String(connection).padStart(6, '0')}-${direction}.bin`;
}

const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const REOPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW;

/**
 * The output directory, made safe: created if missing (not recursively: `mkdir -p` on /proc/x spins
 * forever in Node), refused when it holds anything unless `force`, never a symlink itself.
 */
export function prepareOutputDirectory(dir: string, force: boolean): void {
  try {
    fs.mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'EEXIST') throw new Error(`cannot create the output directory: ${describeSystemError(err, dir) ?? `${dir}: ${err.message}`}`);
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory${st.isSymbolicLink() ? ' (a symlink: refused)' : ''}`);
  const entries = fs.readdirSync(dir);
  if (entries.length > 0 && !force) {
    throw new Error(`the output directory ${dir} is not empty (${entries.length} entries): use an empty one, or --force to replace the files of an earlier run`);
  }
}

/** Writes each direction to its own file as data arrives, and the index at the end. */
export class DirectoryWriter {
  private readonly open = new Map<string, number>();
  /** Files this run created: only these are ever reopened (in append mode). */
  private readonly created = new Set<string>();
  private readonly index: FollowDirectionSummary[] = [];

  constructor(private readonly dir: string, private readonly force: boolean) {
    prepareOutputDirectory(dir, force);
  }

  /**
   * A new file, never through a symlink and never appending to an earlier run's file: O_EXCL |
   * O_NOFOLLOW; with --force an existing entry is unlinked first (unlink does not follow symlinks).
   */
  private createFile(name: string): number {
    const full = path.join(this.dir, name);
    try {
      return fs.openSync(full, CREATE_FLAGS, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !this.force) throw e;
      fs.unlinkSync(full);
      return fs.openSync(full, CREATE_FLAGS, 0o644);
    }
  }

  data(conn: FollowConnection, ev: TcpDataEvent): void {
    const name = fileName(conn.connection, ev.direction);
    let fd = this.open.get(name);
    if (fd === undefined) {
      if (this.open.size >= MAX_OPEN_FILES) this.closeOne();
      if (this.created.has(name)) fd = fs.openSync(path.join(this.dir, name), REOPEN_FLAGS);
      else {
        fd = this.createFile(name);
        this.created.add(name);
      }
    } else {
      this.open.delete(name); // re-insert: the Map order is the least recently written first
    }
    this.open.set(name, fd);
    fs.writeSync(fd, ev.bytes);
  }

  /** A connection ended: list both directions (creating empty files for directions without bytes). */
  finish(conn: FollowConnection): void {
    for (const d of [conn.clientToServer, conn.serverToClient]) {
      const name = fileName(conn.connection, d.direction);
      const fd = this.open.get(name);
      if (fd !== undefined) { fs.closeSync(fd); this.open.delete(name); }
      else if (!this.created.has(name)) { fs.closeSync(this.createFile(name)); this.created.add(name); }
      this.index.push({ connection: d.connection, file: name, client: d.client, server: d.server, direction: d.direction, bytes: d.bytes, gaps: d.gaps } as FollowDirectionSummary & { file: string });
    }
  }

  close(): void {
    for (const fd of this.open.values()) fs.closeSync(fd);
    this.open.clear();
    const index = this.index.sort((a, b) => a.connection - b.connection || (a.direction < b.direction ? -1 : 1))
      .map((e) => ({ connection: e.connection, file: (e as { file?: string }).file, client: e.client, server: e.server, direction: e.direction, bytes: e.bytes, gaps: e.gaps }));
    const fd = this.createFile('index.json');
    try {
      fs.writeSync(fd, jsonText(index, 2) + '\n');
    } finally {
      fs.closeSync(fd);
    }
  }

  private closeOne(): void {
    const [name, fd] = this.open.entries().next().value as [string, number];
    fs.closeSync(fd);
    this.open.delete(name);
  }
}

/** How followSink() shows connections without a directory. */
export type FollowMode = 'ascii' | 'hex' | 'raw';

/** Per connection while printing without -o: whether its block is open, and its hex offsets. */
interface PrintState {
  conn: FollowConnection;
  offsets: FollowHexOffsets;
  printedAny: boolean;
}

/**
 * Without -o the bytes are printed as they are reassembled (never a whole connection held); with -o
 * they go to the directory's files. Output honours backpressure: a write the consumer cannot take yet
 * holds the next chunk of events until it drains.
 */
/** Bytes of output gathered before a write inside one batch (a batch's text is written at its end anyway). */
const OUTPUT_PIECE_BYTES = 64 * 1024;

export class FollowSink extends Writable {
  private readonly collector: FollowCollector;
  private readonly writer: DirectoryWriter | null;
  private readonly printing = new Map<number, PrintState>();
  /** The connection whose block is open on stdout (its header written, its rule not yet). */
  private current: PrintState | null = null;
  private blocked = false;
  /** Output of the batch being handled, written in one piece when it ends (or at OUTPUT_PIECE_BYTES). */
  private pending: (string | Buffer)[] = [];
  private pendingBytes = 0;
  /** Events queued, counted in events when batches come (data events pin their read chunk). */
  private readonly inBound = new BatchQueueBound(DEFAULT_STAGE_HIGH_WATER_MARK);

  constructor(private readonly mode: FollowMode, dir: string | undefined, force: boolean, stream: number | undefined, private readonly out: NodeJS.WritableStream) {
    super({ objectMode: true, highWaterMark: DEFAULT_STAGE_HIGH_WATER_MARK });
    this.writer = dir === undefined ? null : new DirectoryWriter(dir, force);
    const writer = this.writer;
    this.collector = new FollowCollector({
      keepBytes: false,
      connection: stream,
      onData: (conn, ev) => {
        if (writer) writer.data(conn, ev);
        else if (mode === 'raw') this.write1(ev.bytes);
        else this.printChunk(conn, { direction: ev.direction, bytes: ev.bytes });
      },
      onMissing: (conn, chunk) => {
        if (!writer && mode !== 'raw') this.printChunk(conn, chunk);
      },
    });
  }

  /**
   * Queues `data` for the batch's one write. Why: a write per chunk (a header, each chunk's text, each rule)
   * was a synchronous write(2) per piece on a file or /dev/null and a queued request per piece on a pipe;
   * `follow` on 100k packets spent 44 % of its CPU in them.
   */
  private write1(data: string | Buffer): void {
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes >= OUTPUT_PIECE_BYTES) this.flush();
  }

  /** Writes what the batch queued, in one write (strings joined, Buffers concatenated). */
  private flush(): void {
    if (this.pending.length === 0) return;
    const pieces = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const data = pieces.length === 1 ? pieces[0] as string | Buffer
      : pieces.every((p) => typeof p === 'string') ? pieces.join('')
        : Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    if (!this.out.write(data)) this.blocked = true;
  }

  private stateOf(conn: FollowConnection): PrintState {
    let st = this.printing.get(conn.connection);
    if (st === undefined) {
      st = { conn, offsets: { 'client-to-server': 0, 'server-to-client': 0 }, printedAny: false };
      this.printing.set(conn.connection, st);
    }
    return st;
  }

  /** Makes `st` the open block: closes the other one, writes this one's header. */
  private switchTo(st: PrintState): void {
    if (this.current === st) return;
    if (this.current) this.write1(FOLLOW_END);
    this.write1(followHeader(this.mode === 'hex' ? 'hex' : 'ascii', st.conn));
    this.current = st;
  }

  private printChunk(conn: FollowConnection, chunk: FollowChunk): void {
    const st = this.stateOf(conn);
    const text = formatFollowChunk(this.mode === 'hex' ? 'hex' : 'ascii', chunk, st.offsets);
    if (text === '') return;
    this.switchTo(st);
    st.printedAny = true;
    this.write1(text);
  }

  /** A connection ended: close its block (a connection without bytes still gets its empty block). */
  private endConnection(conn: FollowConnection): void {
    const st = this.stateOf(conn);
    if (!st.printedAny && this.current !== st) this.switchTo(st);
    if (this.current === st) {
      this.write1(FOLLOW_END);
      this.current = null;
    }
    this.printing.delete(conn.connection);
  }

  override _write(chunk: unknown, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    if (Array.isArray(chunk)) this.inBound.fit(writableQueueState(this), chunk.length);
    try {
      forEachItem(chunk as Batchable<unknown>, (ev) => { if (isTcpEvent(ev)) this.event(ev); });
      this.flush();
    } catch (e) {
      done(e as Error);
      return;
    }
    if (!this.blocked) { done(); return; }
    this.blocked = false;
    this.out.once('drain', () => done());
  }

  private event(ev: TcpEvent): void {
    this.collector.event(ev);
    if (ev.type !== 'end') return;
    const conn = this.collector.get(ev.connection);
    if (conn === undefined) return;
    if (this.writer) this.writer.finish(conn);
    else if (this.mode !== 'raw') this.endConnection(conn);
    this.collector.delete(ev.connection);
  }

  override _final(done: (e?: Error | null) => void): void {
    try {
      this.writer?.close();
      if (this.current) this.write1(FOLLOW_END);
      this.current = null;
      this.flush();
      done();
    } catch (e) {
      done(e as Error);
    }
  }
}

/** A FollowSink writing to `out` (ascii, hex, raw) or into `dir` (`force`: over an earlier run), for every connection or only `stream`. */
export function followSink(opts: { mode?: FollowMode; dir?: string; force?: boolean; stream?: number; out: NodeJS.WritableStream }): FollowSink {
  return new FollowSink(opts.mode ?? 'ascii', opts.dir, opts.force ?? false, opts.stream, opts.out);
}
