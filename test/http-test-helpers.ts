/**
 * Helpers for the HTTP and WebSocket parser tests: a seeded PRNG, a driver that feeds segments with
 * made-up capture positions, split strategies, an event normaliser that removes what legitimately
 * depends on segmentation, and a WebSocket framer.
 */
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { HttpConnectionParser } from '../lib/http/parser.js';
import type { HttpParserOptions } from '../lib/http/parser.js';
import type { CaptureAt, HttpParserEvent } from '../lib/http/events.js';
import type { TcpSide } from '../lib/tcp/events.js';
import { runFile } from './helpers/tcp-run.js';

import { prng } from './helpers/prng';
export { prng };

export function atFrame(frame: number): CaptureAt {
  return { ts: `1000.${String(frame * 1000).padStart(9, '0')}`, tsSec: 1000, tsNsec: frame * 1000, frame };
}

export type Segment = [TcpSide, Buffer];

/** Feeds segments (one frame each) and ends the connection; returns every event. */
export function runSegments(segments: Segment[], opts?: Partial<HttpParserOptions>, end = true): HttpParserEvent[] {
  const events: HttpParserEvent[] = [];
  const parser = new HttpConnectionParser((ev) => events.push(ev), opts);
  let frame = 0;
  for (const [from, bytes] of segments) parser.data(from, bytes, atFrame(++frame));
  if (end) parser.end(atFrame(++frame));
  return events;
}

/** Splits every segment at the given cut positions (offsets into that segment). */
export function splitSegment(seg: Segment, cuts: number[]): Segment[] {
  const [from, bytes] = seg;
  const out: Segment[] = [];
  let prev = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c <= prev || c >= bytes.length) continue;
    out.push([from, bytes.subarray(prev, c)]);
    prev = c;
  }
  out.push([from, bytes.subarray(prev)]);
  return out;
}

/** Each segment cut into random pieces (1..maxPiece bytes), reproducibly. */
export function randomSplit(segments: Segment[], rand: () => number, maxPiece: number): Segment[] {
  const out: Segment[] = [];
  for (const [from, bytes] of segments) {
    let i = 0;
    while (i < bytes.length) {
      const n = 1 + Math.floor(rand() * maxPiece);
      out.push([from, bytes.subarray(i, i + n)]);
      i += n;
    }
  }
  return out;
}

/**
 * What must not depend on how bytes were segmented: everything except capture positions; body events
 * are merged per message (their number depends on segmentation), WebSocket frames keep their order.
 */
export function normalise(events: HttpParserEvent[]): unknown[] {
  const out: unknown[] = [];
  const bodies = new Map<string, Buffer[]>();
  for (const ev of events) {
    if (ev.type === 'body') {
      const key = `${ev.from}/${ev.message}/${ev.index}`;
      const list = bodies.get(key) ?? [];
      list.push(ev.data);
      bodies.set(key, list);
      continue;
    }
    const copy: Record<string, unknown> = { ...ev };
    for (const k of ['ts', 'frame', 'startTs', 'startFrame', 'timing']) delete copy[k];
    for (const [k, v] of Object.entries(copy)) if (Buffer.isBuffer(v)) copy[k] = v.toString('hex');
    if (ev.type === 'http-error' || ev.type === 'ws-error') delete copy.message;
    out.push(copy);
  }
  for (const [key, list] of [...bodies.entries()].sort()) out.push({ body: key, data: Buffer.concat(list).toString('hex') });
  return out;
}

export function ofType<T extends HttpParserEvent['type']>(events: HttpParserEvent[], type: T): Extract<HttpParserEvent, { type: T }>[] {
  return events.filter((e): e is Extract<HttpParserEvent, { type: T }> => e.type === type);
}

export interface FrameSpec {
  opcode: number;
  payload: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Masking key; client frames pass one. */
  mask?: Buffer;
  /** Force a longer length form than needed (to test non-minimal encodings). */
  lengthForm?: 7 | 16 | 64;
}

