/**
 * Helpers for the HTTP/2 tests: a frame builder and a small HPACK encoder (to write exact byte streams),
 * a driver that feeds segments to Http2ConnectionParser, an event normaliser for split-invariance, and
 * live capture with tcpdump on lo plus tshark's reading of the same file.
 */
import './plain-env';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Http2ConnectionParser, type Http2ParserOptions } from '../../lib/http2/connection';
import type { Http2Event } from '../../lib/http2/events';
import { huffmanCodes } from '../../lib/http2/hpack';
import type { CaptureAt } from '../../lib/http/events';
import type { TcpSide as Direction } from '../../lib/tcp/events';
import { prng } from './prng';

export type Segment = [Direction, Buffer];

export function atFrame(frame: number): CaptureAt {
  return { ts: `1000.${String(frame * 1000).padStart(9, '0')}`, tsSec: 1000, tsNsec: frame * 1000, frame };
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One frame: 9-octet header + payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(9);
  head.writeUIntBE(body.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, body]);
}

export function settings(entries: Array<[number, number]> = [], ack = false): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(4, ack ? 1 : 0, 0, payload);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

// ------------------------------------------------------------------------------------------------
// HPACK encoding (RFC 7541), enough to write every representation

export function hpackInteger(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

const CODES = huffmanCodes();

export function huffmanEncode(text: string): Buffer {
  const bits: number[] = [];
  for (const byte of Buffer.from(text, 'latin1')) {
    const [code, length] = CODES[byte]!;
    for (let b = length - 1; b >= 0; b--) bits.push(Math.floor(code / 2 ** b) % 2);
  }
  while (bits.length % 8 !== 0) bits.push(1); // EOS prefix padding
  const out = Buffer.alloc(bits.length / 8);
  for (let i = 0; i < bits.length; i++) if (bits[i]) out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

export function hpackString(text: string, huffman = false): Buffer {
  const raw = huffman ? huffmanEncode(text) : Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInteger(raw.length, 7, huffman ? 0x80 : 0), raw]);
}

export function hpackIndexed(index: number): Buffer {
  return hpackInteger(index, 7, 0x80);
}

export type Indexing = 'incremental' | 'none' | 'never';

/** A literal field; `name` a string or a table index. */
export function hpackLiteral(name: string | number, value: string, indexing: Indexing = 'none', huffman = false): Buffer {
  const [bits, flags] = indexing === 'incremental' ? [6, 0x40] : indexing === 'never' ? [4, 0x10] : [4, 0x00];
  if (typeof name === 'number') return Buffer.concat([hpackInteger(name, bits, flags), hpackString(value, huffman)]);
  return Buffer.concat([hpackInteger(0, bits, flags), hpackString(name, huffman), hpackString(value, huffman)]);
}

export function hpackSizeUpdate(size: number): Buffer {
  return hpackInteger(size, 5, 0x20);
}

/** A header block of literal fields without indexing (no table state involved). */
export function plainBlock(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.map(([n, v]) => hpackLiteral(n, v)));
}

// ------------------------------------------------------------------------------------------------
// Running the parser

export function runH2(segments: Segment[], opts?: Partial<Http2ParserOptions>, end = true): Http2Event[] {
  const events: Http2Event[] = [];
  const parser = new Http2ConnectionParser((ev) => events.push(ev), opts);
  let n = 0;
  for (const [from, bytes] of segments) parser.data(from, bytes, atFrame(++n));
  if (end) parser.end(atFrame(++n));
  return events;
}

export function h2OfType<T extends Http2Event['type']>(events: Http2Event[], type: T): Extract<Http2Event, { type: T }>[] {
  return events.filter((e): e is Extract<Http2Event, { type: T }> => e.type === type);
}

/**
 * What must not depend on segmentation: everything but capture positions; body pieces merged per
 * stream and direction (their number depends on segmentation).
 */
export function normaliseH2(events: Http2Event[]): unknown[] {
  const out: unknown[] = [];
  const bodies = new Map<string, Buffer[]>();
  for (const ev of events) {
    if (ev.type === 'body') {
      const key = `${ev.from}/${ev.streamId}`;
      const list = bodies.get(key) ?? [];
      list.push(ev.data);
      bodies.set(key, list);
      continue;
    }
    const copy: Record<string, unknown> = { ...ev };
    for (const k of ['ts', 'frame', 'startTs', 'startFrame', 'timing']) delete copy[k];
    for (const [k, v] of Object.entries(copy)) if (Buffer.isBuffer(v)) copy[k] = v.toString('hex');
    if (ev.type === 'h2-error') delete copy.message;
    out.push(copy);
  }
  for (const [key, list] of [...bodies.entries()].sort()) out.push({ body: key, data: Buffer.concat(list).toString('hex') });
  return out;
}

function randomSplit(segments: Segment[], rand: () => number, maxPiece: number): Segment[] {
  const out: Segment[] = [];
  for (const [from, bytes] of segments) {
    for (let i = 0; i < bytes.length;) {
      const n = 1 + Math.floor(rand() * maxPiece);
      out.push([from, bytes.subarray(i, i + n)]);
      i += n;
    }
  }
  return out;
}

