/**
 * `pcap-pipe follow [-o DIR] [--stream N] [--ascii|--hex|--raw] [FILE]`: reassembled TCP streams, like
 * Wireshark's Follow TCP Stream and tcpflow.
 *
 * With -o DIR: one file per connection direction holding exactly the reassembled bytes (never a byte
 * that was not captured: holes are counted in `gaps`, not filled with NULs as tcpflow does), plus
 * DIR/index.json, an array of {connection, file, client, server, direction, bytes, gaps}.
 * Without -o: each connection printed to stdout when it ends, like `tshark -z follow,tcp,ascii,N`
 * (--hex: tshark's hex layout; --raw: the bytes themselves, both directions in delivery order).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { intOption, openReportedCapture, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { FollowCollector, formatFollowAscii, formatFollowHex, type FollowConnection, type FollowDirectionSummary } from '../lib/tcp/follow';
import { isTcpEvent, type TcpDataEvent, type TcpDirection, type TcpEvent } from '../lib/tcp/events';
import { jsonText } from '../lib/core/json-line';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';

export const USAGE = `usage: pcap-pipe follow [-o DIR] [--stream N] [--ascii|--hex|--raw] [--no-defragment] [--keylog FILE] [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and reassembles every TCP connection.
  -o DIR           write one file per connection direction (exactly the reassembled bytes) and
                   DIR/index.json: [{connection, file, client, server, direction, bytes, gaps}]
  --stream N       only connection N (numbered like tshark's tcp.stream)
  --ascii          print connections as text, non-printable bytes as '.' (default)
  --hex            print a hex dump per chunk, like tshark -z follow,tcp,hex
  --raw            write the raw bytes, both directions in the order they were delivered
  --no-defragment  do not reassemble IP fragments first
${KEYLOG_USAGE}`;

/** Keeps at most this many direction files open; others are reopened in append mode when needed. */
const MAX_OPEN_FILES = 128;

function fileName(connection: number, direction: TcpDirection): string {
  return `${String(connection).padStart(6, '0')}-${direction}.bin`;
}

/** Writes each direction to its own file as data arrives, and the index at the end. */
class DirectoryWriter {
  private readonly open = new Map<string, number>();
  private readonly index: FollowDirectionSummary[] = [];

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  data(conn: FollowConnection, ev: TcpDataEvent): void {
    const name = fileName(conn.connection, ev.direction);
    let fd = this.open.get(name);
    if (fd === undefined) {
      if (this.open.size >= MAX_OPEN_FILES) this.closeOne();
      fd = fs.openSync(path.join(this.dir, name), 'a');
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
      else if (d.bytes === 0) fs.writeFileSync(path.join(this.dir, name), '');
      this.index.push({ connection: d.connection, file: name, client: d.client, server: d.server, direction: d.direction, bytes: d.bytes, gaps: d.gaps } as FollowDirectionSummary & { file: string });
    }
  }

  close(): void {
    for (const fd of this.open.values()) fs.closeSync(fd);
    this.open.clear();
    const index = this.index.sort((a, b) => a.connection - b.connection || (a.direction < b.direction ? -1 : 1))
      .map((e) => ({ connection: e.connection, file: (e as { file?: string }).file, client: e.client, server: e.server, direction: e.direction, bytes: e.bytes, gaps: e.gaps }));
    fs.writeFileSync(path.join(this.dir, 'index.json'), jsonText(index, 2) + '\n');
  }

  private closeOne(): void {
    const [name, fd] = this.open.entries().next().value as [string, number];
    fs.closeSync(fd);
    this.open.delete(name);
  }
}

type Mode = 'ascii' | 'hex' | 'raw';

class FollowSink extends Writable {
  private readonly collector: FollowCollector;
  private readonly writer: DirectoryWriter | null;

  constructor(private readonly mode: Mode, dir: string | undefined, stream: number | undefined, private readonly out: NodeJS.WritableStream) {
    super({ objectMode: true });
    this.writer = dir === undefined ? null : new DirectoryWriter(dir);
    const writer = this.writer;
    this.collector = new FollowCollector({
      keepBytes: writer === null && mode !== 'raw',
      connection: stream,
      onData: (conn, ev) => {
        if (writer) writer.data(conn, ev);
        else if (mode === 'raw') this.out.write(ev.bytes);
      },
    });
  }

  override _write(chunk: unknown, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    try {
      for (const ev of Array.isArray(chunk) ? chunk : [chunk]) if (isTcpEvent(ev)) this.event(ev);
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  private event(ev: TcpEvent): void {
    this.collector.event(ev);
    if (ev.type !== 'end') return;
    const conn = this.collector.get(ev.connection);
    if (conn === undefined) return;
    if (this.writer) this.writer.finish(conn);
    else if (this.mode === 'ascii') this.out.write(formatFollowAscii(conn));
    else if (this.mode === 'hex') this.out.write(formatFollowHex(conn));
    this.collector.delete(ev.connection);
  }

  override _final(done: (e?: Error | null) => void): void {
    try {
      this.writer?.close();
      done();
    } catch (e) {
      done(e as Error);
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['o', 'stream'], boolean: ['ascii', 'hex', 'raw', 'defragment'], repeatable: ['keylog'], default: { defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const modes = (['ascii', 'hex', 'raw'] as const).filter((m) => args[m]);
  if (modes.length > 1) throw new UsageError('choose one of --ascii, --hex, --raw', USAGE);
  const stream = intOption(args, 'stream', USAGE, 0);
  const dir = args.o === undefined || args.o === '' ? undefined : String(args.o);
  const file = args._.length ? String(args._[0]) : undefined;
  const input = openReportedCapture(file, { command: 'pcap-pipe follow', verb: 'used' }, { batch: true });
  await pipeline(
    input.reader,
    decode({ depth: 'transport', defragment: Boolean(args.defragment) }),
    tcp(),
    // TLS connections decrypted with --keylog / SSLKEYLOGFILE / the pcapng's own secrets; others as they are
    tlsStage(keyLogFiles(args), input.reader),
    new FollowSink(modes[0] ?? 'ascii', dir, stream, safeStdout()),
  );
  return input.damaged ? 1 : 0;
}
