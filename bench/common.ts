/** Shared pieces of the benchmarks: the workload capture, timing, and printing. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readCaptureFile } from '../streams/read';
import type { PacketRecord } from '../lib/core/record';

export const BENCH_DIR = process.env.BENCH_DIR ?? path.join(process.env.TMPDIR ?? '/tmp', 'pcap-pipe-bench');
export const BENCH_PACKETS = Number(process.env.BENCH_PACKETS ?? 1_000_000);

/** The repository root (bench/ is compiled to dist/bench/). */
export const REPO_ROOT = (() => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'bench', 'make-capture.sh'))) return dir;
  }
  throw new Error('repository root not found');
})();

/**
 * The benchmark capture: BENCH_FILE if set, else the HTTP capture made by bench/make-capture.sh (made on
 * demand, once; it needs root, nginx, wrk and tcpdump).
 */
export function benchCapture(): string {
  if (process.env.BENCH_FILE) return process.env.BENCH_FILE;
  const file = path.join(BENCH_DIR, `http-${BENCH_PACKETS}.pcap`);
  if (fs.existsSync(file)) return file;
  process.stderr.write(`bench: making ${file} with bench/make-capture.sh (nginx + wrk in a private network namespace)...\n`);
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'bench', 'make-capture.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, OUT: file, PACKETS: String(BENCH_PACKETS) },
  });
  if (r.status !== 0 || !fs.existsSync(file)) throw new Error('bench: could not make the benchmark capture (see above)');
  return file;
}

/** Seconds taken by fn (async or not). */
export async function timeIt(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Runs each contender `repeats` times, alternating A B A B so drift in machine speed hits all alike, after one
 * warm-up each; returns the median seconds of each.
 */
export async function alternate(contenders: Record<string, () => unknown>, repeats = Number(process.env.BENCH_REPEATS ?? 3)): Promise<Record<string, number>> {
  const times: Record<string, number[]> = {};
  for (const [name, fn] of Object.entries(contenders)) { await fn(); times[name] = []; }
  for (let i = 0; i < repeats; i++) {
    for (const [name, fn] of Object.entries(contenders)) (times[name] as number[]).push(await timeIt(fn));
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

export function rate(n: number, seconds: number): string {
  const r = n / seconds;
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)} M` : `${(r / 1e3).toFixed(1)} k`;
}

/** Prints one result table row per contender. */
export function printTable(title: string, rows: { name: string; seconds: number; packets: number; bytes?: number; extra?: string }[], reference?: string): void {
  process.stdout.write(`\n## ${title}\n\n| what | seconds (median) | packets/s | MB/s | vs ${reference ?? 'first'} |${rows.some((r) => r.extra) ? ' notes |' : ''}\n|---|---:|---:|---:|---:|${rows.some((r) => r.extra) ? '---|' : ''}\n`);
  const ref = rows.find((r) => r.name === reference) ?? rows[0];
  for (const r of rows) {
    const mbs = r.bytes !== undefined ? (r.bytes / 1e6 / r.seconds).toFixed(0) : '';
    const ratio = ref ? ((ref.seconds / r.seconds)).toFixed(2) + '×' : '';
    process.stdout.write(`| ${r.name} | ${r.seconds.toFixed(3)} | ${rate(r.packets, r.seconds)} | ${mbs} | ${ratio} |${r.extra !== undefined ? ` ${r.extra} |` : rows.some((x) => x.extra) ? ' |' : ''}\n`);
  }
}

/**
 * Reads a capture the way a user's pipeline does (readCaptureFile in batch mode) and calls `each` per
 * record inside the consuming stage; returns the packet count. Every benchmark reads through this, so
 * the rows differ only in the work they add.
 */
export async function forEachRecord(file: string, each: (rec: PacketRecord) => void): Promise<number> {
  let n = 0;
  await pipeline(readCaptureFile(file, { batch: true }), new Writable({
    objectMode: true,
    write(batch: PacketRecord[], _enc, cb) {
      for (let i = 0; i < batch.length; i++) { n++; each(batch[i] as PacketRecord); }
      cb();
    },
  }));
  return n;
}

/** A node_modules folder holding node_pcap (pcap@3.1.0), the baseline; see bench/setup-node-pcap.sh. */
export function nodePcapPath(): string | undefined {
  const tmp = process.env.TMPDIR ?? '/tmp';
  const candidates = [process.env.NODE_PCAP_PATH, ...(process.env.NODE_PATH ?? '').split(path.delimiter),
    path.join(tmp, 'pcap-pipe-bench', 'node_pcap', 'node_modules'), path.join(tmp, 'pcap-bench-scratch', 'node_modules')];
  return candidates.find((d) => d && fs.existsSync(path.join(d, 'pcap', 'package.json')));
}

/** Runs a node_pcap script (argv[1] = the capture) with NODE_PATH at node_pcap; parses its last JSON line. */
export function runNodePcapScript<T>(script: string, file: string, modules: string): T {
  const r = spawnSync(process.execPath, ['-e', script, file], { env: { ...process.env, NODE_PATH: modules }, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`node_pcap failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as T;
}
