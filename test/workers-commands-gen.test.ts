/**
 * `pcap-pipe tcp|follow|grep --workers N` on the generated capture of test/helpers/gen-capture.ts (~1,500
 * interleaved connections, idle sweeps, port reuse), a worker that throws, and what the workers cannot
 * honour (the fixtures: test/workers-commands.test.ts). The sharded run prints what one thread prints.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generatedCapture } from './helpers/gen-capture';
import { REPO_ROOT } from './helpers/oracle';
import { assertSame, run } from './helpers/workers-same';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

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
