/**
 * Helpers for the TLS tests: throw-away certificates, tcpdump on loopback around real TLS clients and
 * servers (Node tls/https, curl, openssl s_server/s_client, nginx), our pipeline with tls() on the
 * result, and tshark with the same key log as the oracle.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { readCaptureFile } from '../../streams/read';
import { decode } from '../../streams/decode';
import { tcp } from '../../streams/tcp';
import { tls, type TlsStreamOptions } from '../../streams/tls';
import { http } from '../../streams/http';
import { listening } from './child';

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pcap-pipe-tls-${prefix}-`));
}

export interface Certs {
  rsaKey: string; rsaCert: string; ecKey: string; ecCert: string;
}

/** An RSA and an ECDSA self-signed certificate for CN=localhost, valid one day. */
export function makeCerts(dir: string): Certs {
  const c: Certs = {
    rsaKey: path.join(dir, 'rsa.key'), rsaCert: path.join(dir, 'rsa.crt'),
    ecKey: path.join(dir, 'ec.key'), ecCert: path.join(dir, 'ec.crt'),
  };
  const common = ['-x509', '-nodes', '-days', '1', '-subj', '/CN=localhost/O=pcap-pipe test',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'];
  run('openssl', ['req', ...common, '-newkey', 'rsa:2048', '-keyout', c.rsaKey, '-out', c.rsaCert]);
  run('openssl', ['req', ...common, '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', c.ecKey, '-out', c.ecCert]);
  return c;
}

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, env: opts.env ?? process.env, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A free TCP port on 127.0.0.1 (bound and released: the caller binds it right away). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface Tcpdump { child: ChildProcess; file: string; stop(): Promise<void> }

/** tcpdump on lo for one port, immediate mode, 32 MB buffer, packet-buffered output. */
export async function startTcpdump(file: string, port: number): Promise<Tcpdump> {
  const child = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '32768', '-U', '-s', '0', '-w', file, `tcp port ${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  await listening(child);
  return {
    child, file,
    stop: async () => {
      // Let the last packets reach the capture before stopping it.
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** Every event of decode → tcp → tls (→ http when asked) on a capture file. */
export async function tlsEvents(file: string, opts: TlsStreamOptions, withHttp = false): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = [];
  const sink = new Writable({
    objectMode: true,
    write(chunk: Record<string, unknown>, _e, cb) { events.push(chunk); cb(); },
  });
  const stages = [readCaptureFile(file), decode({ depth: 'transport' }), tcp(), tls(opts)];
  if (withHttp) {
    await pipeline(stages[0], stages[1], stages[2], stages[3], http(), sink);
  } else {
    await pipeline(stages[0], stages[1], stages[2], stages[3], sink);
  }
  return events;
}

/** The decrypted bytes per connection and side (data events only). */
export function streamsOf(events: Record<string, unknown>[]): Map<number, { client: Buffer; server: Buffer }> {
  const parts = new Map<number, { client: Buffer[]; server: Buffer[] }>();
  for (const ev of events) {
    if (ev.type !== 'data') continue;
    const c = ev.connection as number;
    let p = parts.get(c);
    if (!p) { p = { client: [], server: [] }; parts.set(c, p); }
    p[ev.from as 'client' | 'server'].push(ev.bytes as Buffer);
  }
  const out = new Map<number, { client: Buffer; server: Buffer }>();
  for (const [c, p] of parts) out.set(c, { client: Buffer.concat(p.client), server: Buffer.concat(p.server) });
  return out;
}

/** tshark's decrypted TLS application data per tcp.stream and side (`-z follow,tls,raw,N` for every stream, one run). */
export function tsharkTlsStreams(file: string, keyLog: string, serverPort: number, streamCount?: number): Map<number, { client: Buffer; server: Buffer }> {
  const out = new Map<number, { client: Buffer; server: Buffer }>();
  const streams = streamCount !== undefined ? Array.from({ length: streamCount }, (_, i) => i)
    : [...new Set(run('tshark', ['-r', file, '-T', 'fields', '-e', 'tcp.stream', '-Y', 'tcp']).split('\n').filter(Boolean).map(Number))];
  const args = ['-r', file, '-q', '-o', `tls.keylog_file:${keyLog}`];
  for (const s of streams) args.push('-z', `follow,tls,raw,${s}`);
  const text = run('tshark', args);
  // One block per -z, in order, each starting with a "Follow:" line after a line of '='.
  const blocks = text.split(/^Follow: /m).slice(1);
  blocks.forEach((block, i) => {
    const m = /^Filter: tcp\.stream eq (\d+)$/m.exec(block);
    out.set(m ? Number(m[1]) : streams[i], parseFollowRaw(block, serverPort));
  });
  return out;
}

/**
 * tshark -z follow,X,raw output: Node 0's lines unindented, the other side's indented by a tab. Node 0
 * is the side that sent first, except in tshark 4.0's follow,tls, where it may be the server: decided by port.
 */
function parseFollowRaw(text: string, serverPort: number): { client: Buffer; server: Buffer } {
  const node0: Buffer[] = [];
  const node1: Buffer[] = [];
  let inBody = false;
  let node0IsServer = false;
  for (const line of text.split('\n')) {
    const m = /^Node 0: .*:(\d+)$/.exec(line);
    if (m) node0IsServer = Number(m[1]) === serverPort;
    if (line.startsWith('Node 1:')) { inBody = true; continue; }
    if (!inBody || line.startsWith('====')) continue;
    if (line.startsWith('\t')) node1.push(Buffer.from(line.trim(), 'hex'));
    else if (line.trim() !== '') node0.push(Buffer.from(line.trim(), 'hex'));
  }
  const [client, server] = node0IsServer ? [node1, node0] : [node0, node1];
  return { client: Buffer.concat(client), server: Buffer.concat(server) };
}

export function hasProgram(name: string, args = ['--version']): boolean {
  return spawnSync(name, args).error === undefined;
}

// What the TLS tests compare (tls-ciphers, tls-live).

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

export type Ev = Record<string, unknown>;

export function byType(events: Ev[], type: string): Ev[] {
  return events.filter((e) => e.type === type);
}

/** Our decrypted streams equal tshark's, connection by connection, and every connection was decrypted. */
export function assertStreamsEqualTshark(events: Ev[], pcap: string, keys: string, port: number): void {
  const ours = streamsOf(events);
  const theirs = tsharkTlsStreams(pcap, keys, port, byType(events, 'start').length);
  assert.ok(theirs.size > 0, 'tshark saw TLS streams');
  for (const [c, s] of theirs) {
    const o = ours.get(c);
    assert.ok(o, `connection ${c} decrypted`);
    assert.ok(s.client.length + s.server.length > 0, `tshark decrypted connection ${c}`);
    assert.equal(sha256(o.client), sha256(s.client), `connection ${c} client bytes (${o.client.length} vs ${s.client.length})`);
    assert.equal(sha256(o.server), sha256(s.server), `connection ${c} server bytes (${o.server.length} vs ${s.server.length})`);
  }
}

/** Request lines and status codes tshark reads from the decrypted capture, in frame order. */
export function tsharkHttp(pcap: string, keys: string): string[] {
  return run('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-Y', 'http', '-T', 'fields',
    '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code'])
    .split('\n').filter(Boolean).map((l) => l.split('\t').filter(Boolean).join(' '));
}

export function ourHttp(events: Ev[]): string[] {
  return events.filter((e) => e.type === 'request' || e.type === 'response')
    .map((e) => (e.type === 'request' ? `${e.method} ${e.url}` : String(e.status)));
}

export function assertNoSecretsIn(text: string, keys: string): void {
  for (const line of fs.readFileSync(keys, 'utf8').split('\n')) {
    const secret = line.split(' ')[2];
    if (secret && secret.length >= 32) assert.ok(!text.includes(secret), 'a secret appears in the output');
  }
}
