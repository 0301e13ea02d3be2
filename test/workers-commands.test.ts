/**
 * `pcap-pipe tcp|follow|grep --workers N` (the chain descriptions of streams/chain-spec.ts run in the
 * workers of streams/shard.ts): the sharded run prints what one thread prints, byte for byte, with the
 * same stderr and exit status, as test/workers.test.ts checks for http_trace:
 * - every capture of test/fixtures at 1, 2 and 4 workers (tcp --json, follow, grep --json), and the text
 *   layouts at 2;
 * - the generated capture of test/helpers/gen-capture.ts (~1,500 interleaved connections, idle sweeps, port
 *   reuse): tcp, follow in its three layouts (blocks of connections interleaved ~13,000 times: which block is
 *   open crosses flows), grep per packet with -A, -v, -x, -W, -t, and --stream --json (its own reassembler
 *   on the whole capture's clock, "stream" renumbered); from a file and from stdin (a pipe: packets shipped);
 * - a worker that throws ends the command with one line (status 1; grep: 2, its error status); options the
 *   workers cannot honour are usage errors (status 2).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { generatedCapture } from './helpers/gen-capture';
import { REPO_ROOT } from './helpers/oracle';

const PCAP_PIPE = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');
const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

interface Run { status: number | null; stdout: Buffer; stderr: string }

function run(args: string[], opts: { input?: Buffer; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [PCAP_PIPE, ...args], {
    input: opts.input, env: { ...process.env, TZ: 'UTC', ...opts.env }, maxBuffer: 512 << 20, timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** The sharded runs give the one-thread run's stdout, stderr and status. */
function assertSame(args: string[], workers: number[], input?: Buffer): Run {
  const one = run(args, { input });
  for (const n of workers) {
    const many = run([...args, '--workers', String(n)], { input });
    const what = `${args.join(' ')} --workers ${n}`;
    assert.equal(many.status, one.status, `${what}: status (${many.stderr})`);
    assert.equal(many.stderr, one.stderr, `${what}: stderr`);
    if (!many.stdout.equals(one.stdout)) {
      const a = one.stdout.toString('latin1').split('\n'), b = many.stdout.toString('latin1').split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      assert.fail(`${what}: output differs at line ${i + 1} of ${a.length}/${b.length}:\n  1 thread: ${a[i]?.slice(0, 300)}\n  sharded:  ${b[i]?.slice(0, 300)}`);
    }
  }
  return one;
}

const captures = fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(FIXTURES, f));

test('every fixture: tcp --json, follow and grep --json with 1, 2 and 4 workers print what one thread prints', () => {
  assert.ok(captures.length > 40, `fixtures found: ${captures.length}`);
  let tcpLines = 0, followBytes = 0, grepLines = 0, failed = 0;
  for (const f of captures) {
    const t = assertSame(['tcp', '--json', '-r', f], [1, 2, 4]);
    tcpLines += t.stdout.toString().split('\n').length - 1;
    if (t.status !== 0) failed++;
    followBytes += assertSame(['follow', '-r', f], [1, 2, 4]).stdout.length;
    grepLines += assertSame(['grep', '--json', '.', '-r', f], [1, 2, 4]).stdout.toString().split('\n').length - 1;
  }
  // not vacuous: the corpus has TCP events, reassembled bytes and matches, and damaged inputs
  assert.ok(tcpLines > 500 && followBytes > 50_000 && grepLines > 300, `${tcpLines} tcp lines, ${followBytes} follow bytes, ${grepLines} grep lines`);
  assert.ok(failed >= 2, `captures with status != 0: ${failed}`);
});

test('every fixture: the text layouts (tcp, follow --hex and --raw, grep --text) and grep --stream --json with 2 workers', () => {
  for (const f of captures) {
    assertSame(['grep', '--stream', '--json', 'HTTP|GET|[a-z]{12}', '-r', f], [2]);
    assertSame(['tcp', '-tt', '-r', f], [2]);
    assertSame(['follow', '--hex', '-r', f], [2]);
    assertSame(['follow', '--raw', '-r', f], [2]);
    assertSame(['grep', '--text', '-A', '1', 'HTTP|GET', '-r', f], [2]);
  }
});

