/**
 * `pcap-pipe tls` on a capture made here (curl with SSLKEYLOGFILE against openssl s_server: TLS 1.2,
 * TLS 1.3, and one connection whose keys are not logged): one line per connection, NDJSON with --json,
 * keys from --keylog or SSLKEYLOGFILE, certificate fields as openssl prints them, no secret in any output.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/oracle';
import { waitForOutput } from './helpers/child';
import { freePort, makeCerts, run, startTcpdump, tmpDir } from './helpers/tls-capture';

const skip = process.platform !== 'linux' ? 'loopback captures need Linux'
  : process.getuid && process.getuid() !== 0 ? 'tcpdump on lo needs root' : false;
const BIN = path.join(REPO_ROOT, 'dist/bin/pcap-pipe.js');

let dir = '';
let pcap = '';
let keys = '';
let certPath = '';

before(async () => {
  if (skip) return;
  dir = tmpDir('cli');
  const certs = makeCerts(dir);
  certPath = certs.rsaCert;
  const port = await freePort();
  pcap = path.join(dir, 'cli.pcap');
  keys = path.join(dir, 'keys.log');
  fs.writeFileSync(path.join(dir, 'index.html'), 'hello\n');
  const td = await startTcpdump(pcap, port);
  const server = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-key', certs.rsaKey, '-cert', certs.rsaCert, '-WWW'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(server, 'stdout', /ACCEPT/);
  const url = `https://localhost:${port}/index.html`;
  const resolve = ['--resolve', `localhost:${port}:127.0.0.1`];
  const withKeys = { env: { ...process.env, SSLKEYLOGFILE: keys } };
  run('curl', ['-sSk', '--tls-max', '1.2', '--ciphers', 'ECDHE-RSA-AES128-GCM-SHA256', url, ...resolve], withKeys);
  run('curl', ['-sSk', '--tlsv1.3', '--http1.1', url, ...resolve], withKeys);
  run('curl', ['-sSk', '--tlsv1.3', url, ...resolve], { env: { ...process.env, SSLKEYLOGFILE: '' } });
  server.kill('SIGTERM');
  await td.stop();
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

function pcapPipe(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const envNoKeys = { ...process.env, ...env };
  if (env.SSLKEYLOGFILE === undefined) delete envNoKeys.SSLKEYLOGFILE;
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: envNoKeys });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertNoSecrets(text: string): void {
  for (const line of fs.readFileSync(keys, 'utf8').split('\n')) {
    const secret = line.split(' ')[2];
    if (secret) assert.ok(!text.toLowerCase().includes(secret.toLowerCase()), 'a secret in the output');
  }
}

test('pcap-pipe tls --keylog: one line per connection, decrypted or why not', { skip }, () => {
  const r = pcapPipe(['tls', '--keylog', keys, pcap]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /#0 .* TLS 1\.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 sni=localhost .*ja4=t12d\d{4}\S+ .*cert="CN=localhost, O=pcap-pipe test".* decrypted$/);
  assert.match(lines[1], /#1 .* TLS 1\.3 TLS_AES_\S+ sni=localhost alpn=\(offered http\/1\.1\) ja4=t13d\d{4}h1_.* decrypted$/);
  assert.match(lines[2], /#2 .* TLS 1\.3 .* not-decrypted\(no-key\)$/);
  assertNoSecrets(r.stdout + r.stderr);
});

test('pcap-pipe tls --json: NDJSON events; certificate validity as openssl reports it; SSLKEYLOGFILE is read', { skip }, () => {
  // The capture on stdin, the keys from the environment only.
  const withInput = spawnSync(process.execPath, [BIN, 'tls', '--json'], { input: fs.readFileSync(pcap), encoding: 'utf8', env: { ...process.env, SSLKEYLOGFILE: keys } });
  assert.equal(withInput.status, 0, withInput.stderr);
  const events = withInput.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const conns = events.filter((e) => e.type === 'tls-connection');
  assert.deepEqual(conns.map((c) => c.decryptable), [true, true, false]);
  const errs = events.filter((e) => e.type === 'tls-error');
  assert.deepEqual(errs.map((e) => [e.connection, e.code]), [[2, 'TLS_NO_KEY']]);
  const cert = (conns[0].certificates as { validFrom: string; validTo: string; subject: string }[])[0];
  const notAfter = run('openssl', ['x509', '-in', certPath, '-noout', '-enddate']).trim().replace(/^notAfter=/, '');
  assert.equal(cert.validTo, new Date(notAfter).toISOString());
  assertNoSecrets(withInput.stdout + withInput.stderr);
});

test('pcap-pipe tls: unknown option is a usage error (exit 2); a missing key log only means no keys', { skip }, () => {
  assert.equal(pcapPipe(['tls', '--bogus', pcap]).status, 2);
  const r = pcapPipe(['tls', '--keylog', path.join(dir, 'does-not-exist.log'), pcap]);
  assert.equal(r.status, 0);
  assert.equal((r.stdout.match(/not-decrypted\(no-key\)/g) ?? []).length, 3);
});
