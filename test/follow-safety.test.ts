/**
 * `pcap-pipe follow` under hostile input (issue 16, point 2): without -o it writes each flow's bytes as
 * they are reassembled and never holds a whole flow (peak RSS of a 40 MB flow bounded); overlapping
 * connections come out as interleaved blocks with their headers; with -o it refuses a non-empty
 * directory unless --force, never follows a symlink it did not create, and fails at once on a
 * directory it cannot create (mkdir -p on /proc/x used to spin forever).
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pcapFile, tcpConversation } from './helpers/craft';

const BIN = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');
const PRELOAD = path.join(__dirname, 'helpers', 'maxrss-preload.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-follow-safety-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MiB = 1024 * 1024;

function follow(args: string[], stdoutFile?: string): { status: number | null; stdout: string; stderr: string; maxRss: number } {
  const rssFile = path.join(tmp, `rss-${process.hrtime.bigint()}`);
  const out = stdoutFile ? fs.openSync(stdoutFile, 'w') : 'pipe';
  const r = spawnSync(process.execPath, ['--require', PRELOAD, BIN, 'follow', ...args], {
    env: { ...process.env, PCAP_PIPE_MAXRSS_FILE: rssFile }, stdio: ['ignore', out, 'pipe'], timeout: 300_000, maxBuffer: 64 * MiB,
  });
  if (typeof out === 'number') fs.closeSync(out);
  return { status: r.status, stdout: r.stdout?.toString() ?? '', stderr: r.stderr.toString(), maxRss: Number(fs.readFileSync(rssFile, 'utf8')) * 1024 };
}

test('follow without -o streams a 40 MB flow: output as it is reassembled, peak RSS bounded', () => {
  const body = Buffer.alloc(40 * MiB);
  for (let i = 0; i < body.length; i++) body[i] = 0x41 + (i % 26);
  const file = path.join(tmp, 'big-flow.pcap');
  fs.writeFileSync(file, pcapFile(tcpConversation([['c', Buffer.from('GET / HTTP/1.1\r\n\r\n')], ['s', body]], { segment: 1400 })));
  const outFile = path.join(tmp, 'big-flow.txt');
  const r = follow([file], outFile);
  assert.equal(r.status, 0, r.stderr);
  const st = fs.statSync(outFile);
  assert.ok(st.size > 40 * MiB, `every byte printed (${st.size})`);
  assert.ok(r.maxRss < 400 * MiB, `peak RSS ${(r.maxRss / MiB).toFixed(0)} MiB following a 40 MiB flow (it used to be ~35x the flow)`);
  fs.rmSync(outFile);
});

test('overlapping connections are printed as interleaved blocks, each with its header; one connection is unchanged', () => {
  const a = tcpConversation([['c', Buffer.from('aaaa')], ['s', Buffer.from('AAAA')]], { port: 40001, close: false });
  const b = tcpConversation([['c', Buffer.from('bbbb')], ['s', Buffer.from('BBBB')]], { port: 40002 });
  const aEnd = tcpConversation([], { port: 40001 }).slice(-3); // FIN, FIN, ACK of connection a (seq not checked)
  const file = path.join(tmp, 'overlap.pcap');
  fs.writeFileSync(file, pcapFile([...a, ...b, ...aEnd]));
  const r = follow([file]);
  assert.equal(r.status, 0, r.stderr);
  const headers = r.stdout.match(/^Filter: tcp\.stream eq \d+$/gm) ?? [];
  assert.deepEqual(headers, ['Filter: tcp.stream eq 0', 'Filter: tcp.stream eq 1'], r.stdout);
  assert.match(r.stdout, /Node 0: 10\.0\.0\.1:40001\nNode 1: 10\.0\.0\.2:80\n4\naaaa\n\t4\nAAAA\n={67}\n/);
  assert.match(r.stdout, /Node 0: 10\.0\.0\.1:40002\nNode 1: 10\.0\.0\.2:80\n4\nbbbb\n\t4\nBBBB\n={67}\n/);
  assert.equal((r.stdout.match(/^={67}$/gm) ?? []).length, 4, 'each block opened and closed');
});

test('follow -o: a non-empty directory is refused without --force; planted symlinks are never followed', () => {
  const file = path.join(tmp, 'small.pcap');
  fs.writeFileSync(file, pcapFile(tcpConversation([['c', Buffer.from('hello')], ['s', Buffer.from('world')]])));
  const dir = fs.mkdtempSync(path.join(tmp, 'out-'));
  assert.equal(follow(['-o', dir, file]).status, 0);
  const first = fs.readFileSync(path.join(dir, '000000-client-to-server.bin'), 'utf8');
  assert.equal(first, 'hello');
  const again = follow(['-o', dir, file]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /is not empty .* --force/);
  assert.equal(fs.readFileSync(path.join(dir, '000000-client-to-server.bin'), 'utf8'), 'hello', 'nothing appended to the earlier run');
  // planted symlinks, pointing at files that must not be touched
  const victim = path.join(tmp, 'victim.txt');
  fs.writeFileSync(victim, 'precious');
  for (const name of ['index.json', '000000-client-to-server.bin']) {
    fs.rmSync(path.join(dir, name));
    fs.symlinkSync(victim, path.join(dir, name));
  }
  const forced = follow(['--force', '-o', dir, file]);
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious', 'the symlink target is untouched');
  assert.ok(!fs.lstatSync(path.join(dir, 'index.json')).isSymbolicLink());
  assert.equal(fs.readFileSync(path.join(dir, '000000-client-to-server.bin'), 'utf8'), 'hello', 'replaced, not appended');
  // -o itself a symlink to a directory
  const link = path.join(tmp, 'dir-link');
  fs.symlinkSync(fs.mkdtempSync(path.join(tmp, 'target-')), link);
  const viaLink = follow(['-o', link, file]);
  assert.equal(viaLink.status, 1);
  assert.match(viaLink.stderr, /symlink: refused/);
});

test('follow -o on a directory it cannot create fails at once with exit 1 (no spin on /proc/x)', () => {
  const file = path.join(tmp, 'small2.pcap');
  fs.writeFileSync(file, pcapFile(tcpConversation([['c', Buffer.from('x')]])));
  for (const bad of ['/proc/pcap-pipe-x', path.join(tmp, 'missing-parent', 'child')]) {
    const r = follow(['-o', bad, file]);
    assert.equal(r.status, 1, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /cannot create the output directory/);
  }
  assert.equal(follow(['--force', file]).status, 2, '--force without -o is a usage error');
});
