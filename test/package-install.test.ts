/**
 * The package as a user gets it: `npm pack` this checkout (which runs `prepack`: the shipped build and the
 * N-API prebuild), check what the tarball holds, install it into a fresh directory with no compiler on PATH
 * (PATH is a folder of symlinks to node, sh and a few file tools — no cc, c++, g++, make or python3), then
 * run the installed commands: a file command on the bundled sample, the library through `require`, `import`
 * and TypeScript's `types` resolution, a BPF filter, and (as root) a short live capture on lo.
 *
 * Needs the npm registry (or npm's cache) for the package's dependencies, like any install.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { sendUdp, udpSink } from './helpers/live';
import { listening } from './helpers/child';

const ROOT = path.resolve(__dirname, '..', '..');
const NPM_CLI = [
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'),
].find((f) => fs.existsSync(f));
const PREBUILD_PLATFORM = `${process.platform}-${process.arch}`;
/** Where we ship a prebuild; elsewhere the install builds from source and this test does not apply. */
const shipsPrebuild = PREBUILD_PLATFORM === 'linux-x64';
const skip = !NPM_CLI ? "npm's own npm-cli.js not found next to node" : !shipsPrebuild ? `no prebuild is shipped for ${PREBUILD_PLATFORM}` : false;
const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make', 'python3', 'python'];
/** What npm and our scripts run during an install and the commands below, besides node. */
const TOOLS = ['sh', 'env', 'cat', 'ls', 'mkdir', 'rm', 'tar', 'gzip', 'uname'];

interface Installed { dir: string; pathDir: string; env: NodeJS.ProcessEnv; tarball: string; files: string[]; installMs: number; installLog: string }

/** A PATH folder of symlinks to node and the TOOLS, and nothing that compiles. */
function compilerFreePath(base: string): string {
  const bin = path.join(base, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const tool of TOOLS) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status === 0) fs.symlinkSync(r.stdout.trim(), path.join(bin, tool));
  }
  return bin;
}

let installed: Promise<Installed> | undefined;

