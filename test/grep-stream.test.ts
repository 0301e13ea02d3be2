/**
 * Stream-mode grep on crafted TCP connections: matches that straddle 2 and 3 segments, out-of-order
 * delivery (the frames reported are the ones that carried the bytes), -w waiting for the next byte,
 * gaps, binary patterns, capture-order release, and flat memory over a long stream, checked against a
 * plain search of the whole reassembled stream.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodePacket, type Packet } from '../lib/layers/decode';
import {
  compileMatcher, formatPayload, GrepPatternError, PacketGrep, parseHexPattern, StreamGrep, type GrepMatch,
  type PacketVerdict, type StreamGrepOptions,
} from '../lib/grep/grep';
import { LinkType, type PacketRecord } from '../lib/core/record';
import { grep } from '../streams/grep';

const SYN = 0x02, ACK = 0x10, PSH = 0x08, FIN = 0x01;
const CLIENT = { ip: [127, 0, 0, 1], port: 40000 };
const SERVER = { ip: [127, 0, 0, 2], port: 8080 };
const CLIENT_ISN = 1000;
const SERVER_ISN = 5000;

/** A raw-IPv4 TCP segment (checksums are not checked by the decoders). */
function segment(frame: number, fromClient: boolean, seq: number, ack: number, flags: number, payload: Buffer | string = ''): PacketRecord {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const [src, dst] = fromClient ? [CLIENT, SERVER] : [SERVER, CLIENT];
  const b = Buffer.alloc(40 + data.length);
  b[0] = 0x45; b.writeUInt16BE(40 + data.length, 2); b.writeUInt16BE(0x4000, 6); b[8] = 64; b[9] = 6;
  b.set(src.ip, 12); b.set(dst.ip, 16);
  b.writeUInt16BE(src.port, 20); b.writeUInt16BE(dst.port, 22);
  b.writeUInt32BE(seq >>> 0, 24); b.writeUInt32BE(ack >>> 0, 28);
  b[32] = 5 << 4; b[33] = flags; b.writeUInt16BE(65535, 34);
  data.copy(b, 40);
  return { frame, linkType: LinkType.RAW, tsSec: 1_700_000_000, tsNsec: frame * 1000, caplen: b.length, len: b.length, interfaceId: 0, data: b };
}

/** Builds a connection: handshake, then client payload chunks in the given send order, then FIN. */
class Conn {
  readonly records: PacketRecord[] = [];
  private frame = 0;
  private readonly offsets: number[] = [];
  constructor(private readonly chunks: (Buffer | string)[]) {
    let off = 0;
    for (const c of chunks) { this.offsets.push(off); off += Buffer.byteLength(typeof c === 'string' ? Buffer.from(c, 'latin1') : c); }
    this.add(true, CLIENT_ISN, 0, SYN);
    this.add(false, SERVER_ISN, CLIENT_ISN + 1, SYN | ACK);
    this.add(true, CLIENT_ISN + 1, SERVER_ISN + 1, ACK);
  }
  private add(fromClient: boolean, seq: number, ack: number, flags: number, payload: Buffer | string = ''): number {
    this.records.push(segment(++this.frame, fromClient, seq, ack, flags, payload));
    return this.frame;
  }
  /** Sends chunk i (client to server); returns its frame number. */
  send(i: number): number {
    return this.add(true, CLIENT_ISN + 1 + (this.offsets[i] as number), SERVER_ISN + 1, ACK | PSH, this.chunks[i] as Buffer | string);
  }
  finish(): void {
    const total = this.chunks.reduce<number>((n, c) => n + Buffer.byteLength(typeof c === 'string' ? Buffer.from(c, 'latin1') : c), 0);
    this.add(true, CLIENT_ISN + 1 + total, SERVER_ISN + 1, ACK | FIN);
    this.add(false, SERVER_ISN + 1, CLIENT_ISN + 2 + total, ACK | FIN);
    this.add(true, CLIENT_ISN + 2 + total, SERVER_ISN + 2, ACK);
  }
  packets(): Packet[] { return this.records.map((r) => decodePacket(r)); }
}

function runStream(packets: Packet[], pattern: string, opts: StreamGrepOptions = {}): { matches: GrepMatch[]; verdicts: PacketVerdict[]; g: StreamGrep } {
  const matches: GrepMatch[] = [];
  const verdicts: PacketVerdict[] = [];
  const g = new StreamGrep(compileMatcher(pattern, opts), { release: (v) => verdicts.push(v), match: (m) => matches.push(m) }, opts);
  for (const p of packets) g.packet(p);
  g.flush();
  return { matches, verdicts, g };
}

function selectedFrames(verdicts: PacketVerdict[]): number[] {
  return verdicts.filter((v) => v.selected).map((v) => v.packet.record.frame);
}

