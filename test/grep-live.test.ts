/**
 * A live loopback exchange captured by tcpdump, where the client writes a secret in two writes with
 * TCP_NODELAY: the pattern straddles two TCP segments. Stream mode (`pcap-pipe grep --stream`,
 * `network_grep --stream`) finds it and writes exactly the two frames that carry it (checked with
 * tshark); per-packet mode does not find it (exit 1, a valid empty capture) — as documented.
 * Also the CLI's exit codes and messages: no match (1), invalid regex / bad hex / bad options (2).
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { parseCapture } from '../lib/formats/detect';
import { DEFAULT_CONTEXT_BYTES } from '../lib/grep/grep';
import { addonAvailable } from '../addon/index';
import { fixture, REPO_ROOT } from './helpers/oracle';

const PCAP_PIPE = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
const NETWORK_GREP = path.join(REPO_ROOT, 'dist', 'bin', 'network_grep.js');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'grep-live-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const PART1 = 'POST /login HTTP/1.1\r\nContent-Length: 26\r\n\r\nuser=bob&pass';
const PART2 = 'word=s3cr3t-Hunter2&x=1';
const PATTERN = 'password=s3cr3t-[A-Za-z0-9]+';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function tcpdumpUsable(): boolean {
  return process.getuid?.() === 0 && spawnSync('tcpdump', ['--version']).status === 0;
}

/** Captures one loopback exchange in which the client sends PART1 and PART2 as separate segments. */
async function captureExchange(file: string): Promise<void> {
  const received: Buffer[] = [];
  const server = net.createServer((sock) => {
    sock.on('data', (d) => received.push(d));
    sock.on('end', () => sock.end('ok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const dump = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '32768', '-U', '-n', '-w', file, `tcp port ${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  dump.stderr.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    dump.stderr.on('data', (d: string) => { err += d; if (err.includes('listening on')) resolve(); });
    dump.on('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${err}`)));
  });
  try {
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    client.setNoDelay(true);
    client.write(PART1);
    await sleep(50); // the first segment is on the wire (and ACKed) before the second is written
    client.write(PART2);
    await sleep(50);
    client.end();
    client.resume();
    await once(client, 'close');
    assert.strictEqual(Buffer.concat(received).toString(), PART1 + PART2);
    await sleep(200); // let tcpdump write the last packets
  } finally {
    dump.kill('SIGINT');
    if (dump.exitCode === null) await once(dump, 'exit');
    server.close();
  }
}

/** Frames (of `file`) whose TCP payload contains `text`, by tshark. */
function tsharkFramesWith(file: string, text: string): number[] {
  const r = spawnSync('tshark', ['-r', file, '-Y', `tcp contains "${text}"`, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

function tsharkTimes(file: string): string[] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch'], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('live loopback: a pattern split over two TCP segments is found in stream mode only', { skip: !tcpdumpUsable() && 'needs root and tcpdump' }, async () => {
  const file = path.join(TMP, 'straddle.pcap');
  await captureExchange(file);
  const input = fs.readFileSync(file);
  // the capture really has the secret split: no frame holds it, one frame holds each half
  const f1 = tsharkFramesWith(file, 'user=bob&pass');
  const f2 = tsharkFramesWith(file, 'word=s3cr3t');
  assert.strictEqual(f1.length, 1);
  assert.strictEqual(f2.length, 1);
  assert.notStrictEqual(f1[0], f2[0]);
  assert.deepStrictEqual(tsharkFramesWith(file, 'password=s3cr3t'), []);
  const carriers = [f1[0] as number, f2[0] as number];

  // per packet: nothing, exit 1, and the output is a valid capture with no packets
  const perPacket = spawnSync(process.execPath, [PCAP_PIPE, 'grep', PATTERN], { input });
  assert.strictEqual(perPacket.status, 1, perPacket.stderr.toString());
  const empty = parseCapture(perPacket.stdout);
  assert.strictEqual(empty.packets.length, 0);
  assert.strictEqual(parseCapture(input).packets[0]?.linkType, empty.interfaces[0]?.linkType);

  // stream mode: the two carrying frames, written as pcap that tshark reads
  const stream = spawnSync(process.execPath, [PCAP_PIPE, 'grep', '--stream', PATTERN], { input });
  assert.strictEqual(stream.status, 0, stream.stderr.toString());
  const out = path.join(TMP, 'stream-out.pcap');
  fs.writeFileSync(out, stream.stdout);
  const all = tsharkTimes(file);
  assert.deepStrictEqual(tsharkTimes(out), carriers.map((f) => all[f - 1]));

  // --json: one object, at the right stream offset, naming both frames
  const json = spawnSync(process.execPath, [PCAP_PIPE, 'grep', '--stream', '--json', PATTERN], { input, encoding: 'utf8' });
  assert.strictEqual(json.status, 0, json.stderr);
  const lines = json.stdout.trim().split('\n');
  assert.strictEqual(lines.length, 1);
  const m = JSON.parse(lines[0] as string) as Record<string, unknown>;
  assert.strictEqual(m.match, 'password=s3cr3t-Hunter2');
  assert.strictEqual(m.offset, (PART1 + PART2).indexOf('password='));
  assert.deepStrictEqual(m.frames, carriers);
  assert.strictEqual(m.frame, carriers[1]);
  assert.strictEqual(m.direction, 'client-to-server');
  assert.strictEqual(m.stream, 0);
  assert.match(String(m.connection), /^127\.0\.0\.1:\d+ > 127\.0\.0\.1:\d+$/);
  const sent = PART1 + PART2;
  const at = sent.indexOf('password=');
  assert.deepStrictEqual(m.context, { before: sent.slice(at - DEFAULT_CONTEXT_BYTES, at), after: '&x=1' });

  // network_grep: the same, ngrep style, with a trailing filter expression
  const saved = path.join(TMP, 'ng-stream.pcap');
  const ng = spawnSync(process.execPath, [NETWORK_GREP, '-q', '--stream', '-I', file, '-O', saved, PATTERN, 'tcp'], { encoding: 'utf8' });
  assert.strictEqual(ng.status, 0, ng.stderr);
  assert.match(ng.stdout, /password=s3cr3t-Hunter2/);
  assert.deepStrictEqual(tsharkTimes(saved), carriers.map((f) => all[f - 1]));
  const ngPerPacket = spawnSync(process.execPath, [NETWORK_GREP, '-q', '-I', file, PATTERN], { encoding: 'utf8' });
  assert.strictEqual(ngPerPacket.status, 1, ngPerPacket.stderr);
  // and ngrep itself, per packet, does not see it either
  const ngrep = spawnSync('ngrep', ['-q', '-I', file, PATTERN], { encoding: 'latin1' });
  assert.doesNotMatch(ngrep.stdout, /s3cr3t-Hunter2/);
});

test('network_grep -d lo --stream -n 1: live capture with our libpcap addon finds the split secret and stops', { skip: (!addonAvailable() || process.getuid?.() !== 0) && 'needs root and the libpcap addon' }, async () => {
  const server = net.createServer((sock) => { sock.resume(); sock.on('end', () => sock.end()); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const saved = path.join(TMP, 'ng-live.pcap');
  const ng = spawn(process.execPath, [NETWORK_GREP, '-d', 'lo', '-n', '1', '--stream', '-O', saved, PATTERN, `tcp port ${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  ng.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  ng.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<number | null>((resolve) => ng.on('exit', (code) => resolve(code)));
  try {
    // the header is printed once the capture is open
    for (let i = 0; i < 200 && !out.includes('interface: lo'); i++) await sleep(20);
    assert.match(out, /^interface: lo$/m, err);
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    client.setNoDelay(true);
    client.write(PART1);
    await sleep(50);
    client.write(PART2);
    await sleep(50);
    client.end();
    client.resume();
    const code = await Promise.race([exited, sleep(5000).then(() => 'timeout')]);
    assert.strictEqual(code, 0, `network_grep: ${code} ${err}`);
  } finally {
    if (ng.exitCode === null) ng.kill('SIGKILL');
    server.close();
  }
  assert.match(out, /stream 0 127\.0\.0\.1:\d+ > 127\.0\.0\.1:\d+ client-to-server offset \d+ length 23 frames \d+,\d+/);
  assert.match(out, /\[password=s3cr3t-Hunter2\]/);
  // the saved capture holds exactly the two segments that carry the secret
  assert.strictEqual(tsharkFramesWith(saved, 'user=bob&pass').length, 1);
  assert.strictEqual(tsharkFramesWith(saved, 'word=s3cr3t').length, 1);
  assert.strictEqual(tsharkTimes(saved).length, 2);
});

test('a pattern that never matches: exit 1 and a valid empty capture with the input link type', () => {
  for (const name of ['http-keepalive-304.pcap', 'null-ipv4-ipv6-irc.pcap', 'pcapng-2if-tsresol9-dns.pcapng']) {
    const input = fs.readFileSync(fixture(name));
    for (const extra of [[], ['--stream']]) {
      const r = spawnSync(process.execPath, [PCAP_PIPE, 'grep', ...extra, 'no such text anywhere'], { input });
      assert.strictEqual(r.status, 1, `${name}: ${r.stderr}`);
      assert.strictEqual(r.stderr.length, 0);
      const out = parseCapture(r.stdout);
      assert.strictEqual(out.packets.length, 0);
      assert.strictEqual(out.interfaces[0]?.linkType, parseCapture(input).packets[0]?.linkType);
      const file = path.join(TMP, 'empty.pcap');
      fs.writeFileSync(file, r.stdout);
      const t = spawnSync('tshark', ['-r', file], { encoding: 'utf8' });
      assert.strictEqual(t.status, 0, t.stderr);
      assert.strictEqual(t.stdout, '');
    }
  }
});

test('errors exit 2 with a clear message: invalid regex, bad hex, bad options', () => {
  const input = fs.readFileSync(fixture('http-keepalive-304.pcap'));
  const cases: [string[], RegExp][] = [
    [['grep', 'GET (/'], /invalid regular expression "GET \(\/": .*Unterminated group/],
    [['grep', '[z-a]'], /invalid regular expression/],
    [['grep', '-X', '47455'], /invalid hex pattern "47455": odd number of hex digits/],
    [['grep', '--hex-pattern', 'GET'], /invalid hex pattern "GET": only hex digits/],
    [['grep', '--colour', 'x'], /unknown option --colour/],
    [['grep', '-v', '--stream', 'x'], /-v cannot be used with --stream/],
    [['grep', '-n', '0', 'x'], /option -n needs a whole number >= 1/],
    [['grep'], /no PATTERN given/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, [PCAP_PIPE, ...args], { input, encoding: 'latin1' });
    assert.strictEqual(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.strictEqual(r.stdout, '');
  }
  const ngCases: [string[], RegExp][] = [
    [['-I', fixture('dns-tcp.pcap'), 'a(b'], /invalid regular expression "a\(b"/],
    [['-X', '-I', fixture('dns-tcp.pcap'), 'zz'], /invalid hex pattern/],
    [['-I', fixture('dns-tcp.pcap'), 'x', 'port', 'and', 'and'], /filter expression/],
    [['-I', '/nonexistent.pcap', 'x'], /no such file/],
    [['-Z', 'x'], /unknown option -Z/],
  ];
  for (const [args, message] of ngCases) {
    const r = spawnSync(process.execPath, [NETWORK_GREP, ...args], { encoding: 'latin1' });
    assert.strictEqual(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test('text output: packet line, escaped payload, no colour when not a terminal; -n stops', () => {
  const input = fs.readFileSync(fixture('http-keepalive-304.pcap'));
  const r = spawnSync(process.execPath, [PCAP_PIPE, 'grep', '--text', '-n', '2', 'GET /css'], { input, encoding: 'latin1' });
  assert.strictEqual(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const heads = lines.filter((l) => /^\d\d:\d\d:\d\d\.\d{6} /.test(l)); // time of day, like tcpdump
  assert.strictEqual(heads.length, 2);
  assert.ok(lines.some((l) => l.startsWith('  GET /css/') && l.endsWith('HTTP/1.1\\x0d')), r.stdout.slice(0, 500));
  assert.ok(!r.stdout.includes('\x1b'), 'no escape sequences when stdout is not a terminal');
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(r.stdout), 'control characters are escaped');
});
