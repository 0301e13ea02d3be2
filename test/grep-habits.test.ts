/**
 * ngrep's letters in network_grep and `pcap-pipe grep`: -W byline|single|normal, -t (date and time, checked
 * against ngrep -t itself) and -T (delta), -x hex dump, -X hex pattern (and --hex-pattern, the old -x HEX),
 * -r FILE. TZ is set for both programs, so the times do not depend on the machine's zone.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fixture, REPO_ROOT } from './helpers/oracle';

const PCAP_PIPE = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
const NETWORK_GREP = path.join(REPO_ROOT, 'dist', 'bin', 'network_grep.js');
const env = { ...process.env, TZ: 'Asia/Kolkata' }; // +05:30: a zone no CI machine runs in by accident
const FILE = fixture('http-keepalive-304.pcap');

function run(bin: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [bin, ...args], { env, encoding: 'latin1' });
}

test('network_grep -t prints the times ngrep -t prints, for the same matches', () => {
  const ours = run(NETWORK_GREP, ['-q', '-t', '-I', FILE, 'GET']);
  assert.strictEqual(ours.status, 0, ours.stderr);
  const ng = spawnSync('ngrep', ['-q', '-t', '-I', FILE, 'GET'], { env, encoding: 'latin1' });
  assert.strictEqual(ng.status, 0, ng.stderr);
  const mine = ours.stdout.split('\n').filter((l) => /^\d{4}\//.test(l)).map((l) => l.split(' ').slice(0, 2).join(' '));
  const theirs = ng.stdout.split('\n').filter((l) => /^T \d{4}\//.test(l)).map((l) => l.split(' ').slice(1, 3).join(' '));
  assert.ok(mine.length > 3);
  assert.deepStrictEqual(mine, theirs);
});

test('-W byline shows CR LF as line ends, -W single one line per packet, normal keeps \\x0d; -T deltas', () => {
  for (const bin of [NETWORK_GREP, PCAP_PIPE]) {
    const pre = bin === PCAP_PIPE ? ['grep', '--text'] : ['-q'];
    const input = bin === PCAP_PIPE ? ['-r', FILE] : ['-I', FILE];
    const byline = run(bin, [...pre, '-W', 'byline', ...input, '-n', '1', 'GET /css']);
    assert.strictEqual(byline.status, 0, byline.stderr);
    assert.match(byline.stdout, /\n {2}GET \/css\/pygments\.css HTTP\/1\.1\n {2}Host: bro-ids\.org\n/);
    assert.ok(!byline.stdout.includes('\\x0d'), byline.stdout);
    const normal = run(bin, [...pre, ...input, '-n', '1', 'GET /css']);
    assert.match(normal.stdout, /HTTP\/1\.1\\x0d\n/);
    const single = run(bin, [...pre, '-W', 'single', '-T', ...input, 'GET']);
    const lines = single.stdout.split('\n').filter(Boolean);
    assert.ok(lines.length > 3);
    assert.ok(lines.every((l) => /^\+\d+\.\d{6} \S+ > \S+ TCP .* GET \//.test(l)), lines.join('\n'));
    assert.match(lines[0] as string, /^\+0\.000000 /);
    const bad = run(bin, [...pre, '-W', 'wide', ...input, 'GET']);
    assert.strictEqual(bad.status, 2);
    assert.match(bad.stderr, /-W takes normal, byline or single/);
  }
});

test('pcap-pipe grep: -x is a hex dump and -X a hex pattern (as ngrep); --hex-pattern is the old -x HEX', () => {
  const hexPattern = run(PCAP_PIPE, ['grep', '--text', '-X', '474554202f637373', FILE]);
  const oldForm = run(PCAP_PIPE, ['grep', '--text', '--hex-pattern', '47 45 54 20 2f 63 73 73', FILE]);
  const text = run(PCAP_PIPE, ['grep', '--text', 'GET /css', FILE]);
  assert.strictEqual(hexPattern.status, 0, hexPattern.stderr);
  assert.strictEqual(hexPattern.stdout, text.stdout);
  assert.strictEqual(oldForm.stdout, text.stdout);
  const dump = run(PCAP_PIPE, ['grep', '--text', '-x', '-n', '1', 'GET /css', FILE]);
  assert.match(dump.stdout, /\n {2}0000 {2}47 45 54 20 2f 63 73 73 {2}2f 70 79 67 6d 65 6e 74 {2}\|GET \/css\/pygment\|/);
  const ng = run(NETWORK_GREP, ['-q', '-x', '-n', '1', '-I', FILE, 'GET /css']);
  assert.strictEqual(ng.stdout.split('\n').slice(1).join('\n'), dump.stdout.split('\n').slice(1).join('\n'));
  const both = run(PCAP_PIPE, ['grep', '-r', FILE, 'GET', FILE]);
  assert.strictEqual(both.status, 2, 'the FILE given twice is a usage error');
});
