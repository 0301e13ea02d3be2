/**
 * `npm run bench -- tls`: HTTPS decryption as users run it, whole cold processes, A/B/A/B with tshark:
 *   A: http_trace -r F --keylog K --json > /dev/null
 *   B: tshark -r F -o tls.keylog_file:K -Y http -T fields -e http.request.method -e http.request.uri -e http.response.code
 * on a capture this script makes once (never committed): a Node https server writing its key log, clients
 * making many keep-alive requests with bodies of mixed sizes, over TLS 1.3 (Node picks TLS_AES_256_GCM_SHA384) and TLS 1.2
 * (ECDHE-RSA-AES128-GCM), captured by tcpdump on lo. Reported: medians of wall and CPU time, the ratio,
 * peak RSS, and decrypted MB per CPU second (the application bytes tshark also decrypts). Both commands
 * also run on the capture's first FIXED_PACKETS packets (start-up, module loading, tshark's dissector
 * registration: the fixed cost), so the marginal ratio (full minus fixed) says whether the full run
 * measures throughput or start-up.
 *
 * Environment: BENCH_DIR, BENCH_RUNS (pairs, default 3), BENCH_TLS_CONNECTIONS (default 800),
 * BENCH_TLS_REQUESTS (per connection, default 25).
 *
 * Why 800 connections (425 MB): on the earlier 200 (106 MB) a cold http_trace spent much of its run warming
 * up (interpreted code before the JIT optimises it, a heap growing into fresh pages), which the 300-packet
 * fixed run does not catch; at 4x the bytes our CPU grew 1.7-2.5x and tshark's 3.3-4.7x (its memory grows with
 * the capture: 966 MiB peak), so the smaller capture measured start-up and warm-up more than throughput.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { BENCH_DIR, median, REPO_ROOT } from './common';
import { alternatePairs, alternateRuns, countExchanges, cpu, pcapPrefix, runOutput as run, sh } from './commands';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const CONNECTIONS = Number(process.env.BENCH_TLS_CONNECTIONS ?? 800);
const REQUESTS = Number(process.env.BENCH_TLS_REQUESTS ?? 25);
const SIZES = [200, 2_000, 16_000, 64_000];
/** Packets of the fixed-cost run: a few handshakes and exchanges, about 2 % of the capture's bytes. */
const FIXED_PACKETS = 300;

