/**
 * shard({ workers, stages }) (streams/shard-stage.ts): a user's own per-flow stage, loaded from a module
 * path in each worker, after the built-in decode and tcp stages; the objects come back in the order one
 * thread gives them, with the whole capture's connection numbers, at 1, 2 and 4 workers as at 0 (this
 * thread). A module that does not export a stage, and a stage that throws, reject the pipeline.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readCaptureFile, shard, type StageSpec } from '../index';
import { generatedCapture } from './helpers/gen-capture';

/** The user's module: a BatchTransform from the package (here: its built file), as a user writes one. */
const STAGE_JS = `
const { BatchTransform } = require(${JSON.stringify(path.join(__dirname, '..', 'streams', 'batch.js'))});
class BigWrites extends BatchTransform {
  constructor(opts) { super(); this.min = opts.min; this.seen = new Map(); }
  handle(ev) {
    if (ev.type === 'data') this.seen.set(ev.connection, (this.seen.get(ev.connection) || 0) + ev.bytes.length);
    if (ev.type === 'data' && ev.bytes.length >= this.min) this.out.push({ type: 'big', connection: ev.connection, frame: ev.frame, head: ev.bytes.subarray(0, 16) });
    else if (ev.type === 'port-reuse') this.out.push({ type: 'reuse', connection: ev.connection, previous: ev.previous, frame: ev.frame });
    else if (ev.type === 'end') this.out.push({ type: 'end', connection: ev.connection, reason: ev.reason, bytes: this.seen.get(ev.connection) || 0 });
    if (ev.type === 'data' && this.min === 0 && ev.frame === 40) throw new Error('user stage failed at frame 40');
  }
}
exports.bigWrites = (opts) => new BigWrites(opts);
exports.notAStage = () => 42;
`;

async function collect(file: string, workers: number, stages: StageSpec[]): Promise<unknown[]> {
  const got: unknown[] = [];
  await pipeline(readCaptureFile(file, { batch: true }), shard({ workers, stages }), new Writable({
    objectMode: true,
    write(x: unknown, _enc, done) { got.push(x); done(); },
  }));
  return got;
}

/** Runs `body` with a generated capture (seed, packets) and the user's module written to a scratch folder. */
async function withCaptureAndModule(seed: number, packets: number, body: (file: string, module: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-shard-api-'));
  try {
    const file = path.join(dir, 'gen.pcap');
    fs.writeFileSync(file, generatedCapture(seed, packets));
    const module = path.join(dir, 'stage.js');
    fs.writeFileSync(module, STAGE_JS);
    await body(file, module);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('shard(): a user module stage in 1, 2 and 4 workers gives what it gives on one thread', async () => {
  await withCaptureAndModule(7, 20_000, async (file, module) => {
    const stages: StageSpec[] = [{ stage: 'decode' }, { stage: 'tcp' }, { stage: 'module', module, exportName: 'bigWrites', options: { min: 1000 } }];
    const one = await collect(file, 0, stages);
    const kinds = new Map<string, number>();
    for (const x of one as Array<{ type: string }>) kinds.set(x.type, (kinds.get(x.type) ?? 0) + 1);
    // not vacuous: big writes, ends of hundreds of connections, port reuse (two numbers to make global)
    assert.ok((kinds.get('big') ?? 0) > 500 && (kinds.get('end') ?? 0) > 300 && (kinds.get('reuse') ?? 0) > 0, JSON.stringify([...kinds]));
    assert.ok(Buffer.isBuffer((one.find((x) => (x as { type: string }).type === 'big') as { head: unknown }).head));
    for (const n of [1, 2, 4]) assert.deepEqual(await collect(file, n, stages), one, `${n} workers`);
  });
});

test('shard(): a module without the stage, or a stage that throws, rejects the pipeline', async () => {
  await withCaptureAndModule(8, 2_000, async (file, module) => {
    await assert.rejects(collect(file, 2, [{ stage: 'decode' }, { stage: 'module', module, exportName: 'nope' }]), /no function exported as "nope"/);
    await assert.rejects(collect(file, 2, [{ stage: 'decode' }, { stage: 'module', module, exportName: 'notAStage' }]), /did not return a Transform/);
    await assert.rejects(collect(file, 2, [{ stage: 'decode' }, { stage: 'tcp' }, { stage: 'module', module, exportName: 'bigWrites', options: { min: 0 } }]), /user stage failed at frame 40/);
    assert.throws(() => shard({ workers: -1, stages: [] }), RangeError);
  });
});
