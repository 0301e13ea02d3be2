/**
 * The progress line for real, on a pseudo-terminal (script(1)): the commands that read a capture draw it on
 * stderr (the terminal) while stdout goes to a pipe or file, stdout is byte for byte what it is without the
 * line, and there is no line with -q, with stderr not a terminal, or with stdout on the same terminal. A
 * capture on a pipe (unknown size) gets bytes and packets/s without % and ETA.
 *
 * The output goes through a consumer that starts reading after a second, so every run lasts longer than
 * the first redraw (250 ms) however fast the machine is; no time is asserted.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/oracle.js';

const BIN = path.join(__dirname, '..', 'bin');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;
const skip = HAS_SCRIPT ? false : 'script(1) not installed';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-progress-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** A ~12 MB classic pcap: the sample's records over and over (the stages do not mind repeated connections). */
const BIG = path.join(dir, 'big.pcap');
{
  const b = fs.readFileSync(SAMPLE);
  const records = b.subarray(24);
  const parts = [b.subarray(0, 24)];
  for (let n = 0; n < Math.ceil(12e6 / records.length); n++) parts.push(records);
  fs.writeFileSync(BIG, Buffer.concat(parts));
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The commands that read a capture, as shell words after node. `slowStdin`: the command reads stdin, the
 * first MiB of the capture then the rest a second later (info writes nothing until the end and follow
 * writes a few KB, so a slow reader of their output would not make them last): a pipe, size unknown.
 */
const COMMANDS: { name: string; args: string[]; slowStdin?: true }[] = [
  { name: 'pcap-pipe read (copy)', args: [path.join(BIN, 'pcap-pipe.js'), 'read', BIG] },
  { name: 'pcap-pipe read --format pcapng', args: [path.join(BIN, 'pcap-pipe.js'), 'read', '--format', 'pcapng', BIG] },
  { name: 'pcap-pipe print', args: [path.join(BIN, 'pcap-pipe.js'), 'print', BIG] },
  { name: 'pcap-pipe tcp', args: [path.join(BIN, 'pcap-pipe.js'), 'tcp', BIG] },
  // --tcp-verbose: the repeated records print as retransmissions (MBs of output), so the slow stdout reader
  // holds the run past the first redraw; without it the HTTP lines are a few and a fast machine ends first
  { name: 'pcap-pipe http', args: [path.join(BIN, 'pcap-pipe.js'), 'http', '--tcp-verbose', BIG] },
  { name: 'pcap-pipe grep', args: [path.join(BIN, 'pcap-pipe.js'), 'grep', 'GET', BIG] },
  { name: 'pcap-pipe filter', args: [path.join(BIN, 'pcap-pipe.js'), 'filter', '-r', BIG, 'tcp'] },
  // follow prints the first stream only (3 KB, less than a pipe holds) and now ends in ~0.25 s: a slow stdout
  // reader would not hold it up, a paused input does
  { name: 'pcap-pipe follow', args: [path.join(BIN, 'pcap-pipe.js'), 'follow'], slowStdin: true },
  { name: 'pcap-pipe info', args: [path.join(BIN, 'pcap-pipe.js'), 'info'], slowStdin: true },
  { name: 'http_trace -r', args: [path.join(BIN, 'http_trace.js'), '-r', BIG, '--tcp-verbose'] },
  { name: 'simple_capture -r', args: [path.join(BIN, 'simple_capture.js'), '-r', BIG] },
  { name: 'network_grep -I', args: [path.join(BIN, 'network_grep.js'), '-I', BIG, 'GET'] },
];

const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC' };
delete env.NO_COLOR;

/**
 * Runs `shell` (a sh command line) on a pseudo-terminal; returns what the terminal showed. The line is
 * looked for there, the command's stdout is in a file.
 */
function onTty(shell: string): string {
  const r = spawnSync('script', ['-qefc', shell, '/dev/null'], { env, encoding: 'latin1', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `${shell}: ${r.stdout.slice(-500)} ${r.stderr}`);
  return r.stdout;
}

function sha(file: string): string {
  return require('node:crypto').createHash('sha256').update(fs.readFileSync(file)).digest('hex') as string;
}

/** The progress lines drawn: the pieces between carriage returns that look like one. */
function progressLines(tty: string, name: string): string[] {
  // a drawn line ends by erasing the rest of the row (ESC [K); the closing counts line does not
  return tty.split('\r').filter((s) => s.startsWith(`${name}: `) && s.includes(' packets') && s.endsWith('\x1b[K'));
}

for (const c of COMMANDS) {
  test(`${c.name}: a progress line on a terminal's stderr; stdout the same as without it`, { skip }, () => {
    const cmd = (c.slowStdin ? `(head -c 1048576 ${q(BIG)}; sleep 1; tail -c +1048577 ${q(BIG)}) | ` : '') + [process.execPath, ...c.args].map(q).join(' ');
    const name = c.name.split(/ (?=-|\()/)[0] as string;
    const plainOut = path.join(dir, 'plain.out');
    const ttyOut = path.join(dir, 'tty.out');
    // reference: stderr not a terminal
    const plain = onTty(`${cmd} 2>${q(path.join(dir, 'plain.err'))} | (sleep 1; cat > ${q(plainOut)})`);
    assert.equal(plain, '', 'nothing on the terminal when stderr is a file');
    assert.ok(!fs.readFileSync(path.join(dir, 'plain.err'), 'latin1').includes('packets'), 'no line in a file');
    // stderr the terminal, stdout a slow pipe
    const shown = onTty(`${cmd} 2>/dev/tty | (sleep 1; cat > ${q(ttyOut)})`);
    const lines = progressLines(shown, name);
    assert.ok(lines.length >= 1, `a progress line: ${JSON.stringify(shown.slice(0, 300))}`);
    for (const l of lines) {
      if (c.slowStdin) assert.match(l, /^[^:]+: [\d.]+ (B|KiB|MiB) {2}[\d.]+ (k )?packets {2}[\d.]+ (k |M )?packets\/s\x1b\[K$/, l);
      else assert.match(l, /^[^:]+: [\d.]+ (B|KiB|MiB) \/ 11\.\d MiB {2}\d+% {2}[\d.]+ (k )?packets {2}[\d.]+ (k |M )?packets\/s {2}ETA (\d+:\d\d|\?)\x1b\[K$/, l);
    }
    // cleared at the end: the last line drawn is erased (what follows is http's closing counts, on a terminal)
    const last = lines[lines.length - 1] as string;
    const after = shown.slice(shown.lastIndexOf(last) + last.length);
    assert.ok(after.startsWith('\r\x1b[K'), JSON.stringify(after.slice(0, 80)));
    assert.ok(after === '\r\x1b[K' || /^\r\x1b\[K(http_trace|pcap-pipe http): \d+ requests/.test(after), JSON.stringify(after.slice(0, 200)));
    assert.equal(sha(ttyOut), sha(plainOut), 'stdout byte-identical');
    // -q: none
    const quiet = onTty(`${cmd} -q 2>/dev/tty | (sleep 1; cat > ${q(path.join(dir, 'q.out'))})`);
    assert.deepEqual(progressLines(quiet, name), [], '-q');
    // (network_grep's -q also leaves out its header lines)
    if (!c.name.startsWith('network_grep')) assert.equal(sha(path.join(dir, 'q.out')), sha(plainOut), 'stdout with -q');
  });
}

test('stdout on the same terminal: no progress line', { skip }, () => {
  const both = onTty(`${[process.execPath, path.join(BIN, 'pcap-pipe.js'), 'http', '--json', BIG].map(q).join(' ')}`);
  assert.ok(both.includes('"type":"request"'), 'the output is on the terminal');
  assert.deepEqual(progressLines(both, 'pcap-pipe http'), []);
});

test('a capture on a pipe (size unknown): bytes and packets/s, no % and no ETA', { skip }, () => {
  const out = path.join(dir, 'pipe.out');
  // the input pauses for a second after its first MiB: the run outlasts the first redraw however fast the
  // machine is (this command's output is a few lines, so a slow stdout reader does not hold it up)
  const shown = onTty(`(head -c 1048576 ${q(BIG)}; sleep 1; tail -c +1048577 ${q(BIG)}) | ${[process.execPath, path.join(BIN, 'pcap-pipe.js'), 'http'].map(q).join(' ')} 2>/dev/tty | (sleep 1; cat > ${q(out)})`);
  const lines = progressLines(shown, 'pcap-pipe http');
  assert.ok(lines.length >= 1, JSON.stringify(shown.slice(0, 300)));
  for (const l of lines) assert.match(l, /^pcap-pipe http: [\d.]+ (B|KiB|MiB) {2}[\d.]+ (k )?packets {2}[\d.]+ (k |M )?packets\/s\x1b\[K$/, l);
  const reference = spawnSync(process.execPath, [path.join(BIN, 'pcap-pipe.js'), 'http', BIG], { env, maxBuffer: 256 << 20 }).stdout;
  assert.ok(Buffer.compare(fs.readFileSync(out), reference) === 0, 'stdout the same');
});

test('another stderr line while the line is drawn starts at column 0 (the line is cleared first)', { skip }, () => {
  // a capture cut short: the damaged-input line comes while reading
  const cut = path.join(dir, 'cut.pcap');
  const b = fs.readFileSync(BIG);
  fs.writeFileSync(cut, b.subarray(0, b.length - 10));
  const shown = onTty(`${[process.execPath, path.join(BIN, 'pcap-pipe.js'), 'http', cut].map(q).join(' ')} 2>/dev/tty | (sleep 1; cat >/dev/null); true`);
  const at = shown.indexOf('pcap-pipe http: ' + cut);
  assert.ok(at >= 0, JSON.stringify(shown.slice(-400)));
  assert.ok(at === 0 || shown.slice(0, at).endsWith('\r\x1b[K'), JSON.stringify(shown.slice(Math.max(0, at - 80), at + 40)));
});
