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
import { benchCapture, REPO_ROOT } from './common';
import { benchRead } from './read';
import { benchDecode } from './decode';

function ensureNodePcap(): void {
  if (process.env.NODE_PCAP_PATH) return;
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'bench', 'setup-node-pcap.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = r.stdout.toString().trim().split('\n').pop();
  if (r.status === 0 && dir) process.env.NODE_PCAP_PATH = dir;
  else process.stderr.write('bench: node_pcap (pcap@3.1.0) could not be set up; its rows are skipped\n');
}

async function main(): Promise<void> {
  const only = new Set((process.env.BENCH_ONLY ?? 'read,decode,tcp,http,capture').split(','));
  ensureNodePcap();
  const file = benchCapture();
  process.stdout.write(`# pcap-pipe benchmarks\n\nworkload: ${file}\nnode ${process.version}, ${new Date().toISOString()}\n`);
  if (only.has('read')) await benchRead(file);
  if (only.has('decode')) await benchDecode(file);
}

main().catch((e) => { process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
