/**
 * The fuzzing that stays in `npm test` (issue 16, point 6): a small, fixed number of seeded mutation
 * cases through every parser in-process and through every command (as a file and on stdin), plus every
 * crasher ever found (test/fixtures/fuzz-crash-*). Long runs: `npm run fuzz -- --seed N --budget SECONDS`.
 * The case count is fixed, not a time budget, so a loaded machine only makes the run slower.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMMANDS, crashReason, loadCorpus, makeCase, runCommandCase, runLibraryCase } from './helpers/fuzz';
import { FIXTURES } from './helpers/oracle';

const SEED = Number(process.env.FUZZ_SEED ?? 16016);
const LIBRARY_CASES = Number(process.env.FUZZ_CASES ?? 400);
const BIN = path.join(__dirname, '..', 'bin');
/** Far beyond any normal run of these small inputs, even on a loaded machine: only a real hang reaches it. */
const HANG_MS = 120_000;
const corpus = loadCorpus(FIXTURES);
const crashers = fs.readdirSync(FIXTURES).filter((f) => /^fuzz-crash-.*\.pcap(ng)?$/.test(f)).sort();

test(`${LIBRARY_CASES} mutated captures through every parser (seed ${SEED}): typed errors only`, () => {
  assert.ok(corpus.length > 20, 'the corpus is loaded');
  let packets = 0, typed = 0, http = 0;
  for (let i = 0; i < LIBRARY_CASES; i++) {
    const input = makeCase(corpus, SEED, i);
    try {
      const s = runLibraryCase(input, SEED + i);
      packets += s.packets;
      if (s.typedError) typed++;
      http += s.httpEvents;
    } catch (e) {
      assert.fail(`case ${i} (replay: FUZZ_SEED=${SEED}, makeCase index ${i}): ${(e as Error).stack}`);
    }
  }
  assert.ok(packets > LIBRARY_CASES, `the cases reach the decoders (${packets} packets)`);
  assert.ok(typed > 0 && typed < LIBRARY_CASES, `some cases are damaged files, not all (${typed})`);
  assert.ok(http > 0, 'the cases reach the HTTP parser');
});

test('every command on a mutated capture, as a file and on stdin: exit 0/1, no crash, no hang', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-fuzz-'));
  const failures: string[] = [];
  for (const [n, spec] of COMMANDS.entries()) {
    const vias = spec.stdin ? (['file', 'stdin'] as const) : (['file'] as const);
    for (const [k, via] of vias.entries()) {
      const index = 100_000 + n * 2 + k;
      const input = makeCase(corpus, SEED, index);
      const r = await runCommandCase(BIN, spec, input, via, path.join(dir, `case-${index}.pcap`), HANG_MS);
      const why = crashReason(r, spec);
      if (why) failures.push(`${spec.name} (${via}, FUZZ_SEED=${SEED} index ${index}): ${why}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(failures, []);
});

for (const name of crashers) {
  test(`crasher ${name}: every parser and every command end normally`, async () => {
    const input = fs.readFileSync(path.join(FIXTURES, name));
    runLibraryCase(input, 1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-crasher-'));
    const failures: string[] = [];
    for (const spec of COMMANDS) {
      for (const via of spec.stdin ? (['file', 'stdin'] as const) : (['file'] as const)) {
        const why = crashReason(await runCommandCase(BIN, spec, input, via, path.join(dir, name), HANG_MS), spec);
        if (why) failures.push(`${spec.name} (${via}): ${why}`);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(failures, []);
  });
}
