/**
 * Backpressure: a consumer that stalls for seconds while a flood of traffic flows must not make the
 * process buffer that traffic. The stream stops polling, the kernel buffer fills, and what does not fit
 * is dropped by the kernel and counted in stats().dropped. Afterwards capture carries on.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import type { PacketRecord } from '../lib/core/record';
import { capture } from '../streams/capture';
import { LOOPBACK, liveSkipReason, sleep, udpFlood, udpSink } from './helpers/live';

const skip = liveSkipReason();

/** Growth of the resident set allowed while stalled: far below what the flood sends (hundreds of MB). */
const RSS_BOUND_BYTES = 48 * 1024 * 1024;
/**
 * The flood is counted in bytes, not time, and the consumer stalls until it is over: on a loaded machine a
 * timed flood sent too little to prove anything (160 MB in 4 s under a CPU hog). The time cap only
 * bounds a machine too slow to send it at all.
 */
const FLOOD_BYTES = 5 * RSS_BOUND_BYTES;
const FLOOD_MAX_MS = 120_000;

test('a consumer stalled for seconds keeps memory bounded; drops show in stats()', { skip }, async (t) => {
  const sink = await udpSink();
  const cap = capture({ device: LOOPBACK, immediate: true, bufferSize: 1 << 20, filter: `udp dst port ${sink.port}` });

  let consumed = 0;
  let stalled = false;
  let consumedDuringStall = -1;
  let duringStall = { received: 0, dropped: 0, ifDropped: 0, captured: 0 };
  let stallDone!: () => void;
  const stallOver = new Promise<void>((resolve) => { stallDone = resolve; });
  let floodOver!: Promise<number>;
  const consumer = new Writable({
    objectMode: true,
    highWaterMark: 16,
    write(_rec: PacketRecord, _enc, cb) {
      consumed++;
      if (!stalled && consumed === 100) {
        stalled = true; // the consumer goes away until the whole flood has been sent
        void floodOver.then(() => sleep(300)).then(() => {
          consumedDuringStall = consumed;
          duringStall = cap.stats();
          stallDone();
          cb();
        });
        return;
      }
      cb();
    },
  });
  cap.pipe(consumer);

  if (global.gc) global.gc();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 100);

  const flood = udpFlood(sink.port, FLOOD_MAX_MS, 1200, FLOOD_BYTES);
  floodOver = flood.done;
  await stallOver;
  const sentBytes = await flood.done;
  await sleep(300);
  clearInterval(sampler);
  const afterStall = consumed;
  cap.stop();
  await once(consumer, 'finish');
  sink.close();

  const growth = peak - baseline;
  t.diagnostic(`flood sent ${(sentBytes / 1048576).toFixed(0)} MiB; RSS growth ${(growth / 1048576).toFixed(1)} MiB; ` +
    `stats during stall ${JSON.stringify(duringStall)}; final ${JSON.stringify(cap.stats())}`);
  assert.ok(sentBytes > 4 * RSS_BOUND_BYTES, `the flood must outweigh the bound to prove anything (sent ${sentBytes} bytes)`);
  assert.ok(growth < RSS_BOUND_BYTES, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB while the consumer stalled`);
  assert.equal(consumedDuringStall, 100, 'nothing was consumed while stalled');
  assert.ok(duringStall.dropped > 0, `the kernel dropped what did not fit (${JSON.stringify(duringStall)})`);
  assert.ok(afterStall > 100, 'capture carried on after the stall');
  const final = cap.stats();
  assert.equal(final.captured, consumed, 'every record emitted was consumed');
  assert.ok(final.dropped >= duringStall.dropped);
});
