/**
 * The live-capture commands, run as separate processes: `pcap-pipe capture` with -c COUNT and SIGINT
 * (tshark must read what they write), `pcap-pipe filter` against tcpdump, `pcap-pipe devices`,
 * `simple_capture`, and -Z. Traffic only to 127.0.0.1.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { addonAvailable } from '../addon/index';
import { fixture } from './helpers/oracle';
import { liveSkipReason, sendUdp, sleep, udpSink } from './helpers/live';
import { listening } from './helpers/child';

const skip = liveSkipReason();
const hasTshark = spawnSync('tshark', ['--version']).status === 0;
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
const PCAP_PIPE = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');
const SIMPLE_CAPTURE = path.join(__dirname, '..', 'bin', 'simple_capture.js');

function tmpFile(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-cli-')), name);
}

/** tshark's view of a capture file: one "udp.dstport<TAB>data" line per packet. */
function tsharkUdp(file: string): string[] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'udp.dstport', '-e', 'data.data'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l.length > 0);
}

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string }

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer } = {}): { child: ReturnType<typeof spawn>; done: Promise<Run> } {
  const child = spawn(process.execPath, [cmd, ...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  if (opts.input) child.stdin.end(opts.input);
  else child.stdin.end();
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr })));
  return { child, done };
}

/** Polls `cond` every 20 ms; fails after `ms`. */
async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('capture -c COUNT stops after COUNT packets and writes a pcap file tshark reads', { skip: skip || (!hasTshark && 'tshark not installed') }, async () => {
  const sink = await udpSink();
  const file = tmpFile('count.pcap');
  const { child, done } = run(PCAP_PIPE, ['capture', '-i', 'lo', '--immediate', '-c', '5', '-w', file, 'udp', 'dst', 'port', String(sink.port)]);
  await listening(child);
  const sending = sendUdp(sink.port, 30, 64, 5);
  const r = await done;
  await sending;
  sink.close();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^5 packets captured$/m);
  assert.match(r.stderr, /^\d+ packets received by filter$/m);
  assert.match(r.stderr, /^0 packets dropped by kernel$/m);
  const rows = tsharkUdp(file);
  assert.equal(rows.length, 5);
  for (const row of rows) assert.equal(row.split('\t')[0], String(sink.port));
  // The payloads carry their sequence number: the first five datagrams, in order.
  assert.deepEqual(rows.map((row) => parseInt((row.split('\t')[1] ?? '').slice(0, 8), 16)), [0, 1, 2, 3, 4]);
});