test('the generated capture: tcp, follow and grep with 1, 2 and 4 workers, file and stdin', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-workers-cmd-'));
  try {
    const file = path.join(dir, 'gen.pcap');
    const bytes = generatedCapture(20);
    fs.writeFileSync(file, bytes);
    const tcp = assertSame(['tcp', '--json', '-r', file], [1, 2, 4]).stdout.toString();
    // what crosses flows happens: idle ends, port reuse (two numbers in one line), a thousand connections
    assert.match(tcp, /"reason":"idle"/);
    assert.match(tcp, /"previous":\d+/);
    assert.ok(tcp.includes('"connection":1000,'));
    assertSame(['tcp', '--no-data', '-r', file], [2, 4]);
    assertSame(['tcp', '--json', '-r', '-'], [2], bytes);
    const follow = assertSame(['follow', '-r', file], [1, 2, 4]).stdout.toString('latin1');
    // connections' blocks interleave: many more headers than connections
    assert.ok(follow.split('\nFollow: tcp,ascii\n').length > 5000, 'interleaved blocks');
    assertSame(['follow', '--hex', '-r', file], [2, 4]);
    assertSame(['follow', '--raw', '-r', file], [2, 4]);
    assertSame(['grep', '--json', 'GET|HTTP', '-r', file], [1, 2, 4]);
    // stream mode: each grep stage reassembles its own flows, on the whole capture's clock; "stream" renumbered
    const stream = assertSame(['grep', '--stream', '--json', 'HTTP/1.1 200|x{2000}', '-r', file], [1, 2, 4]).stdout.toString();
    assert.ok(stream.split('\n').length > 1000 && stream.includes('"stream":1000,'), 'stream-mode matches of a thousand connections');
    assertSame(['grep', '--text', '-A', '2', '-i', 'user-agent: gen/3', '-r', file], [2, 4]);
    assertSame(['grep', '--json', '-v', 'HTTP', '-r', file], [2]);
    assertSame(['grep', '--text', '-x', '-W', 'byline', '-t', 'item/2', '-r', '-'], [3], bytes);
    // nothing matched: status 1, as one thread
    assert.equal(assertSame(['grep', '--json', 'no such text anywhere', '-r', file], [2]).status, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker that throws ends tcp, follow and grep with one line', () => {
  const f = path.join(FIXTURES, 'http-keepalive-304.pcap');
  for (const [cmd, status] of [[['tcp'], 1], [['follow'], 1], [['grep', '--json', '.'], 2]] as const) {
    const r = run([...cmd, '-r', f, '--workers', '2'], { env: { PCAP_PIPE_TEST_WORKER_THROW_AT: '5' } });
    assert.equal(r.status, status, r.stderr);
    assert.match(r.stderr, new RegExp(`^pcap-pipe ${cmd[0]}: worker \\d of 2 failed: test: worker failure at packet 5\\n$`));
  }
});

test('--workers on tcp, follow and grep: what the workers cannot honour is a usage error', () => {
  const f = path.join(FIXTURES, 'http-keepalive-304.pcap');
  const refused: string[][] = [
    ['tcp', '-ttt'], ['tcp', '--publish', 'redis://127.0.0.1:1/k'], ['tcp', '--workers=x'],
    ['follow', '-o', path.join(os.tmpdir(), 'never-made')], ['follow', '--stream', '0'],
    ['grep', '--json', '-n', '1', 'GET'], ['grep', '--text', '-T', 'GET'], ['grep', '--text', '--stream', 'GET'],
    ['grep', '--json', '--stream', '-A', '1', 'GET'],
    // pcap output (stdout not a terminal, no --text/--json)
    ['grep', 'GET'],
  ];
  for (const args of refused) {
    const r = run([...args, '-r', f, ...(args.some((a) => a.startsWith('--workers')) ? [] : ['--workers', '2'])]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--workers/, args.join(' '));
    assert.equal(r.stdout.length, 0);
  }
  assert.ok(!fs.existsSync(path.join(os.tmpdir(), 'never-made')));
  // --workers 0 is the one-thread run
  assert.deepEqual(run(['grep', 'GET', '-r', f, '--workers', '0']).stdout, run(['grep', 'GET', '-r', f]).stdout);
});
