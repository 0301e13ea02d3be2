/**
 * A real redis-server for a test: on a free loopback port (Redis refuses `--port 0`, so a port is found by
 * binding a socket first), no persistence (`--save '' --appendonly no`), its files in a temp dir; stop()
 * kills it. restart() starts a new one on the same port (the kill-and-restart test).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitForOutput } from './child';

export function redisAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server']).status === 0;
}

/** A port nobody listens on now (bound, read, closed). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => srv.listen(0, '127.0.0.1', resolve).on('error', reject));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-redis-'));

  /** `persist`: an append-only file fsynced on every write, so a SIGKILL loses nothing Redis acknowledged. */
  private constructor(readonly port: number, private readonly persist: boolean) {}

  static async start(opts: { persist?: boolean } = {}): Promise<RedisServer> {
    // A port found free can be taken before redis binds it: try a few.
    let lastError: unknown;
    for (let i = 0; i < 5; i++) {
      const s = new RedisServer(await freePort(), opts.persist ?? false);
      try {
        await s.launch();
        return s;
      } catch (e) {
        lastError = e;
        s.stop();
      }
    }
    throw lastError;
  }

  url(key: string): string {
    return `redis://127.0.0.1:${this.port}/${key}`;
  }

  private async launch(): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir,
      ...(this.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
      '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'notice',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await waitForOutput(child, 'stdout', /Ready to accept connections/, 30_000);
  }

  /** SIGKILL, as a crash: no shutdown, the data (in memory only) is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** A new server on the same port (after kill()). */
  async restart(): Promise<void> {
    // The port was just released; another process could take it, but on this test machine that is rare,
    // and the retry covers a socket still in TIME_WAIT-free rebind delay.
    let lastError: unknown;
    for (let i = 0; i < 20; i++) {
      try {
        await this.launch();
        return;
      } catch (e) {
        lastError = e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw lastError;
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export const BIN = path.join(__dirname, '..', '..', 'bin');

export interface Run { code: number | null; stdout: string; stderr: string }

/** Runs a command of dist/bin as a process without blocking the test's event loop (several run at once). */
export function runBin(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(BIN, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The local NDJSON of a command, each line parsed, with `sensor` added: what the stream must hold. */
export function localEvents(script: string, args: string[], sensor: string): Record<string, unknown>[] {
  const r = spawnSync(process.execPath, [path.join(BIN, script), ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => ({ ...(JSON.parse(l) as Record<string, unknown>), sensor }));
}

/** A canonical text of an event (sorted keys), so multisets of events compare as sorted string lists. */
export function canonical(ev: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sort(ev));
}

/** Polls `cond` until it holds (no timing assertion: only a generous upper bound against hanging). */
export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A consumer process whose output the test watches while it runs; interrupt() sends SIGINT and waits. */
export function startConsumer(url: string, name: string, args: string[]): { out: () => string; interrupt: () => Promise<Run> } {
  const child = spawn(process.execPath, [path.join(BIN, 'pcap-pipe.js'), 'consume', url, '--consumer', name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const closed = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return {
    out: () => stdout,
    interrupt: () => {
      if (child.exitCode === null) child.kill('SIGINT');
      return closed;
    },
  };
}