/** Packs once and installs once for all the tests of this file. */
function install(): Promise<Installed> {
  installed ??= (async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-pkg-'));
    const packDir = path.join(base, 'pack');
    fs.mkdirSync(packDir);
    // npm pack runs prepack (tsc + prebuildify: this needs the checkout's toolchain, as publishing does).
    const pack = spawnSync(process.execPath, [NPM_CLI!, 'pack', '--pack-destination', packDir], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
    assert.equal(pack.status, 0, `npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
    const tarball = path.join(packDir, fs.readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));

    const dir = path.join(base, 'app');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const pathDir = compilerFreePath(base);
    // A clean environment: no npm_config_* inherited from an `npm test` around us, no compiler variables.
    const env: NodeJS.ProcessEnv = { PATH: pathDir, HOME: process.env.HOME ?? os.homedir(), TMPDIR: os.tmpdir(), npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [NPM_CLI!, 'install', '--prefer-offline', '--foreground-scripts', tarball], { cwd: dir, encoding: 'utf8', env });
    const installMs = Date.now() - t0;
    assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
    return { dir, pathDir, env, tarball, files, installMs, installLog: r.stdout + r.stderr };
  })();
  return installed;
}

/** Runs an installed command (through node_modules/.bin, as a user's shell would) with the compiler-free PATH. */
function runInstalled(inst: Installed, command: string, args: string[], input?: Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(path.join(inst.dir, 'node_modules', '.bin', command), args, { cwd: inst.dir, env: inst.env, input, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

test('the tarball ships the build, the prebuild, the sources to rebuild, and no tests or build leftovers', { skip }, async (t) => {
  const inst = await install();
  t.diagnostic(`tarball ${path.basename(inst.tarball)}: ${fs.statSync(inst.tarball).size} bytes, ${inst.files.length} files`);
  const has = (f: string): boolean => inst.files.includes(f);
  for (const f of ['package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/bin/pcap-pipe.js', 'dist/bin/http_trace.js',
    'dist/bin/simple_capture.js', 'dist/bin/network_grep.js', 'dist/addon/index.js', 'binding.gyp', 'addon/addon.cc', 'scripts/build-addon.js',
    'web/index.html', 'web/app.js', 'samples/http-sample.pcap']) {
    assert.ok(has(f), `${f} is missing from the tarball`);
  }
  const prebuilds = inst.files.filter((f) => f.startsWith(`prebuilds/${PREBUILD_PLATFORM}/`) && f.endsWith('.node'));
  assert.equal(prebuilds.length, 1, `one prebuild for ${PREBUILD_PLATFORM}: ${prebuilds.join(', ')}`);
  const unwanted = inst.files.filter((f) => /^(dist\/(test|bench)\/|test\/|bench\/|build\/|node_modules\/|\.prebuild-stage\/)/.test(f) || f.endsWith('.tsbuildinfo') || f.endsWith('.ts') && !f.endsWith('.d.ts'));
  assert.deepEqual(unwanted, []);
  const license = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License/);
  assert.match(license, /pcap-pipe contributors/);
});

test('npm install of the tarball with no compiler on PATH uses the prebuild and builds nothing', { skip }, async (t) => {
  const inst = await install();
  t.diagnostic(`install without a compiler: ${inst.installMs} ms`);
  for (const c of COMPILERS) assert.ok(!fs.existsSync(path.join(inst.pathDir, c)), `${c} must not be on the test PATH`);
  const reachable = spawnSync('sh', ['-c', COMPILERS.map((c) => `command -v ${c}`).join('; ')], { env: inst.env, encoding: 'utf8' });
  assert.equal(reachable.stdout, '', 'a compiler is reachable on the test PATH');
  const pkg = path.join(inst.dir, 'node_modules', 'pcap-pipe');
  assert.match(inst.installLog, /using the prebuilt addon prebuilds\//);
  assert.ok(!fs.existsSync(path.join(pkg, 'build')), 'the install ran a build');
  // The library resolves its addon to the shipped prebuild and it works (libpcap's version, the device list).
  const probe = spawnSync(process.execPath, ['-e', `
    const p = require('pcap-pipe');
    process.stdout.write(JSON.stringify({ available: p.addonAvailable(), version: p.libVersion(), lo: p.devices().some((d) => d.name === 'lo') }));`], { cwd: inst.dir, env: inst.env, encoding: 'utf8' });
  assert.equal(probe.status, 0, probe.stderr);
  const info = JSON.parse(probe.stdout) as { available: boolean; version: string; lo: boolean };
  assert.equal(info.available, true);
  assert.match(info.version, /^libpcap version /);
  if (process.platform === 'linux') assert.equal(info.lo, true);
});

test('the installed package: require, import, types, and a file command on the bundled sample', { skip }, async () => {
  const inst = await install();
  const sample = path.join(inst.dir, 'node_modules', 'pcap-pipe', 'samples', 'http-sample.pcap');
  // http_trace -r as installed prints what this checkout's build prints.
  const got = runInstalled(inst, 'http_trace', ['-r', sample, '--no-color']);
  assert.equal(got.status, 0, got.stderr);
  const want = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bin', 'http_trace.js'), '-r', sample, '--no-color'], { encoding: 'utf8' });
  assert.equal(want.status, 0, want.stderr);
  assert.ok(want.stdout.length > 0);
  assert.equal(got.stdout.toString(), want.stdout);
  // pcap-pipe read | filter: the BPF compiler comes from the prebuilt addon.
  const read = runInstalled(inst, 'pcap-pipe', ['read', sample]);
  assert.equal(read.status, 0, read.stderr);
  const filtered = runInstalled(inst, 'pcap-pipe', ['filter', 'tcp[tcpflags] & tcp-syn != 0'], read.stdout);
  assert.equal(filtered.status, 0, filtered.stderr);
  const syns = parseCaptureBuffer(filtered.stdout);
  assert.ok(syns.length >= 2 && syns.length < parseCaptureBuffer(read.stdout).length, `${syns.length} SYN packets`);

  // CommonJS require, ESM import (through the exports map) and package.json.
  const cjs = spawnSync(process.execPath, ['-e', `
    const { readCaptureFile, decode, tcp, http } = require('pcap-pipe');
    const { pipeline } = require('node:stream/promises');
    const { Writable } = require('node:stream');
    let requests = 0;
    pipeline(readCaptureFile(${JSON.stringify(sample)}), decode(), tcp(), http(),
      new Writable({ objectMode: true, write(ev, _e, cb) { if (ev.type === 'request') requests++; cb(); } }))
      .then(() => console.log(requests, require('pcap-pipe/package.json').name));`], { cwd: inst.dir, env: inst.env, encoding: 'utf8' });
  assert.equal(cjs.status, 0, cjs.stderr);
  const [requests, name] = cjs.stdout.trim().split(' ');
  assert.ok(Number(requests) > 0);
  assert.equal(name, 'pcap-pipe');
  fs.writeFileSync(path.join(inst.dir, 'probe.mjs'), "import { readCaptureFile, formatTimestamp } from 'pcap-pipe';\nconsole.log(typeof readCaptureFile, typeof formatTimestamp);\n");
  const esm = spawnSync(process.execPath, ['probe.mjs'], { cwd: inst.dir, env: inst.env, encoding: 'utf8' });
  assert.equal(esm.status, 0, esm.stderr);
  assert.equal(esm.stdout.trim(), 'function function');
  // A deep import outside the exports map is refused, as the map intends.
  const deep = spawnSync(process.execPath, ['-e', "require('pcap-pipe/dist/lib/core/record.js')"], { cwd: inst.dir, env: inst.env, encoding: 'utf8' });
  assert.notEqual(deep.status, 0);
  assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);

  // TypeScript finds the types through the exports map's "types" condition (node16 resolution).
  fs.writeFileSync(path.join(inst.dir, 'probe.ts'), [
    "import { readCaptureFile, type PacketRecord, type HttpRequestEvent } from 'pcap-pipe';",
    'const r: PacketRecord | undefined = undefined;',
    "const m: HttpRequestEvent['method'] = 'GET';",
    'void readCaptureFile; void r; void m;',
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(inst.dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, typeRoots: [path.join(ROOT, 'node_modules', '@types')], types: ['node'] }, files: ['probe.ts'] }));
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', inst.dir], { cwd: inst.dir, encoding: 'utf8' });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});

test('the installed pcap-pipe captures live on lo with the prebuilt addon', { skip: skip || (process.platform !== 'linux' ? 'live capture on the Linux loopback' : process.getuid?.() !== 0 ? 'live capture needs root' : false) }, async () => {
  const inst = await install();
  const sink = await udpSink();
  const file = path.join(inst.dir, 'live.pcap');
  const child = spawn(path.join(inst.dir, 'node_modules', '.bin', 'pcap-pipe'), ['capture', '-i', 'lo', '--immediate', '-c', '3', '-w', file, 'udp', 'dst', 'port', String(sink.port)], { cwd: inst.dir, env: inst.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await listening(child);
    await sendUdp(sink.port, 20, 64, 5);
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill();
    sink.close();
  }
  assert.match(stderr, /^3 packets captured$/m);
  const records = parseCaptureBuffer(fs.readFileSync(file));
  assert.equal(records.length, 3);
  // The first three datagrams, in order: each payload starts with its sequence number.
  assert.deepEqual(records.map((r) => r.data.readUInt32BE(r.data.length - 64)), [0, 1, 2]);
});
