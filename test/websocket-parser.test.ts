import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { WebSocketConnection, parsePerMessageDeflate, websocketAccept, isValidCloseCode } from '../lib/http/websocket.js';
import type { HttpParserEvent } from '../lib/http/events.js';
import type { WsEvent } from '../lib/http/ws-events.js';
import { assertSplitInvariant, atFrame, normalise, ofType, prng, randomSplit, runSegments, wsFrame, wsHandshake } from './http-test-helpers.js';
import type { Segment } from './http-test-helpers.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

test('computes Sec-WebSocket-Accept as RFC 6455 section 1.3 shows', () => {
  assert.equal(websocketAccept(KEY), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('reads permessage-deflate parameters from the handshake response', () => {
  assert.deepEqual(parsePerMessageDeflate('permessage-deflate; server_no_context_takeover; client_max_window_bits="10"'), {
    serverNoContextTakeover: true,
    clientNoContextTakeover: false,
    clientMaxWindowBits: 10,
  });
  assert.deepEqual(parsePerMessageDeflate('x-webkit-deflate-frame, permessage-deflate;client_no_context_takeover;server_max_window_bits=12'), {
    serverNoContextTakeover: false,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 12,
  });
  assert.equal(parsePerMessageDeflate('x-other'), undefined);
  assert.equal(isValidCloseCode(1000), true);
  assert.equal(isValidCloseCode(1005), false);
});

/** A whole upgraded connection: handshake (the server's first frame in the 101's segment), then frames. */
function wsExchange(frames: Segment[], extensions?: string): Segment[] {
  const hs = wsHandshake(websocketAccept(KEY), KEY, extensions);
  const [first, ...rest] = frames;
  const out: Segment[] = [['client', hs.request]];
  if (first && first[0] === 'server') out.push(['server', Buffer.concat([hs.response, first[1]])], ...rest);
  else out.push(['server', hs.response], ...frames);
  return out;
}

function checkSplits(segments: Segment[], seed: number): HttpParserEvent[] {
  return assertSplitInvariant(segments, seed, 10, (round) => 1 + 3 * round);
}

test('hands the connection to WebSocket after a valid 101; frames in the 101 segment belong to it', () => {
  const ev = checkSplits(
    wsExchange([
      ['server', wsFrame({ opcode: 0x9, payload: 'ping!' })],
      ['client', Buffer.concat([wsFrame({ opcode: 0xa, payload: 'ping!', mask: MASK }), wsFrame({ opcode: 0x1, payload: 'héllo', mask: MASK })])],
      ['server', wsFrame({ opcode: 0x2, payload: Buffer.from([0, 1, 2, 255]) })],
      ['server', wsFrame({ opcode: 0x2, payload: Buffer.alloc(0) })],
      ['client', wsFrame({ opcode: 0x8, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]), mask: MASK })],
      ['server', wsFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) })],
    ]),
    11,
  );
  const [up] = ofType(ev, 'http-upgrade');
  assert.equal(up!.websocket, true);
  const frames = ofType(ev, 'ws-frame');
  assert.deepEqual(frames.map((f) => [f.from, f.opcode, f.masked, f.length]), [
    ['server', 9, false, 5],
    ['client', 10, true, 5],
    ['client', 1, true, 6],
    ['server', 2, false, 4],
    ['server', 2, false, 0],
    ['client', 8, true, 5],
    ['server', 8, false, 2],
  ]);
  assert.equal(frames[2]!.data.toString(), 'héllo');
  assert.ok(frames[1]!.maskKey!.equals(MASK));
  const messages = ofType(ev, 'ws-message');
  assert.deepEqual(messages.map((m) => [m.from, m.opcode, m.data.toString('hex'), m.utf8Valid]), [
    ['client', 1, Buffer.from('héllo').toString('hex'), true],
    ['server', 2, '000102ff', undefined],
    ['server', 2, '', undefined],
  ]);
  assert.deepEqual(ofType(ev, 'ws-close').map((x) => [x.from, x.code, x.reason]), [['client', 1000, 'bye'], ['server', 1000, '']]);
  assert.equal(ofType(ev, 'ws-error').length, 0);
});

