/**
 * The examples under examples/ run (compiled by tsc to dist/examples) and print what tshark sees in the
 * same capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const SAMPLE = path.join(ROOT, 'samples', 'http-sample.pcap');

function tshark(args: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', SAMPLE, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

test('examples/through2-stages: a through2 stage and a plain Transform in one pipeline, output checked against tshark', () => {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'dist', 'examples', 'through2-stages.js'), SAMPLE]).toString();
  const lines = out.trimEnd().split('\n');
  const requests = tshark(['-Y', 'http.request', '-T', 'fields', '-e', 'http.request.method', '-e', 'http.request.uri']);
  const responses = tshark(['-Y', 'http.response', '-T', 'fields', '-e', 'http.response.code']);
  assert.ok(requests.length >= 5 && requests.length === responses.length, `${requests.length} requests, ${responses.length} responses`);
  const exchanges = lines.slice(0, -1).map((l) => /^(\S+) (\S+) -> (\d+) \(\d+ bytes\)$/.exec(l)?.slice(1, 4).join(' ') ?? `unexpected line: ${l}`);
  assert.deepEqual(exchanges, requests.map(([method, uri], i) => `${method} ${uri} ${responses[i]![0]}`));
  const frames = tshark(['-T', 'fields', '-e', 'frame.len']);
  const bytes = frames.reduce((sum, [len]) => sum + Number(len), 0);
  assert.equal(lines[lines.length - 1], `${frames.length} packets, ${bytes} bytes`);
});
