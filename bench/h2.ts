/**
 * `npm run bench -- h2`: HTTP/2 cleartext (h2c) as users run it, whole cold processes, A/B/A/B with tshark:
 *   A: http_trace -r F --json > /dev/null
 *   B: tshark -r F -d tcp.port==P,http2 -Y http2 -T fields -e http2.streamid -e http2.headers.method
 *      -e http2.headers.path -e http2.headers.status > /dev/null
 * on a capture this script makes once (never committed): a Node `http2` server on 127.0.0.1 and Node
 * `http2` clients with prior knowledge, many concurrent streams per connection, GET and POST requests,
 * responses of mixed sizes, captured by tcpdump on lo (a capture the kernel dropped packets from is
 * refused). tshark needs `-d` (decode-as) for h2c on a port that is not 80; it then decodes every frame,
 * HPACK included, as we do. Reported: medians of wall and CPU time, the ratio, peak RSS; the requests and
 * responses both find.
 *
 * Environment: BENCH_DIR, BENCH_RUNS (pairs, default 3), BENCH_H2_CONNECTIONS (default 50),
 * BENCH_H2_REQUESTS (per connection, default 1000), BENCH_H2_CONCURRENCY (streams in flight per
 * connection, default 16).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import { BENCH_DIR, median, REPO_ROOT } from './common';
import { alternateRuns, countExchanges, cpu, runOutput as run, sh, type RunStats } from './commands';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const CONNECTIONS = Number(process.env.BENCH_H2_CONNECTIONS ?? 50);
const REQUESTS = Number(process.env.BENCH_H2_REQUESTS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_H2_CONCURRENCY ?? 16);
const SIZES = [64, 512, 2_000, 6_000];

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** One client connection making `REQUESTS` requests, `CONCURRENCY` at a time. */
function client(port: number, c: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    let started = 0;
    let done = 0;
    const next = (): void => {
      if (started === REQUESTS) return;
      const i = started++;
      const post = i % 5 === 4;
      const req = session.request({
        ':method': post ? 'POST' : 'GET', ':path': `/item/${c}/${i}?q=${i % 97}`,
        'user-agent': 'pcap-pipe-bench/1', accept: 'application/json', 'x-request-id': `${c}-${i}`,
        ...(post ? { 'content-type': 'application/json' } : {}),
      }, { endStream: !post });
      if (post) req.end(JSON.stringify({ c, i, pad: 'x'.repeat(i % 300) }));
      req.on('response', () => undefined);
      req.on('data', () => undefined);
      req.on('error', reject);
      req.on('end', () => {
        done++;
        if (done === REQUESTS) { session.close(() => resolve()); return; }
        next();
      });
    };
    for (let k = 0; k < CONCURRENCY; k++) next();
  });
}