function perPacketFrames(packets: Packet[], pattern: string): number[] {
  const g = new PacketGrep(compileMatcher(pattern));
  return packets.filter((p) => g.packet(p).selected).map((p) => p.record.frame);
}

test('a match split over two segments: stream mode finds it and both frames carry it; per packet does not', () => {
  const c = new Conn(['user=alice&pass', 'word=hunter2\n']);
  const f1 = c.send(0), f2 = c.send(1);
  c.finish();
  const packets = c.packets();
  assert.deepStrictEqual(perPacketFrames(packets, 'password=hunter2'), []);
  const { matches, verdicts } = runStream(packets, 'password=hunter2');
  assert.strictEqual(matches.length, 1);
  const m = matches[0] as GrepMatch;
  assert.strictEqual(m.bytes.toString(), 'password=hunter2');
  assert.strictEqual(m.offset, 'user=alice&'.length);
  assert.deepStrictEqual(m.frames, [f1, f2]);
  assert.strictEqual(m.frame, f2);
  assert.strictEqual(m.direction, 'client-to-server');
  assert.strictEqual(m.connection, '127.0.0.1:40000 > 127.0.0.2:8080');
  assert.strictEqual(m.stream, 0);
  assert.strictEqual(m.before.toString(), 'user=alice&');
  assert.strictEqual(m.after.toString(), '\n');
  assert.deepStrictEqual(selectedFrames(verdicts), [f1, f2]);
  // every packet released exactly once, in capture order
  assert.deepStrictEqual(verdicts.map((v) => v.packet.record.frame), packets.map((p) => p.record.frame));
});

test('a match over three segments, the middle one inside it, with a regex and -i', () => {
  const c = new Conn(['xx AUTH', 'ORIZ', 'ATION: Basic abc\r\n']);
  const f = [c.send(0), c.send(1), c.send(2)];
  c.finish();
  const { matches, verdicts } = runStream(c.packets(), 'authorization: \\w+ [a-z]+', { ignoreCase: true });
  assert.strictEqual(matches.length, 1);
  assert.strictEqual((matches[0] as GrepMatch).bytes.toString(), 'AUTHORIZATION: Basic abc');
  assert.deepStrictEqual((matches[0] as GrepMatch).frames, f);
  assert.deepStrictEqual(selectedFrames(verdicts), f);
});

test('out-of-order segments: the frames reported are the ones that carried the matched bytes', () => {
  const c = new Conn(['aaaa SEC', 'RET-', 'TOKEN bbbb']);
  const f0 = c.send(0);
  const f2 = c.send(2); // arrives before chunk 1: buffered by the reassembler, delivered as a copy
  const f1 = c.send(1);
  c.finish();
  const { matches, verdicts } = runStream(c.packets(), 'SECRET-TOKEN');
  assert.strictEqual(matches.length, 1);
  assert.deepStrictEqual((matches[0] as GrepMatch).frames, [f0, f2, f1].sort((a, b) => a - b));
  assert.deepStrictEqual(selectedFrames(verdicts), [f0, f2, f1].sort((a, b) => a - b));
  assert.deepStrictEqual(verdicts.map((v) => v.packet.record.frame), c.records.map((r) => r.frame));
});

test('-w: a word cut at a segment end waits for the next byte; at the end of the stream it counts', () => {
  const c = new Conn(['say pass', 'word now pass']);
  c.send(0); c.send(1);
  c.finish();
  const { matches } = runStream(c.packets(), 'pass', { word: true });
  // "password" is not the word "pass"; the last "pass" ends the stream and is a word
  assert.deepStrictEqual(matches.map((m) => m.offset), ['say password now '.length]);
});

test('a gap (bytes never captured) is not bridged by a match', () => {
  const c = new Conn(['abc PASS', 'XXXX', 'WORD def']);
  c.send(0); c.send(2); // chunk 1 never captured
  c.finish(); // the FIN's ACK and the end give up the hole
  const { matches } = runStream(c.packets(), 'PASS.*WORD');
  assert.deepStrictEqual(matches, []);
  const { matches: whole } = runStream(c.packets(), 'WORD');
  assert.strictEqual(whole.length, 1);
});