test('never modifies the captured bytes when unmasking', () => {
  const frame = wsFrame({ opcode: 0x1, payload: 'secret', mask: MASK });
  const copy = Buffer.from(frame);
  const hs = wsHandshake(websocketAccept(KEY), KEY);
  runSegments([['client', hs.request], ['server', hs.response], ['client', frame]]);
  assert.ok(frame.equals(copy));
});

test('a wrong Sec-WebSocket-Accept makes the connection opaque, not WebSocket', () => {
  const hs = wsHandshake('AAAAAAAAAAAAAAAAAAAAAAAAAAA=', KEY);
  const ev = runSegments([['client', hs.request], ['server', Buffer.concat([hs.response, wsFrame({ opcode: 1, payload: 'x' })])]]);
  const [up] = ofType(ev, 'http-upgrade');
  assert.equal(up!.websocket, false);
  assert.match(up!.reason!, /Accept/);
  assert.equal(ofType(ev, 'ws-frame').length, 0);
});

test('client frames sent right after the upgrade request, before the 101, are decoded as WebSocket', () => {
  const hs = wsHandshake(websocketAccept(KEY), KEY);
  const ev = runSegments([['client', Buffer.concat([hs.request, wsFrame({ opcode: 1, payload: 'eager', mask: MASK })])], ['server', hs.response]]);
  assert.deepEqual(ofType(ev, 'ws-message').map((m) => m.data.toString()), ['eager']);
});

test('reassembles fragmented messages with control frames in between; 16- and 64-bit lengths', () => {
  const big = Buffer.alloc(70_000, 0x42);
  const mid = Buffer.alloc(300, 0x43);
  const ev = checkSplits(
    wsExchange([
      ['client', wsFrame({ opcode: 0x1, payload: 'frag', fin: false, mask: MASK })],
      ['client', wsFrame({ opcode: 0x9, payload: 'p', mask: MASK })],
      ['client', Buffer.concat([wsFrame({ opcode: 0x0, payload: Buffer.from('mé'), fin: false, mask: MASK }).subarray(0), wsFrame({ opcode: 0x0, payload: 'nt', mask: MASK })])],
      ['server', wsFrame({ opcode: 0x2, payload: mid })],
      ['server', wsFrame({ opcode: 0x2, payload: Buffer.from('x'), lengthForm: 64 })],
    ]),
    5,
  );
  const [m1, m2, m3] = ofType(ev, 'ws-message');
  assert.equal(m1!.data.toString(), 'fragmént');
  assert.equal(m1!.frames, 3);
  assert.equal(m1!.utf8Valid, true);
  assert.equal(m2!.length, 300);
  assert.equal(m3!.length, 1);
  assert.ok(ofType(ev, 'ws-error').some((e) => e.code === 'WS_BAD_LENGTH' && !e.fatal));
  // 64-bit length, not split at every position (70 KB): random splits only.
  const segs = wsExchange([['server', wsFrame({ opcode: 0x2, payload: big })]]);
  const rand = prng(9);
  for (let i = 0; i < 5; i++) {
    const e = runSegments(randomSplit(segs, rand, 5000));
    const [m] = ofType(e, 'ws-message');
    assert.ok(m!.data.equals(big));
    assert.equal(ofType(e, 'ws-frame')[0]!.length, 70_000);
  }
});

