/**
 * `npm run bench`: the headline benchmark, the commands users run as whole cold processes beside their
 * baselines (bench/commands.ts), on the capture bench/make-capture.sh makes (on demand, never committed).
 *
 * `npm run bench -- live`: live capture CPU per packet on loopback against tcpdump (bench/live.ts; root).
 * `npm run bench -- tls`: HTTPS decryption, http_trace --keylog against tshark -o tls.keylog_file (bench/tls.ts).
 *
 * `npm run bench -- h2`: HTTP/2 cleartext, http_trace against tshark -d tcp.port==P,http2 on a capture of 50,000
 * requests (bench/h2.ts).
 *
 * `npm run bench -- redis`: http_trace --publish and pcap-pipe consume against a local redis-server, beside
 * http_trace --json > /dev/null (bench/redis.ts).
 *
 * `npm run bench -- micro`: the in-process micro-benchmarks instead (read, decode, tcp, http, capture):
 * library calls and stream stages timed inside one warm process, for looking at one stage. They are not
 * what users run and flatter the library (a warm JIT, no start-up, no output); never quote them as the
 * speed of the commands.
 *
 * Environment: see bench/commands.ts (BENCH_FILE, BENCH_RUNS, BENCH_ROWS, NODE_PCAP_PATH, BENCH_TSHARK);
 * for micro: BENCH_ONLY (comma list of read,decode,tcp,http,capture), BENCH_REPEATS.
 */
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { benchCapture, nodePcapPath, REPO_ROOT } from './common';
import { benchCommands } from './commands';
import { benchLive } from './live';

/** Each micro-benchmark runs in its own process (fresh JIT and heap), in this order; capture needs no file. */
const MICRO: { name: string; script: string; needsFile: boolean }[] = [
  { name: 'read', script: 'read.js', needsFile: true },
  { name: 'decode', script: 'decode.js', needsFile: true },
  { name: 'tcp', script: 'tcp.js', needsFile: true },
  { name: 'http', script: 'http.js', needsFile: true },
  { name: 'capture', script: 'capture.js', needsFile: false },
];

function ensureNodePcap(): void {
  if (nodePcapPath()) return;
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'bench', 'setup-node-pcap.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = r.stdout.toString().trim().split('\n').pop();
  if (r.status === 0 && dir) process.env.NODE_PCAP_PATH = dir;
  else process.stderr.write('bench: node_pcap (pcap@3.1.0) could not be set up; its rows are skipped\n');
}

function micro(): void {
  const only = new Set((process.env.BENCH_ONLY ?? 'read,decode,tcp,http,capture').split(','));
  ensureNodePcap();
  const file = benchCapture();
  process.stdout.write(`# pcap-pipe in-process micro-benchmarks (NOT the commands users run: one warm process, no start-up, no output)\n\nworkload: ${file}\nnode ${process.version}, ${new Date().toISOString()}\n`);
  let failed = 0;
  for (const b of MICRO) {
    if (!only.has(b.name)) continue;
    const script = path.join(__dirname, b.script);
    if (!fs.existsSync(script)) continue;
    process.stdout.write(`\n## micro: ${b.name}\n\n`);
    const r = spawnSync(process.execPath, [script, ...(b.needsFile ? [file] : [])], { stdio: 'inherit', env: process.env });
    if (r.status !== 0) { failed++; process.stderr.write(`bench: ${b.name} failed (status ${r.status})\n`); }
  }
  if (failed) process.exitCode = 1;
}

if (process.argv[2] === 'tls') {
  // HTTPS: http_trace --keylog against tshark -o tls.keylog_file (bench/tls.ts makes its own capture)
  const r = spawnSync(process.execPath, [path.join(__dirname, 'tls.js')], { stdio: 'inherit', env: process.env });
  process.exitCode = r.status ?? 1;
} else if (process.argv[2] === 'live') {
  benchLive().catch((e) => { process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
} else if (process.argv[2] === 'h2') {
  // HTTP/2 cleartext: http_trace against tshark -d tcp.port==P,http2 (bench/h2.ts makes its own capture)
  const r = spawnSync(process.execPath, [path.join(__dirname, 'h2.js'), ...process.argv.slice(3)], { stdio: 'inherit', env: process.env });
  process.exitCode = r.status ?? 1;
} else if (process.argv[2] === 'redis') {
  // Redis Streams: publish and consume as whole processes, beside --json (bench/redis.ts starts its redis-server)
  const r = spawnSync(process.execPath, [path.join(__dirname, 'redis.js')], { stdio: 'inherit', env: process.env });
  process.exitCode = r.status ?? 1;
} else if (process.argv[2] === 'micro') {
  try { micro(); } catch (e) { process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); }
} else {
  benchCommands().catch((e) => { process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
}
