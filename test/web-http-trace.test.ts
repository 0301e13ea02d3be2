/** `http_trace --web [PORT]`: the one-stop form of the web view, on the bundled sample capture. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { WebSocket } from 'ws';
import { REPO_ROOT } from './helpers/oracle';
import type { WebSnapshot } from '../lib/web/model';

const HTTP_TRACE = path.join(REPO_ROOT, 'dist', 'bin', 'http_trace.js');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');

test('http_trace -r FILE --web serves the page with the capture\'s exchanges until Ctrl-C', async () => {
  const child = spawn(process.execPath, [HTTP_TRACE, '-r', SAMPLE, '--web', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      child.on('exit', (code) => reject(new Error(`http_trace exited (${code}) before printing its URL: ${out}`)));
    });
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    assert.equal((await fetch(new URL('/etc/passwd', url))).status, 404);
    // The page's own origin gets the snapshot, with the sample's requests in it.
    const u = new URL(url);
    const snapshot = await new Promise<WebSnapshot>((resolve, reject) => {
      const ws = new WebSocket(`ws://${u.host}/ws`, { origin: `http://${u.host}` });
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { type: string; snapshot?: WebSnapshot } & WebSnapshot;
        const snap = msg.snapshot ?? msg;
        if (msg.type === 'snapshot' && snap.rows && snap.rows.length >= 6) { ws.close(); resolve(snap); }
      });
      ws.on('error', reject);
      setTimeout(() => reject(new Error('no snapshot with the sample\'s rows')), 10_000).unref();
    });
    const urls = snapshot.rows.map((r) => `${r.method} ${r.url}`);
    for (const want of ['GET /', 'GET /data.json', 'POST /api/items', 'GET /missing', 'HEAD /']) assert.ok(urls.includes(want), `${want} in ${urls.join(', ')}`);
  } finally {
    child.kill('SIGINT');
  }
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0);
});

test('http_trace --web rejects a port that is not a number', () => {
  const r = spawnSync(process.execPath, [HTTP_TRACE, '-r', SAMPLE, '--web=eighty'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--web takes a port number/);
});
