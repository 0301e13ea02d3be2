/**
 * Key sources besides a key log file: pcapng Decryption Secrets Blocks, written by editcap
 * --inject-secrets (read by us) and by `pcap-pipe write --inject-secrets` (read by tshark, without any
 * key log option, and by us).
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { readCaptureFile } from '../streams/read';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { tls } from '../streams/tls';
import { REPO_ROOT } from './helpers/oracle';
import { freePort, makeCerts, run, startTcpdump, streamsOf, tlsEvents, tmpDir, tsharkTlsStreams } from './helpers/tls-capture';

const skip = process.platform !== 'linux' ? 'loopback captures need Linux'
  : process.getuid && process.getuid() !== 0 ? 'tcpdump on lo needs root' : false;

type Ev = Record<string, unknown>;
let dir = '';
let pcap = '';
let keys = '';
let port = 0;

before(async () => {
  if (skip) return;
  dir = tmpDir('dsb');
  const certs = makeCerts(dir);
  port = await freePort();
  pcap = path.join(dir, 'in.pcap');
  keys = path.join(dir, 'keys.log');
  const td = await startTcpdump(pcap, port);
  const server = https.createServer({ key: fs.readFileSync(certs.rsaKey), cert: fs.readFileSync(certs.rsaCert) }, (req, res) => res.end(`body of ${req.url}`));
  server.on('keylog', (line) => fs.appendFileSync(keys, line));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  for (const p of ['/one', '/two']) {
    await new Promise<void>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: p, rejectUnauthorized: false, agent: false }, (res) => { res.resume(); res.on('end', () => resolve()); })
        .on('error', reject);
    });
  }
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await td.stop();
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/** decode → tcp → tls with the secrets of the file's own DSBs (no key log file). */
async function withOwnSecrets(file: string): Promise<Ev[]> {
  const events: Ev[] = [];
  const reader = readCaptureFile(file);
  await pipeline(reader, decode({ depth: 'transport' }), tcp(), tls({ captureReader: reader }),
    new Writable({ objectMode: true, write(e: Ev, _x, cb) { events.push(e); cb(); } }));
  return events;
}

test('pcapng written by editcap --inject-secrets: decrypted from its Decryption Secrets Block alone', { skip }, async () => {
  const out = path.join(dir, 'editcap.pcapng');
  run('editcap', ['--inject-secrets', `tls,${keys}`, pcap, out]);
  const events = await withOwnSecrets(out);
  assert.deepEqual(events.filter((e) => e.type === 'tls-error'), []);
  const expected = streamsOf(await tlsEvents(pcap, { keyLogFiles: [keys] }));
  const got = streamsOf(events);
  assert.equal(got.size, 2);
  for (const [c, s] of expected) {
    assert.ok(got.get(c)?.client.equals(s.client) && got.get(c)?.server.equals(s.server), `connection ${c}`);
  }
  assert.match(got.get(1)!.client.toString(), /^GET \/two HTTP\/1.1/);
});

test('pcap-pipe write --inject-secrets: tshark decrypts the file without a key log option, as we do', { skip }, async () => {
  const out = path.join(dir, 'ours.pcapng');
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/bin/pcap-pipe.js'), 'write', out, '--inject-secrets', keys],
    { input: fs.readFileSync(pcap), encoding: 'buffer' });
  assert.equal(r.status, 0, r.stderr.toString());
  // tshark with an empty key log preference: the secrets can only come from the file.
  const theirs = tsharkTlsStreams(out, '', port, 2);
  const ours = streamsOf(await withOwnSecrets(out));
  for (const [c, s] of theirs) {
    assert.ok(s.server.length > 0, `tshark decrypted connection ${c} from the DSB`);
    assert.ok(ours.get(c)?.server.equals(s.server) && ours.get(c)?.client.equals(s.client), `connection ${c}`);
  }
  const bad = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/bin/pcap-pipe.js'), 'write', path.join(dir, 'x.pcap'), '--format', 'pcap', '--inject-secrets', keys],
    { input: fs.readFileSync(pcap) });
  assert.equal(bad.status, 2, 'classic pcap cannot hold secrets: usage error');
});
