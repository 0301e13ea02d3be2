/**
 * Live capture benchmark: the libpcap addon under a bounded local load, beside tcpdump under the same
 * load in the same run.
 *
 * Load: a separate process runs an HTTP server on 127.0.0.1 and BENCH_CAPTURE_CONNECTIONS keep-alive
 * clients hammering it for BENCH_CAPTURE_SECONDS (closed loop, so the load is bounded by what the machine
 * can do and the same for every contender). Every contender captures `tcp port P` on lo:
 *   - tcpdump -i lo -w /dev/null                       (the reference)
 *   - pcap-pipe capture -i lo -w /dev/null             (the CLI: addon + pcap writer, a separate process)
 *   - capture() in this process, one record per chunk  (and the event-loop delay p99 meanwhile)
 *   - capture({ batch: true }) in this process         (one array per addon batch)
 * Reported: packets the kernel saw for the filter, packets captured, drops, captured packets/s, CPU per
 * packet of the capturing process, and for in-process capture the event-loop delay p99.
 * Needs root (or CAP_NET_RAW) and tcpdump.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { PacketRecord } from '../lib/core/record';
import { capture } from '../streams/capture';
import { addonAvailable } from '../addon/index';

const SECONDS = Number(process.env.BENCH_CAPTURE_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CAPTURE_CONNECTIONS ?? 8);
/** Response body size: small, so the load is many packets rather than many bytes. */
const BODY_BYTES = 200;
const CLOCK_TICKS_PER_SECOND = 100;
const UDP_PAYLOAD_BYTES = 100;
const UDP_RATES = (process.env.BENCH_CAPTURE_UDP_RATES ?? '50000,100000,200000').split(',').map(Number); // Linux USER_HZ, the unit of /proc/<pid>/stat times

export interface CaptureBenchRow {
  name: string;
  /** Packets libpcap counted for the filter (ps_recv; on lo this includes the skipped outgoing copies). */
  received: number;
  captured: number;
  dropped: number;
  seconds: number;
  packetsPerSecond: number;
  /** CPU time of the capturing process per captured packet, µs (user + system). */
  cpuMicrosPerPacket: number;
  /** Event-loop delay p99 in ms while capturing (in-process contenders only). */
  eventLoopDelayP99Ms?: number;
  /** HTTP requests (or UDP datagrams) the load generator completed during this run. */
  requests: number;
}

export interface CaptureBenchResult {
  seconds: number;
  connections: number;
  /** HTTP load. */
  rows: CaptureBenchRow[];
  /** UDP load at fixed rates. */
  udp: { rate: number; rows: CaptureBenchRow[] }[];
  skipped?: string;
}

function repoRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
  }
  throw new Error('repository root not found');
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Runs the HTTP load for SECONDS in a child process; resolves with the requests it completed. */
function runLoad(port: number): Promise<number> {
  const code = `
    const http = require('node:http');
    const body = 'x'.repeat(${BODY_BYTES});
    const server = http.createServer((req, res) => res.end(body));
    server.listen(${port}, '127.0.0.1', () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: ${CONNECTIONS} });
      const end = Date.now() + ${SECONDS * 1000};
      let requests = 0, running = ${CONNECTIONS};
      const one = () => {
        if (Date.now() >= end) {
          if (--running === 0) { agent.destroy(); server.close(); process.stdout.write(String(requests)); }
          return;
        }
        http.get({ host: '127.0.0.1', port: ${port}, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => { requests++; one(); });
        }).on('error', (e) => { console.error(e.message); process.exit(1); });
      };
      for (let i = 0; i < ${CONNECTIONS}; i++) one();
    });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('exit', (status) => (status === 0 ? resolve(Number(out)) : reject(new Error(`load generator exited with ${status}`))));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** utime + stime of a process, in seconds, from /proc. */
function processCpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Sends UDP datagrams to 127.0.0.1:port at `rate` per second (as close as one process can) for SECONDS. */
function runUdpLoad(port: number, rate: number): Promise<number> {
  const code = `
    const dgram = require('node:dgram');
    const s = dgram.createSocket('udp4');
    const buf = Buffer.alloc(${UDP_PAYLOAD_BYTES}, 0x75);
    const t0 = Date.now(), end = t0 + ${SECONDS * 1000};
    let sent = 0, inflight = 0;
    function tick() {
      const now = Date.now();
      if (now >= end) { const wait = () => inflight ? setImmediate(wait) : (s.close(), process.stdout.write(String(sent))); return wait(); }
      let due = Math.min(Math.floor(((now - t0) / 1000) * ${rate}) - sent, 256);
      for (; due > 0; due--) { sent++; inflight++; s.send(buf, ${port}, '127.0.0.1', () => { inflight--; }); }
      setImmediate(tick);
    }
    tick();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('exit', (status) => (status === 0 ? resolve(Number(out)) : reject(new Error(`UDP load exited with ${status}`))));
  });
}

type Load = (port: number) => Promise<number>;

/** Spawns a capturing process, waits for it to listen, runs the load, stops it with SIGINT. */
async function benchChild(name: string, cmd: string, args: string[], port: number, load: Load): Promise<CaptureBenchRow> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/listening on/.test(stderr)) resolve();
    });
    child.on('exit', () => reject(new Error(`${name} exited early: ${stderr}`)));
    child.on('error', reject);
  });
  await sleep(100);
  const cpu0 = processCpuSeconds(child.pid as number); // start-up (Node bootstrap) is not the capture's cost
  const t0 = process.hrtime.bigint();
  const requests = await load(port);
  await sleep(300);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = processCpuSeconds(child.pid as number) - cpu0;
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.kill('SIGINT');
  await exited;
  const num = (re: RegExp): number => Number(re.exec(stderr)?.[1] ?? NaN);
  const captured = num(/(\d+) packets? captured/);
  return {
    name,
    received: num(/(\d+) packets? received by filter/),
    captured,
    dropped: num(/(\d+) packets? dropped by kernel/),
    seconds,
    packetsPerSecond: captured / seconds,
    cpuMicrosPerPacket: (cpu / captured) * 1e6,
    requests,
  };
}

