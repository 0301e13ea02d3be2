/**
 * Typed stages: what the stage factories return carries its chunk types, so user code narrows events
 * without a cast in `for await`, `.on('data')` and a function stage inside `stream.pipeline`. This file
 * is the compile-time test (tsc fails on it if the types regress: `ev.method` only exists on a request,
 * `ev.url` would not compile on the union); it also runs, on the sample capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decode } from '../streams/decode';
import { grep } from '../streams/grep';
import { http } from '../streams/http';
import { readCaptureFile } from '../streams/read';
import { tcp } from '../streams/tcp';
import { chain, httpEvents } from '../streams/trace';
import type { ChunkOf, TypedReadable } from '../streams/typed';
import type { PacketVerdict } from '../lib/grep/grep';
import type { Packet } from '../lib/layers/decode';
import type { PacketRecord } from '../lib/core/record';
import type { HttpStreamOutput } from '../streams/http';

const SAMPLE = path.resolve(__dirname, '..', '..', 'samples', 'http-sample.pcap');

/** Compile-time equality of two types: `true` only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(_proof?: T): void { /* types only */ }

test('for await over httpEvents(): the event union, narrowed on ev.type without a cast', async () => {
  const urls: string[] = [];
  const statuses: number[] = [];
  for await (const ev of httpEvents(readCaptureFile(SAMPLE))) {
    assertType<Equal<typeof ev, HttpStreamOutput>>();
    if (ev.type === 'request') urls.push(`${ev.method} ${ev.url}`);
    else if (ev.type === 'response' && !ev.interim) statuses.push(ev.status);
  }
  assert.ok(urls.length > 0 && urls.every((u) => /^[A-Z]+ \//.test(u)), urls.join(', '));
  assert.equal(statuses.length, urls.length);
});

test("for await over a chain built by hand, and .on('data') on http()", async () => {
  const stage = http();
  const end = chain(readCaptureFile(SAMPLE), decode({ depth: 'transport' }), tcp(), stage);
  assertType<Equal<typeof end, TypedReadable<HttpStreamOutput>>>();
  let requests = 0;
  let starts = 0;
  stage.on('data', (ev) => {
    if (ev.type === 'start') starts += ev.midStream ? 0 : 1;
  });
  for await (const ev of end) if (ev.type === 'request' && ev.headers.length > 0) requests++;
  assert.ok(requests > 0 && starts > 0, `${requests} requests, ${starts} connections`);
});

test('batch mode is in the types too: a batched reader makes every stage after it yield arrays', async () => {
  const reader = readCaptureFile(SAMPLE, { batch: true });
  assertType<Equal<ChunkOf<typeof reader>, PacketRecord[]>>();
  const end = chain(reader, decode());
  let packets = 0;
  for await (const batch of end) {
    assertType<Equal<typeof batch, Packet[]>>();
    packets += batch.length;
  }
  assert.ok(packets > 10);
});

test('a function stage in stream.pipeline gets the events typed from the stage before it', async () => {
  const methods: string[] = [];
  await pipeline(
    httpEvents(readCaptureFile(SAMPLE)),
    async function* requestsOnly(events) {
      for await (const ev of events) if (ev.type === 'request') yield ev.method;
    },
    new Writable({ objectMode: true, write(m: string, _enc, cb) { methods.push(m); cb(); } }),
  );
  assert.ok(methods.length > 0 && methods.every((m) => /^[A-Z]+$/.test(m)), methods.join(','));
});

test("grep()'s output option picks its chunk type", async () => {
  const verdicts = grep('HTTP', { output: 'verdicts' });
  const records = grep('HTTP', { output: 'records' });
  const packets = grep('HTTP');
  assertType<Equal<ChunkOf<typeof verdicts>, PacketVerdict>>();
  assertType<Equal<ChunkOf<typeof records>, PacketRecord>>();
  assertType<Equal<ChunkOf<typeof packets>, Packet>>();
  let selected = 0;
  for await (const v of chain(readCaptureFile(SAMPLE), decode({ depth: 'transport' }), verdicts)) {
    if (v.selected && v.matches.length > 0) selected++;
  }
  records.destroy();
  packets.destroy();
  assert.ok(selected > 0);
});