test('capture to stdout stops cleanly on SIGINT: every packet flushed, summary printed', { skip: skip || (!hasTshark && 'tshark not installed') }, async () => {
  const sink = await udpSink();
  const { child, done } = run(PCAP_PIPE, ['capture', '-i', 'lo', '--immediate', `udp dst port ${sink.port}`]);
  await listening(child);
  const N = 25;
  await sendUdp(sink.port, N, 100, 2);
  await sleep(300);
  child.kill('SIGINT');
  const r = await done;
  sink.close();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^${N} packets captured$`, 'm'));
  const file = tmpFile('sigint.pcap');
  fs.writeFileSync(file, r.stdout);
  const rows = tsharkUdp(file);
  assert.equal(rows.length, N);
  assert.deepEqual(rows.map((row) => parseInt((row.split('\t')[1] ?? '').slice(0, 8), 16)), [...Array(N).keys()]);
  const records = parseCaptureBuffer(r.stdout);
  assert.equal(records.length, N);
  assert.equal(r.stdout.readUInt32LE(0), 0xa1b23c4d, 'nanosecond pcap');
});

test('capture -Z USER -w FILE opens FILE as root (a root-only directory), gives it to USER, then runs as USER', { skip: skip || (spawnSync('id', ['nobody']).status !== 0 && 'no user nobody') }, async () => {
  const sink = await udpSink();
  // a directory only root may enter: the file can be created there only before privileges are dropped
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-rootonly-'));
  fs.chmodSync(dir, 0o700);
  const file = path.join(dir, 'z.pcap');
  const nobodyUid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  try {
    const { child, done } = run(PCAP_PIPE, ['capture', '-i', 'lo', '--immediate', '-c', '2', '-Z', 'nobody', '-w', file, `udp dst port ${sink.port}`]);
    await listening(child);
    // "listening on" is printed after -Z: the process runs as nobody from then on (real, effective, saved uid)
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    assert.deepEqual(uids?.slice(1).map(Number), [nobodyUid, nobodyUid, nobodyUid]);
    const sending = sendUdp(sink.port, 20, 64, 5);
    const r = await done;
    await sending;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(file).uid, nobodyUid, 'the file is given to USER, as tcpdump does');
    assert.equal(parseCaptureBuffer(fs.readFileSync(file)).length, 2);
    // the same without -Z's early open would fail: nobody cannot create a file in that directory
    const denied = spawnSync('runuser', ['-u', 'nobody', '--', 'touch', path.join(dir, 'other')]);
    assert.notEqual(denied.status, 0);
  } finally {
    sink.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('capture: a missing device exits 1 with the reason; a bad filter and an unknown option exit 2 (usage)', { skip }, async () => {
  const missing = await run(PCAP_PIPE, ['capture', '-i', 'pcap-pipe-nope0']).done;
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /pcap-pipe-nope0: No such device/);
  const bad = await run(PCAP_PIPE, ['capture', '-i', 'lo', 'tcp', 'port']).done;
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid filter "tcp port"/);
  const usage = await run(PCAP_PIPE, ['capture', '--bogus']).done;
  assert.equal(usage.code, 2);
});

/** The unprivileged test runs the build as "nobody": it needs runuser and a build that user can read. */
const nobodyCanRun = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', PCAP_PIPE]).status === 0;

test('capture without privileges says so, with the CAP_NET_RAW hint', { skip: skip || (!nobodyCanRun && 'cannot run the build as nobody (runuser, permissions)') }, () => {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, PCAP_PIPE, 'capture', '-i', 'lo', '-c', '1'], { encoding: 'utf8', cwd: os.tmpdir() });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /lo: You don't have permission to perform this capture/);
  assert.match(r.stderr, /run as root or give the binary CAP_NET_RAW/);
  assert.match(r.stderr, /\[PCAP_LIVE\]/);
});

test('pcap-pipe filter keeps what tcpdump keeps, in the input format', { skip: !addonAvailable() ? 'libpcap addon not built' : !hasTcpdump && 'tcpdump not installed' }, async () => {
  for (const [name, expression] of [['dns-edns-ecs-udp-tcp-v4-v6.pcap', 'udp and src port 53'], ['pcapng-2if-tsresol9-dns.pcapng', 'src host 1.1.1.1'], ['tcp-handshake-synthetic.pcap', 'tcp[tcpflags] & tcp-syn != 0']] as const) {
    const input = fs.readFileSync(fixture(name));
    const r = await run(PCAP_PIPE, ['filter', expression], { input }).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.subarray(0, 4).equals(input.subarray(0, 4)), true, 'same format (and header) as the input');
    const ours = spawnSync('tcpdump', ['-nr', '-'], { input: r.stdout, encoding: 'utf8' }).stdout;
    const theirs = execFileSync('tcpdump', ['-nr', fixture(name), expression], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.ok(theirs.length > 0);
    assert.equal(ours, theirs, `${name}: ${expression}`);
  }
  const inverted = await run(PCAP_PIPE, ['filter', '-v', 'udp'], { input: fs.readFileSync(fixture('dns-edns-ecs-udp-tcp-v4-v6.pcap')) }).done;
  const notUdp = execFileSync('tcpdump', ['-nr', fixture('dns-edns-ecs-udp-tcp-v4-v6.pcap'), 'not udp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.equal(spawnSync('tcpdump', ['-nr', '-'], { input: inverted.stdout, encoding: 'utf8' }).stdout, notUdp);
  const usage = await run(PCAP_PIPE, ['filter']).done;
  assert.equal(usage.code, 2);
});

test('pcap-pipe devices lists lo with its addresses; --json is the device list', { skip: !addonAvailable() && 'libpcap addon not built' }, async () => {
  const text = await run(PCAP_PIPE, ['devices']).done;
  assert.equal(text.code, 0);
  assert.match(text.stdout.toString(), /^ ?\*?\d+\.lo \[Loopback, Up, Running\]\n\s+inet  127\.0\.0\.1 netmask 255\.0\.0\.0$/m);
  const json = JSON.parse((await run(PCAP_PIPE, ['devices', '--json']).done).stdout.toString()) as { name: string }[];
  assert.ok(json.some((d) => d.name === 'lo'));
});

test('simple_capture -r FILE EXPR: version, then one line per matching packet', { skip: !addonAvailable() ? 'libpcap addon not built' : !hasTcpdump && 'tcpdump not installed' }, async () => {
  const file = fixture('dns-tcp.pcap');
  const r = await run(SIMPLE_CAPTURE, ['-r', file, 'tcp[tcpflags] & tcp-push != 0']).done;
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.toString().trimEnd().split('\n');
  assert.match(lines[0] as string, /^libpcap version /);
  const expected = execFileSync('tcpdump', ['-nr', file, 'tcp[tcpflags] & tcp-push != 0'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd().split('\n');
  const packetLines = lines.slice(2);
  assert.equal(packetLines.length, expected.length);
  assert.ok(packetLines.every((l) => / TCP \[[A-Z.]*P[A-Z.]*\] /.test(l)), packetLines.join('\n'));
});

test('simple_capture on lo: device list with lo marked *, then the packets', { skip }, async () => {
  const sink = await udpSink();
  const { child, done } = run(SIMPLE_CAPTURE, ['-i', 'lo', `udp dst port ${sink.port}`]);
  let text = '';
  child.stdout?.on('data', (d: Buffer) => { text += d.toString(); });
  try {
    // simple_capture prints the list once its capture is active (as tcpdump's "listening on")
    await waitFor(() => /^\* lo 127\.0\.0\.1\/255\.0\.0\.0/m.test(text), 'the device list');
    await sendUdp(sink.port, 3, 64, 10);
    await waitFor(() => (text.match(/ UDP /g) ?? []).length >= 3, 'three packet lines');
  } finally {
    child.kill('SIGINT'); // also when a wait failed: a child left running would hang the test file
  }
  const r = await done;
  sink.close();
  assert.equal(r.code, 0, r.stderr);
  assert.match(text, /^libpcap version /);
  assert.equal((text.match(new RegExp(`127\\.0\\.0\\.1:\\d+ > 127\\.0\\.0\\.1:${sink.port} UDP`, 'g')) ?? []).length, 3);
  assert.match(r.stderr, /3 packets captured/);
});
