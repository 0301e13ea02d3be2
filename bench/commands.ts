/**
 * The headline benchmark: the commands users run, timed as whole, cold processes (a fresh process per run,
 * as in a shell, start-up included), each run paired with its baseline in turn (A B A B ...), on the
 * capture bench/make-capture.sh makes from real programs. Medians, the median of the per-pair ratios (so a
 * drift in the machine's speed hits both sides of a pair alike), and peak RSS.
 *
 * How a run is measured: every command runs under GNU time (`/usr/bin/time -f '%U %S %M' sh -c CMD`,
 * Debian package `time`). GNU time reaps its child with wait4(), whose rusage covers the child and every
 * descendant it waited for, so user/system seconds and the peak resident set (the largest single process
 * of the command line) are the kernel's own accounting of the finished run; wall time is measured here
 * around the spawn. (process.resourceUsage() only sees the calling process, and spawnSync reports no
 * rusage, so neither can measure a child.)
 *
 * Baselines: node_pcap 3.1.0 (bench/baselines/node-pcap.js; installed outside the repo by
 * bench/setup-node-pcap.sh) for the decoding and HTTP rows; a bare Node record walk of the same file
 * (bench/baselines/walk.js) for the read rows; tshark's request/response counts for correctness.
 *
 * Environment: BENCH_FILE (a pcap to use instead; its .pcapng twin is used when present), BENCH_RUNS (pairs
 * per row, default 3), BENCH_ROWS (comma list of row ids or groups: http, grep, read, memory, tshark),
 * NODE_PCAP_PATH (node_modules with pcap@3.1.0), BENCH_TSHARK=1 (also time tshark's HTTP extraction).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { benchCapture, median, nodePcapPath, REPO_ROOT } from './common';

const NODE = process.execPath;
const BIN = path.join(REPO_ROOT, 'dist', 'bin');
const BASELINES = path.join(REPO_ROOT, 'bench', 'baselines');
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
/** A pattern no packet of the capture holds (grep reads every packet's payload and keeps none). */
const NO_MATCH_HEX = '00ff11ee22dd33cc44bb55aa';

/** The kernel's account of one finished run. */
export interface RunStats {
  wall: number;
  user: number;
  sys: number;
  /** Peak resident set of the largest process of the command line, MiB. */
  peakMiB: number;
  status: number;
  stderr: string;
}

export function sh(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs a shell command line under GNU time and returns its figures. `until`: a long-running command
 * (pcap-pipe serve keeps serving after its input ended) is sent SIGINT once its stderr matches.
 */
export function measure(cmd: string, env: NodeJS.ProcessEnv = process.env, until?: RegExp): Promise<RunStats> {
  const statFile = path.join(os.tmpdir(), `pcap-pipe-bench-${process.pid}-${Math.random().toString(36).slice(2)}.time`);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    // detached: GNU time leads its own process group, so SIGINT can go to the command (time ignores it)
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', statFile, 'sh', '-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'], env, detached: until !== undefined });
    let stderr = '';
    let interrupted = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-8192);
      if (until && !interrupted && until.test(stderr)) {
        interrupted = true;
        process.kill(-(child.pid as number), 'SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      let text = '';
      try { text = fs.readFileSync(statFile, 'utf8'); fs.rmSync(statFile, { force: true }); } catch { /* reported below */ }
      // GNU time writes "Command exited with non-zero status N" before the figures when N != 0
      const figures = text.trim().split('\n').pop()?.split(' ').map(Number) ?? [];
      if (figures.length !== 3 || figures.some((x) => !Number.isFinite(x))) {
        reject(new Error(`no rusage for: ${cmd}\n${text}${stderr}`));
        return;
      }
      const [user, sys, maxKiB] = figures as [number, number, number];
      resolve({ wall, user, sys, peakMiB: maxKiB / 1024, status: code ?? -1, stderr });
    });
  });
}

interface Side { label: string; cmd: string; env?: NodeJS.ProcessEnv; until?: RegExp; okStatus?: number[] }

interface Row {
  id: string;
  group: string;
  what: string;
  a: Side;
  /** The baseline (absent: a memory-only row). */
  b?: Side;
  /** speedup: B time / A time must reach `min`; rate: the same ratio read as "fraction of B's rate". */
  target?: { kind: 'speedup' | 'rate'; min: number };
}

interface RowResult { row: Row; a: RunStats[]; b: RunStats[] }