test('a UTF-8 text message split mid-character across fragments is valid; invalid UTF-8 is reported', () => {
  const euro = Buffer.from('€'); // 3 bytes
  const ev = runSegments(
    wsExchange([
      ['server', wsFrame({ opcode: 0x1, payload: euro.subarray(0, 1), fin: false })],
      ['server', wsFrame({ opcode: 0x0, payload: euro.subarray(1) })],
      ['server', wsFrame({ opcode: 0x1, payload: Buffer.from([0xc3, 0x28]) })],
    ]),
  );
  assert.deepEqual(ofType(ev, 'ws-message').map((m) => m.utf8Valid), [true, false]);
});

test('protocol violations that keep the framing are reported and parsing goes on', () => {
  const ev = runSegments(
    wsExchange([
      ['server', wsFrame({ opcode: 0x0, payload: 'orphan' })],
      ['server', wsFrame({ opcode: 0x3, payload: 'reserved' })],
      ['server', wsFrame({ opcode: 0x1, payload: 'rsv', rsv1: true, rsv2: true })],
      ['server', wsFrame({ opcode: 0x1, payload: 'masked', mask: MASK })],
      ['server', wsFrame({ opcode: 0x8, payload: Buffer.from([0x03]) })],
      ['server', wsFrame({ opcode: 0x1, payload: 'still here' })],
    ]),
  );
  const codes = ofType(ev, 'ws-error').map((e) => e.code);
  for (const code of ['WS_FRAGMENTATION', 'WS_BAD_OPCODE', 'WS_RSV', 'WS_MASK', 'WS_BAD_CLOSE'] as const) assert.ok(codes.includes(code), code);
  assert.ok(ofType(ev, 'ws-error').every((e) => !e.fatal));
  assert.equal(ofType(ev, 'ws-message').at(-1)!.data.toString(), 'still here');
});

test('a bogus 64-bit length stops the direction without allocating; an oversized control frame is flagged', () => {
  const huge = Buffer.from([0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const events: WsEvent[] = [];
  const ws = new WebSocketConnection((e) => events.push(e), { clientSide: 'client', limits: { maxMessageSize: 1 << 20 } });
  ws.data('server', huge, atFrame(1));
  ws.data('server', Buffer.alloc(1000), atFrame(2));
  assert.equal(ws.bufferedBytes, 0);
  assert.deepEqual(events.map((e) => e.type === 'ws-error' && [e.code, e.fatal]), [['WS_TOO_LARGE', true]]);
  const topBit = Buffer.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1]);
  const events2: WsEvent[] = [];
  new WebSocketConnection((e) => events2.push(e), { clientSide: 'client' }).data('server', topBit, atFrame(1));
  assert.deepEqual(events2.map((e) => e.type === 'ws-error' && e.code), ['WS_BAD_LENGTH']);
  const closeTooLong = Buffer.from([0x88, 0x7f, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x03, 0xe8]);
  const events3: WsEvent[] = [];
  const ws3 = new WebSocketConnection((e) => events3.push(e), { clientSide: 'client' });
  ws3.data('server', closeTooLong, atFrame(1));
  ws3.data('client', wsFrame({ opcode: 1, payload: 'other direction continues', mask: MASK }), atFrame(2));
  assert.deepEqual(events3.map((e) => (e.type === 'ws-error' ? `${e.code}/${e.fatal}` : e.type)), [
    'WS_CONTROL_FRAME/false',
    'WS_TOO_LARGE/false', // the length is known: skipped, not fatal (its 2 payload bytes are not the 256 MiB)
    'ws-frame',
    'ws-message',
  ]);
});

