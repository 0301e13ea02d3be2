/**
 * `http_trace --workers N` (streams/shard.ts): the flow-sharded run prints what one thread prints, byte
 * for byte, in the same order, with the same stderr and exit status:
 * - every capture of test/fixtures, --json (and --json --tcp-verbose --bodies, and text with
 *   --tcp-verbose --headers) at 1, 2 and 4 workers, truncated captures included;
 * - a generated capture of ~50 k packets made to hit what crosses flows on one thread: ~1,500 interleaved
 *   connections from many clients over about two hours of capture time, so the reassembler's idle sweeps
 *   (driven by the whole capture's clock) end half-closed connections after 60 s and silent ones after
 *   300 s, forget closed ones, and a 4-tuple reused after that gets a new connection number; timestamps
 *   that go back a little across flows; resets; UDP and ARP between them; read from a file and from stdin
 *   (a pipe: the reading thread ships the packets; a regular file at an offset: every worker reads it);
 * - a pcapng carrying its TLS keys in a Decryption Secrets Block: decrypted at 1 and 2 workers, from the file
 *   and from a pipe, as on one thread;
 * - a worker that throws ends the command with one line and status 1 (no hang); bad --workers values and
 *   combinations are usage errors (status 2); --workers 0 is the one-thread run.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { generatedCapture } from './helpers/gen-capture';
import { REPO_ROOT } from './helpers/oracle';

const HTTP_TRACE = path.join(__dirname, '..', 'bin', 'http_trace.js');
const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

interface Run { status: number | null; stdout: Buffer; stderr: string }

/** `input`: stdin's bytes (a pipe), or a descriptor to be stdin (a regular file: the workers read it themselves). */
function run(args: string[], opts: { input?: Buffer | number; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [HTTP_TRACE, ...args], {
    ...(typeof opts.input === 'number' ? { stdio: [opts.input, 'pipe', 'pipe'] } : { input: opts.input }),
    env: { ...process.env, TZ: 'UTC', ...opts.env }, maxBuffer: 512 << 20, timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The sharded runs give the one-thread run's stdout, stderr and status. */
function assertSame(args: string[], workers: number[], input?: Buffer | number): Run {
  const one = run(args, { input });
  for (const n of workers) {
    const many = run([...args, '--workers', String(n)], { input });
    assert.equal(many.status, one.status, `${args.join(' ')} --workers ${n}: status (${many.stderr})`);
    assert.equal(many.stderr, one.stderr, `${args.join(' ')} --workers ${n}: stderr`);
    if (!many.stdout.equals(one.stdout)) {
      const a = one.stdout.toString().split('\n'), b = many.stdout.toString().split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      assert.fail(`${args.join(' ')} --workers ${n}: output differs at line ${i + 1} of ${a.length}/${b.length}:\n  1 thread: ${a[i]?.slice(0, 300)}\n  sharded:  ${b[i]?.slice(0, 300)}`);
    }
  }
  return one;
}

const captures = fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(FIXTURES, f));

test('every fixture: --json with 1, 2 and 4 workers is the one-thread output, stderr and status', () => {
  assert.ok(captures.length > 40, `fixtures found: ${captures.length}`);
  let lines = 0, failed = 0;
  for (const f of captures) {
    const one = assertSame(['-r', f, '--json'], [1, 2, 4]);
    lines += one.stdout.toString().split('\n').length - 1;
    if (one.status !== 0) failed++;
  }
  // the comparison is not vacuous: the corpus prints HTTP and WebSocket events, and some inputs are damaged
  assert.ok(lines > 250, `lines compared: ${lines}`);
  assert.ok(failed >= 2, `captures with status != 0: ${failed}`);
});

test('the TCP/HTTP fixtures: TCP events, bodies and the text layout with 2 and 4 workers', () => {
  const tcpCaptures = captures.filter((f) => /http|websocket|tcp|ipv4-fragments|ipv6-ext|null-|vlan-qinqinq|linktype|snaplen|rawip|truncated/.test(path.basename(f)));
  assert.ok(tcpCaptures.length > 20);
  for (const f of tcpCaptures) {
    assertSame(['-r', f, '--json', '--tcp-verbose', '--bodies'], [2, 4]);
    assertSame(['-r', f, '--tcp-verbose', '--headers', '--bodies', '-tt'], [4]);
  }
});

test('a generated 50 k-packet capture (idle sweeps, port reuse, skewed times): 1, 2, 4 workers, file and stdin', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-workers-'));
  try {
    const file = path.join(dir, 'gen.pcap');
    const bytes = generatedCapture(20);
    fs.writeFileSync(file, bytes);
    if (process.env.PCAP_PIPE_TEST_KEEP !== undefined) fs.writeFileSync(process.env.PCAP_PIPE_TEST_KEEP, bytes);
    const one = assertSame(['-r', file, '--json', '--tcp-verbose'], [1, 2, 4]);
    const events = one.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { type: string; reason?: string; connection: number });
    // the capture does what it was made for (else the comparison proves little)
    const reasons = new Map<string, number>();
    for (const e of events) if (e.type === 'end') reasons.set(e.reason ?? '', (reasons.get(e.reason ?? '') ?? 0) + 1);
    assert.ok((reasons.get('idle') ?? 0) > 20, `idle ends: ${JSON.stringify([...reasons])}`);
    assert.ok((reasons.get('fin') ?? 0) > 200 && (reasons.get('reset') ?? 0) > 50 && (reasons.get('end-of-input') ?? 0) > 0, JSON.stringify([...reasons]));
    assert.ok(events.some((e) => e.type === 'port-reuse'), 'a port-reuse event');
    assert.ok(events.filter((e) => e.type === 'request').length > 2000);
    assert.ok(Math.max(...events.map((e) => e.connection)) > 1000);
    // stdin, the text layout, and the closing counts (summed over the workers)
    assertSame(['-r', '-', '--json'], [2], bytes);
    // stdin redirected from a regular file, from the offset the caller left (read from there by every worker)
    const prefixed = path.join(dir, 'prefixed.pcap');
    fs.writeFileSync(prefixed, Buffer.concat([Buffer.alloc(100, 0x55), bytes]));
    const fd = fs.openSync(prefixed, 'r');
    try {
      fs.readSync(fd, Buffer.alloc(100), 0, 100, null);
      const same = assertSame(['-r', '-', '--json', '--tcp-verbose'], [2, 3], fd);
      assert.ok(same.stdout.equals(one.stdout), 'stdin from the file at offset 100: the capture\'s trace');
    } finally {
      fs.closeSync(fd);
    }
    assert.match(assertSame(['-r', file, '--json', '--summary'], [3]).stderr, /^http_trace: \d+ requests, .* of \d+ not decoded\n$/);
    assertSame(['-r', file, '--tcp-verbose', '-tt'], [2, 4]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a pcapng carrying its TLS keys (Decryption Secrets Block): decrypted by the workers as by one thread', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-workers-dsb-'));
  try {
    const base = path.join(FIXTURES, 'tls', 'openssl-s_server-curl-tls13-tls12-nokey');
    const file = path.join(dir, 'dsb.pcapng');
    const w = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'pcap-pipe.js'), 'write', file, '--inject-secrets', `${base}.keys`],
      { input: fs.readFileSync(`${base}.pcap`), timeout: 60_000 });
    assert.equal(w.status, 0, w.stderr.toString());
    // the file path (every worker finds the secrets in the chunks it parses) and the pipe path (sent to all)
    const one = assertSame(['-r', file, '--json'], [1, 2]);
    assertSame(['-r', '-', '--json'], [2], fs.readFileSync(file));
    // without its secrets the capture prints no HTTP: the comparison is about decrypted traffic
    assert.ok(one.stdout.toString().includes('"method":"GET"'), one.stdout.toString().slice(0, 300));
    assert.equal(run(['-r', `${base}.pcap`, '--json', '--workers', '2']).stdout.length, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker that throws ends the command with one line and status 1', () => {
  const f = path.join(FIXTURES, 'http-keepalive-304.pcap');
  for (const n of [1, 3]) {
    const r = run(['-r', f, '--json', '--workers', String(n)], { env: { PCAP_PIPE_TEST_WORKER_THROW_AT: '5' } });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^http_trace: worker \d of \d failed: test: worker failure at packet 5\n$/);
  }
});