async function makeWorkload(pcap: string, meta: string): Promise<void> {
  const port = await freePort();
  const tmp = `${pcap}.part`;
  const td = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '131072', '-s', '0', '-w', tmp, `tcp port ${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let tdErr = '';
  await new Promise<void>((resolve) => td.stderr.on('data', (d: Buffer) => { tdErr += d.toString(); if (/listening on/.test(tdErr)) resolve(); }));
  const bodies = SIZES.map((n, k) => Buffer.from(JSON.stringify({ k, data: 'y'.repeat(n) })));
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const i = Number(String(headers[':path']).split('/')[3]?.split('?')[0] ?? 0);
    const reply = (): void => {
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'cache-control': 'no-store', 'x-served-by': 'bench', 'x-item': String(i) });
      stream.end(bodies[i % bodies.length]);
    };
    if (headers[':method'] === 'POST') { stream.resume(); stream.on('end', reply); } else reply();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  for (let c = 0; c < CONNECTIONS; c += 5) await Promise.all(Array.from({ length: Math.min(5, CONNECTIONS - c) }, (_, k) => client(port, c + k)));
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise((r) => setTimeout(r, 500));
  const exited = new Promise<void>((r) => td.on('exit', () => r()));
  td.kill('SIGINT');
  await exited;
  const dropped = /(\d+) packets? dropped by kernel/.exec(tdErr);
  if (dropped && Number(dropped[1]) > 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`tcpdump: ${dropped[1]} packets dropped by the kernel; run again on a quieter machine`);
  }
  fs.renameSync(tmp, pcap);
  fs.writeFileSync(meta, JSON.stringify({ port }));
}

async function main(): Promise<void> {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const tag = `h2c-${CONNECTIONS}x${REQUESTS}`;
  const pcap = path.join(BENCH_DIR, `${tag}.pcap`);
  const meta = path.join(BENCH_DIR, `${tag}.json`);
  if (!fs.existsSync(pcap) || !fs.existsSync(meta)) await makeWorkload(pcap, meta);
  if (process.argv[2] === 'make') return;
  const { port } = JSON.parse(fs.readFileSync(meta, 'utf8')) as { port: number };
  const bytes = fs.statSync(pcap).size;
  const tsharkArgs = ['-r', pcap, '-d', `tcp.port==${port},http2`, '-Y', 'http2', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|',
    '-e', 'http2.streamid', '-e', 'http2.headers.method', '-e', 'http2.headers.path', '-e', 'http2.headers.status'];
  const tshark = run('tshark', tsharkArgs);
  let tsharkReq = 0;
  let tsharkRes = 0;
  for (const line of tshark.split('\n')) {
    const [, methods = '', , statuses = ''] = line.split('\t');
    if (methods) tsharkReq += methods.split('|').filter(Boolean).length;
    if (statuses) tsharkRes += statuses.split('|').filter(Boolean).length;
  }
  const http = path.join(REPO_ROOT, 'dist', 'bin', 'http_trace.js');
  const ours = run(process.execPath, [http, '-r', pcap, '--json']);
  const { requests: ourReq, responses: ourRes } = countExchanges(ours);
  const A = `${sh(process.execPath)} ${sh(http)} -r ${sh(pcap)} --json > /dev/null`;
  const B = `tshark ${tsharkArgs.map(sh).join(' ')} > /dev/null`;
  // The floor: a Node process that only reads the capture and prints the events we print (JSON.stringify, 64 KiB
  // writes; bench/baselines/print-floor.js reports that part's CPU itself, an empty node process adds start-up).
  // tshark / floor is the most any Node program printing this NDJSON could reach here.
  const events = path.join(BENCH_DIR, `${tag}.ndjson`);
  fs.writeFileSync(events, ours);
  const floorCmd = `${sh(process.execPath)} ${sh(path.join(REPO_ROOT, 'bench', 'baselines', 'print-floor.js'))} ${sh(pcap)} ${sh(events)}`;
  const emptyCmd = `${sh(process.execPath)} -e 0`;
  const [a = [], b = [], floorRuns = [], empty = []] = await alternateRuns([A, B, floorCmd, emptyCmd], RUNS);
  const floorCpu = floorRuns.map((s, i) => Number(/floor-cpu ([\d.]+)/.exec(s.stderr)?.[1] ?? NaN) + cpu(empty[i] as RunStats));
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const wallA = median(a.map((s) => s.wall));
  const wallB = median(b.map((s) => s.wall));
  const cpuA = median(a.map(cpu));
  const cpuB = median(b.map(cpu));
  const pairs = a.map((s, i) => cpu(b[i] as RunStats) / cpu(s));
  process.stdout.write(`# HTTP/2 (h2c): http_trace vs tshark -d tcp.port==P,http2 (cold processes, ${RUNS} A/B pairs, medians)\n\n`);
  process.stdout.write(`workload: ${pcap} (${mb(bytes)} MB, ${CONNECTIONS} connections x ${REQUESTS} requests, ${CONCURRENCY} streams in flight per connection)\n`);
  process.stdout.write(`requests/responses: ours ${ourReq}/${ourRes}, tshark ${tsharkReq}/${tsharkRes}\n\n`);
  process.stdout.write('| command | wall s | cpu s | peak RSS MiB |\n|---|---|---|---|\n');
  process.stdout.write(`| http_trace --json | ${wallA.toFixed(2)} | ${cpuA.toFixed(2)} | ${median(a.map((s) => s.peakMiB)).toFixed(0)} |\n`);
  process.stdout.write(`| tshark -d tcp.port==P,http2 -Y http2 | ${wallB.toFixed(2)} | ${cpuB.toFixed(2)} | ${median(b.map((s) => s.peakMiB)).toFixed(0)} |\n\n`);
  process.stdout.write(`speedup (tshark / http_trace): wall ${(wallB / wallA).toFixed(1)}x, cpu ${(cpuB / cpuA).toFixed(1)}x, median of per-pair cpu ratios ${median(pairs).toFixed(1)}x (target >= 20x)\n`);
  process.stdout.write(`floor (an empty node process + read the capture + JSON.stringify and write the same ${ours.split('\n').filter(Boolean).length} events, nothing else): ` +
    `cpu ${median(floorCpu).toFixed(2)} s; tshark / floor = ${median(floorCpu.map((f, i) => cpu(b[i] as RunStats) / f)).toFixed(1)}x (median of rounds), ` +
    `the most any Node program printing this NDJSON could reach; ours / floor = ${(cpuA / median(floorCpu)).toFixed(1)}x\n`);
}

main().catch((e) => { process.stderr.write(`bench h2: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
