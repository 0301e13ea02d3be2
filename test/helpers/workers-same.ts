/**
 * Runs pcap-pipe with and without `--workers N` and asserts the same stdout, stderr and status
 * (test/workers-commands.test.ts and test/workers-commands-gen.test.ts).
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const PCAP_PIPE = path.join(__dirname, '..', '..', 'bin', 'pcap-pipe.js');

export interface Run { status: number | null; stdout: Buffer; stderr: string }

export function run(args: string[], opts: { input?: Buffer; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [PCAP_PIPE, ...args], {
    input: opts.input, env: { ...process.env, TZ: 'UTC', ...opts.env }, maxBuffer: 512 << 20, timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The sharded runs give the one-thread run's stdout, stderr and status. */
export function assertSame(args: string[], workers: number[], input?: Buffer): Run {
  const one = run(args, { input });
  for (const n of workers) {
    const many = run([...args, '--workers', String(n)], { input });
    const what = `${args.join(' ')} --workers ${n}`;
    assert.equal(many.status, one.status, `${what}: status (${many.stderr})`);
    assert.equal(many.stderr, one.stderr, `${what}: stderr`);
    if (!many.stdout.equals(one.stdout)) {
      const a = one.stdout.toString('latin1').split('\n'), b = many.stdout.toString('latin1').split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      assert.fail(`${what}: output differs at line ${i + 1} of ${a.length}/${b.length}:\n  1 thread: ${a[i]?.slice(0, 300)}\n  sharded:  ${b[i]?.slice(0, 300)}`);
    }
  }
  return one;
}
