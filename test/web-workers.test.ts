/**
 * `pcap-pipe serve --workers N` (startWebView with `workers`: the decode → tcp → tls → http chain in
 * shard()'s workers, the events merged back in one-thread order into the page's model): the model the page
 * is built from — rows, exchange details (headers, bodies), WebSocket connections and messages, TCP events,
 * the time series and the counters — equals the one-thread model on every fixture, on a TLS capture
 * decrypted with its key log, and on the generated capture. Left out of the comparison: the three rates
 * (packets, bytes and requests per second of wall-clock time: how fast this machine went, not the capture).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readCaptureFile } from '../streams/read';
import { tls } from '../streams/tls';
import { startWebView } from '../streams/web';
import { generatedCapture } from './helpers/gen-capture';
import { REPO_ROOT } from './helpers/oracle';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

/**
 * The model after the whole file, as JSON (wall-clock rates zeroed), and the damage found: a damaged file
 * ends after its complete packets (onError, as the command's reader does), it does not fail the chain.
 */
async function model(file: string, workers: number, keyLogFiles: string[] = []): Promise<string> {
  let damage = '';
  const reader = readCaptureFile(file, { batch: true, onError: (e) => { damage = e.message; } });
  const view = await startWebView(reader, {
    port: 0, host: '127.0.0.1', input: 'file',
    ...(workers > 0 ? { workers: { count: workers, keyLogFiles, secrets: reader } } : { tls: tls({ keyLogFiles, captureReader: reader }) }),
  });
  let failure = '';
  await view.done.catch((e: Error) => { failure = e.message; });
  const s = view.model.snapshot();
  s.counters.packetsPerSecond = s.counters.bytesPerSecond = s.counters.requestsPerSecond = 0;
  const details = s.rows.map((r) => view.model.detail(r.id) ?? null);
  await view.close();
  return JSON.stringify({ s, details, failure, damage });
}

async function assertSame(file: string, workers: number[], keyLogFiles: string[] = []): Promise<string> {
  const one = await model(file, 0, keyLogFiles);
  for (const n of workers) {
    const many = await model(file, n, keyLogFiles);
    if (many !== one) {
      let i = 0;
      while (one[i] === many[i]) i++;
      assert.fail(`${path.basename(file)} --workers ${n}: the model differs at ${i}:\n  1 thread: ${one.slice(Math.max(0, i - 150), i + 100)}\n  sharded:  ${many.slice(Math.max(0, i - 150), i + 100)}`);
    }
  }
  return one;
}

test('serve --workers: every fixture gives the one-thread model at 2 workers', async () => {
  const captures = fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(FIXTURES, f));
  assert.ok(captures.length > 40);
  let rows = 0;
  for (const f of captures) rows += (JSON.parse(await assertSame(f, [2])) as { s: { rows: unknown[] } }).s.rows.length;
  assert.ok(rows > 100, `rows compared: ${rows}`);
});

test('serve --workers: a TLS capture decrypted with its key log, and the generated capture at 1, 2 and 4', async () => {
  const tlsDir = path.join(FIXTURES, 'tls');
  const pcap = fs.readdirSync(tlsDir).filter((f) => /\.pcap$/.test(f)).map((f) => path.join(tlsDir, f));
  for (const f of pcap) {
    const keys = f.replace(/\.pcap$/, '.keys');
    await assertSame(f, [2], fs.existsSync(keys) ? [keys] : []);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-web-workers-'));
  try {
    const file = path.join(dir, 'gen.pcap');
    fs.writeFileSync(file, generatedCapture(20, 20_000));
    const m = JSON.parse(await assertSame(file, [1, 2, 4])) as { s: { rows: unknown[]; tcpEvents: unknown[]; counters: { connections: number } } };
    assert.ok(m.s.rows.length > 500 && m.s.tcpEvents.length > 100 && m.s.counters.connections > 300);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('serve --workers: bad values and --from are usage errors', () => {
  const cli = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');
  for (const args of [['--workers', 'x', '-r', path.join(FIXTURES, 'http-keepalive-304.pcap')], ['--from', 'redis://127.0.0.1:1/k', '--workers', '2']]) {
    const r = spawnSync(process.execPath, [cli, 'serve', ...args], { timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr.toString());
    assert.match(r.stderr.toString(), /--workers/);
  }
});
