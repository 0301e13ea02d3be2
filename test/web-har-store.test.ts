/**
 * The web view's HAR store (streams/web-har.ts) keeps its entries' JSON in a temp file, not on the heap:
 * with their bodies they are up to maxBytes (128 MiB), and on the 1M packet bench capture they were most of
 * what `pcap-pipe serve` held (peak RSS 327 MiB at 100k packets, 463 MiB at 1M; 238 / 264 MiB without).
 * Checked here: the documents are the bytes harEntryText makes of the entries (all, filtered, without bodies,
 * the newest N, after the limits dropped the oldest), the same from a temp file and from memory; entries
 * with big bodies cost the heap next to nothing (heap used after a full GC); the temp file gives back what
 * is no longer wanted (TempFileRecords compaction). No timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { readCaptureFile } from '../streams/read';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { http } from '../streams/http';
import { HarTap, WebHarStore } from '../streams/web-har';
import { MemoryRecords, TempFileRecords } from '../streams/web-spill';
import { harClosing, harEntryText, harOpening, type HarDocumentInfo } from '../lib/har/document';
import { HarBuilder } from '../lib/har/build';
import type { HarEntry } from '../lib/har/types';
import type { HttpTraceEvent } from '../lib/trace/output';
import { SAMPLE } from './web-test-helpers';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const INFO: HarDocumentInfo = { creator: { name: 'pcap-pipe', version: 'test' }, comment: 'sample' };

/** The sample's HAR entries, as HarTap gives them to the store. */
async function sampleEntries(): Promise<HarEntry[]> {
  const entries: HarEntry[] = [];
  const builder = new HarBuilder((e) => entries.push(e), { maxBody: 256 * 1024 });
  await pipeline(readCaptureFile(SAMPLE, { batch: true }), decode(), tcp(), http({ parser: { bodyEvents: false, maxBody: 256 * 1024 } }),
    new Writable({ objectMode: true, write(c: unknown, _e, done) { for (const ev of Array.isArray(c) ? c : [c]) builder.push(ev as HttpTraceEvent); done(); } }));
  builder.finish();
  return entries;
}

/** What the store's document was before it kept JSON: harEntryText of the entries themselves. */
function expected(entries: HarEntry[], comment: string): string {
  const info = { ...INFO, comment };
  return harOpening(info) + entries.map((e, i) => harEntryText(e, i === 0)).join('') + harClosing(info);
}

test('documents are harEntryText of the kept entries, from a temp file or from memory', async () => {
  const entries = await sampleEntries();
  assert.ok(entries.length >= 5, `${entries.length} entries`);
  for (const records of [new TempFileRecords(), new MemoryRecords()]) {
    const store = new WebHarStore({}, INFO, records);
    for (const e of entries) store.add(e);
    assert.equal(store.document('', { bodies: true }), expected(entries, 'sample'));
    const lean = JSON.parse(store.document('', { bodies: false, last: 3 })) as { log: { entries: HarEntry[]; comment: string } };
    assert.equal(lean.log.entries.length, 3);
    assert.deepEqual(lean.log.entries.map((e) => e.startedDateTime), entries.slice(-3).map((e) => e.startedDateTime));
    assert.ok(lean.log.entries.every((e) => e.response.content.text === undefined), 'no bodies');
    assert.equal(lean.log.comment, 'sample; bodies left out');
    const gets = entries.filter((e) => e.request.method === 'GET');
    assert.equal(store.document('method:GET', { bodies: true }), expected(gets, 'sample; exchanges matching "method:GET"'));
    assert.deepEqual(store.entries('method:GET'), JSON.parse(JSON.stringify(gets)));
    store.close();
  }
});

test('the limits drop the oldest entries; the document has the newest, byte for byte', async () => {
  const entries = await sampleEntries();
  const sizes = entries.map((e) => JSON.stringify(e).length);
  const keep = 4;
  const store = new WebHarStore({ maxBytes: sizes.slice(-keep).reduce((a, b) => a + b, 0) }, INFO, new TempFileRecords());
  for (const e of entries) store.add(e);
  assert.equal(store.size, keep);
  assert.equal(store.dropped, entries.length - keep);
  assert.equal(store.document('', { bodies: true }), expected(entries.slice(-keep), `sample; ${entries.length - keep} older exchanges no longer kept`));
  store.close();
});

test('entries with big bodies stay off the heap', async () => {
  const [first] = await sampleEntries();
  assert.ok(first);
  const ENTRIES = 400;
  const BODY = 64 * 1024;
  const store = new WebHarStore({}, INFO);
  gc();
  const before = process.memoryUsage().heapUsed;
  (function feed(): void {
    for (let i = 0; i < ENTRIES; i++) {
      const e = JSON.parse(JSON.stringify(first)) as HarEntry;
      e.response.content = { ...e.response.content, text: `${i} ${'x'.repeat(BODY)}` };
      store.add(e);
    }
  })();
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.equal(store.size, ENTRIES);
  // 25 MiB of bodies; kept on the heap they would all be there
  assert.ok(grown < 4 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
  const last = store.entries('', 1)[0];
  assert.equal(last?.response.content.text, `${ENTRIES - 1} ${'x'.repeat(BODY)}`);
  store.close();
});

test('TempFileRecords: records read back across compactions; the disk held stays near what is wanted', () => {
  const COMPACT = 1024 * 1024;
  const run = new TempFileRecords(undefined, COMPACT);
  const offsets: number[] = [];
  const record = (i: number): Buffer => Buffer.alloc(10_000 + (i % 7) * 1000, i % 251);
  let maxHeld = 0;
  for (let i = 0; i < 2000; i++) {
    offsets.push(run.append(record(i)));
    const from = Math.max(0, i - 50); // the newest 51 are wanted
    run.dropBefore(offsets[from] as number);
    maxHeld = Math.max(maxHeld, run.held);
    if (i % 97 === 0) for (const j of [from, i, Math.floor((from + i) / 2)]) assert.deepEqual(run.read(offsets[j] as number, record(j).length), record(j));
  }
  const wanted = run.end - (offsets[1949] as number);
  assert.ok(maxHeld <= 2 * wanted + COMPACT + 20_000, `held up to ${maxHeld} B for ${wanted} B wanted`);
  assert.throws(() => run.read(offsets[0] as number, record(0).length), RangeError);
  run.close();
});
