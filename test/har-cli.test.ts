/**
 * The HAR commands: `--har FILE` on http_trace and `pcap-pipe http` (file and live, the live one stopped
 * with Ctrl-C), and `pcap-pipe har2ndjson` reading a HAR back. Every HAR written passes the HAR 1.2 schema
 * and the spec rules; the live one holds what the server handled, with the handshake and the phases in
 * capture order; the printed trace is the same with or without --har.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { listening, waitForOutput } from './helpers/child';
import { liveSkipReason } from './helpers/live';
import { REPO_ROOT } from './helpers/oracle';
import { harOfCapture, schemaErrors, specProblems } from './har-helpers';
import type { HarLog } from '../lib/har/types';

const DIST = path.join(__dirname, '..');
const PCAP_PIPE = path.join(DIST, 'bin', 'pcap-pipe.js');
const HTTP_TRACE = path.join(DIST, 'bin', 'http_trace.js');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'har-cli-'));
}

function readHar(file: string): HarLog {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as HarLog;
}

test('http_trace -r and pcap-pipe http with --har: a valid HAR of the selected exchanges; the trace printed as before', async () => {
  const dir = tmpDir();
  try {
    const plain = execFileSync(process.execPath, [HTTP_TRACE, '-r', SAMPLE, '--no-color'], { encoding: 'utf8' });
    const withHar = execFileSync(process.execPath, [HTTP_TRACE, '-r', SAMPLE, '--no-color', '--har', path.join(dir, 'a.har')], { encoding: 'utf8' });
    assert.equal(withHar, plain, 'printing unchanged (no TCP events, no bodies)');
    const a = readHar(path.join(dir, 'a.har'));
    assert.equal(schemaErrors(a), '');
    assert.deepEqual(specProblems(a), []);
    const expected = await harOfCapture(SAMPLE);
    assert.deepEqual(a.log.entries.map((e) => [e.request.method, e.request.url, e.response.status, e.response.content.text]),
      expected.log.entries.map((e) => [e.request.method, e.request.url, e.response.status, e.response.content.text]));

    execFileSync(process.execPath, [PCAP_PIPE, 'http', '--har', path.join(dir, 'b.har'), '--method', 'POST', '--max-body', '3'], { input: fs.readFileSync(SAMPLE) });
    const b = readHar(path.join(dir, 'b.har'));
    assert.equal(schemaErrors(b), '');
    assert.deepEqual(b.log.entries.map((e) => e.request.method), ['POST'], 'only what the filter selects');
    assert.match(b.log.entries[0]!.response.content.comment!, /content cut: 3 of \d+ bytes kept/);

    const bad = spawnSync(process.execPath, [HTTP_TRACE, '-r', SAMPLE, '--har', path.join(dir, 'no', 'such', 'dir.har')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^http_trace: --har: \S*dir.har: no such file or directory\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pcap-pipe har2ndjson: the HAR back as http --json events (methods, targets, statuses, bodies)', () => {
  const dir = tmpDir();
  try {
    const harFile = path.join(dir, 's.har');
    execFileSync(process.execPath, [HTTP_TRACE, '-r', SAMPLE, '--har', harFile], { stdio: 'ignore' });
    const fromHar = execFileSync(process.execPath, [PCAP_PIPE, 'har2ndjson', harFile], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const fromCapture = execFileSync(process.execPath, [PCAP_PIPE, 'http', '--json', '--bodies'], { input: fs.readFileSync(SAMPLE), encoding: 'utf8' })
      .trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const pick = (evs: Record<string, unknown>[]): unknown[] => evs.filter((e) => e.type === 'request' || e.type === 'response')
      .map((e) => [e.type, e.connection, e.index, e.method ?? e.status, e.url ?? '', e.body ?? '']);
    assert.deepEqual(pick(fromHar), pick(fromCapture));
    const wsHar = fromHar.filter((e) => e.type === 'ws-message').map((e) => [e.from, e.opcode, e.data]);
    const wsCapture = fromCapture.filter((e) => e.type === 'ws-message').map((e) => [e.from, e.opcode, e.data]);
    assert.deepEqual(wsHar, wsCapture);
    const bad = spawnSync(process.execPath, [PCAP_PIPE, 'har2ndjson'], { input: '{"no":1}', encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /HAR_INVALID/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('http_trace -i lo --har, stopped with Ctrl-C: a valid HAR of what the server handled, timed from the capture', { skip: liveSkipReason(), timeout: 90_000 }, async () => {
  const handled: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      handled.push(`${req.method} ${req.url}`);
      setTimeout(() => {
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'Content-Type': 'text/plain', 'Set-Cookie': 'k=v; Path=/' });
        res.end(`you sent ${body.length} bytes to ${req.url}`);
      }, 20);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dir = tmpDir();
  const harFile = path.join(dir, 'live.har');
  const child = spawn(process.execPath, [HTTP_TRACE, '-i', 'lo', '-f', `tcp port ${port}`, '--json', '--har', harFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await listening(child);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, url: string, body?: string): Promise<void> => new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: url, agent, headers: body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {} }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(body);
    });
    await send('GET', '/first?x=1');
    await send('POST', '/form', 'a=1&b=two+words');
    await send('GET', '/missing');
    agent.destroy();
    await waitForOutput(child, 'stdout', /"status":404/);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    const doc = readHar(harFile);
    assert.equal(schemaErrors(doc), '');
    assert.deepEqual(specProblems(doc), []);
    assert.deepEqual(doc.log.entries.map((e) => `${e.request.method} ${new URL(e.request.url).pathname}${new URL(e.request.url).search}`), handled);
    assert.deepEqual(doc.log.entries.map((e) => e.response.status), [200, 200, 404]);
    assert.ok(doc.log.entries.every((e) => e.request.url.startsWith(`http://127.0.0.1:${port}/`)));
    assert.deepEqual(doc.log.entries[1]!.request.postData!.params, [{ name: 'a', value: '1' }, { name: 'b', value: 'two words' }]);
    assert.deepEqual(doc.log.entries[0]!.response.cookies, [{ name: 'k', value: 'v', path: '/' }]);
    assert.equal(new Set(doc.log.entries.map((e) => e.connection)).size, 1, 'one keep-alive connection');
    assert.ok(doc.log.entries[0]!.timings.connect! >= 0, 'the handshake was captured');
    assert.equal(doc.log.entries[1]!.timings.connect, -1);
    // the server waited 20 ms before answering: wait holds it, and entries follow each other in time
    for (const e of doc.log.entries) assert.ok(e.timings.wait >= 19, `wait ${e.timings.wait}`);
    for (let i = 1; i < doc.log.entries.length; i++) {
      const prev = doc.log.entries[i - 1]!;
      assert.ok(Date.parse(doc.log.entries[i]!.startedDateTime) >= Date.parse(prev.startedDateTime) + prev.time - 1);
    }
    assert.match(doc.log.comment ?? '', /live on lo/);
  } finally {
    child.kill('SIGKILL');
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
