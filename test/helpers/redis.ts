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

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    // A port found free can be taken before redis binds it: try a few.
    let lastError: unknown;
    for (let i = 0; i < 5; i++) {
      const s = new RedisServer(await freePort());
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
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir,
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