test('--workers: bad values and combinations are usage errors; 0 is one thread', () => {
  const f = path.join(FIXTURES, 'http-keepalive-304.pcap');
  for (const bad of ['-1', 'x', '1.5', '65', '']) {
    const r = run(['-r', f, `--workers=${bad}`]);
    assert.equal(r.status, 2, `--workers=${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--workers takes a whole number 0\.\.64/);
  }
  for (const args of [['-i', 'lo'], ['-r', f, '--web'], ['-r', f, '--har', '/dev/null'], ['-r', f, '-ttt']]) {
    const r = run([...args, '--workers', '2']);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--workers/);
  }
  assert.deepEqual(run(['-r', f, '--json', '--workers', '0']).stdout, run(['-r', f, '--json']).stdout);
});

test('pcap-pipe http and pcap-pipe ws --workers print what they print on one thread', () => {
  const PCAP_PIPE = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');
  const cli = (args: string[]): Run => {
    const r = spawnSync(process.execPath, [PCAP_PIPE, ...args], { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 << 20, timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
  };
  const wsCaptures = captures.filter((f) => /websocket|http-keepalive|http-upgrade/.test(path.basename(f)));
  assert.ok(wsCaptures.length >= 5);
  let printed = 0;
  for (const f of wsCaptures) {
    for (const args of [['http', '--json', '--tcp-verbose'], ['http', '--headers'], ['ws', '--json'], ['ws']]) {
      const one = cli([...args, '-r', f]);
      const many = cli([...args, '-r', f, '--workers', '2']);
      assert.equal(many.status, one.status, `${args.join(' ')} ${f}`);
      assert.equal(many.stderr, one.stderr, `${args.join(' ')} ${f}`);
      assert.ok(many.stdout.equals(one.stdout), `${args.join(' ')} ${f}: output differs`);
      printed += one.stdout.length;
    }
  }
  assert.ok(printed > 10_000);
  assert.equal(cli(['ws', '--workers', 'two']).status, 2);
});
