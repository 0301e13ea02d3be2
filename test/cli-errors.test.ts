/**
 * Every command through every bad path (issue 15, point 2): one line on stderr, "COMMAND: WHAT: WHY", no
 * stack trace, and the documented exit status — tcpdump's 1 for a runtime error and 2 for usage; grep's
 * 0/1/2 (2 for any error) for `pcap-pipe grep` and network_grep. A closed pipe (`| head -1`) is silent,
 * exit 0. `--version` prints "NAME VERSION". Each case runs the built command as a separate process on
 * real files: missing, unreadable (mode 000, run as nobody: root ignores modes), a directory, empty,
 * text, a capture cut short, an unwritable output, a full one (/dev/full), a closed pipe, bad flags,
 * bad values, bad filter expressions.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { Duplex } from 'node:stream';
import { pcapFile, tcpConversation, type Side } from './helpers/craft';
import { REPO_ROOT } from './helpers/oracle';
import { addonAvailable } from '../addon/index';

const BIN = path.join(__dirname, '..', 'bin');
const PCAP_PIPE = path.join(BIN, 'pcap-pipe.js');
const HTTP_TRACE = path.join(BIN, 'http_trace.js');
const NETWORK_GREP = path.join(BIN, 'network_grep.js');
const SIMPLE_CAPTURE = path.join(BIN, 'simple_capture.js');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const IS_ROOT = process.getuid?.() === 0;
const CI = process.env.CI === 'true';

// ---------------------------------------------------------------------------------------------------
// The inputs, made once in a directory every user can enter (the unreadable case runs as nobody).

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-cli-errors-'));
fs.chmodSync(DIR, 0o755);
process.on('exit', () => fs.rmSync(DIR, { recursive: true, force: true }));
const at = (name: string): string => path.join(DIR, name);

/** A ClientHello as Node's TLS client sends it (written to a stream, no network), for `pcap-pipe tls`. */
async function clientHello(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const socket = new Duplex({ read() { /* never answers */ }, write(c: Buffer, _e, cb) { chunks.push(c); cb(); } });
  const client = tls.connect({ socket, servername: 'example.test', rejectUnauthorized: false });
  client.on('error', () => undefined);
  for (let i = 0; i < 100 && chunks.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  client.destroy();
  return Buffer.concat(chunks);
}

/**
 * A capture big enough that every printing command writes far more than a pipe holds (so a reader that
 * goes away really gives it EPIPE): HTTP exchanges and TLS ClientHellos on many connections, plus the
 * bundled sample's WebSocket traffic for `pcap-pipe ws`.
 */
async function makeInputs(): Promise<void> {
  const hello = await clientHello();
  const frames: Buffer[] = [];
  for (let i = 0; i < 600; i++) {
    const body = `hello ${i} `.repeat(20);
    const talk: [Side, Buffer][] = [
      ['c', Buffer.from(`GET /item/${i} HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\n\r\n`)],
      ['s', Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`)],
    ];
    frames.push(...tcpConversation(talk, { port: 20000 + i, serverPort: 80 }));
    frames.push(...tcpConversation([['c', hello]], { port: 40000 + i, serverPort: 443 }));
  }
  fs.writeFileSync(at('big.pcap'), pcapFile(frames));
  const sample = fs.readFileSync(SAMPLE);
  fs.writeFileSync(at('good.pcap'), sample);
  fs.writeFileSync(at('unreadable.pcap'), sample);
  fs.chmodSync(at('unreadable.pcap'), 0o000);
  fs.mkdirSync(at('dir.pcap'));
  fs.writeFileSync(at('empty.pcap'), '');
  fs.writeFileSync(at('text.pcap'), 'this is a text file, not a capture\n');
  fs.writeFileSync(at('cut.pcap'), sample.subarray(0, sample.length - 37)); // cut inside the last record
  // HARs for har2ndjson: a good one (written by http --har), one cut short, and the same bad paths
  const har = spawnSync(process.execPath, [PCAP_PIPE, 'http', '--har', at('good.har'), at('big.pcap')], { stdio: 'ignore' });
  assert.equal(har.status, 0, 'http --har made the HAR input');
  const harText = fs.readFileSync(at('good.har'));
  fs.writeFileSync(at('cut.har'), harText.subarray(0, Math.floor(harText.length / 2)));
  fs.writeFileSync(at('unreadable.har'), harText);
  fs.chmodSync(at('unreadable.har'), 0o000);
  fs.mkdirSync(at('dir.har'));
  fs.writeFileSync(at('empty.har'), '');
  fs.writeFileSync(at('text.har'), 'this is a text file, not a HAR\n');
}

// ---------------------------------------------------------------------------------------------------
// The commands.

interface Command {
  /** The name its messages start with (and --version prints). */
  name: string;
  /** The script and the arguments before the input (the subcommand). */
  argv: string[];
  /** Arguments that read the input FILE; undefined: the command reads no file (stdin only, or live). */
  input?: (file: string) => string[];
  /** What its input files are: captures, or HAR documents. */
  kind?: 'capture' | 'har';
  /** Arguments that run it well with output on stdout (for /dev/full and the closed pipe). */
  good?: string[];
  /** stdin for `good` (for commands that read only stdin). */
  goodStdin?: string;
  /** Arguments that write to the output file OUT (an unwritable one in the test). */
  output?: (out: string) => string[];
  /** A bad value of an option that takes one (a usage error). */
  badValue?: string[];
  /** A bad filter expression (a usage error). */
  badFilter?: string[];
  /** The status of a runtime error: 1 (tcpdump), 2 (grep, whose 1 means "nothing matched"). */
  runtime: 1 | 2;
  /** Needs the libpcap addon (live capture, devices, BPF). */
  addon?: boolean;
  /** Keeps serving after its input ends: stopped with SIGINT once its line is out. */
  serves?: boolean;
  /** Lines of normal chatter on stderr that are not the error (capture's "listening on"). */
  chatter?: RegExp;
}

const pp = (sub: string): string[] => [PCAP_PIPE, sub];

const COMMANDS: Command[] = [
  { name: 'pcap-pipe read', argv: pp('read'), input: (f) => [f], good: ['big.pcap'], output: (o) => ['-w', o, 'good.pcap'], badValue: ['--format', 'pcapx', 'good.pcap'], runtime: 1 },
  { name: 'pcap-pipe write', argv: pp('write'), good: ['-'], goodStdin: 'big.pcap', output: (o) => [o], badValue: ['--format', 'pcapx', 'out.pcap'], runtime: 1 },
  { name: 'pcap-pipe print', argv: pp('print'), input: (f) => [f], good: ['big.pcap'], runtime: 1 },
  { name: 'pcap-pipe filter', argv: pp('filter'), input: (f) => ['-r', f, 'tcp'], good: ['-r', 'big.pcap', 'tcp'], output: (o) => ['-r', 'good.pcap', '-w', o, 'tcp'], badValue: ['-s', '-5', 'tcp'], badFilter: ['-r', 'good.pcap', 'tcp', 'port'], runtime: 1, addon: true },
  { name: 'pcap-pipe info', argv: pp('info'), input: (f) => [f], good: ['good.pcap', 'big.pcap'], runtime: 1 },
  { name: 'pcap-pipe tcp', argv: pp('tcp'), input: (f) => [f], good: ['big.pcap'], runtime: 1 },
  { name: 'pcap-pipe follow', argv: pp('follow'), input: (f) => [f], good: ['big.pcap'], output: (o) => ['-o', o, 'good.pcap'], badValue: ['--stream', '-5', 'good.pcap'], runtime: 1 },
  { name: 'pcap-pipe grep', argv: pp('grep'), input: (f) => ['GET', f], good: ['--text', 'GET', 'big.pcap'], badValue: ['-n', '-5', 'GET', 'good.pcap'], badFilter: ['(', 'good.pcap'], runtime: 2 },
  { name: 'pcap-pipe http', argv: pp('http'), input: (f) => [f], good: ['big.pcap'], output: (o) => ['--har', o, 'good.pcap'], badValue: ['--max-body', '-5', 'good.pcap'], runtime: 1 },
  { name: 'pcap-pipe ws', argv: pp('ws'), input: (f) => [f], good: ['good.pcap'], badValue: ['--max-body', '-5', 'good.pcap'], runtime: 1 },
  { name: 'pcap-pipe tls', argv: pp('tls'), input: (f) => [f], good: ['big.pcap'], runtime: 1 },
  { name: 'pcap-pipe serve', argv: pp('serve'), input: (f) => [f], badValue: ['--port', '-5', 'good.pcap'], runtime: 1, serves: true },
  { name: 'pcap-pipe capture', argv: pp('capture'), output: (o) => ['-i', 'lo', '-c', '1', '-w', o], badValue: ['-c', '-5'], badFilter: ['-i', 'lo', 'tcp', 'port'], runtime: 1, addon: true },
  { name: 'pcap-pipe devices', argv: pp('devices'), good: [], runtime: 1, addon: true },
  { name: 'pcap-pipe har2ndjson', argv: pp('har2ndjson'), input: (f) => [f], kind: 'har', good: ['good.har'], badValue: ['--max-body', '-5', 'good.har'], runtime: 1 },
  { name: 'simple_capture', argv: [SIMPLE_CAPTURE], input: (f) => ['-r', f], good: ['-r', 'big.pcap'], badFilter: ['-r', 'good.pcap', 'tcp', 'port'], runtime: 1, addon: true },
  { name: 'http_trace', argv: [HTTP_TRACE], input: (f) => ['-r', f], good: ['-r', 'big.pcap'], output: (o) => ['-r', 'good.pcap', '--har', o], badValue: ['--max-body', '-5', '-r', 'good.pcap'], badFilter: ['-r', 'good.pcap', '-f', 'tcp port'], runtime: 1 },
  { name: 'network_grep', argv: [NETWORK_GREP], input: (f) => ['-I', f, 'GET'], good: ['-I', 'big.pcap', 'GET'], output: (o) => ['-I', 'good.pcap', '-O', o, 'GET'], badValue: ['-n', '-5', '-I', 'good.pcap', 'GET'], badFilter: ['-I', 'good.pcap', 'GET', 'port', 'bogus'], runtime: 2 },
];

// ---------------------------------------------------------------------------------------------------
// Running one case and checking the one-line rule.

interface Result { status: number | null; stdout: string; stderr: string }

interface RunOptions {
  stdin?: string;
  /** stdout: a pipe (default), /dev/full, or a pipe closed after the first bytes arrive. */
  stdout?: 'pipe' | 'full' | 'closed';
  asNobody?: boolean;
}

function spawnArgs(cmd: Command, args: string[], asNobody: boolean): [string, string[]] {
  const node = [...cmd.argv, ...args];
  return asNobody ? ['runuser', ['-u', 'nobody', '--', process.execPath, ...node]] : [process.execPath, node];
}

function stdinFd(o: RunOptions): number | 'ignore' {
  return o.stdin === undefined ? 'ignore' : fs.openSync(at(o.stdin), 'r');
}

/** Runs a command that ends by itself. */
async function run(cmd: Command, args: string[], o: RunOptions = {}): Promise<Result> {
  const [file, argv] = spawnArgs(cmd, args, o.asNobody === true);
  const stdin = stdinFd(o);
  if (o.stdout !== 'closed') {
    const full = o.stdout === 'full' ? fs.openSync('/dev/full', 'w') : undefined;
    const r: SpawnSyncReturns<string> = spawnSync(file, argv, { cwd: DIR, encoding: 'utf8', timeout: 120_000, stdio: [stdin, full ?? 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
    if (full !== undefined) fs.closeSync(full);
    if (typeof stdin === 'number') fs.closeSync(stdin);
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }
  // `| head -1`: the reader goes away after the first bytes; the command must end quietly with 0
  const child = spawn(file, argv, { cwd: DIR, stdio: [stdin, 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.once('data', (d: Buffer) => {
    stdout = d.toString();
    child.stdout?.destroy();
  });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  if (typeof stdin === 'number') fs.closeSync(stdin);
  return { status, stdout, stderr };
}

/** Runs a command that serves until Ctrl-C: SIGINT once it said `until` on stderr or exited. */
async function runServing(cmd: Command, args: string[], until: RegExp): Promise<Result> {
  const child = spawn(process.execPath, [...cmd.argv, ...args], { cwd: DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  const check = (): void => {
    if (!sent && until.test(stderr) && /open http/.test(stdout)) { sent = true; child.kill('SIGINT'); }
  };
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); check(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); check(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(timer);
  return { status, stdout, stderr };
}

/** The one-line rule: exactly one non-empty stderr line (besides the command's chatter), no stack frame, the status. */
function assertOneLine(cmd: Command, what: string, r: Result, status: number, line: RegExp): void {
  const where = `${cmd.name} ${what}: exit ${r.status}, stderr ${JSON.stringify(r.stderr)}`;
  assert.doesNotMatch(r.stderr, /^ {4}at /m, `${where}: a stack trace`);
  assert.doesNotMatch(r.stderr, /internal error|Error \[|\{\n|errno:/, `${where}: a raw error`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !(cmd.chatter?.test(l) ?? false));
  assert.equal(lines.length, 1, `${where}: not one line`);
  assert.ok((lines[0] as string).startsWith(`${cmd.name}: `), `${where}: does not start with "${cmd.name}: "`);
  assert.match(lines[0] as string, line, where);
  assert.equal(r.status, status, where);
}

const nobodyReason = ((): string | false => {
  if (!IS_ROOT) return false; // not root: the mode is enforced for us already
  if (spawnSync('runuser', ['--version']).status !== 0) return CI ? false : 'runuser not installed';
  if (spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', PCAP_PIPE]).status !== 0) return CI ? false : 'nobody cannot read the build';
  return false;
})();

const skipAddon = (cmd: Command): string | false => (cmd.addon && !addonAvailable() ? 'libpcap addon not built' : false);

// ---------------------------------------------------------------------------------------------------
// The table.

test('the inputs', async () => {
  await makeInputs();
});

for (const cmd of COMMANDS) {
  test(`${cmd.name}: --version, bad flags, bad values, bad filters`, { skip: skipAddon(cmd) }, async () => {
    const v = await run(cmd, ['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout, `${cmd.name} ${VERSION}\n`);
    assert.equal(v.stderr, '');

    assertOneLine(cmd, '--bogus', await run(cmd, ['--bogus']), 2, /unknown option --bogus \(.* --help for usage\)$/);
    if (cmd.badValue) {
      const r = await run(cmd, cmd.badValue);
      assertOneLine(cmd, cmd.badValue.join(' '), r, 2, /needs|must be|takes/);
      assert.doesNotMatch(r.stderr, /unknown option/, 'a bad value is not an unknown option');
    }
    if (cmd.badFilter) assertOneLine(cmd, `filter ${cmd.badFilter.join(' ')}`, await run(cmd, cmd.badFilter), 2, /filter|pattern|regular expression/i);
  });

  if (cmd.input) {
    const input = cmd.input;
    const ext = cmd.kind === 'har' ? 'har' : 'pcap';
    test(`${cmd.name}: missing, unreadable, directory, empty, text and cut-short inputs`, { skip: skipAddon(cmd) }, async () => {
      const runIn = (file: string, o: RunOptions = {}): Promise<Result> => (cmd.serves ? runServing(cmd, input(file), /\S/) : run(cmd, input(file), o));
      assertOneLine(cmd, 'missing', await runIn(at(`nope.${ext}`)), cmd.runtime, new RegExp(`nope\\.${ext}: no such file or directory$`));
      assertOneLine(cmd, 'directory', await runIn(at(`dir.${ext}`)), cmd.runtime, new RegExp(`dir\\.${ext}: is a directory$`));
      if (nobodyReason === false && !cmd.serves) {
        assertOneLine(cmd, 'unreadable', await run(cmd, input(at(`unreadable.${ext}`)), { asNobody: IS_ROOT }), cmd.runtime, new RegExp(`unreadable\\.${ext}: permission denied$`));
      }
      const notCapture = cmd.kind === 'har' ? /not a HAR document/ : /neither pcap nor pcapng.*\[PCAP_BAD_MAGIC\]$/;
      assertOneLine(cmd, 'empty', await runIn(at(`empty.${ext}`)), cmd.runtime, cmd.kind === 'har' ? notCapture : /empty\.pcap: input is empty.*\[PCAP_TRUNCATED\]$/);
      assertOneLine(cmd, 'text', await runIn(at(`text.${ext}`)), cmd.runtime, notCapture);
      // cut short: the complete packets are used (output), then one line and status 1 (grep: 2)
      const cut = await runIn(at(`cut.${ext}`));
      assertOneLine(cmd, 'cut short', cut, cmd.runtime, cmd.kind === 'har' ? notCapture : /cut\.pcap: capture file cut short.*\[PCAP_TRUNCATED\]/);
      if (cmd.kind !== 'har' && cmd.name !== 'pcap-pipe tls') assert.ok(cut.stdout.length > 0, `${cmd.name}: the complete packets were used`);
    });
  }

  if (cmd.output) {
    const output = cmd.output;
    const live = cmd.name === 'pcap-pipe capture' && !IS_ROOT ? 'live capture needs root' : false;
    test(`${cmd.name}: an output it cannot create`, { skip: skipAddon(cmd) || live }, async () => {
      const r = await run(cmd, output('/proc/pcap-pipe-nope/out'), cmd.name === 'pcap-pipe write' ? { stdin: 'good.pcap' } : {});
      assertOneLine(cmd, 'unwritable output', r, cmd.runtime, /\/proc\/pcap-pipe-nope\/out: no such file or directory$/);
    });
  }

  if (cmd.good) {
    const good = cmd.good;
    test(`${cmd.name}: a full output (/dev/full), a closed pipe (| head -1)`, { skip: skipAddon(cmd) }, async () => {
      const full = await run(cmd, good, { stdout: 'full', stdin: cmd.goodStdin });
      assertOneLine(cmd, '> /dev/full', full, cmd.runtime, /: stdout: no space left on device$/);
      const closed = await run(cmd, good, { stdout: 'closed', stdin: cmd.goodStdin });
      assert.ok(closed.stdout.length > 0, `${cmd.name}: wrote something before the pipe closed`);
      assert.equal(closed.stderr, '', `${cmd.name} | head -1: silent`);
      assert.equal(closed.status, 0, `${cmd.name} | head -1: exit 0`);
    });
  }
}

test('pcap-pipe itself: --version, an unknown command, no command', async () => {
  const top: Command = { name: 'pcap-pipe', argv: [PCAP_PIPE], runtime: 1 };
  const v = await run(top, ['--version']);
  assert.equal(v.stdout, `pcap-pipe ${VERSION}\n`);
  assert.equal(v.status, 0);
  assertOneLine(top, 'frobnicate', await run(top, ['frobnicate']), 2, /unknown command "frobnicate"/);
  assertOneLine(top, '(none)', await run(top, []), 2, /no command given/);
});