test('binary hex patterns across segments, and hex parsing', () => {
  const c = new Conn([Buffer.from([1, 2, 0x00, 0xff]), Buffer.from([0x00, 0xfe, 9])]);
  const f = [c.send(0), c.send(1)];
  c.finish();
  const { matches } = runStream(c.packets(), '00ff00fe', { hex: true });
  assert.strictEqual(matches.length, 1);
  assert.deepStrictEqual((matches[0] as GrepMatch).frames, f);
  assert.strictEqual((matches[0] as GrepMatch).offset, 2);
  assert.deepStrictEqual(parseHexPattern('0x00 ff:00-fe'), Buffer.from([0, 0xff, 0, 0xfe]));
  assert.throws(() => parseHexPattern('0g'), GrepPatternError);
  assert.throws(() => parseHexPattern('abc'), /odd number of hex digits/);
  assert.throws(() => compileMatcher('a(b'), /invalid regular expression "a\(b"/);
  assert.throws(() => compileMatcher('[[:nope:]]'), /unknown character class/);
  // \xHH in a regex matches raw bytes, POSIX classes work
  assert.ok(compileMatcher('\\x00\\xff').find(Buffer.from([7, 0, 0xff]), 0));
  assert.deepStrictEqual(compileMatcher('[[:digit:]]+').find(Buffer.from('ab123c'), 0), { start: 2, end: 5 });
});

test('a long stream: every occurrence found (vs a plain search), memory flat, packets released as they go', () => {
  // 2 MB of filler with the needle at irregular places, sent in segments of varied sizes
  const needle = 'NEEDLE-in-the-STREAM';
  let seed = 12345;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const parts: string[] = [];
  let total = 0;
  while (total < 2_000_000) {
    const filler = 'x'.repeat(rnd(3000));
    parts.push(filler, needle);
    total += filler.length + needle.length;
  }
  const stream = Buffer.from(parts.join(''), 'latin1');
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length;) {
    const n = Math.min(stream.length - off, 1 + rnd(1460));
    chunks.push(stream.subarray(off, off + n));
    off += n;
  }
  const c = new Conn(chunks);
  for (let i = 0; i < chunks.length; i++) c.send(i);
  c.finish();
  const expected: number[] = [];
  for (let i = stream.indexOf(needle); i >= 0; i = stream.indexOf(needle, i + needle.length)) expected.push(i);

  const matches: GrepMatch[] = [];
  let released = 0, maxTail = 0, maxHeld = 0;
  const lookBehind = 256;
  const g = new StreamGrep(compileMatcher(needle), { release: () => { released++; }, match: (m) => matches.push(m) }, { lookBehind });
  for (const p of c.packets()) {
    g.packet(p);
    maxTail = Math.max(maxTail, g.bufferedBytes());
    maxHeld = Math.max(maxHeld, g.heldPackets);
  }
  g.flush();
  assert.deepStrictEqual(matches.map((m) => m.offset), expected);
  assert.ok(expected.length > 500);
  assert.ok(matches.some((m) => m.frames.length > 1), 'some matches straddle segments');
  assert.ok(maxTail <= lookBehind, `look-behind grew to ${maxTail}`);
  // a packet is held only while its bytes are within the look-behind: a handful, not the stream
  assert.ok(maxHeld < 300, `held up to ${maxHeld} packets`);
  assert.strictEqual(released, c.records.length);
  assert.strictEqual(g.stats.forced, 0);
});

test('-A N keeps the next N packets with payload of the same connection; -n stops the stream', async () => {
  const c = new Conn(['hello ', 'MATCH ', 'one ', 'two ', 'three ']);
  const f = [0, 1, 2, 3, 4].map((i) => c.send(i));
  c.finish();
  const { verdicts } = runStream(c.packets(), 'MATCH', { after: 2 });
  assert.deepStrictEqual(selectedFrames(verdicts), [f[1], f[2], f[3]]);
  assert.deepStrictEqual(verdicts.filter((v) => v.afterContext).map((v) => v.packet.record.frame), [f[2], f[3]]);

  // the grep() stream: records out for writePcap, -n 1 ends the search after the first match
  const two = new Conn(['a MATCH b ', 'MATCH again']);
  two.send(0); two.send(1); two.finish();
  const out: PacketRecord[] = [];
  const g = grep('MATCH', { stream: true, output: 'records', maxMatches: 1 });
  let limited = 0;
  g.on('limit', () => { limited++; });
  await pipeline(Readable.from(two.packets()), g, new Writable({ objectMode: true, write(r: PacketRecord, _e, cb) { out.push(r); cb(); } }));
  assert.strictEqual(limited, 1);
  assert.strictEqual(g.matches, 1);
  assert.deepStrictEqual(out.map((r) => r.frame), [4]);
});

test('invert is refused in stream mode; text rendering escapes and highlights', () => {
  assert.throws(() => new StreamGrep(compileMatcher('x'), { release: () => undefined }, { invert: true }), GrepPatternError);
  const text = formatPayload(Buffer.from('GET /\x1b[2J HTTP\r\nHost: x\n'), [{ start: 0, end: 3 }], true);
  assert.strictEqual(text, '  \x1b[1;31mGET\x1b[0m /\\x1b[2J HTTP\\x0d\n  Host: x');
  assert.strictEqual(formatPayload(Buffer.from('GET /'), [{ start: 0, end: 3 }], false), '  GET /');
});