test('after a frame over maxMessageSize (framing still known) the frames after it are read: skipped, reported, not fatal', () => {
  const events: WsEvent[] = [];
  const ws = new WebSocketConnection((e) => events.push(e), { clientSide: 'client', limits: { maxMessageSize: 1000 } });
  const big = wsFrame({ opcode: 2, payload: Buffer.alloc(5000, 0x41), mask: MASK });
  const stream = Buffer.concat([
    wsFrame({ opcode: 1, payload: 'before', mask: MASK }),
    big,
    wsFrame({ opcode: 1, payload: 'after one', mask: MASK }),
    wsFrame({ opcode: 1, fin: false, payload: 'frag', mask: MASK }),
    wsFrame({ opcode: 0, fin: true, payload: Buffer.alloc(3000), mask: MASK }), // a too-large continuation drops its message
    wsFrame({ opcode: 1, payload: 'after two', mask: MASK }),
  ]);
  for (let off = 0; off < stream.length; off += 700) ws.data('client', stream.subarray(off, off + 700), atFrame(off));
  assert.ok(ws.bufferedBytes < 2000, `the big payloads were not held (${ws.bufferedBytes})`);
  const messages = events.filter((e) => e.type === 'ws-message').map((e) => (e as { data: Buffer }).data.toString());
  assert.deepEqual(messages, ['before', 'after one', 'after two']);
  assert.deepEqual(events.filter((e) => e.type === 'ws-error').map((e) => e.type === 'ws-error' && `${e.code}/${e.fatal}`), ['WS_TOO_LARGE/false', 'WS_TOO_LARGE/false']);
});

test('a gap stops that direction cleanly; the other direction continues', () => {
  const events: WsEvent[] = [];
  const ws = new WebSocketConnection((e) => events.push(e), { clientSide: 'client' });
  ws.data('server', wsFrame({ opcode: 1, payload: 'abcdef' }).subarray(0, 4), atFrame(1));
  ws.gap('server', 10, atFrame(2));
  ws.data('server', wsFrame({ opcode: 1, payload: 'lost' }), atFrame(3));
  ws.data('client', wsFrame({ opcode: 1, payload: 'kept', mask: MASK }), atFrame(4));
  ws.end(atFrame(5));
  assert.deepEqual(events.map((e) => (e.type === 'ws-error' ? e.code : e.type)), ['WS_GAP', 'ws-frame', 'ws-message']);
  assert.equal(ws.bufferedBytes, 0);
});

test('a message over maxMessageSize is dropped and reported; framing continues', () => {
  const events: WsEvent[] = [];
  const ws = new WebSocketConnection((e) => events.push(e), { clientSide: 'client', limits: { maxMessageSize: 100 } });
  ws.data('server', Buffer.concat([wsFrame({ opcode: 2, payload: Buffer.alloc(80), fin: false }), wsFrame({ opcode: 0, payload: Buffer.alloc(80) }), wsFrame({ opcode: 2, payload: 'ok' })]), atFrame(1));
  assert.deepEqual(events.filter((e) => e.type !== 'ws-frame').map((e) => (e.type === 'ws-error' ? e.code : e.type)), ['WS_TOO_LARGE', 'ws-message']);
});

/** A permessage-deflate sender: one raw deflate stream, sync-flushed per message, tail stripped. */
class DeflateSender {
  private _stream: zlib.DeflateRaw | undefined;
  private readonly _takeover: boolean;
  constructor(takeover: boolean) {
    this._takeover = takeover;
  }
  async compress(data: Buffer): Promise<Buffer> {
    if (!this._stream || !this._takeover) this._stream = zlib.createDeflateRaw({ windowBits: 15 });
    const stream = this._stream;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    stream.on('data', onData);
    stream.write(data);
    await new Promise<void>((resolve) => stream.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    stream.off('data', onData);
    const out = Buffer.concat(chunks);
    assert.ok(out.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff])));
    return out.subarray(0, -4);
  }
}