/** CPU seconds of a run: user + system (time spent waiting for a core on a shared machine not counted). */
export function cpu(s: RunStats): number { return s.user + s.sys; }

/** Runs a program to completion and returns its stdout; throws with its stderr when it fails. */
export function runOutput(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Runs two command lines in turn, A B A B ..., `runs` pairs (a dot per pair on stderr). */
export async function alternatePairs(a: string, b: string, runs: number): Promise<{ a: RunStats[]; b: RunStats[] }> {
  const [ra = [], rb = []] = await alternateRuns([a, b], runs);
  return { a: ra, b: rb };
}

/** Runs several command lines in turn, A B C A B C ..., `runs` rounds; one list of runs per command line. */
export async function alternateRuns(cmds: string[], runs: number): Promise<RunStats[][]> {
  const res: RunStats[][] = cmds.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, cmd] of cmds.entries()) res[k]?.push(await measure(cmd));
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  return res;
}

/** Requests and responses in http_trace's NDJSON output. */
export function countExchanges(ndjson: string): { requests: number; responses: number } {
  const types = ndjson.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { type: string }).type);
  return { requests: types.filter((t) => t === 'request').length, responses: types.filter((t) => t === 'response').length };
}

function fmt(x: number, digits = 2): string { return x.toFixed(digits); }