/** The same events whole, cut at every position of every segment (when `everyCut`), and in random pieces. */
export function assertH2SplitInvariant(segments: Segment[], seed: number, rounds: number, opts?: Partial<Http2ParserOptions>, everyCut = true): Http2Event[] {
  const whole = runH2(segments, opts);
  const expected = normaliseH2(whole);
  if (everyCut) {
    for (let i = 0; i < segments.length; i++) {
      const [from, bytes] = segments[i]!;
      for (let cut = 1; cut < bytes.length; cut++) {
        const split: Segment[] = [...segments.slice(0, i), [from, bytes.subarray(0, cut)], [from, bytes.subarray(cut)], ...segments.slice(i + 1)];
        assert.deepEqual(normaliseH2(runH2(split, opts)), expected, `segment ${i} cut at ${cut}`);
      }
    }
  }
  const rand = prng(seed);
  for (let round = 0; round < rounds; round++) {
    const maxPiece = [1, 3, 7, 20, 100, 1000][round % 6]!;
    assert.deepEqual(normaliseH2(runH2(randomSplit(segments, rand, maxPiece), opts)), expected, `random round ${round} (pieces <= ${maxPiece})`);
  }
  return whole;
}

// ------------------------------------------------------------------------------------------------
// Live capture and tshark

export interface Capture {
  file: string;
  stop(): Promise<void>;
}

/** tcpdump on lo for `filter` into `file`; resolves once it is listening. */
export async function startTcpdump(file: string, filter: string): Promise<Capture> {
  const dump = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '32768', '-U', '-s', '0', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    dump.on('error', reject);
    dump.on('exit', (code) => reject(new Error(`tcpdump exited ${code}`)));
    dump.stderr.on('data', (d: Buffer) => { if (/listening/.test(d.toString())) resolve(); });
  });
  return {
    file,
    stop: async () => {
      await new Promise((r) => setTimeout(r, 300)); // the last packets reach the capture buffer
      await new Promise<void>((resolve) => {
        if (dump.exitCode !== null) return resolve();
        dump.removeAllListeners('exit');
        dump.on('exit', () => resolve());
        dump.kill('SIGINT');
      });
    },
  };
}

/** tshark -T fields over the HTTP/2 frames of a capture (h2c on `port` decoded as http2), one row per packet. */
export function tsharkFields(file: string, port: number, fields: string[], filter = 'http2'): string[][] {
  const r = spawnSync('tshark', ['-r', file, '-d', `tcp.port==${port},http2`, '-Y', filter, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

export function haveTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** One HTTP/2 frame as tshark decoded it. */
export interface TsharkH2Frame {
  frame: number;
  tcpStream: number;
  fromServer: boolean;
  streamId: number;
  type: number;
  flags: number;
  length: number;
  padLength: number;
  /** Decoded header fields in order (HEADERS / PUSH_PROMISE). */
  headers: Array<[string, string]>;
  promisedStreamId?: number;
  errorCode?: number;
  lastStreamId?: number;
}

function asArray<T>(x: T | T[] | undefined): T[] {
  return x === undefined ? [] : Array.isArray(x) ? x : [x];
}

/** Every object under `node` that is an HTTP/2 frame (has http2.type), in document order. */
function collectFrames(node: unknown, out: Array<Record<string, unknown>>): void {
  if (Array.isArray(node)) {
    for (const item of node) collectFrames(item, out);
  } else if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if ('http2.type' in obj) {
      out.push(obj);
      return;
    }
    for (const value of Object.values(obj)) collectFrames(value, out);
  }
}

function num(x: unknown): number {
  const s = String(asArray(x as string)[0] ?? '');
  return s.startsWith('0x') ? parseInt(s, 16) : Number(s);
}

/** Every HTTP/2 frame tshark finds in a capture (h2c on `port`), from its JSON output. */
export function tsharkH2Frames(file: string, port: number, keyLog?: string): TsharkH2Frame[] {
  // h2c on an odd port needs decode-as; h2 in TLS is found by ALPN once the key log decrypts it
  const how = keyLog === undefined ? ['-d', `tcp.port==${port},http2`] : ['-o', `tls.keylog_file:${keyLog}`];
  const r = spawnSync('tshark', ['-r', file, ...how, '-Y', 'http2', '-T', 'json', '-J', 'frame tcp http2', '--no-duplicate-keys'], { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const packets = JSON.parse(r.stdout) as Array<{ _source: { layers: Record<string, Record<string, unknown>> } }>;
  const out: TsharkH2Frame[] = [];
  for (const packet of packets) {
    const layers = packet._source.layers;
    const frameNo = num(layers.frame!['frame.number']);
    const tcp = layers.tcp!;
    const fromServer = num(tcp['tcp.srcport']) === port;
    const raw: Array<Record<string, unknown>> = [];
    collectFrames(layers.http2, raw);
    for (const f of raw) {
      const headers: Array<[string, string]> = [];
      for (const h of asArray(f['http2.header'] as Record<string, unknown> | Array<Record<string, unknown>>)) {
        headers.push([String(h['http2.header.name'] ?? ''), String(h['http2.header.value'] ?? '')]);
      }
      const frame: TsharkH2Frame = {
        frame: frameNo, tcpStream: num(tcp['tcp.stream']), fromServer, streamId: num(f['http2.streamid']), type: num(f['http2.type']),
        flags: num(f['http2.flags']), length: num(f['http2.length']), padLength: f['http2.pad_length'] === undefined ? 0 : num(f['http2.pad_length']), headers,
      };
      if (f['http2.push_promise.promised_stream_id'] !== undefined) frame.promisedStreamId = num(f['http2.push_promise.promised_stream_id']);
      if (f['http2.rst_stream.error'] !== undefined) frame.errorCode = num(f['http2.rst_stream.error']);
      if (f['http2.goaway.error'] !== undefined) frame.errorCode = num(f['http2.goaway.error']);
      if (f['http2.goaway.last_stream_id'] !== undefined) frame.lastStreamId = num(f['http2.goaway.last_stream_id']);
      out.push(frame);
    }
  }
  return out;
}