/** Builds one WebSocket frame. */
export function wsFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : spec.payload;
  const len = payload.length;
  const form = spec.lengthForm ?? (len < 126 ? 7 : len < 0x10000 ? 16 : 64);
  const head: number[] = [
    (spec.fin === false ? 0 : 0x80) | (spec.rsv1 ? 0x40 : 0) | (spec.rsv2 ? 0x20 : 0) | (spec.rsv3 ? 0x10 : 0) | spec.opcode,
  ];
  const maskBit = spec.mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (form === 7) head.push(maskBit | len);
  else if (form === 16) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeUInt32BE(Math.floor(len / 0x1_0000_0000), 0);
    ext.writeUInt32BE(len >>> 0, 4);
  }
  let body = payload;
  if (spec.mask) {
    body = Buffer.alloc(len);
    for (let i = 0; i < len; i++) body[i] = payload[i]! ^ spec.mask[i & 3]!;
  }
  return Buffer.concat([Buffer.from(head), ext, spec.mask ?? Buffer.alloc(0), body]);
}

/** A valid client handshake + server 101 (optionally with Sec-WebSocket-Extensions). */
export function wsHandshake(accept: string, key: string, extensions?: string): { request: Buffer; response: Buffer } {
  const request = Buffer.from(
    `GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
      `Sec-WebSocket-Version: 13\r\n${extensions ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : ''}\r\n`,
  );
  const response = Buffer.from(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n` +
      `${extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : ''}\r\n`,
  );
  return { request, response };
}

/** HTTP/WebSocket events of one connection of a capture, in order. */
export interface ConnectionEvents {
  connection: number;
  client: string;
  server: string;
  events: HttpParserEvent[];
}

/**
 * Runs a capture through decode → defrag → TCP reassembly (test/helpers/tcp-run) → one
 * HttpConnectionParser per connection: the same wiring a stream wrapper does.
 */
export function runHttpCapture(file: string, opts?: Partial<HttpParserOptions>): ConnectionEvents[] {
  const conns = new Map<number, { parser: HttpConnectionParser; out: ConnectionEvents }>();
  for (const ev of runFile(file)) {
    if (ev.type === 'start') {
      const out: ConnectionEvents = { connection: ev.connection, client: ev.client, server: ev.server, events: [] };
      conns.set(ev.connection, { parser: new HttpConnectionParser((e) => out.events.push(e), opts), out });
      continue;
    }
    const conn = conns.get(ev.connection);
    if (!conn) continue;
    if (ev.type === 'data') conn.parser.data(ev.from, ev.bytes, ev);
    else if (ev.type === 'gap') conn.parser.gap(ev.from, ev.length, ev);
    else if (ev.type === 'reset') conn.parser.reset(ev);
    else if (ev.type === 'end') conn.parser.end(ev);
  }
  return [...conns.values()].map((c) => c.out).sort((a, b) => a.connection - b.connection);
}

export interface Relay {
  port: number;
  segments: Segment[];
  close(): Promise<void>;
}

/** A TCP relay on 127.0.0.1 that records every chunk in arrival order, tagged with its direction. */
export async function startRelay(targetPort: number): Promise<Relay> {
  const segments: Segment[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const pipe = (from: net.Socket, to: net.Socket, dir: TcpSide) => {
      from.on('data', (d: Buffer) => {
        segments.push([dir, Buffer.from(d)]);
        to.write(d);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    };
    pipe(client, upstream, 'client');
    pipe(upstream, client, 'server');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    segments,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}


/**
 * Runs the exchange whole, then split at every position of every segment, then `rounds` random splits
 * (round r cuts into `pieces(r)` pieces): every run must give the same events. Returns the whole run's.
 */
export function assertSplitInvariant(segments: Segment[], seed: number, rounds: number, pieces: (round: number) => number): HttpParserEvent[] {
  const whole = runSegments(segments);
  const expected = normalise(whole);
  for (let i = 0; i < segments.length; i++) {
    for (let cut = 1; cut < segments[i]![1].length; cut++) {
      const split = [...segments.slice(0, i), ...splitSegment(segments[i]!, [cut]), ...segments.slice(i + 1)];
      assert.deepEqual(normalise(runSegments(split)), expected, `segment ${i} split at ${cut}`);
    }
  }
  const rand = prng(seed);
  for (let round = 0; round < rounds; round++) {
    assert.deepEqual(normalise(runSegments(randomSplit(segments, rand, pieces(round)))), expected, `random round ${round}`);
  }
  return whole;
}