for (const takeover of [true, false]) {
  test(`permessage-deflate ${takeover ? 'with' : 'without'} context takeover, both directions, fragmented compressed message`, async () => {
    const texts = ['{"hello":"world","n":1}', '{"hello":"world","n":2}', 'x'.repeat(40_000) + '{"hello":"world"}', '', '{"hello":"world","n":3}'];
    const client = new DeflateSender(takeover);
    const server = new DeflateSender(takeover);
    const frames: Segment[] = [];
    for (const t of texts) {
      const sc = await server.compress(Buffer.from(t));
      frames.push(['server', wsFrame({ opcode: 1, payload: sc, rsv1: true })]);
      const cc = await client.compress(Buffer.from(t));
      // The client sends each compressed message in two fragments: RSV1 only on the first.
      const half = Math.floor(cc.length / 2);
      frames.push(['client', Buffer.concat([
        wsFrame({ opcode: 1, payload: cc.subarray(0, half), rsv1: true, fin: false, mask: MASK }),
        wsFrame({ opcode: 0x9, payload: '', mask: MASK }),
        wsFrame({ opcode: 0, payload: cc.subarray(half), mask: MASK }),
      ])]);
    }
    const params = takeover ? 'permessage-deflate' : 'permessage-deflate; client_no_context_takeover; server_no_context_takeover';
    const segs = wsExchange(frames, params);
    const ev = runSegments(segs);
    const messages = ofType(ev, 'ws-message');
    assert.deepEqual(ofType(ev, 'ws-error'), []);
    assert.equal(ofType(ev, 'http-upgrade')[0]!.extensions, params);
    const got = (from: string) => messages.filter((m) => m.from === from).map((m) => m.data.toString());
    assert.deepEqual(got('server'), texts);
    assert.deepEqual(got('client'), texts);
    assert.ok(messages.every((m) => m.compressed && m.utf8Valid === true));
    const compressedFrames = ofType(ev, 'ws-frame').filter((f) => f.rsv1);
    assert.equal(compressedFrames.length, texts.length * 2);
    // Without takeover each message inflates alone; with takeover the last one needs the window.
    const lastServer = ofType(ev, 'ws-frame').filter((f) => f.from === 'server').at(-1)!;
    const alone = () => zlib.inflateRawSync(Buffer.concat([lastServer.data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    if (takeover) assert.throws(alone, /distance too far back/);
    else assert.equal(alone().toString(), texts.at(-1));
    const rand = prng(takeover ? 1 : 2);
    for (let i = 0; i < 5; i++) assert.deepEqual(normalise(runSegments(randomSplit(segs, rand, 1 + i * 200))), normalise(ev));
  });
}

test('fuzz: mutated frames and random splits never throw and never buffer past the limit', () => {
  const rand = prng(1234);
  const base = Buffer.concat([
    wsFrame({ opcode: 1, payload: 'hello', mask: MASK }),
    wsFrame({ opcode: 2, payload: Buffer.alloc(200, 1), fin: false, mask: MASK }),
    wsFrame({ opcode: 9, payload: 'p', mask: MASK }),
    wsFrame({ opcode: 0, payload: Buffer.alloc(300, 2), mask: MASK }),
    wsFrame({ opcode: 1, payload: Buffer.from([0x4a, 0xce, 0xcf, 0x05, 0x00]), rsv1: true, mask: MASK }),
    wsFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0x41]), mask: MASK }),
  ]);
  for (let round = 0; round < 500; round++) {
    const copy = Buffer.from(base);
    const flips = 1 + Math.floor(rand() * 6);
    for (let i = 0; i < flips; i++) copy[Math.floor(rand() * copy.length)] = Math.floor(rand() * 256);
    const events: WsEvent[] = [];
    const ws = new WebSocketConnection((e) => events.push(e), {
      clientSide: 'client',
      deflate: { serverNoContextTakeover: false, clientNoContextTakeover: false },
      limits: { maxMessageSize: 4096 },
    });
    for (const [from, piece] of randomSplit([['client', copy]], rand, 1 + Math.floor(rand() * 64))) {
      ws.data(from, piece, atFrame(round));
      assert.ok(ws.bufferedBytes <= 4096 + 14 + 64);
    }
    ws.end(atFrame(round));
    for (const e of events) if (e.type === 'ws-message') assert.ok(e.length <= 4096);
  }
});
