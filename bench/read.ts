/**
 * Reading a capture: our packet-record stream (file → readCapture() → a counting sink) beside a bare loop
 * that only walks the 16-byte record headers of the same file with 1 MiB reads, in the same run.
 * Target: the stream at ≥ 70 % of the bare walk.
 */
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readCaptureFile } from '../streams/read';
import type { PacketRecord } from '../lib/core/record';
import { alternate, benchCapture, printTable } from './common';

/**
 * The floor: 1 MiB reads, walk record headers, touch nothing else. Returns [packets, captured bytes].
 * With `freshBuffers`, each read goes into a new buffer, as a zero-copy reader must do (its records are
 * views that outlive the read): that row shows what fresh memory alone costs.
 */
export function bareWalk(file: string, freshBuffers = false): [number, number] {
  const fd = fs.openSync(file, 'r');
  let buf = Buffer.allocUnsafe((1 << 20) + 262144 + 16);
  let start = 24, end = fs.readSync(fd, buf, 0, 1 << 20, null), packets = 0, bytes = 0;
  for (;;) {
    while (end - start >= 16) {
      const caplen = buf.readUInt32LE(start + 8);
      if (end - start < 16 + caplen) break;
      packets++;
      bytes += caplen;
      start += 16 + caplen;
    }
    if (freshBuffers) {
      const next = Buffer.allocUnsafe(buf.length);
      buf.copy(next, 0, start, end);
      buf = next;
    } else {
      buf.copy(buf, 0, start, end);
    }
    end -= start;
    start = 0;
    const n = fs.readSync(fd, buf, end, 1 << 20, null);
    if (n === 0) break;
    end += n;
  }
  fs.closeSync(fd);
  return [packets, bytes];
}

export async function streamRead(file: string, batch = false): Promise<[number, number]> {
  let packets = 0, bytes = 0;
  const count = (rec: PacketRecord): void => { packets++; bytes += rec.data.length; };
  await pipeline(readCaptureFile(file, { batch }), new Writable({
    objectMode: true,
    highWaterMark: 1024,
    write(chunk: PacketRecord | PacketRecord[], _e, cb) {
      if (Array.isArray(chunk)) chunk.forEach(count);
      else count(chunk);
      cb();
    },
  }));
  return [packets, bytes];
}

export async function benchRead(file = benchCapture()): Promise<Record<string, number>> {
  const [packets, bytes] = bareWalk(file);
  const [p2] = await streamRead(file);
  if (p2 !== packets) throw new Error(`stream read ${p2} packets, bare walk ${packets}`);
  const t = await alternate({ bare: () => bareWalk(file), fresh: () => bareWalk(file, true), stream: () => streamRead(file), batched: () => streamRead(file, true) });
  printTable(`read ${file} (${packets} packets)`, [
    { name: 'bare header walk (1 MiB reads)', seconds: t.bare as number, packets, bytes },
    { name: 'bare header walk, a fresh buffer per read', seconds: t.fresh as number, packets, bytes },
    { name: 'readCaptureFile() → PacketRecord stream', seconds: t.stream as number, packets, bytes },
    { name: 'readCaptureFile({batch: true}) → PacketRecord[] stream', seconds: t.batched as number, packets, bytes },
  ], 'bare header walk (1 MiB reads)');
  const ratio = (t.bare as number) / (t.stream as number);
  const batchedRatio = (t.bare as number) / (t.batched as number);
  process.stdout.write(`\nvs the bare walk: record stream ${(ratio * 100).toFixed(0)} %, batched ${(batchedRatio * 100).toFixed(0)} % (target ≥ 70 %); a fresh buffer per read alone is ${((t.bare as number) / (t.fresh as number) * 100).toFixed(0)} %\n`);
  return { packets, bareSeconds: t.bare as number, freshSeconds: t.fresh as number, streamSeconds: t.stream as number, batchedSeconds: t.batched as number, ratio, batchedRatio };
}

if (require.main === module) benchRead(process.argv[2]).catch((e) => { console.error(e); process.exit(1); });