async function makeWorkload(pcap: string, keys: string): Promise<void> {
  const dir = path.dirname(pcap);
  const key = path.join(dir, 'tls-bench.key');
  const cert = path.join(dir, 'tls-bench.crt');
  run('openssl', ['req', '-x509', '-nodes', '-days', '3650', '-subj', '/CN=localhost', '-newkey', 'rsa:2048', '-keyout', key, '-out', cert]);
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const tmp = `${pcap}.part`;
  const td = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '65536', '-U', '-s', '0', '-w', tmp, `tcp port ${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve) => td.stderr.on('data', (d: Buffer) => { if (/listening on/.test(d.toString())) resolve(); }));
  const bodies = SIZES.map((n) => Buffer.alloc(n, 'x'));
  const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(bodies[Number(req.url?.slice(1) ?? 0) % bodies.length]);
  });
  fs.writeFileSync(keys, '');
  server.on('keylog', (line) => fs.appendFileSync(keys, line));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const one = (i: number): Promise<void> => new Promise((resolve, reject) => {
    const tls12 = i % 2 === 1;
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ...(tls12 ? { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' } : {}) });
    let n = 0;
    const next = (): void => {
      if (n === REQUESTS) { agent.destroy(); resolve(); return; }
      https.get({ host: '127.0.0.1', port, path: `/${n++ + i}`, agent, rejectUnauthorized: false }, (res) => {
        res.resume();
        res.on('end', next);
      }).on('error', reject);
    };
    next();
  });
  for (let i = 0; i < CONNECTIONS; i += 8) await Promise.all(Array.from({ length: Math.min(8, CONNECTIONS - i) }, (_, k) => one(i + k)));
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise((r) => setTimeout(r, 500));
  const exited = new Promise<void>((r) => td.on('exit', () => r()));
  td.kill('SIGINT');
  await exited;
  fs.renameSync(tmp, pcap);
}

async function main(): Promise<void> {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const tag = `tls-${CONNECTIONS}x${REQUESTS}`;
  const pcap = path.join(BENCH_DIR, `${tag}.pcap`);
  const keys = path.join(BENCH_DIR, `${tag}.keys`);
  if (!fs.existsSync(pcap) || !fs.existsSync(keys)) await makeWorkload(pcap, keys);
  const bytes = fs.statSync(pcap).size;
  // What both decrypt: the application bytes of every connection (tshark's count of decrypted HTTP, ours below).
  const tshark = run('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-Y', 'http', '-T', 'fields', '-e', 'http.request.method', '-e', 'http.response.code']);
  const tsharkReq = tshark.split('\n').filter((l) => /^[A-Z]+\t/.test(l)).length;
  const tsharkRes = tshark.split('\n').filter((l) => /^\t\d+/.test(l)).length;
  const ours = run(process.execPath, [path.join(REPO_ROOT, 'dist', 'bin', 'http_trace.js'), '-r', pcap, '--keylog', keys, '--json']);
  const { requests: ourReq, responses: ourRes } = countExchanges(ours);
  const plain = JSON.parse(run(process.execPath, ['-e', `
    const { pipeline } = require('node:stream/promises'); const { Writable } = require('node:stream');
    const p = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'index.js'))});
    let n = 0; const r = p.readCaptureFile(${JSON.stringify(pcap)});
    pipeline(r, p.decode({ depth: 'transport' }), p.tcp(), p.tls({ keyLogFiles: [${JSON.stringify(keys)}] }),
      new Writable({ objectMode: true, write(e, _x, cb) { if (e.type === 'data') n += e.bytes.length; cb(); } }))
      .then(() => process.stdout.write(JSON.stringify(n)));`]));
  const ourCmd = (f: string): string => `${sh(process.execPath)} ${sh(path.join(REPO_ROOT, 'dist', 'bin', 'http_trace.js'))} -r ${sh(f)} --keylog ${sh(keys)} --json > /dev/null`;
  const tsharkCmd = (f: string): string => `tshark -r ${sh(f)} -o ${sh(`tls.keylog_file:${keys}`)} -Y http -T fields -e http.request.method -e http.request.uri -e http.response.code > /dev/null`;
  // The floor: a Node process that only reads the file and decrypts as many records of each cipher and size as
  // we do (bench/baselines/tls-floor.js); tshark / floor is the most any Node program could reach here.
  const counts = path.join(BENCH_DIR, `${tag}.deciphers.json`);
  const baselines = path.join(REPO_ROOT, 'bench', 'baselines');
  process.env.COUNT_DECIPHERS_OUT = counts;
  run(process.execPath, ['-r', path.join(baselines, 'count-deciphers.js'), path.join(REPO_ROOT, 'dist', 'bin', 'http_trace.js'), '-r', pcap, '--keylog', keys, '--json']);
  delete process.env.COUNT_DECIPHERS_OUT;
  const records = Object.values(JSON.parse(fs.readFileSync(counts, 'utf8')) as Record<string, { records: number }>).reduce((n, c) => n + c.records, 0);
  const floorCmd = `${sh(process.execPath)} ${sh(path.join(baselines, 'tls-floor.js'))} ${sh(pcap)} ${sh(counts)}`;
  const [a = [], b = [], floor = []] = await alternateRuns([ourCmd(pcap), tsharkCmd(pcap), floorCmd], RUNS);
  const head = pcapPrefix(pcap, FIXED_PACKETS);
  const fixed = await alternatePairs(ourCmd(head), tsharkCmd(head), RUNS);
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const wallA = median(a.map((s) => s.wall));
  const wallB = median(b.map((s) => s.wall));
  const cpuA = median(a.map(cpu));
  const cpuB = median(b.map(cpu));
  const fixedA = median(fixed.a.map(cpu));
  const fixedB = median(fixed.b.map(cpu));
  // Ratios of each A/B pair (both ran under the same load), then their median.
  const pairRatio = median(a.map((s, i) => cpu(b[i]!) / cpu(s)));
  process.stdout.write(`# TLS decryption: http_trace --keylog vs tshark -o tls.keylog_file (cold processes, ${RUNS} A/B pairs, medians)\n\n`);
  process.stdout.write(`workload: ${pcap} (${mb(bytes)} MB, ${CONNECTIONS} connections x ${REQUESTS} requests, TLS 1.3 (Node's default suite, TLS_AES_256_GCM_SHA384) and TLS 1.2 ECDHE-RSA-AES128-GCM; ${mb(plain)} MB decrypted)\n`);
  process.stdout.write(`requests/responses: ours ${ourReq}/${ourRes}, tshark ${tsharkReq}/${tsharkRes}\n\n`);
  process.stdout.write('| command | wall s | cpu s | peak RSS MiB | decrypted MB per cpu s | fixed cpu s (first ' + FIXED_PACKETS + ' packets) | marginal decrypted MB per cpu s |\n|---|---|---|---|---|---|---|\n');
  process.stdout.write(`| http_trace --keylog --json | ${wallA.toFixed(2)} | ${cpuA.toFixed(2)} | ${median(a.map((s) => s.peakMiB)).toFixed(0)} | ${mb(plain / cpuA)} | ${fixedA.toFixed(2)} | ${mb(plain / (cpuA - fixedA))} |\n`);
  process.stdout.write(`| tshark -o tls.keylog_file -Y http | ${wallB.toFixed(2)} | ${cpuB.toFixed(2)} | ${median(b.map((s) => s.peakMiB)).toFixed(0)} | ${mb(plain / cpuB)} | ${fixedB.toFixed(2)} | ${mb(plain / (cpuB - fixedB))} |\n\n`);
  process.stdout.write(`speedup (tshark / http_trace): wall ${(wallB / wallA).toFixed(1)}x, cpu ${(cpuB / cpuA).toFixed(1)}x (median of pairs ${pairRatio.toFixed(2)}x), marginal cpu ${((cpuB - fixedB) / (cpuA - fixedA)).toFixed(1)}x (target >= 10x)\n`);
  process.stdout.write(`fixed cost share of the full run: ours ${(100 * fixedA / cpuA).toFixed(0)} %, tshark ${(100 * fixedB / cpuB).toFixed(0)} %\n`);
  const floorCpu = median(floor.map(cpu));
  const ceiling = median(floor.map((s, i) => cpu(b[i]!) / cpu(s)));
  process.stdout.write(`floor (read the file + decrypt the same ${records} records with node:crypto, nothing else): cpu ${floorCpu.toFixed(2)} s; ` +
    `tshark / floor = ${ceiling.toFixed(1)}x (median of rounds), the most any Node program could reach on this capture; ours / floor = ${(cpuA / floorCpu).toFixed(1)}x\n`);
}

main().catch((e) => { process.stderr.write(`bench tls: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
