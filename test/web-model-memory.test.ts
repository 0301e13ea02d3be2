/**
 * Flat memory in the web view's model (lib/web/model.ts) on big files. Two things it must not keep:
 *
 * - the reader's chunks: a parser event's `body` is a view into the 512 KiB chunk its packets came in;
 *   the model keeps a copy of the body (cut at maxBodyBytes) and must not keep the event's view with it,
 *   or each of the 2,000 exchanges whose details stay in memory pins a whole chunk (on the 1M packet
 *   bench capture `pcap-pipe serve` held 33-39 MiB of chunks that way). Checked with a FinalizationRegistry
 *   on each chunk's ArrayBuffer after forced garbage collections.
 * - the parser's header blocks: the HTTP parser's url and header values are slices of the message's
 *   whole header block string; a table row (one per exchange of a file, up to FILE_MAX_ROWS) must hold
 *   only its own characters. Checked with the heap used per row after a full GC, blocks of 4 KiB. No timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { WebModel, FILE_MAX_ROWS, type WebHttpEvent } from '../lib/web/model';
import type { HttpRequestEvent, HttpResponseEvent } from '../lib/http/events';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CONN = { connection: 1, client: '10.0.0.1:40000', server: '10.0.0.2:80' };

function request(index: number, url: string, host: string, body?: Buffer): WebHttpEvent {
  const ev: HttpRequestEvent = {
    type: 'request', ts: `${1000 + index}.000000000`, frame: index * 2 + 1, from: 'client', method: 'POST', url, version: 'HTTP/1.1',
    headers: [['Host', host]], index, bodyLength: body?.length ?? 0, decodedLength: body?.length ?? 0,
    startTs: `${1000 + index}.000000000`, startFrame: index * 2 + 1,
  };
  if (body) ev.body = body;
  return { ...ev, ...CONN };
}

function response(index: number, url: string, body?: Buffer): WebHttpEvent {
  const ev: HttpResponseEvent = {
    type: 'response', ts: `${1000 + index}.500000000`, frame: index * 2 + 2, from: 'server', status: 200, reason: 'OK', version: 'HTTP/1.1',
    headers: [['Content-Type', 'text/plain']], request: { method: 'POST', url, index },
    bodyLength: body?.length ?? 0, decodedLength: body?.length ?? 0, startTs: `${1000 + index}.400000000`, startFrame: index * 2 + 2,
    timing: { firstByte: 1000 + index + 0.4, complete: 1000 + index + 0.5, transfer: 0.1, total: 0.5 },
  };
  if (body) ev.body = body;
  return { ...ev, ...CONN };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

test('exchanges kept in memory do not pin the chunks their bodies were views into', async () => {
  const CHUNKS = 32;
  let collected = 0;
  const registry = new FinalizationRegistry<number>(() => { collected++; });
  const m = new WebModel({ maxBodyBytes: 50 });
  (function feed(): void {
    for (let i = 0; i < CHUNKS; i++) {
      const chunk = Buffer.alloc(256 * 1024, 0x61 + (i % 26));
      registry.register(chunk.buffer, i);
      m.event(request(i, `/item/${i}`, 'example.test', chunk.subarray(1000, 1100)));
      m.event(response(i, `/item/${i}`, chunk.subarray(2000, 2040)));
    }
  })();
  await settle();
  assert.equal(m.detailCount, CHUNKS, 'every exchange is still in memory');
  assert.equal(collected, CHUNKS, `${CHUNKS - collected} of ${CHUNKS} chunks still reachable`);
  // the details are what they were: bodies copied (cut at maxBodyBytes), the cut and the lengths said
  const d = m.detail(5); // row ids count from 1: the fifth exchange, chunk 4 ('e')
  assert.equal(Buffer.from(d?.request?.body ?? '', 'base64').toString(), 'e'.repeat(50));
  assert.equal(d?.request?.bodyTruncated, true);
  assert.equal(d?.request?.bodyLength, 100);
  assert.equal(Buffer.from(d?.response?.body ?? '', 'base64').toString(), 'e'.repeat(40));
  assert.equal(d?.response?.bodyTruncated, undefined);
});

test('table rows keep their own strings, not the header blocks the parser sliced them from', async () => {
  const ROWS = 5000;
  const BLOCK = 4096;
  // details of the newest 10 only (no store): what stays per exchange is its row
  const m = new WebModel({ maxRows: FILE_MAX_ROWS, maxDetailRows: 10 });
  await settle();
  const before = process.memoryUsage().heapUsed;
  (function feed(): void {
    for (let i = 0; i < ROWS; i++) {
      // one header block per message, as lib/http/head.ts reads it; url and host are slices of it
      const block = `POST /api/v1/items/${i}?q=${i} HTTP/1.1\r\nHost: host-${i % 3}.example.test\r\nX-Pad: ${String(i).padEnd(BLOCK, '.')}\r\n`;
      const url = block.slice(5, block.indexOf(' HTTP/1.1'));
      const host = block.slice(block.indexOf('Host: ') + 6, block.indexOf('\r\nX-Pad'));
      m.event(request(i, url, host));
      m.event(response(i, url));
    }
  })();
  await settle();
  const perRow = (process.memoryUsage().heapUsed - before) / ROWS;
  assert.equal(m.rowCount, ROWS);
  assert.equal(m.rowRange(ROWS - 1, 1).rows[0]?.url, `/api/v1/items/${ROWS - 1}?q=${ROWS - 1}`);
  assert.equal(m.rowRange(ROWS - 1, 1).rows[0]?.host, `host-${(ROWS - 1) % 3}.example.test`);
  // a row is ~300 bytes with its strings; holding its header block it would be over BLOCK
  assert.ok(perRow < 1024, `${perRow.toFixed(0)} bytes of heap per row`);
});
