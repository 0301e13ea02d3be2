/**
 * `npm run bench`: every benchmark of the project, on one workload made by the repo's own script
 * (bench/make-capture.sh, on demand, never committed), each beside its baseline in the same run.
 *
 * Environment: BENCH_FILE (use this capture instead), BENCH_PACKETS (size of the made capture, default
 * 1,000,000), BENCH_REPEATS (alternated runs per contender, default 3), BENCH_ONLY (comma list of
 * read,decode,tcp,http,capture), NODE_PCAP_PATH (a node_modules with pcap@3.1.0; made by
 * bench/setup-node-pcap.sh when unset).
 */
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { benchCapture, REPO_ROOT } from './common';

/** Each benchmark runs in its own process (fresh JIT and heap), in this order; capture needs no file. */
const BENCHES: { name: string; script: string; needsFile: boolean }[] = [
  { name: 'read', script: 'read.js', needsFile: true },
  { name: 'decode', script: 'decode.js', needsFile: true },
  { name: 'tcp', script: 'tcp.js', needsFile: true },
  { name: 'http', script: 'http.js', needsFile: true },
  { name: 'capture', script: 'capture.js', needsFile: false },
];

function ensureNodePcap(): void {
  if (process.env.NODE_PCAP_PATH) return;
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'bench', 'setup-node-pcap.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = r.stdout.toString().trim().split('\n').pop();
  if (r.status === 0 && dir) process.env.NODE_PCAP_PATH = dir;
  else process.stderr.write('bench: node_pcap (pcap@3.1.0) could not be set up; its rows are skipped\n');
}

function main(): void {
  const only = new Set((process.env.BENCH_ONLY ?? 'read,decode,tcp,http,capture').split(','));
  ensureNodePcap();
  const file = benchCapture();
  process.stdout.write(`# pcap-pipe benchmarks\n\nworkload: ${file}\nnode ${process.version}, ${new Date().toISOString()}\n`);
  let failed = 0;
  for (const b of BENCHES) {
    if (!only.has(b.name)) continue;
    const script = path.join(__dirname, b.script);
    if (!fs.existsSync(script)) continue;
    process.stdout.write(`\n## ${b.name}\n\n`);
    const r = spawnSync(process.execPath, [script, ...(b.needsFile ? [file] : [])], { stdio: 'inherit', env: process.env });
    if (r.status !== 0) { failed++; process.stderr.write(`bench: ${b.name} failed (status ${r.status})\n`); }
  }
  if (failed) process.exitCode = 1;
}

try { main(); } catch (e) { process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); }
