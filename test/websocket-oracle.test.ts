/**
 * WebSocket parser against tshark on the websocket-* captures: every frame's FIN, RSV, opcode, MASK,
 * payload length (oracle/C.http.tsv: 7-bit field + extended lengths), the frame that completes it, and
 * the sha256 of the unmasked payload (oracle/websocket-frames.tsv, from tshark's websocket.payload_raw);
 * fragmented messages reassembled equal the concatenation of tshark's frame payloads.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fixture, readOracle, websocketOracleFrames } from './helpers/oracle.js';
import type { WsFrameEvent, WsMessageEvent } from '../lib/http/ws-events.js';
import { runHttpCapture } from './http-test-helpers.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const files = [
  'websocket-fragmented-ping-close.pcap',
  'websocket-jupyter-multi-frame.pcap',
  'websocket-oversized-close-frame.pcapng',
  'websocket-reply-ping-coalesced.pcap',
  'websocket-text-binary.pcap',
];

const oracleFrames = websocketOracleFrames;

const rsvField = (f: WsFrameEvent): string => `0x${((f.rsv1 ? 4 : 0) | (f.rsv2 ? 2 : 0) | (f.rsv3 ? 1 : 0)).toString(16).padStart(2, '0')}`;
const len7 = (f: WsFrameEvent): number => (f.lengthEncoding === 7 ? f.length : f.lengthEncoding === 16 ? 126 : 127);

for (const file of files) {
  test(`websocket oracle: ${file}`, () => {
    const conns = runHttpCapture(fixture(file));
    const expected = oracleFrames(file);
    assert.ok(expected.length > 0);
    const payloads = readOracle('websocket-frames.tsv').filter((r) => r.capture === file);
    assert.equal(payloads.length, expected.length, 'the two oracles agree on the frame count');
    for (const stream of new Set(expected.map((e) => e.stream))) {
      const conn = conns.find((c) => c.connection === stream);
      assert.ok(conn, `connection ${stream}`);
      assert.equal(conn.events.filter((e) => e.type === 'http-upgrade' && e.websocket).length, 1, 'one websocket upgrade');
      const frames = conn.events.filter((e): e is WsFrameEvent => e.type === 'ws-frame');
      const want = expected.filter((e) => e.stream === stream);
      assert.deepEqual(
        frames.map((f) => [f.frame, f.fin, rsvField(f), f.opcode, f.masked, len7(f), f.length]),
        want.map((w) => [w.frame, w.fin, w.rsv, w.opcode, w.mask, w.len7, w.length]),
        'frames',
      );
      const wantPayloads = payloads.filter((p) => Number(p['tcp.stream']) === stream);
      assert.deepEqual(
        frames.map((f) => [f.data.length, sha256(f.data)]),
        wantPayloads.map((p) => [Number(p.payload_captured), p.payload_sha256]),
        'unmasked payloads',
      );
      // Messages: the data frames of each message, in order, concatenated (no permessage-deflate here).
      const messages = conn.events.filter((e): e is WsMessageEvent => e.type === 'ws-message');
      const expectedMessages: string[] = [];
      let current: Buffer[] | undefined;
      frames.forEach((f) => {
        if (f.opcode >= 8) return;
        if (f.opcode !== 0) current = [];
        current?.push(f.data); // f.data already equals tshark's payload i (checked above)
        if (f.fin && current) {
          expectedMessages.push(sha256(Buffer.concat(current)));
          current = undefined;
        }
      });
      assert.deepEqual(messages.map((m) => sha256(m.data)), expectedMessages, 'reassembled messages');
    }
  });
}

test('websocket oracle: the oversized close frame is flagged and parsed by its length, not trusted for more', () => {
  const [conn] = runHttpCapture(fixture('websocket-oversized-close-frame.pcapng'));
  const errors = conn!.events.filter((e) => e.type === 'ws-error').map((e) => e.type === 'ws-error' && [e.code, e.fatal]);
  // A 258-byte close (code 1000 + 256 'C's) in the 64-bit form: a control frame longer than 125 and a
  // non-minimal length; neither loses the framing, so the frame is read like tshark reads it.
  assert.deepEqual(errors, [['WS_CONTROL_FRAME', false], ['WS_BAD_LENGTH', false]]);
  const close = conn!.events.find((e) => e.type === 'ws-close');
  assert.ok(close && close.type === 'ws-close');
  assert.equal(close.code, 1000);
  assert.equal(close.reason, 'C'.repeat(256));
});

test('websocket oracle: fragmented message with a ping (fragmented-ping-close) reassembles to 56 bytes', () => {
  const [conn] = runHttpCapture(fixture('websocket-fragmented-ping-close.pcap'));
  const messages = conn!.events.filter((e): e is WsMessageEvent => e.type === 'ws-message');
  assert.deepEqual(messages.map((m) => [m.from, m.opcode, m.length, m.frames]), [
    ['client', 2, 35, 1],
    ['server', 2, 1 + 7 + 9 + 18 + 21, 5],
  ]);
});