/** Captures in this process while the load runs, measuring event-loop delay. */
async function benchInProcess(name: string, batch: boolean, port: number, load: Load): Promise<CaptureBenchRow> {
  const cap = capture({ device: 'lo', filter: `port ${port}`, batch });
  let captured = 0;
  let bytes = 0;
  if (batch) cap.on('data', (recs: PacketRecord[]) => { captured += recs.length; for (const r of recs) bytes += r.caplen; });
  else cap.on('data', (r: PacketRecord) => { captured++; bytes += r.caplen; });
  const ended = new Promise<void>((resolve) => cap.on('end', () => resolve()));
  const delay = monitorEventLoopDelay({ resolution: 1 });
  await sleep(100);
  delay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const requests = await load(port);
  await sleep(300);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  delay.disable();
  cap.stop();
  await ended;
  const stats = cap.stats();
  return {
    name,
    received: stats.received,
    captured,
    dropped: stats.dropped,
    seconds,
    packetsPerSecond: captured / seconds,
    cpuMicrosPerPacket: captured > 0 ? (cpu.user + cpu.system) / captured : 0,
    eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
    requests,
  };
}

/** The same load with no capture at all: the event-loop delay this process has anyway. */
async function benchBaseline(port: number, load: Load): Promise<CaptureBenchRow> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t0 = process.hrtime.bigint();
  const requests = await load(port);
  await sleep(300);
  delay.disable();
  return {
    name: 'no capture (event-loop baseline)',
    received: 0,
    captured: 0,
    dropped: 0,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    packetsPerSecond: 0,
    cpuMicrosPerPacket: 0,
    eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
    requests,
  };
}

function printRows(title: string, loadUnit: string, rows: CaptureBenchRow[]): void {
  process.stdout.write(`\n## ${title}\n\n` +
    `| what | ${loadUnit} | received by filter | captured | dropped | captured packets/s | CPU µs/packet | event-loop p99 |\n` +
    '|---|---:|---:|---:|---:|---:|---:|---:|\n');
  for (const r of rows) {
    const p99 = r.eventLoopDelayP99Ms !== undefined ? `${r.eventLoopDelayP99Ms.toFixed(1)} ms` : '';
    process.stdout.write(`| ${r.name} | ${r.requests} | ${r.received} | ${r.captured} | ${r.dropped} | ${Math.round(r.packetsPerSecond)} | ${r.cpuMicrosPerPacket.toFixed(2)} | ${p99} |\n`);
  }
}

/**
 * Two workloads, each contender under the same one in turn (tcpdump first and last, to see drift):
 * the HTTP load, then UDP at fixed rates (BENCH_CAPTURE_UDP_RATES, packets/s) to find where drops begin.
 * Prints tables and returns the numbers.
 */
export async function benchCapture(): Promise<CaptureBenchResult> {
  const result: CaptureBenchResult = { seconds: SECONDS, connections: CONNECTIONS, rows: [], udp: [] };
  const reason = process.platform !== 'linux' ? 'needs Linux'
    : !addonAvailable() ? 'libpcap addon not built'
      : process.getuid && process.getuid() !== 0 ? 'needs root' : undefined;
  if (reason) {
    result.skipped = reason;
    process.stdout.write(`\n## live capture\n\nskipped: ${reason}\n`);
    return result;
  }
  const cli = path.join(repoRoot(), 'dist', 'bin', 'pcap-pipe.js');
  const port = await freePort();
  const filter = `port ${port}`;
  const contenders = (load: Load): [string, () => Promise<CaptureBenchRow>][] => [
    ['tcpdump', () => benchChild('tcpdump -w /dev/null', 'tcpdump', ['-i', 'lo', '-w', '/dev/null', filter], port, load)],
    ['cli', () => benchChild('pcap-pipe capture -w /dev/null', process.execPath, [cli, 'capture', '-i', 'lo', '-w', '/dev/null', filter], port, load)],
    ['records', () => benchInProcess('capture() records, in process', false, port, load)],
    ['batch', () => benchInProcess('capture({batch}) arrays, in process', true, port, load)],
  ];

  const http: Load = (p) => runLoad(p);
  result.rows.push(await benchBaseline(port, http));
  for (const [, run] of contenders(http)) result.rows.push(await run());
  result.rows.push(await benchChild('tcpdump -w /dev/null (again)', 'tcpdump', ['-i', 'lo', '-w', '/dev/null', filter], port, http));
  printRows(`live capture on lo, HTTP load (${CONNECTIONS} keep-alive connections, ${SECONDS} s, 127.0.0.1)`, 'requests', result.rows);

  for (const rate of UDP_RATES) {
    const udp: Load = (p) => runUdpLoad(p, rate);
    const rows: CaptureBenchRow[] = [];
    for (const [key, run] of contenders(udp)) if (key !== 'records') rows.push(await run());
    result.udp.push({ rate, rows });
    printRows(`live capture on lo, UDP at ${rate} packets/s target (${UDP_PAYLOAD_BYTES}-byte payloads, ${SECONDS} s)`, 'datagrams sent', rows);
  }
  return result;
}

if (require.main === module) {
  benchCapture().catch((e: unknown) => {
    process.stderr.write(`bench capture: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
