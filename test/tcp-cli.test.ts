/** `pcap-pipe tcp` and `pcap-pipe follow`, run as processes, against tshark's oracles. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { fixture, readOracle, REPO_ROOT } from './helpers/oracle';

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function run(args: string[], stdinFile?: string): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input: stdinFile ? fs.readFileSync(stdinFile) : undefined, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

for (const file of ['tcp-reassembly-synthetic.pcap', 'http-206-long-flow-zerowin-ooo.pcap', 'ipv4-fragments-socks5-http.pcap', 'null-ipv6-http-keepalive-chunked-304.pcap']) {
  test(`follow -o DIR: ${file}: files and index.json match tshark's follow oracle`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-follow-'));
    try {
      const r = run(['follow', '-o', dir], fixture(file));
      assert.equal(r.code, 0, r.stderr);
      const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as
        { connection: number; file: string; client: string; server: string; direction: string; bytes: number; gaps: number }[];
      for (const row of readOracle(`${file}.follow.tsv`)) {
        for (const [src, dst, bytes, missing, sha] of [
          [row.node0, row.node1, row.bytes_0to1, row.missing_0to1, row.sha256_0to1],
          [row.node1, row.node0, row.bytes_1to0, row.missing_1to0, row.sha256_1to0]]) {
          const entry = index.find((e) => e.connection === Number(row.stream)
            && (e.direction === 'client-to-server' ? e.client === src && e.server === dst : e.server === src && e.client === dst));
          assert.ok(entry, `stream ${row.stream} ${src} > ${dst} in index.json`);
          const content = fs.readFileSync(path.join(dir, entry.file));
          assert.equal(content.length, Number(bytes));
          assert.equal(entry.bytes, Number(bytes));
          assert.equal(sha256(content), sha);
          assert.equal(entry.gaps, Number(missing));
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('follow --stream N (ascii) prints what tshark -z follow,tcp,ascii,N prints', () => {
  const file = fixture('tcp-reassembly-synthetic.pcap');
  // (our Node 0 is always the client; tshark's is whoever sent the first packet, e.g. the SYN-ACK
  // sender of stream 9, so streams that start with the client are compared)
  for (const n of [0, 3, 4, 6]) {
    const want = execFileSync('tshark', ['-n', '-r', file, '-q', '-z', `follow,tcp,ascii,${n}`], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const r = run(['follow', '--stream', String(n)], file);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), want);
  }
});

test('tcp --json: NDJSON events with the documented fields', () => {
  const r = run(['tcp', '--json'], fixture('tcp-handshake-synthetic.pcap'));
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const e of events) {
    for (const k of ['type', 'ts', 'frame', 'connection', 'client', 'server']) assert.ok(k in e, `${k} in ${JSON.stringify(e)}`);
    assert.match(e.ts as string, /^\d+\.\d{9}$/);
  }
  assert.ok(events.some((e) => e.type === 'syn-retry'));
  assert.equal(events.filter((e) => e.type === 'start').length, events.filter((e) => e.type === 'end').length);
});

test('unknown flags are a usage error (exit 2)', () => {
  assert.equal(run(['tcp', '--nope']).code, 2);
  assert.equal(run(['follow', '--nope']).code, 2);
  assert.equal(run(['follow', '--hex', '--raw']).code, 2);
});