function spread(xs: number[], digits = 2): string {
  return `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
}

/** Runs a row's sides in turn, A B A B ..., RUNS pairs; a failing command stops the benchmark. */
async function runRow(row: Row): Promise<RowResult> {
  const res: RowResult = { row, a: [], b: [] };
  const check = (side: Side, s: RunStats): RunStats => {
    if (!(side.okStatus ?? [0]).includes(s.status)) throw new Error(`${side.label} exited ${s.status}: ${side.cmd}\n${s.stderr}`);
    return s;
  };
  for (let i = 0; i < RUNS; i++) {
    res.a.push(check(row.a, await measure(row.a.cmd, row.a.env, row.a.until)));
    if (row.b) res.b.push(check(row.b, await measure(row.b.cmd, row.b.env, row.b.until)));
    process.stderr.write('.');
  }
  process.stderr.write(` ${row.id}\n`);
  return res;
}

/** The first `packets` records of a classic pcap file, written beside it (or in `dir`) once (for the memory rows). */
export function pcapPrefix(file: string, packets: number, dir?: string): string {
  const beside = file.replace(/\.pcap$/, '') + `.first-${packets}.pcap`;
  const out = dir === undefined ? beside : path.join(dir, path.basename(beside));
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(file).mtimeMs) return out;
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(24);
  fs.readSync(fd, head, 0, 24, 0);
  const le = head.readUInt32LE(0) === 0xa1b2c3d4 || head.readUInt32LE(0) === 0xa1b23c4d;
  let pos = 24;
  const rec = Buffer.alloc(16);
  for (let n = 0; n < packets; n++) {
    if (fs.readSync(fd, rec, 0, 16, pos) < 16) break;
    pos += 16 + (le ? rec.readUInt32LE(8) : rec.readUInt32BE(8));
  }
  fs.closeSync(fd);
  const tmp = out + '.tmp';
  fs.copyFileSync(file, tmp);
  fs.truncateSync(tmp, pos);
  fs.renameSync(tmp, out);
  return out;
}

/** tshark's HTTP request/response counts for a capture (cached beside it: a minute on 1 M packets). */
function tsharkCounts(file: string): { requests: number; responses: number } | null {
  const cache = file + '.tshark-http-counts.json';
  if (fs.existsSync(cache) && fs.statSync(cache).mtimeMs >= fs.statSync(file).mtimeMs) return JSON.parse(fs.readFileSync(cache, 'utf8'));
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'http.request.method', '-e', 'http.response.code'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) return null;
  let requests = 0, responses = 0;
  for (const line of r.stdout.split('\n')) {
    const [m, c] = line.split('\t');
    if (m) requests++;
    if (c) responses++;
  }
  fs.writeFileSync(cache, JSON.stringify({ requests, responses }));
  return { requests, responses };
}

/** http_trace --json over the whole capture: request/response counts and the output's SHA-256. */
function ourHttpOutput(file: string): Promise<{ requests: number; responses: number; incomplete: number; sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [path.join(BIN, 'http_trace.js'), '-r', file, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const hash = crypto.createHash('sha256');
    let requests = 0, responses = 0, incomplete = 0, bytes = 0, rest = '';
    child.stdout.on('data', (b: Buffer) => {
      hash.update(b);
      bytes += b.length;
      const lines = (rest + b.toString('latin1')).split('\n');
      rest = lines.pop() as string;
      for (const l of lines) {
        if (l.startsWith('{"type":"request"')) requests++;
        // a response cut off by the end of the capture is printed, flagged incomplete; tshark counts only whole ones
        else if (l.startsWith('{"type":"response"') && !l.includes('"interim":true')) {
          if (l.includes('"incomplete":true')) incomplete++; else responses++;
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code) => code === 0 ? resolve({ requests, responses, incomplete, sha256: hash.digest('hex'), bytes }) : reject(new Error(`http_trace exited ${code}`)));
  });
}

function ensureNodePcap(): string | undefined {
  const found = nodePcapPath();
  if (found) return found;
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'bench', 'setup-node-pcap.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const dir = r.stdout.trim().split('\n').pop();
  return r.status === 0 && dir ? dir : undefined;
}

function rows(file: string, pcapng: string | undefined, nodePcap: string | undefined): Row[] {
  const F = sh(file);
  const httpTrace = `${sh(NODE)} ${sh(path.join(BIN, 'http_trace.js'))}`;
  const pp = `${sh(NODE)} ${sh(path.join(BIN, 'pcap-pipe.js'))}`;
  const np = (mode: string, f: string): Side => ({
    label: `node_pcap ${mode}`, cmd: `${sh(NODE)} ${sh(path.join(BASELINES, 'node-pcap.js'))} ${mode} ${sh(f)}`,
    env: { ...process.env, NODE_PATH: nodePcap },
  });
  const walk = (f: string): Side => ({ label: 'Node record walk', cmd: `${sh(NODE)} ${sh(path.join(BASELINES, 'walk.js'))} ${sh(f)}` });
  const list: Row[] = [];
  const withNodePcap = (r: Row): void => { if (nodePcap || !r.b?.label.startsWith('node_pcap')) list.push(r); };
  withNodePcap({
    id: 'http-none', group: 'http', what: `http_trace -r F --json --url '^/never-matches$' (every exchange parsed, none printed)`,
    a: { label: 'http_trace', cmd: `${httpTrace} -r ${F} --json --url '^/never-matches$'` },
    b: np('http', file), target: { kind: 'speedup', min: 5 },
  });
  withNodePcap({
    id: 'http-json', group: 'http', what: 'http_trace -r F --json > /dev/null (every exchange as NDJSON)',
    a: { label: 'http_trace', cmd: `${httpTrace} -r ${F} --json > /dev/null` },
    b: { ...np('http-json', file), cmd: np('http-json', file).cmd + ' > /dev/null' }, target: { kind: 'speedup', min: 4 },
  });
  withNodePcap({
    id: 'grep', group: 'grep', what: `pcap-pipe grep --hex-pattern ${NO_MATCH_HEX} < F (every payload searched, no match)`,
    a: { label: 'pcap-pipe grep', cmd: `${pp} grep --hex-pattern ${NO_MATCH_HEX} < ${F} > /dev/null`, okStatus: [1] },
    b: np('decode', file), target: { kind: 'speedup', min: 3 },
  });
  for (const [fmtName, f] of [['pcap', file], ['pcapng', pcapng]] as const) {
    if (f === undefined) continue;
    const G = sh(f);
    const rate = { kind: 'rate', min: 0.7 } as const;
    list.push({ id: `read-${fmtName}-stdin`, group: 'read', what: `pcap-pipe read < F > /dev/null (${fmtName}, stdin is the file)`, a: { label: 'pcap-pipe read', cmd: `${pp} read < ${G} > /dev/null` }, b: walk(f), target: rate });
    list.push({ id: `read-${fmtName}-pipe`, group: 'read', what: `cat F | pcap-pipe read > /dev/null (${fmtName}, stdin is a pipe)`, a: { label: 'pcap-pipe read', cmd: `cat ${G} | ${pp} read > /dev/null` }, b: walk(f), target: rate });
    list.push({ id: `read-${fmtName}-file`, group: 'read', what: `pcap-pipe read F > /dev/null (${fmtName}, file argument)`, a: { label: 'pcap-pipe read', cmd: `${pp} read ${G} > /dev/null` }, b: walk(f), target: rate });
  }
  if (process.env.BENCH_TSHARK === '1') {
    list.push({ id: 'tshark-http', group: 'tshark', what: 'tshark -r F -T fields -e http.request.method -e http.response.code (for scale)', a: { label: 'tshark', cmd: `tshark -r ${F} -T fields -e http.request.method -e http.response.code > /dev/null` } });
  }
  return list;
}

/** The memory rows: each command on the 100 k, 300 k and 1 M packet prefixes of the same traffic. */
function memoryRows(file: string): Row[] {
  const pp = `${sh(NODE)} ${sh(path.join(BIN, 'pcap-pipe.js'))}`;
  const httpTrace = `${sh(NODE)} ${sh(path.join(BIN, 'http_trace.js'))}`;
  const list: Row[] = [];
  for (const n of [100_000, 300_000, 1_000_000]) {
    const f = n >= 1_000_000 ? file : pcapPrefix(file, n);
    const F = sh(f);
    const k = n >= 1_000_000 ? '1M' : `${n / 1000}k`;
    const add = (name: string, side: Side, only3?: boolean): void => {
      if (only3 === false && n === 300_000) return;
      list.push({ id: `mem-${name}-${k}`, group: 'memory', what: `${name} (${k} packets)`, a: side });
    };
    add('http_trace', { label: 'http_trace -r F', cmd: `${httpTrace} -r ${F} > /dev/null` });
    add('follow', { label: 'pcap-pipe follow --raw F', cmd: `${pp} follow --raw ${F} > /dev/null` }, false);
    add('tcp', { label: 'pcap-pipe tcp F', cmd: `${pp} tcp ${F} > /dev/null` }, false);
    add('grep', { label: 'pcap-pipe grep --hex-pattern HEX F', cmd: `${pp} grep --hex-pattern ${NO_MATCH_HEX} ${F} > /dev/null`, okStatus: [1] }, false);
    add('serve', { label: 'pcap-pipe serve F', cmd: `exec ${pp} serve ${F}`, until: /input ended after/ }, false);
  }
  return list;
}

function selected(row: Row, want: Set<string> | null): boolean {
  return want === null || want.has(row.id) || want.has(row.group);
}

function printSpeedTable(results: RowResult[]): void {
  process.stdout.write(`\n| what the user runs | pcap-pipe: wall s | cpu s | peak MiB | baseline | baseline: wall s | cpu s | peak MiB | ratio (wall) | ratio (cpu) | target | met |\n|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n`);
  for (const r of results) {
    if (r.b.length === 0) {
      process.stdout.write(`| ${r.row.what} | ${spread(r.a.map((s) => s.wall))} | ${fmt(median(r.a.map(cpu)))} | ${fmt(median(r.a.map((s) => s.peakMiB)), 0)} | | | | | | | | |\n`);
      continue;
    }
    // per pair: baseline time / our time (speed-up, or our rate as a fraction of the baseline's)
    const wallRatio = median(r.a.map((s, i) => (r.b[i] as RunStats).wall / s.wall));
    const cpuRatio = median(r.a.map((s, i) => cpu(r.b[i] as RunStats) / cpu(s)));
    const t = r.row.target;
    const shown = (x: number): string => t?.kind === 'rate' ? `${(x * 100).toFixed(0)} %` : `${fmt(x)}×`;
    const target = t ? (t.kind === 'rate' ? `≥ ${t.min * 100} %` : `≥ ${t.min}×`) : '';
    const met = t ? (wallRatio >= t.min ? 'yes' : 'no') : '';
    process.stdout.write(`| ${r.row.what} | ${spread(r.a.map((s) => s.wall))} | ${fmt(median(r.a.map(cpu)))} | ${fmt(median(r.a.map((s) => s.peakMiB)), 0)} | ${r.row.b?.label} | ${spread(r.b.map((s) => s.wall))} | ${fmt(median(r.b.map(cpu)))} | ${fmt(median(r.b.map((s) => s.peakMiB)), 0)} | ${shown(wallRatio)} | ${shown(cpuRatio)} | ${target} | ${met} |\n`);
  }
}

function printMemoryTable(results: RowResult[]): void {
  const byCmd = new Map<string, Map<string, RowResult>>();
  for (const r of results) {
    const m = /^mem-(.+)-(\w+)$/.exec(r.row.id) as RegExpExecArray;
    if (!byCmd.has(m[1] as string)) byCmd.set(m[1] as string, new Map());
    byCmd.get(m[1] as string)?.set(m[2] as string, r);
  }
  process.stdout.write(`\n| command (peak RSS, MiB, median of ${RUNS}) | 100k packets | 300k | 1M | 1M / 100k | target |\n|---|---:|---:|---:|---:|---|\n`);
  for (const [name, sizes] of byCmd) {
    const peak = (k: string): number | undefined => { const r = sizes.get(k); return r ? median(r.a.map((s) => s.peakMiB)) : undefined; };
    const [p100, p300, p1m] = [peak('100k'), peak('300k'), peak('1M')];
    const ratio = p100 !== undefined && p1m !== undefined ? p1m / p100 : undefined;
    const label = (sizes.values().next().value as RowResult).row.a.label;
    process.stdout.write(`| ${label} | ${p100 === undefined ? '' : fmt(p100, 0)} | ${p300 === undefined ? '' : fmt(p300, 0)} | ${p1m === undefined ? '' : fmt(p1m, 0)} | ${ratio === undefined ? '' : fmt(ratio)} | 0.8–1.2 ${ratio === undefined ? '' : ratio >= 0.8 && ratio <= 1.2 ? '(met)' : '(not met)'} |\n`);
  }
}

export async function benchCommands(): Promise<void> {
  if (!fs.existsSync('/usr/bin/time')) throw new Error('bench: needs GNU time (/usr/bin/time; apt-get install -y time)');
  const file = benchCapture();
  const twin = file.replace(/\.pcap$/, '.pcapng');
  const pcapng = twin !== file && fs.existsSync(twin) ? twin : undefined;
  const want = process.env.BENCH_ROWS ? new Set(process.env.BENCH_ROWS.split(',')) : null;
  const nodePcap = ensureNodePcap();
  if (!nodePcap) process.stderr.write('bench: node_pcap (pcap@3.1.0) could not be set up; its rows are left out\n');
  spawnSync('sh', ['-c', `cat ${sh(file)} ${pcapng ? sh(pcapng) : ''} > /dev/null`]); // page cache warm for everyone

  process.stdout.write(`# pcap-pipe: the commands as users run them\n\n`);
  process.stdout.write(`capture: ${file}${pcapng ? ` (+ ${path.basename(pcapng)})` : ''}, ${fs.statSync(file).size} bytes\n`);
  process.stdout.write(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, load average at start ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  process.stdout.write(`method: whole processes, ${RUNS} runs each, alternated with the baseline (A B A B ...); medians (min–max); ratio = median over pairs of baseline time / pcap-pipe time (speed-up; for read rows, pcap-pipe's rate as a share of the walk's); cpu = user + system seconds; peak = GNU time's maximum resident set\n`);

  const speed = rows(file, pcapng, nodePcap).filter((r) => selected(r, want));
  const results: RowResult[] = [];
  for (const row of speed) results.push(await runRow(row));
  if (results.length) printSpeedTable(results);

  if (want === null || want.has('http') || want.has('correctness')) {
    const ours = await ourHttpOutput(file);
    const ts = tsharkCounts(file);
    const np = results.find((r) => r.row.id === 'http-none')?.b[0]?.stderr.trim().split('\n').pop();
    const npCounts = np?.startsWith('{') ? JSON.parse(np) as { requests: number; responses: number } : undefined;
    process.stdout.write(`\nexchanges: http_trace ${ours.requests} requests / ${ours.responses} complete responses (+ ${ours.incomplete} cut off by the end of the capture)`);
    if (ts) process.stdout.write(`; tshark ${ts.requests} / ${ts.responses} (${ours.requests === ts.requests && ours.responses === ts.responses ? 'same' : 'DIFFERENT'})`);
    if (npCounts) process.stdout.write(`; node_pcap ${npCounts.requests} / ${npCounts.responses}`);
    process.stdout.write(`\nhttp_trace --json output: ${ours.bytes} bytes, sha256 ${ours.sha256}\n`);
  }

  const mem = memoryRows(file).filter((r) => selected(r, want));
  const memResults: RowResult[] = [];
  for (const row of mem) memResults.push(await runRow(row));
  if (memResults.length) printMemoryTable(memResults);
  process.stdout.write(`\nload average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
}

if (require.main === module) benchCommands().catch((e) => { process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
