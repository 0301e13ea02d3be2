/**
 * Flat memory on big files, the young generation: V8 doubles its new space whenever the bytes that survived
 * scavenges since the last doubling exceed its size, so a long streaming run ends with 2 x 16 MiB where a
 * short one had 16 MiB, plus the dead read chunks that wait for a scavenge in it (bin/young-generation.ts).
 * The commands that read a big input or a pipe hold it at YOUNG_GENERATION_CEILING.
 *
 * The workload that grows it is made here: objects of which the last 20,000 stay alive (as a pipeline's
 * batches in flight do), in steps with the event loop turning between them. It is run in child processes
 * (V8 flags are per process): without the ceiling the new space must pass it (else this test could not
 * fail), with it it must not; and inside a real command, reading a pipe, the same churn must stay under it.
 * No timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { YOUNG_GENERATION_CEILING } from '../bin/young-generation';
import { fixture, REPO_ROOT } from './helpers/oracle';

const MODULE = path.join(REPO_ROOT, 'dist', 'bin', 'young-generation.js');
const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-young-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** The churn: one step every turn of the event loop (`schedule`), the largest new space seen at the end. */
function churn(schedule: string): string {
  return `
    const { newSpaceBytes } = require(${JSON.stringify(MODULE)});
    const ring = new Array(20000);
    let i = 0, max = 0;
    const step = () => { for (let k = 0; k < 20000; k++) ring[i++ % ring.length] = { a: i, b: [i, i], c: 'x' + (i & 1023) }; max = Math.max(max, newSpaceBytes()); };
    ${schedule}
  `;
}

const standalone = (cap: boolean): number => {
  const script = `${cap ? `require(${JSON.stringify(MODULE)}).capYoungGeneration();` : ''}
    ${churn('let n = 0; (function loop() { step(); if (++n < 800) setImmediate(loop); else process.stdout.write(String(max)); })();')}`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout);
};

test('the churn grows the new space past the ceiling, unless the ceiling is set', () => {
  assert.ok(standalone(false) > YOUNG_GENERATION_CEILING, 'without the ceiling the workload outgrows it');
  assert.ok(standalone(true) <= YOUNG_GENERATION_CEILING, 'with it the new space stays at or below it');
});

test('a command reading a pipe holds the new space at the ceiling', () => {
  // the churn runs inside `pcap-pipe follow --raw` (preloaded) while its input pipe stays open a moment
  const probe = path.join(dir, 'probe.js');
  const report = path.join(dir, 'max');
  fs.writeFileSync(probe, `${churn('setInterval(step, 1).unref();')}
    process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, String(max)));`);
  const r = spawnSync('bash', ['-c', '{ cat "$3"; sleep 2; } | "$1" --require "$4" "$2" follow --raw > /dev/null', 'x', process.execPath, CLI, fixture('http-keepalive-304.pcap'), probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const max = Number(fs.readFileSync(report, 'utf8'));
  assert.ok(max > 0 && max <= YOUNG_GENERATION_CEILING, `new space reached ${max} bytes`);
});
