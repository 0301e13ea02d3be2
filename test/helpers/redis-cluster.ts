/**
 * A real Redis Cluster for a test: three masters (no replicas) on free loopback ports, each redis-server in
 * its own temp dir with its own nodes.conf, joined by `redis-cli --cluster create`, ready when every node
 * says cluster_state:ok. The cluster bus ports are chosen free too (`--cluster-port`: the default, port +
 * 10000, may be taken or past 65535). stop() kills every node and removes the dirs; a failed start stops
 * what it started before throwing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { waitForOutput } from './child';
import { freePort, waitUntil } from './redis';

export interface ClusterNode {
  port: number;
  /** The slot ranges this master serves, inclusive. */
  slots: [number, number][];
}

/** Runs a program to its end; rejects with its output when it fails. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${out}`))));
  });
}

export class RedisCluster {
  private readonly children: (ChildProcess | undefined)[] = [];
  private readonly dirs: string[] = [];
  private readonly args: string[][] = [];
  readonly ports: number[] = [];
  nodes: ClusterNode[] = [];

  /** `persist`: an append-only file fsynced on every write, so a SIGKILLed node loses nothing it acknowledged. */
  private constructor(private readonly persist: boolean) {}

  static async start(opts: { masters?: number; persist?: boolean } = {}): Promise<RedisCluster> {
    const masters = opts.masters ?? 3;
    // A port found free can be taken before redis binds it: try a few times.
    let lastError: unknown;
    for (let i = 0; i < 3; i++) {
      const c = new RedisCluster(opts.persist ?? false);
      try {
        await c.launch(masters);
        return c;
      } catch (e) {
        lastError = e;
        c.stop();
      }
    }
    throw lastError;
  }

  private async launch(masters: number): Promise<void> {
    const taken = new Set<number>();
    const port = async (): Promise<number> => {
      for (;;) {
        const p = await freePort();
        if (!taken.has(p)) {
          taken.add(p);
          return p;
        }
      }
    };
    for (let i = 0; i < masters; i++) {
      const p = await port();
      const bus = await port();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-redis-cluster-'));
      this.dirs.push(dir);
      this.ports.push(p);
      this.args.push([
        '--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
        ...(this.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(bus),
        '--cluster-node-timeout', '5000', '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'notice',
      ]);
      await this.launchNode(i);
    }
    await run('redis-cli', ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const p of this.ports) {
      await waitUntil(`cluster_state:ok on node ${p}`, async () => /cluster_state:ok/.test(await run('redis-cli', ['-p', String(p), 'cluster', 'info'])), 60_000);
    }
    this.nodes = await this.readSlots();
  }

  private async launchNode(i: number): Promise<void> {
    const child = spawn('redis-server', this.args[i] as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children[i] = child;
    await waitForOutput(child, 'stdout', /Ready to accept connections/, 30_000);
  }

  /** SIGKILL one node, as a crash. */
  async kill(port: number): Promise<void> {
    const i = this.ports.indexOf(port);
    const child = this.children[i];
    this.children[i] = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** The node again on its port, from its dir (its nodes.conf: the same node id and slots), then the cluster ok. */
  async restart(port: number): Promise<void> {
    const i = this.ports.indexOf(port);
    let lastError: unknown;
    for (let n = 0; n < 20; n++) {
      try {
        await this.launchNode(i);
        lastError = undefined;
        break;
      } catch (e) {
        lastError = e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (lastError !== undefined) throw lastError;
    for (const p of this.ports) {
      await waitUntil(`cluster_state:ok on node ${p}`, async () => /cluster_state:ok/.test(await run('redis-cli', ['-p', String(p), 'cluster', 'info'])), 60_000);
    }
  }

  /** Who serves which slots (CLUSTER SLOTS asked of the first node). */
  private async readSlots(): Promise<ClusterNode[]> {
    const c = await this.direct(this.ports[0] as number);
    try {
      const slots = await c.call('CLUSTER', 'SLOTS') as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      return this.ports.map((p) => ({ port: p, slots: slots.filter((s) => Number(s[2][1]) === p).map((s): [number, number] => [Number(s[0]), Number(s[1])]) }));
    } finally {
      c.disconnect();
    }
  }

  /** A plain (non-cluster) client of one node: what it answers is that node's own view (MOVED included). */
  async direct(port: number): Promise<Redis> {
    const c = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true, retryStrategy: () => null });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  /** The port of the master serving `key` (CLUSTER KEYSLOT, then the slot map). */
  async ownerOf(key: string): Promise<number> {
    const c = await this.direct(this.ports[0] as number);
    let slot: number;
    try {
      slot = Number(await c.call('CLUSTER', 'KEYSLOT', key));
    } finally {
      c.disconnect();
    }
    const owner = this.nodes.find((n) => n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (owner === undefined) throw new Error(`nobody serves slot ${slot}`);
    return owner.port;
  }

  /** A key `{TAG-N}:SUFFIX` whose slot is not served by the node on `port` (so a client seeded there is redirected). */
  async keyNotOn(port: number, tag: string, suffix: string): Promise<string> {
    for (let n = 0; n < 100; n++) {
      const key = `{${tag}-${n}}:${suffix}`;
      if (await this.ownerOf(key) !== port) return key;
    }
    throw new Error(`no key off node ${port}`);
  }

  /** A stream URL seeded with the node on `port` (the first node by default). */
  url(key: string, port = this.ports[0] as number, cluster = true): string {
    return `redis://127.0.0.1:${port}/${key}${cluster ? '?cluster=1' : ''}`;
  }

  stop(): void {
    for (const child of this.children) child?.kill('SIGKILL');
    this.children.length = 0;
    for (const dir of this.dirs) fs.rmSync(dir, { recursive: true, force: true });
    this.dirs.length = 0;
  }
}
