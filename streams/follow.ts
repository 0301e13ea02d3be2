/**
 * `pcap-pipe follow`'s sink: reassembled TCP connections printed like Wireshark's Follow TCP Stream, or
 * written one file per direction like tcpflow (with an index). The collecting is lib/tcp/follow.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { forEachItem } from './batch';
import { jsonText } from '../lib/core/json-line';
import type { Batchable } from './typed';
import { FollowCollector, formatFollowAscii, formatFollowHex, type FollowConnection, type FollowDirectionSummary } from '../lib/tcp/follow';
import { isTcpEvent, type TcpDataEvent, type TcpDirection, type TcpEvent } from '../lib/tcp/events';

/** Keeps at most this many direction files open; others are reopened in append mode when needed. */
const MAX_OPEN_FILES = 128;

function fileName(connection: number, direction: TcpDirection): string {
  return `${String(connection).padStart(6, '0')}-${direction}.bin`;
}

/** Writes each direction to its own file as data arrives, and the index at the end. */
export class DirectoryWriter {
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

/** How followSink() shows connections without a directory. */
export type FollowMode = 'ascii' | 'hex' | 'raw';

/**
 * The end of a follow chain: TCP events in (single or arrays); each connection printed to `out` when it ends
 * (ascii, hex), its bytes written as they come (raw), or each direction written to a file under `dir`.
 */
export class FollowSink extends Writable {
  private readonly collector: FollowCollector;
  private readonly writer: DirectoryWriter | null;

  constructor(private readonly mode: FollowMode, dir: string | undefined, stream: number | undefined, private readonly out: NodeJS.WritableStream) {
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
      forEachItem(chunk as Batchable<unknown>, (ev) => { if (isTcpEvent(ev)) this.event(ev); });
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

/** A FollowSink writing to `out` (ascii, hex, raw) or into `dir`, for every connection or only `stream`. */
export function followSink(opts: { mode?: FollowMode; dir?: string; stream?: number; out: NodeJS.WritableStream }): FollowSink {
  return new FollowSink(opts.mode ?? 'ascii', opts.dir, opts.stream, opts.out);
}
