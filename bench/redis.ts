/**
 * `npm run bench -- redis`: publishing to and consuming from Redis Streams, as users run them: whole cold
 * processes under GNU time (bench/commands.ts measure()), in turn, RUNS rounds of
 *   A: http_trace -r F --json > /dev/null                              (the baseline: the same events, printed)
 *   B: http_trace -r F --publish redis://127.0.0.1:P/bench-I --sensor bench   (XADD MAXLEN ~, pipelined)
 *   C: pcap-pipe consume redis://127.0.0.1:P/bench-I --group g --consumer c --json --count N > /dev/null
 * against a redis-server this script starts on a free loopback port (no persistence), on the first
 * BENCH_REDIS_PACKETS (default 100,000) packets of the bench capture (a prefix written once to BENCH_DIR's
 * redis/ folder, never committed). Each round publishes to a fresh key, consumes it whole, then deletes it.
 * Reported: medians of wall and CPU seconds, events/s, MB/s (NDJSON bytes of the events, and for the
 * publisher also capture bytes), peak RSS, the ratio B/A (the cost of publishing over printing). The
 * events published and consumed are checked against the --json line count every round.
 *
 * BENCH_REDIS_CLUSTER=1 adds, in each round after C, the same publish and consume against a 3-master Redis
 * Cluster this script also starts (B' and C': `?cluster=1`, seeded with a node that does NOT own the key's
 * slot, so the client goes through the slot map), interleaved with the single server's runs.
 *
 * Environment: BENCH_FILE, BENCH_DIR, BENCH_RUNS (rounds, default 3), BENCH_REDIS_PACKETS, BENCH_REDIS_CLUSTER.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { BENCH_DIR, benchCapture, median, REPO_ROOT } from './common';
import { cpu, measure, pcapPrefix, sh, type RunStats } from './commands';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const PACKETS = Number(process.env.BENCH_REDIS_PACKETS ?? 100_000);
const NODE = process.execPath;
const BIN = path.join(REPO_ROOT, 'dist', 'bin');

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function startRedis(port: number, dir: string, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
  child.stdout!.resume();
  return child;
}

function redisCli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function fmt(x: number, d = 2): string { return x.toFixed(d); }

interface BenchCluster { children: ChildProcess[]; dirs: string[]; ports: number[] }

/** Three cluster-enabled redis-servers (bus ports chosen free too), joined, ready (cluster_state:ok on each). */
async function startCluster(): Promise<BenchCluster> {
  const c: BenchCluster = { children: [], dirs: [], ports: [] };
  try {
    const used = new Set<number>();
    const free = async (): Promise<number> => {
      for (;;) {
        const p = await freePort();
        if (!used.has(p)) { used.add(p); return p; }
      }
    };
    for (let i = 0; i < 3; i++) {
      const port = await free();
      const bus = await free();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-bench-cluster-'));
      c.dirs.push(dir);
      c.ports.push(port);
      c.children.push(await startRedis(port, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(bus)]));
    }
    const r = spawnSync('redis-cli', ['--cluster', 'create', ...c.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`redis-cli --cluster create: ${r.stdout}${r.stderr}`);
    for (const p of c.ports) {
      for (let t = 0; !/cluster_state:ok/.test(redisCli(p, 'CLUSTER', 'INFO')); t++) {
        if (t > 600) throw new Error(`cluster_state not ok on ${p}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    return c;
  } catch (e) {
    stopCluster(c);
    throw e;
  }
}

function stopCluster(c: BenchCluster): void {
  for (const child of c.children) child.kill('SIGKILL');
  for (const dir of c.dirs) fs.rmSync(dir, { recursive: true, force: true });
}

/** The port of the master serving `key` (CLUSTER KEYSLOT, then CLUSTER SLOTS). */
function ownerOf(c: BenchCluster, key: string): number {
  const slot = Number(redisCli(c.ports[0]!, 'CLUSTER', 'KEYSLOT', key));
  for (const p of c.ports) {
    const mine = redisCli(p, 'CLUSTER', 'NODES').split('\n').find((l) => l.includes('myself'));
    for (const range of (mine ?? '').split(' ').slice(8)) {
      const [a, b] = range.split('-').map(Number) as [number, number | undefined];
      if (slot >= a && slot <= (b ?? a)) return p;
    }
  }
  throw new Error(`nobody serves slot ${slot}`);
}

async function main(): Promise<void> {
  const dir = path.join(BENCH_DIR, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  const file = process.env.BENCH_FILE ?? pcapPrefix(benchCapture(), PACKETS, dir);
  const captureBytes = fs.statSync(file).size;
  const trace = path.join(BIN, 'http_trace.js');
  const consume = path.join(BIN, 'pcap-pipe.js');
  const json = spawnSync(NODE, [trace, '-r', file, '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (json.status !== 0) throw new Error(`http_trace --json: ${json.stderr}`);
  const events = json.stdout.split('\n').filter((l) => l !== '').length;
  // What goes into the stream: each line plus ,"sensor":"bench"
  const ndjsonBytes = Buffer.byteLength(json.stdout) + events * ',"sensor":"bench"'.length;
  const port = await freePort();
  const redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-bench-redis-'));
  const redis = await startRedis(port, redisDir);
  const cluster = process.env.BENCH_REDIS_CLUSTER === '1' ? await startCluster().catch((e: unknown) => { redis.kill('SIGKILL'); throw e; }) : undefined;
  const res = { a: [] as RunStats[], b: [] as RunStats[], c: [] as RunStats[], bc: [] as RunStats[], cc: [] as RunStats[] };
  process.stderr.write(`bench redis: ${path.basename(file)} (${fmt(captureBytes / 1e6, 1)} MB), ${events} events (${fmt(ndjsonBytes / 1e6, 1)} MB NDJSON), redis-server ${redisCli(port, 'INFO', 'server').match(/redis_version:(\S+)/)?.[1] ?? '?'} on 127.0.0.1:${port}\n`);
  try {
    for (let i = 0; i < RUNS; i++) {
      const key = `bench-${i}`;
      const url = `redis://127.0.0.1:${port}/${key}`;
      const check = (label: string, s: RunStats): RunStats => {
        if (s.status !== 0) throw new Error(`${label} exited ${s.status}\n${s.stderr}`);
        return s;
      };
      res.a.push(check('http_trace --json', await measure(`${sh(NODE)} ${sh(trace)} -r ${sh(file)} --json > /dev/null`)));
      const b = check('http_trace --publish', await measure(`${sh(NODE)} ${sh(trace)} -r ${sh(file)} --publish ${sh(url)} --sensor bench`));
      if (!new RegExp(`published ${events} of ${events} events`).test(b.stderr)) throw new Error(`publish did not send every event: ${b.stderr}`);
      res.b.push(b);
      const len = Number(redisCli(port, 'XLEN', key));
      if (len !== events) throw new Error(`stream ${key} holds ${len} entries, expected ${events}`);
      const out = path.join(redisDir, 'consumed.ndjson');
      res.c.push(check('consume', await measure(`${sh(NODE)} ${sh(consume)} consume ${sh(url)} --group g --consumer c --json --count ${events} > ${sh(out)}`)));
      const got = fs.readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').length;
      if (got !== events) throw new Error(`consume printed ${got} events, expected ${events}`);
      fs.rmSync(out);
      redisCli(port, 'DEL', key);
      if (cluster !== undefined) {
        // A key the seed node (the first) does not serve: the client must use the slot map.
        let ckey = '';
        for (let n = 0; ckey === ''; n++) if (ownerOf(cluster, `{bench-${i}-${n}}:events`) !== cluster.ports[0]) ckey = `{bench-${i}-${n}}:events`;
        const owner = ownerOf(cluster, ckey);
        const curl = `redis://127.0.0.1:${cluster.ports[0]}/${ckey}?cluster=1`;
        const bc = check('http_trace --publish (cluster)', await measure(`${sh(NODE)} ${sh(trace)} -r ${sh(file)} --publish ${sh(curl)} --sensor bench`));
        if (!new RegExp(`published ${events} of ${events} events`).test(bc.stderr)) throw new Error(`publish (cluster) did not send every event: ${bc.stderr}`);
        res.bc.push(bc);
        const clen = Number(redisCli(owner, 'XLEN', ckey));
        if (clen !== events) throw new Error(`cluster stream ${ckey} holds ${clen} entries, expected ${events}`);
        res.cc.push(check('consume (cluster)', await measure(`${sh(NODE)} ${sh(consume)} consume ${sh(curl)} --group g --consumer c --json --count ${events} > ${sh(out)}`)));
        const cgot = fs.readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').length;
        if (cgot !== events) throw new Error(`consume (cluster) printed ${cgot} events, expected ${events}`);
        fs.rmSync(out);
        redisCli(owner, 'DEL', ckey);
      }
      process.stderr.write('.');
    }
    process.stderr.write('\n');
  } finally {
    redis.kill('SIGKILL');
    fs.rmSync(redisDir, { recursive: true, force: true });
    if (cluster !== undefined) stopCluster(cluster);
  }
  const wall = (xs: RunStats[]): number => median(xs.map((s) => s.wall));
  const row = (label: string, xs: RunStats[], capture: boolean): string =>
    `| ${label} | ${fmt(wall(xs))} | ${fmt(median(xs.map(cpu)))} | ${Math.round(events / wall(xs)).toLocaleString('en-US')} | ${fmt(ndjsonBytes / 1e6 / wall(xs), 1)} | ${capture ? fmt(captureBytes / 1e6 / wall(xs), 1) : '-'} | ${Math.round(median(xs.map((s) => s.peakMiB)))} |`;
  const ratios = res.a.map((a, i) => res.b[i]!.wall / a.wall);
  console.log(`\n${events} events from ${process.env.BENCH_FILE !== undefined ? path.basename(file) : `the first ${PACKETS.toLocaleString('en-US')} packets of ${path.basename(benchCapture())}`} (${fmt(captureBytes / 1e6, 1)} MB capture, ${fmt(ndjsonBytes / 1e6, 1)} MB NDJSON), ${RUNS} rounds, ${os.cpus().length} cores, load ${os.loadavg().map((l) => fmt(l, 1)).join(' ')}`);
  console.log('| command | wall s | CPU s | events/s | NDJSON MB/s | capture MB/s | peak RSS MiB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(row('`http_trace -r F --json > /dev/null` (baseline)', res.a, true));
  console.log(row('`http_trace -r F --publish redis://…`', res.b, true));
  console.log(row('`pcap-pipe consume redis://… --json > file`', res.c, false));
  if (cluster !== undefined) {
    console.log(row('`http_trace -r F --publish redis://…?cluster=1` (3-master cluster)', res.bc, true));
    console.log(row('`pcap-pipe consume redis://…?cluster=1 --json > file`', res.cc, false));
    const pr = res.b.map((b, i) => res.bc[i]!.wall / b.wall);
    const cr = res.c.map((c, i) => res.cc[i]!.wall / c.wall);
    console.log(`cluster / single server wall: publish ${fmt(median(pr))} (${pr.map((r) => fmt(r)).join(', ')}), consume ${fmt(median(cr))} (${cr.map((r) => fmt(r)).join(', ')})`);
  }
  console.log(`publish / --json wall: median of per-round ratios ${fmt(median(ratios))} (${ratios.map((r) => fmt(r)).join(', ')})`);
}

main().catch((e) => { process.stderr.write(`bench redis: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
