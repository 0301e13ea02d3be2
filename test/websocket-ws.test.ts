/**
 * Real WebSocket traffic from the `ws` package (server and client on 127.0.0.1), recorded by a small
 * TCP relay in between (the bytes a sniffer would see, each direction in order), then decoded by the
 * HTTP parser → WebSocket hand-over. Every message we decode must equal what the programs sent:
 * text, binary, 16- and 64-bit lengths, a fragmented message with a ping in between, ping/pong, 100 KB
 * messages, close with code and reason; and the same with permessage-deflate both ways, with and without
 * context takeover, and with a reduced window.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type * as net from 'node:net';
import * as zlib from 'node:zlib';
import { WebSocket, WebSocketServer } from 'ws';
import type { PerMessageDeflateOptions } from 'ws';
import type { WsCloseEvent, WsFrameEvent, WsMessageEvent } from '../lib/http/ws-events.js';
import { ofType, prng, randomSplit, runSegments, startRelay } from './http-test-helpers.js';
import type { Segment } from './http-test-helpers.js';

type Sent = { data: Buffer; binary: boolean };

const rand = prng(2024);
const randomBytes = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
};

const MESSAGES: Sent[] = [
  { data: Buffer.from('hello, text'), binary: false },
  { data: Buffer.from('{"repeat":"hello, text"}'), binary: false }, // refers back to the first with takeover
  { data: Buffer.from([0, 1, 2, 3, 254, 255]), binary: true },
  { data: Buffer.from('é'.repeat(150)), binary: false }, // 300 bytes: 16-bit length
  { data: Buffer.from(JSON.stringify({ a: 'x'.repeat(100_000) })), binary: false }, // 100 KB, 64-bit length
  { data: randomBytes(100_000), binary: true }, // 100 KB that does not compress: 64-bit length either way
  { data: randomBytes(1000), binary: true }, // 16-bit length either way
  { data: Buffer.alloc(0), binary: false },
];

/** Runs one session: the client sends MESSAGES, a fragmented message with a ping inside, the server echoes. */
async function session(deflate: false | PerMessageDeflateOptions): Promise<{ segments: Segment[]; fragmented: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate });
  await new Promise<void>((resolve) => wss.on('listening', () => resolve()));
  const relay = await startRelay((wss.address() as net.AddressInfo).port);
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  const client = new WebSocket(`ws://127.0.0.1:${relay.port}/path`, { perMessageDeflate: deflate });
  await new Promise<void>((resolve, reject) => {
    client.on('open', () => resolve());
    client.on('error', reject);
  });
  const expectedEchoes = MESSAGES.length + 1;
  let echoes = 0;
  const allEchoed = new Promise<void>((resolve) =>
    client.on('message', () => {
      if (++echoes === expectedEchoes) resolve();
    }),
  );
  for (const m of MESSAGES) client.send(m.data, { binary: m.binary });
  // A fragmented text message with a ping between its fragments.
  const fragments = ['first part, ', 'second part, ', 'last part'];
  client.send(fragments[0]!, { fin: false });
  client.ping(Buffer.from('between'));
  client.send(fragments[1]!, { fin: false });
  client.send(fragments[2]!, { fin: true });
  await allEchoed;
  const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
  client.close(4001, 'done, bye');
  await closed;
  await new Promise((resolve) => setTimeout(resolve, 20));
  await relay.close();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  return { segments: relay.segments, fragmented: fragments.join('') };
}

const variants: Array<[string, false | PerMessageDeflateOptions]> = [
  ['no compression', false],
  ['permessage-deflate with context takeover', { threshold: 0 }],
  ['permessage-deflate without context takeover', { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true }],
  ['permessage-deflate with 10-bit windows', { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 10 }],
];

for (const [name, deflate] of variants) {
  test(`ws package on loopback: ${name}`, async () => {
    const { segments, fragmented } = await session(deflate);
    const events = runSegments(segments);
    const upgrade = ofType(events, 'http-upgrade');
    assert.equal(upgrade.length, 1);
    assert.equal(upgrade[0]!.websocket, true);
    assert.deepEqual(ofType(events, 'ws-error'), []);
    assert.deepEqual(ofType(events, 'http-error'), []);
    const expected = [
      ...MESSAGES.map((m) => [m.binary ? 2 : 1, m.data.toString('hex')]),
      [1, Buffer.from(fragmented).toString('hex')],
    ];
    for (const from of ['client', 'server'] as const) {
      const messages = ofType(events, 'ws-message').filter((m: WsMessageEvent) => m.from === from);
      assert.deepEqual(messages.map((m) => [m.opcode, m.data.toString('hex')]), expected, `${from} messages`);
      if (deflate) assert.ok(messages.some((m) => m.compressed), `${from} compressed`);
      else assert.ok(messages.every((m) => !m.compressed));
      assert.ok(messages.filter((m) => m.opcode === 1).every((m) => m.utf8Valid === true));
    }
    const frames = ofType(events, 'ws-frame');
    assert.ok(frames.filter((f: WsFrameEvent) => f.from === 'client').every((f) => f.masked));
    assert.ok(frames.filter((f: WsFrameEvent) => f.from === 'server').every((f) => !f.masked));
    assert.ok(frames.some((f) => f.lengthEncoding === 16) && frames.some((f) => f.lengthEncoding === 64));
    const ping = frames.find((f) => f.opcode === 9);
    assert.equal(ping?.data.toString(), 'between');
    assert.ok(frames.some((f) => f.opcode === 10 && f.from === 'server'), 'pong');
    // With context takeover some message must refer back into earlier ones (else the test proves little).
    const standalone = (f: WsFrameEvent) => {
      try {
        zlib.inflateRawSync(Buffer.concat([f.data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        return true;
      } catch {
        return false;
      }
    };
    const compressedWhole = frames.filter((f) => f.rsv1 && f.fin);
    const takeover = deflate && !deflate.serverNoContextTakeover;
    if (deflate) assert.equal(compressedWhole.every(standalone), !takeover, 'context takeover in use');
    // RSV1 only on the first frame of a compressed message.
    assert.ok(frames.filter((f) => f.opcode === 0).every((f) => !f.rsv1));
    const closes = ofType(events, 'ws-close') as WsCloseEvent[];
    assert.deepEqual(closes.map((c) => [c.from, c.code, c.reason]), [['client', 4001, 'done, bye'], ['server', 4001, 'done, bye']]);
    // The same bytes cut differently decode to the same messages.
    const again = runSegments(randomSplit(segments, prng(5), 700));
    assert.deepEqual(
      ofType(again, 'ws-message').map((m) => [m.from, m.data.toString('hex')]),
      ofType(events, 'ws-message').map((m) => [m.from, m.data.toString('hex')]),
    );
  });
}
