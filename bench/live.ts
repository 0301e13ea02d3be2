/**
 * `npm run bench -- live`: CPU per captured packet of live capture on loopback, beside tcpdump at the same
 * rate. Needs root (capture on lo), tcpdump and a C compiler; skipped with a message otherwise.
 *
 * Load: bench/udp-flood.c (compiled into $TMPDIR), UDP datagrams of 100 bytes to 127.0.0.1 at a set rate
 * (30k, 100k, 300k packets/s; on a busy machine it may reach less, the achieved rate is printed). Each
 * tool runs with the kernel filter `udp port P`, so other loopback traffic on the machine is not counted.
 * What is measured: the tool's user + system CPU (all its threads: /proc/PID/task/TID/schedstat, in ns)
 * read just before and just after the flood (start-up and exit excluded), divided by the packets sent; the
 * kernel's drop count from the tool's own report. On loopback the kernel counts every packet twice (sent and received), drops included.
 *
 * Tools: `tcpdump -w /dev/null`, `pcap-pipe capture -w /dev/null` (written by the addon's writer thread),
 * `pcap-pipe capture -w -` into /dev/null (the JS stream path, as a program using capture() gets), and
 * `http_trace -i lo` (which decodes every packet to its transport layer and feeds TCP/HTTP; UDP packets
 * end there). Runs alternate tool by
 * tool at each rate (BENCH_RUNS rounds, default 3); medians are printed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { median, REPO_ROOT } from './common';

const PORT = 47999;
const SECONDS = Number(process.env.BENCH_LIVE_SECONDS ?? 4);
const RATES = (process.env.BENCH_LIVE_RATES ?? '30000,100000,300000').split(',').map(Number);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const NODE = process.execPath;
const BIN = path.join(REPO_ROOT, 'dist', 'bin');

interface Tool { name: string; argv: string[]; ready: RegExp }

const TOOLS: Tool[] = [
  { name: 'tcpdump -w /dev/null', argv: ['tcpdump', '-i', 'lo', '-n', '-w', '/dev/null', `udp port ${PORT}`], ready: /listening on/ },
  { name: 'pcap-pipe capture -w /dev/null', argv: [NODE, path.join(BIN, 'pcap-pipe.js'), 'capture', '-i', 'lo', '-w', '/dev/null', 'udp', 'port', String(PORT)], ready: /listening on/ },
  // the same capture through JS (stdout is never written by the addon): what capture()'s stream costs
  { name: 'pcap-pipe capture -w - > /dev/null', argv: [NODE, path.join(BIN, 'pcap-pipe.js'), 'capture', '-i', 'lo', '-w', '-', 'udp', 'port', String(PORT)], ready: /listening on/ },
  { name: 'http_trace -i lo --json', argv: [NODE, path.join(BIN, 'http_trace.js'), '-i', 'lo', '-f', `udp port ${PORT}`, '--json'], ready: /listening on/ },
];
// BENCH_LIVE_BASE=DIR (a built checkout of another commit): its `capture -w /dev/null` too, for before/after
// in the same rounds
const BASE = process.env.BENCH_LIVE_BASE;
if (BASE) {
  TOOLS.splice(2, 0, { name: `capture -w /dev/null (${path.basename(BASE)})`, argv: [NODE, path.join(BASE, 'dist', 'bin', 'pcap-pipe.js'), 'capture', '-i', 'lo', '-w', '/dev/null', 'udp', 'port', String(PORT)], ready: /listening on/ });
}

interface Sample { sent: number; seconds: number; cpu: number; dropped: number }

function why(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (capture on lo)';
  if (spawnSync('tcpdump', ['--version']).error) return 'needs tcpdump';
  if (spawnSync('cc', ['--version']).error) return 'needs a C compiler (cc)';
  return undefined;
}

function buildFlood(): string {
  const exe = path.join(os.tmpdir(), `pcap-pipe-udp-flood-${process.pid}`);
  const r = spawnSync('cc', ['-O2', '-o', exe, path.join(REPO_ROOT, 'bench', 'udp-flood.c')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cannot compile bench/udp-flood.c');
  return exe;
}

/**
 * CPU seconds (user + system) of every thread of `pid`, from /proc/PID/task/TID/schedstat (nanoseconds).
 * /proc/PID/stat counts in 1/100 s, too coarse here: tcpdump uses ~0.01 s in a 4 s run at 30k pkt/s.
 * The tools' threads live from start-up to exit, so none is missed between the two readings.
 */
function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e9;
}

/** Runs `tool` while the flood sends `rate` packets/s for SECONDS. */
function runOne(tool: Tool, rate: number, flood: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool.argv[0] as string, tool.argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let started = false;
    child.stderr.setEncoding('utf8');
    child.on('error', reject);
    child.stderr.on('data', (s: string) => {
      stderr += s;
      if (started || !tool.ready.test(stderr)) return;
      started = true;
      // let the capture settle (JIT, first poll) before counting
      setTimeout(() => {
        const t0 = cpuSeconds(child.pid as number);
        const r = spawnSync(flood, [String(rate), String(SECONDS), '100', String(PORT)], { encoding: 'utf8' });
        setTimeout(() => {
          const t1 = cpuSeconds(child.pid as number);
          const [sent, seconds] = r.stdout.trim().split(' ').map(Number) as [number, number];
          child.on('close', () => {
            // tcpdump / capture: "N packets dropped by kernel"; http_trace: "... dropped N packets (M so far)"
            const m = /(\d+) packets? dropped by kernel/.exec(stderr) ?? /\((\d+) so far\)[^\n]*\n?$/.exec(stderr.trimEnd() + '\n');
            resolve({ sent, seconds, cpu: t1 - t0, dropped: m ? Number(m[1]) : 0 });
          });
          child.kill('SIGINT');
        }, 300);
      }, 1000);
    });
  });
}

export async function benchLive(): Promise<void> {
  const reason = why();
  if (reason !== undefined) {
    process.stdout.write(`bench live: skipped: ${reason}\n`);
    return;
  }
  const flood = buildFlood();
  try {
    process.stdout.write(`# live capture on loopback: CPU per packet (user+system during the flood / packets sent), ${SECONDS} s per run, medians of ${RUNS}\n\n`);
    process.stdout.write('| rate asked (pkt/s) | tool | rate reached | CPU s | us per packet | dropped (kernel count) | vs tcpdump |\n|---:|---|---:|---:|---:|---:|---:|\n');
    for (const rate of RATES) {
      const samples = new Map<string, Sample[]>(TOOLS.map((t) => [t.name, []]));
      for (let i = 0; i < RUNS; i++) {
        for (const tool of TOOLS) samples.get(tool.name)!.push(await runOne(tool, rate, flood));
        process.stderr.write('.');
      }
      const perPacket = (s: Sample): number => s.sent > 0 ? s.cpu * 1e6 / s.sent : NaN;
      const tcpdumpUs = median(samples.get(TOOLS[0]!.name)!.map(perPacket));
      for (const tool of TOOLS) {
        const ss = samples.get(tool.name)!;
        const us = median(ss.map(perPacket));
        process.stdout.write(`| ${rate} | \`${tool.name}\` | ${median(ss.map((s) => s.sent / s.seconds)).toFixed(0)} | ${median(ss.map((s) => s.cpu)).toFixed(2)} | ${us.toFixed(2)} | ${median(ss.map((s) => s.dropped))} | ${(us / tcpdumpUs).toFixed(1)}x |\n`);
      }
    }
    process.stderr.write('\n');
  } finally {
    fs.rmSync(flood, { force: true });
  }
}
