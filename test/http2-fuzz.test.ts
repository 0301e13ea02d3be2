/**
 * Seeded fuzzing of the HTTP/2 parser: random frames (every type, random flags, padding, CONTINUATION,
 * HPACK blocks with table insertions and references), then byte mutations, random re-segmentation and
 * gaps, in every start mode. It must never throw, and what it holds stays within its named limits.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Http2ConnectionParser } from '../lib/http2/connection.js';
import type { Http2Event } from '../lib/http2/events.js';
import { PREFACE, atFrame, frame, hpackIndexed, hpackLiteral, hpackSizeUpdate, settings, u32 } from './helpers/h2.js';
import { prng } from './helpers/prng.js';

const LIMITS = {
  maxHeaderBlockBytes: 4096, maxStreams: 16, maxBody: 4096, maxEncodedBody: 4096, maxDecodedLength: 16384,
  maxConnectionBodyBytes: 16384, maxHuntBytes: 8192, hpack: { maxHeaderListSize: 2048, maxTableSize: 4096, maxStringLength: 1024 },
};
/** Frame payloads buffered (headers + block + a SETTINGS/GOAWAY tail), the hunt buffer and a frame header, per direction. */
const MAX_BUFFERED = 2 * (16384 + 4096 + 8192 + 9);

function randomBlock(rand: () => number): Buffer {
  const parts: Buffer[] = [];
  if (rand() < 0.1) parts.push(hpackSizeUpdate(Math.floor(rand() * 5000)));
  const n = Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.4) parts.push(hpackIndexed(1 + Math.floor(rand() * 70)));
    else if (r < 0.7) parts.push(hpackLiteral(`x-h${Math.floor(rand() * 5)}`, 'v'.repeat(Math.floor(rand() * 50)), 'incremental', rand() < 0.5));
    else parts.push(hpackLiteral(1 + Math.floor(rand() * 61), `value${i}`, rand() < 0.5 ? 'none' : 'never', rand() < 0.5));
  }
  return Buffer.concat(parts);
}

function randomFrame(rand: () => number): Buffer {
  const stream = rand() < 0.1 ? 0 : 1 + 2 * Math.floor(rand() * 8) + (rand() < 0.1 ? 1 : 0);
  const type = rand() < 0.05 ? Math.floor(rand() * 256) : Math.floor(rand() * 10);
  const flags = rand() < 0.3 ? Math.floor(rand() * 256) : [0, 1, 4, 5, 8, 0x24][Math.floor(rand() * 6)]!;
  let payload: Buffer;
  switch (type) {
    case 0: payload = Buffer.alloc(Math.floor(rand() * 3000), 0x61); break;
    case 1: case 9: payload = randomBlock(rand); break;
    case 5: payload = Buffer.concat([u32(2 * (1 + Math.floor(rand() * 8))), randomBlock(rand)]); break;
    case 3: case 8: payload = u32(Math.floor(rand() * 16)); break;
    case 4: payload = settings([[1, Math.floor(rand() * 8192)], [5, 16384]]).subarray(9); break;
    case 6: payload = Buffer.alloc(8); break;
    case 7: payload = Buffer.concat([u32(7), u32(2), Buffer.from('debug')]); break;
    default: payload = Buffer.alloc(Math.floor(rand() * 40), 0x7a); break;
  }
  if ((flags & 8) !== 0 && (type === 0 || type === 1 || type === 5)) payload = Buffer.concat([Buffer.from([Math.floor(rand() * 20)]), payload, Buffer.alloc(20)]);
  return frame(type, flags, stream, payload);
}

test('fuzz: random, mutated, re-split frames with gaps never throw and stay bounded', () => {
  const rand = prng(0x4832);
  let requests = 0;
  for (let round = 0; round < 400; round++) {
    const start = (['preface', 'midstream', 'preface', 'upgrade'] as const)[round % 4];
    const events: Http2Event[] = [];
    const at0 = atFrame(0);
    const parser = new Http2ConnectionParser((e) => events.push(e), {
      ...LIMITS, start, ...(start === 'upgrade' ? { upgradeRequest: { method: 'GET', url: '/', index: 1, requestStart: at0 } } : {}),
    });
    const client: Buffer[] = start === 'midstream' ? [] : [PREFACE];
    const server: Buffer[] = [];
    for (let i = 0; i < 30; i++) (rand() < 0.5 ? client : server).push(randomFrame(rand));
    let n = 0;
    for (const [from, parts] of [['client', client], ['server', server]] as const) {
      let data = Buffer.concat(parts);
      if (rand() < 0.5) {
        data = Buffer.from(data);
        for (let i = 0, m = 1 + Math.floor(rand() * 5); i < m; i++) data[Math.floor(rand() * data.length)] = Math.floor(rand() * 256);
      }
      for (let off = 0; off < data.length;) {
        const len = 1 + Math.floor(rand() * 700);
        if (rand() < 0.02) parser.gap(from, 1 + Math.floor(rand() * 200), atFrame(++n));
        parser.data(from, data.subarray(off, off + len), atFrame(++n));
        off += len;
        assert.ok(parser.bufferedBytes <= MAX_BUFFERED, `buffered ${parser.bufferedBytes}`);
        assert.ok(parser.heldBodyBytes <= LIMITS.maxConnectionBodyBytes, `held ${parser.heldBodyBytes}`);
        assert.ok(parser.openStreams <= LIMITS.maxStreams);
      }
    }
    parser.end(atFrame(++n));
    for (const e of events) {
      if ((e.type === 'request' || e.type === 'response') && e.body) assert.ok(e.body.length <= LIMITS.maxBody);
      if (e.type === 'request') requests++;
    }
  }
  assert.ok(requests > 50, `the fuzzed connections still yield requests (${requests})`);
});
