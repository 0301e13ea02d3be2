/**
 * Colour end to end: the commands that colour (http_trace -r, pcap-pipe http, ws, grep --text, network_grep)
 * run on the bundled sample and fixtures with --color flags, NO_COLOR and FORCE_COLOR, into a pipe and on a
 * pseudo-terminal (script(1)); the output has ANSI escapes exactly when the precedence says so, and is the
 * same text with the escapes taken out. The commands that do not colour still refuse --color (status 2).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fixture, REPO_ROOT } from './helpers/oracle.js';

const BIN = path.join(__dirname, '..', 'bin');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const WS = fixture('websocket-text-binary.pcap');
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

/** The commands that colour, each with arguments that print coloured text on the sample. */
const COMMANDS: { name: string; argv: string[] }[] = [
  { name: 'http_trace -r', argv: [path.join(BIN, 'http_trace.js'), '-r', SAMPLE] },
  { name: 'pcap-pipe http', argv: [path.join(BIN, 'pcap-pipe.js'), 'http', SAMPLE] },
  { name: 'pcap-pipe ws', argv: [path.join(BIN, 'pcap-pipe.js'), 'ws', WS] },
  { name: 'pcap-pipe grep --text', argv: [path.join(BIN, 'pcap-pipe.js'), 'grep', '--text', 'GET', SAMPLE] },
  { name: 'network_grep -I', argv: [path.join(BIN, 'network_grep.js'), '-I', SAMPLE, 'GET'] },
];

/** The environment without any colour variable of the test's own (node --test sets FORCE_COLOR on a terminal). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', ...extra };
  if (!('NO_COLOR' in extra)) delete env.NO_COLOR;
  if (!('FORCE_COLOR' in extra)) delete env.FORCE_COLOR;
  return env;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

function piped(argv: string[], flags: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...argv, ...flags], { env: cleanEnv(env), encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs on a pseudo-terminal: stdout (and stderr) are the terminal; returns what the terminal showed. */
function onTty(argv: string[], flags: string[], env: Record<string, string>): string {
  const cmd = [process.execPath, ...argv, ...flags].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { env: cleanEnv(env), encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

// [flags, env, into a pipe: colour?, on a terminal: colour?] -- by hand, from the documented precedence
const MATRIX: [string[], Record<string, string>, boolean, boolean][] = [
  [[], {}, false, true],
  [['--color'], {}, true, true],
  [['--color=always'], {}, true, true],
  [['--color=never'], {}, false, false],
  [['--no-color'], {}, false, false],
  [['--color=auto'], {}, false, true],
  [[], { NO_COLOR: '1' }, false, false],
  [[], { NO_COLOR: '' }, false, true],
  [['--color'], { NO_COLOR: '1' }, true, true],
  [[], { FORCE_COLOR: '1' }, true, true],
  [[], { FORCE_COLOR: '0' }, false, false],
  [['--color=auto'], { FORCE_COLOR: '1' }, true, true],
  [['--no-color'], { FORCE_COLOR: '1' }, false, false],
  [[], { NO_COLOR: '1', FORCE_COLOR: '1' }, false, false],
];

for (const c of COMMANDS) {
  test(`${c.name}: colour into a pipe follows the flag, NO_COLOR and FORCE_COLOR`, () => {
    const plain = piped(c.argv, [], {});
    assert.equal(plain.status, 0, plain.stderr);
    assert.ok(plain.stdout.length > 0);
    assert.ok(!plain.stdout.includes('\x1b'), 'no escapes by default into a pipe');
    for (const [flags, env, want] of MATRIX) {
      const r = piped(c.argv, flags, env);
      const what = `${flags.join(' ')} ${JSON.stringify(env)}`;
      assert.equal(r.status, 0, `${what}: ${r.stderr}`);
      assert.equal(ANSI.test(r.stdout), want, `${what}: escapes ${want ? 'expected' : 'not expected'}`);
      ANSI.lastIndex = 0;
      // colour adds escapes and changes nothing else (grep's stream mode would mark matches with [] instead)
      assert.equal(r.stdout.replace(ANSI, ''), plain.stdout, `${what}: the same text`);
      assert.equal(r.stderr, plain.stderr, `${what}: the same stderr`);
    }
  });

  test(`${c.name}: colour on a terminal follows the flag, NO_COLOR and FORCE_COLOR`, { skip: HAS_SCRIPT ? false : 'script(1) not installed' }, () => {
    // every row for http_trace; the rows that differ from the pipe for the others (a terminal costs ~0.5 s)
    const rows = c === COMMANDS[0] ? MATRIX : MATRIX.filter(([, , pipe, tty]) => pipe !== tty).concat(MATRIX.filter(([f, e]) => f.length === 0 && 'FORCE_COLOR' in e && !('NO_COLOR' in e)));
    for (const [flags, env, , want] of rows) {
      const shown = onTty(c.argv, flags, env);
      const what = `${flags.join(' ')} ${JSON.stringify(env)}`;
      assert.ok(shown.replace(ANSI, '').length > 0, what);
      ANSI.lastIndex = 0;
      assert.equal(ANSI.test(shown), want, `${what}: escapes ${want ? 'expected' : 'not expected'}: ${JSON.stringify(shown.slice(0, 200))}`);
      ANSI.lastIndex = 0;
    }
  });
}

test('JSON output never has colour, whatever is asked', () => {
  for (const argv of [COMMANDS[0]!.argv, COMMANDS[1]!.argv, COMMANDS[3]!.argv, COMMANDS[4]!.argv]) {
    const r = piped([...argv, '--json'], ['--color=always'], { FORCE_COLOR: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 0 && !r.stdout.includes('\x1b'), argv.join(' '));
  }
});

test('a bad --color value is a usage error (2); commands that do not colour refuse --color', () => {
  for (const c of COMMANDS) {
    const r = piped(c.argv, ['--color=sometimes'], {});
    assert.equal(r.status, 2, c.name);
    assert.match(r.stderr, /--color takes always, never or auto, not "sometimes" \(.* --help for usage\)\n$/);
    assert.equal(r.stdout, '');
  }
  for (const sub of ['print', 'tcp', 'follow', 'read']) {
    const r = piped([path.join(BIN, 'pcap-pipe.js'), sub, SAMPLE], ['--color'], {});
    assert.equal(r.status, 2, sub);
    assert.match(r.stderr, /unknown option --color/);
  }
});
