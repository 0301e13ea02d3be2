/**
 * `pcap-pipe follow [-o DIR] [--stream N] [--ascii|--hex|--raw] [FILE]`: reassembled TCP streams, like
 * Wireshark's Follow TCP Stream and tcpflow.
 *
 * With -o DIR: one file per connection direction holding exactly the reassembled bytes (never a byte
 * that was not captured: holes are counted in `gaps`, not filled with NULs as tcpflow does), plus
 * DIR/index.json, an array of {connection, file, client, server, direction, bytes, gaps}. DIR must
 * be empty or new (--force: files of an earlier run are replaced); files are created with O_EXCL and
 * O_NOFOLLOW, so a symlink planted in DIR is never followed, and DIR is created without recursion
 * (its parent must exist), so an impossible DIR fails at once.
 * Without -o: the bytes go to stdout as they are reassembled, in capture order, in the layout of
 * `tshark -z follow,tcp,ascii,N` (--hex: tshark's hex layout; --raw: the bytes themselves): a
 * connection's block header is written when its first bytes come (again when another connection's
 * bytes came in between) and its closing rule when it ends, so no connection is ever held in memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { intOption, openReportedCapture, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import {
  FOLLOW_END, FollowCollector, followHeader, formatFollowAsciiChunk, formatFollowHexChunk,
  type FollowChunk, type FollowConnection, type FollowDirectionSummary, type FollowHexOffsets,
} from '../lib/tcp/follow';
import { isTcpEvent, type TcpDataEvent, type TcpDirection, type TcpEvent } from '../lib/tcp/events';
import { jsonText } from '../lib/core/json-line';

export const USAGE = `usage: pcap-pipe follow [-o DIR] [--stream N] [--ascii|--hex|--raw] [--no-defragment] [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and reassembles every TCP connection.
  -o DIR           write one file per connection direction (exactly the reassembled bytes) and
                   DIR/index.json: [{connection, file, client, server, direction, bytes, gaps}]
  --stream N       only connection N (numbered like tshark's tcp.stream)
  --ascii          print connections as text, non-printable bytes as '.' (default)
  --hex            print a hex dump per chunk, like tshark -z follow,tcp,hex
  --raw            write the raw bytes, both directions in the order they were delivered
  --force          with -o: replace the files of an earlier run in a non-empty DIR
  --no-defragment  do not reassemble IP fragments first
  Output is written as the streams are reassembled: connections that overlap in time appear as
  interleaved blocks, each with its own header.`;

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
    if (err.code !== 'EEXIST') throw new Error(`cannot create the output directory ${dir}: ${err.message}`);
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory${st.isSymbolicLink() ? ' (a symlink: refused)' : ''}`);
  const entries = fs.readdirSync(dir);
  if (entries.length > 0 && !force) {
    throw new Error(`the output directory ${dir} is not empty (${entries.length} entries): use an empty one, or --force to replace the files of an earlier run`);
  }
}

/** Writes each direction to its own file as data arrives, and the index at the end. */
class DirectoryWriter {
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

type Mode = 'ascii' | 'hex' | 'raw';

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
class FollowSink extends Writable {
  private readonly collector: FollowCollector;
  private readonly writer: DirectoryWriter | null;
  private readonly printing = new Map<number, PrintState>();
  /** The connection whose block is open on stdout (its header written, its rule not yet). */
  private current: PrintState | null = null;
  private blocked = false;

  constructor(private readonly mode: Mode, dir: string | undefined, force: boolean, stream: number | undefined, private readonly out: NodeJS.WritableStream) {
    super({ objectMode: true });
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

  private write1(data: string | Buffer): void {
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
    const text = this.mode === 'hex' ? formatFollowHexChunk(chunk, st.offsets) : formatFollowAsciiChunk(chunk);
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
    try {
      for (const ev of Array.isArray(chunk) ? chunk : [chunk]) if (isTcpEvent(ev)) this.event(ev);
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
      done();
    } catch (e) {
      done(e as Error);
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['o', 'stream'], boolean: ['ascii', 'hex', 'raw', 'defragment', 'force'], default: { defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const modes = (['ascii', 'hex', 'raw'] as const).filter((m) => args[m]);
  if (modes.length > 1) throw new UsageError('choose one of --ascii, --hex, --raw', USAGE);
  const stream = intOption(args, 'stream', USAGE, 0);
  const dir = args.o === undefined || args.o === '' ? undefined : String(args.o);
  const file = args._.length ? String(args._[0]) : undefined;
  if (args.force && dir === undefined) throw new UsageError('--force goes with -o DIR', USAGE);
  // The directory is checked before any input is read: a bad -o fails at once.
  const sink = new FollowSink(modes[0] ?? 'ascii', dir, Boolean(args.force), stream, safeStdout());
  const input = openReportedCapture(file, { command: 'pcap-pipe follow', verb: 'used' }, { batch: true });
  await pipeline(input.reader, decode({ depth: 'transport', defragment: Boolean(args.defragment) }), tcp(), sink);
  return input.damaged ? 1 : 0;
}
