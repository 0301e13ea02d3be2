/**
 * The article's stories, live, as written, inside a network namespace this test makes (so nothing can
 * leave the machine: curl's stray URL `bar}` cannot be resolved there):
 *  - `http_trace -i lo --bodies` running while `curl -d {"foo": "bar"} http://127.0.0.1:PORT/` is typed
 *    without quotes (bash eats them, the body is `{foo:`) shows that body;
 *  - a firewalled port (iptables DROP of SYNs, in the namespace) shows SYN retries with --tcp-verbose;
 *  - `--url` selects, and the JSON of the live run names the request and its response.
 * curl 7.88 rejects `bar}` as an unmatched glob brace and sends nothing, so the test's curl config
 * (CURL_HOME/.curlrc) turns globbing off, as older curls behaved; the command line stays as written.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { sleep } from './helpers/live.js';
import { addonAvailable } from '../addon/index.js';
import { waitForOutput } from './helpers/child';

const HTTP_TRACE = path.join(__dirname, '..', 'bin', 'http_trace.js');
const NS = `pph${process.pid % 100000}`;
const PORT_OPEN = 8080;
const PORT_FIREWALLED = 8081;

function sh(...args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root';
  if (!addonAvailable()) return 'libpcap addon not built';
  for (const tool of [['ip', '-V'], ['iptables', '--version'], ['curl', '--version'], ['bash', '--version']]) {
    if (spawnSync(tool[0]!, tool.slice(1)).status !== 0) return `${tool[0]} not available`;
  }
  return false;
}

const SERVER = `
const http = require('http');
http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ got: body })); });
}).listen(${PORT_OPEN}, '127.0.0.1', () => console.log('listening'));`;

function collect(child: ChildProcess): { out: () => string; exited: Promise<number | null> } {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  return { out: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** Runs a shell command line in the namespace, with the test's curl config. */
function inNs(cmdline: string, curlHome: string): { status: number | null; stdout: string } {
  const r = spawnSync('ip', ['netns', 'exec', NS, 'env', `CURL_HOME=${curlHome}`, 'bash', '-c', cmdline], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout };
}

const skip = skipReason();

test('live in a namespace: the unquoted curl -d {"foo": "bar"} shows {foo:, a firewalled port shows SYN retries, --url selects', { skip, timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-http-netns-'));
  fs.writeFileSync(path.join(dir, '.curlrc'), 'globoff\n');
  const children: ChildProcess[] = [];
  sh('ip', 'netns', 'add', NS);
  try {
    sh('ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up');
    sh('ip', 'netns', 'exec', NS, 'iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT_FIREWALLED), '--syn', '-j', 'DROP');
    const server = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    await waitForOutput(server, 'stdout', /listening/, 10_000);

    const human = spawn('ip', ['netns', 'exec', NS, process.execPath, HTTP_TRACE, '-i', 'lo', '--tcp-verbose', '--bodies', '--no-color'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const json = spawn('ip', ['netns', 'exec', NS, process.execPath, HTTP_TRACE, '-i', 'lo', '-f', `tcp port ${PORT_OPEN}`, '--url', '^/api', '--json', '--bodies'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(human, json);
    const humanOut = collect(human);
    const jsonOut = collect(json);
    await Promise.all([waitForOutput(human, 'stderr', /listening on lo/, 10_000), waitForOutput(json, 'stderr', /listening on lo/, 10_000)]);

    // The article's command, typed without quotes: bash makes it `curl -d '{foo:' 'bar}' URL`.
    const posted = inNs(`curl -s -d {"foo": "bar"} http://127.0.0.1:${PORT_OPEN}/`, dir);
    assert.equal(posted.stdout, '{"got":"{foo:"}', 'the server got {foo:');
    inNs(`curl -s -d {"foo": "bar"} http://127.0.0.1:${PORT_OPEN}/api/items`, dir);
    // A firewalled port: the SYN is dropped, the kernel retries it (after 1 s, then 2 s more).
    const firewalled = inNs(`curl -s --connect-timeout 3.5 http://127.0.0.1:${PORT_FIREWALLED}/`, dir);
    assert.notEqual(firewalled.status, 0);
    await sleep(1500); // the live capture waits up to its timeout for a block: let it deliver

    human.kill('SIGINT');
    json.kill('SIGINT');
    assert.equal(await humanOut.exited, 0);
    assert.equal(await jsonOut.exited, 0);

    const lines = humanOut.out().split('\n');
    const post = lines.findIndex((l) => / 127\.0\.0\.1:\d+ → 127\.0\.0\.1:8080 #1 POST \/ 5 B$/.test(l));
    assert.ok(post >= 0, humanOut.out());
    assert.equal(lines[post + 1], '    {foo:');
    assert.ok(lines.some((l) => / ← 127\.0\.0\.1:8080 #1 200 OK 15 B application\/json /.test(l)), humanOut.out());
    const retries = lines.filter((l) => new RegExp(`→ 127\\.0\\.0\\.1:${PORT_FIREWALLED} tcp syn-retry attempt \\d`).test(l));
    assert.ok(retries.length >= 1, humanOut.out());
    assert.match(retries[0]!, /attempt 1 /);
    assert.ok(lines.some((l) => / tcp start #0$/.test(l)));
    assert.ok(lines.some((l) => / tcp end #0 fin /.test(l)));

    const events = jsonOut.out().split('\n').filter((l) => l).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(events.map((e) => [e.type, e.type === 'request' ? e.url : (e.request as { url: string }).url, e.type === 'request' ? e.body : e.status]), [
      ['request', '/api/items', '{foo:'],
      ['response', '/api/items', 200],
    ]);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    try { sh('ip', 'netns', 'delete', NS); } catch { /* already gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
