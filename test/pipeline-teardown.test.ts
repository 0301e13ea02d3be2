/**
 * A chain built by streams/trace.ts lives and dies as one: destroying its end (what a consumer that
 * stops, EPIPE or Ctrl-C does), a consumer that throws, or an error in a middle stage destroys every
 * stage, the capture reader included, and closes the capture file (no file descriptor stays open).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable, type Duplex, type Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { decode } from '../streams/decode';
import { http } from '../streams/http';
import { readCaptureFile } from '../streams/read';
import { tcp } from '../streams/tcp';
import { chain, httpTracePipeline } from '../streams/trace';

const SAMPLE = path.resolve(__dirname, '..', '..', 'samples', 'http-sample.pcap');
const FIXTURE = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'http-206-long-flow-zerowin-ooo.pcap');

/**
 * The fixture's records eight times over (12 MB): larger than the reader reads ahead (3 × 512 KiB), so
 * the file is surely still open when the first event comes out. With the 1.5 MB fixture itself the
 * reader sometimes had read and closed it all by then (1 run in ~15 on a loaded machine).
 */
const BIG = (() => {
  const bytes = fs.readFileSync(FIXTURE);
  const records = bytes.subarray(24);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-teardown-')), 'big.pcap');
  fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 24), ...Array.from({ length: 8 }, () => records)]));
  return file;
})();

/** The file descriptors of this process that point at `file`. */
function openFdsOn(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // the fd used by readdir itself is gone by now
    }
  }
  return n;
}

/** Settles once a stream has closed (finished() with errors ignored: the chain was torn down). */
async function closed(s: Readable | Duplex): Promise<void> {
  if (s.closed) return;
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
}

/** Waits until `file` has no open descriptor left (fs.close is asynchronous), or fails after a while. */
async function noFdsLeft(file: string): Promise<void> {
  for (let i = 0; i < 200 && openFdsOn(file) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(openFdsOn(file), 0, `${file} is still open`);
}

function stagesOn(file: string): { reader: Readable; stages: Duplex[]; end: Readable } {
  const reader = readCaptureFile(file);
  const stages: Duplex[] = [decode({ depth: 'transport' }), tcp(), http()];
  const end = chain(reader, stages[0]!, stages[1]!, stages[2]!);
  return { reader, stages, end };
}

test('destroying the last stage destroys the reader and every middle stage, and closes the file', async () => {
  const { reader, stages, end } = stagesOn(BIG);
  // Read one event, then go away as a consumer hit by EPIPE or Ctrl-C would.
  await new Promise<void>((resolve) => end.once('data', () => resolve()));
  assert.ok(openFdsOn(BIG) > 0, 'the capture file is open while the chain runs');
  end.destroy();
  await Promise.all([closed(reader), ...stages.map(closed)]);
  assert.ok(reader.destroyed, 'reader destroyed');
  for (const s of stages) assert.ok(s.destroyed, `${s.constructor.name} destroyed`);
  await noFdsLeft(BIG);
});

test('a consumer that throws tears the chain down and the error reaches the caller', async () => {
  const { reader, stages, end } = stagesOn(BIG);
  let seen = 0;
  await assert.rejects(
    pipeline(end, async function* consumer(events: AsyncIterable<unknown>) {
      for await (const ev of events) {
        if (++seen === 3) throw new Error('consumer gave up');
        yield ev;
      }
    }, new Writable({ objectMode: true, write: (_c, _e, cb) => cb() })),
    /consumer gave up/,
  );
  await Promise.all([closed(reader), ...stages.map(closed)]);
  assert.ok(reader.destroyed, 'reader destroyed');
  for (const s of stages) assert.ok(s.destroyed, `${s.constructor.name} destroyed`);
  await noFdsLeft(BIG);
});

test('a failing middle stage destroys the source and the other stages; the end sees its error', async () => {
  const { reader, stages, end } = stagesOn(BIG);
  const ended = finished(end);
  end.resume();
  // Destroyed inside its own 'data' handler, so the stage is surely mid-stream: after an await the
  // whole file could already have gone through on a fast run (the test once saw the chain end cleanly).
  stages[1]!.once('data', () => { stages[1]!.destroy(new Error('tcp stage broke')); });
  await assert.rejects(ended, /tcp stage broke/);
  await Promise.all([closed(reader), ...stages.map(closed)]);
  assert.ok(reader.destroyed);
  for (const s of stages) assert.ok(s.destroyed, `${s.constructor.name} destroyed`);
  await noFdsLeft(BIG);
});

test('a consumer that stops early in for await ends the whole http trace chain', async () => {
  const reader = readCaptureFile(SAMPLE, { batch: true });
  const events = httpTracePipeline(reader);
  let first: string | undefined;
  for await (const ev of events) {
    first = ev.type;
    break; // return() of the iterator destroys the stream it reads
  }
  assert.equal(first, 'request');
  await closed(reader);
  assert.ok(events.destroyed && reader.destroyed);
  await noFdsLeft(SAMPLE);
});

test('a chain left to finish closes its file too (the control case)', async () => {
  const { reader, end } = stagesOn(SAMPLE);
  let n = 0;
  for await (const _ev of end) n++;
  assert.ok(n > 10, `${n} events`);
  await closed(reader);
  await noFdsLeft(SAMPLE);
});
