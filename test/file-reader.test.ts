/**
 * The file reader (streams/read.ts PrefetchFileReader) changing its read size while reads are in flight
 * (grep's fast path asks for bigger reads once its skipper is set: SKIPPER_FILE_CHUNK): the chunks still
 * come in file order, cover the file exactly once, and the new size is used from then on; chunks of the
 * old size given back afterwards are not reused for reads of the new size.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { PrefetchFileReader, readCaptureFile, SKIPPER_FILE_CHUNK } from '../streams/read';
import type { PacketSkipper } from '../lib/formats/format';
import { fixture } from './helpers/oracle';

const FILE = fixture('http-206-long-flow-zerowin-ooo.pcap'); // 1.5 MB

test('a read size changed mid-file: the same bytes in order, new reads of the new size', async () => {
  const file = new PrefetchFileReader(FILE, { chunkSize: 64 * 1024, depth: 3 });
  const chunks: Buffer[] = [];
  // 'data' events, not the async iterator: the iterator joins buffered chunks into one
  await new Promise<void>((resolve, reject) => {
    file.on('data', (c: Buffer) => {
      if (chunks.length === 0) file.setChunkSize(200 * 1024);
      chunks.push(Buffer.from(c));
      file.recycle(c); // old-size chunks must not come back as new-size reads
    });
    file.on('end', resolve);
    file.on('error', reject);
  });
  assert.deepEqual(Buffer.concat(chunks), fs.readFileSync(FILE));
  const sizes = chunks.map((c) => c.length);
  const old = sizes.findIndex((n) => n !== 64 * 1024);
  assert.ok(old >= 3 && old <= 6, `reads in flight keep their size: ${sizes.join(',')}`);
  assert.ok(sizes.slice(old, -1).every((n) => n === 200 * 1024), `later reads are of the new size: ${sizes.join(',')}`);
});

test('a skipper set on a file reader asks for SKIPPER_FILE_CHUNK reads; packets and frame numbers are unchanged', async () => {
  const sizes: number[] = [];
  const plain = readCaptureFile(FILE);
  const frames: number[] = [];
  for await (const rec of plain) frames.push((rec as { frame: number }).frame);
  const reader = readCaptureFile(FILE);
  const seen: number[] = [];
  // skips every odd packet: what comes out must be the even frames, numbered as in the file
  let n = 0;
  const skipper: PacketSkipper = { skip: () => (++n % 2) === 1 };
  reader.setSkipper(skipper);
  const hint = reader.chunkSizeHint;
  assert.ok(hint !== undefined);
  reader.chunkSizeHint = (bytes) => { sizes.push(bytes); hint(bytes); };
  reader.setSkipper(skipper);
  for await (const rec of reader) seen.push((rec as { frame: number }).frame);
  assert.deepEqual(sizes, [SKIPPER_FILE_CHUNK]);
  assert.deepEqual(seen, frames.filter((f) => f % 2 === 0));
});
