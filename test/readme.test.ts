/**
 * Every code block marked `js` or `sh` in README.md and docs/*.md runs as pasted, against the bundled sample:
 * - `js`: saved as example.js in a fresh folder whose node_modules/pcap-pipe is this package, run with
 *   `node example.js samples/http-sample.pcap`;
 * - `sh`: run by bash -e -o pipefail in a fresh folder holding samples/, with pcap-pipe, http_trace,
 *   simple_capture and network_grep on PATH (as after `npm link`).
 * A block preceded by `<!-- snippet: no-run (why) -->` is not run; `<!-- snippet: flags-only (why) -->` (live
 * capture, files of the reader's own) runs each of our commands in it with its options as written, stdin
 * empty, for a few seconds: the options must be accepted (no usage error printed).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCaptureBuffer } from '../lib/formats/detect';

const ROOT = path.resolve(__dirname, '..', '..');
const SAMPLE = path.join(ROOT, 'samples', 'http-sample.pcap');
const COMMANDS = ['pcap-pipe', 'http_trace', 'simple_capture', 'network_grep'];

export interface Snippet { file: string; line: number; lang: string; mode: 'run' | 'no-run' | 'flags-only'; code: string }

/** The fenced code blocks of a Markdown text, with the snippet mark of the line before each. */
export function snippets(file: string, text: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    let end = i + 1;
    while (end < lines.length && lines[end] !== '```') end++;
    const mark = /^<!-- snippet: (no-run|flags-only)\b/.exec(lines[start - 1] ?? '') ?? /^<!-- snippet: (no-run|flags-only)\b/.exec(lines[start - 2] ?? '');
    out.push({ file, line: start + 1, lang: open[1] as string, mode: (mark?.[1] as Snippet['mode'] | undefined) ?? 'run', code: lines.slice(start + 1, end).join('\n') });
    i = end;
  }
  return out;
}

function documents(): { file: string; text: string }[] {
  const docs = fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => path.join('docs', f));
  return ['README.md', ...docs].map((file) => ({ file, text: fs.readFileSync(path.join(ROOT, file), 'utf8') }));
}

/** A folder with samples/ and a bin/ of our commands (wrappers around dist/bin, like `npm link` makes). */
function workspace(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-readme-'));
  fs.mkdirSync(path.join(dir, 'samples'));
  fs.copyFileSync(SAMPLE, path.join(dir, 'samples', 'http-sample.pcap'));
  const bin = path.join(dir, '.bin');
  fs.mkdirSync(bin);
  for (const c of COMMANDS) {
    fs.writeFileSync(path.join(bin, c), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'dist', 'bin', `${c}.js`)}" "$@"\n`, { mode: 0o755 });
  }
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'pcap-pipe'), 'dir');
  return { dir, env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, NO_COLOR: '1' } };
}

/** Shell words of one command (single and double quotes; no expansions needed by our docs). */
function words(cmd: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(cmd)) !== null) out.push(m[1] ?? m[2] ?? (m[3] as string));
  return out;
}

/** Runs one of our commands with empty stdin for up to `ms`; its exit status, or 'running' if it was still going. */
function runBriefly(argv: string[], env: NodeJS.ProcessEnv, cwd: string, ms = 3000): Promise<{ status: number | 'running'; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, ms);
    child.on('close', (code) => { clearTimeout(timer); resolve({ status: timedOut ? 'running' : code ?? -1, stderr }); });
  });
}

const all = documents().flatMap((d) => snippets(d.file, d.text));
const runnable = all.filter((s) => s.lang === 'js' || s.lang === 'sh');

test('the documents have js and sh blocks to run, and every one is either run or marked', () => {
  assert.ok(runnable.some((s) => s.file === 'README.md' && s.lang === 'js' && s.mode === 'run'), 'the README\'s JavaScript example');
  assert.ok(runnable.some((s) => s.file === 'README.md' && s.lang === 'sh' && s.mode === 'run'));
  for (const s of all.filter((x) => x.mode !== 'run')) assert.ok(s.lang === 'js' || s.lang === 'sh', `${s.file}:${s.line}: a mark on a ${s.lang || 'plain'} block`);
});

// Blocks marked no-run get no test (CI counts a skipped test as a failure); the test above lists them.
for (const s of runnable.filter((x) => x.mode !== 'no-run')) {
  test(`${s.file}:${s.line} (${s.lang}, ${s.mode})`, { timeout: 120_000 }, async () => {
    const { dir, env } = workspace();
    try {
      if (s.lang === 'js') {
        fs.writeFileSync(path.join(dir, 'example.js'), s.code);
        const r = spawnSync(process.execPath, ['example.js', 'samples/http-sample.pcap'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '');
        if (s.code.includes("ev.method === 'POST'")) {
          // the README example: the sample's one POST body, and its SYNs written as pcap
          assert.equal(r.stdout, '/api/items {foo:\n');
          const syns = parseCaptureBuffer(fs.readFileSync(path.join(dir, 'syns.pcap')));
          const want = parseCaptureBuffer(fs.readFileSync(SAMPLE)).filter((rec) => rec.data.length > 47 && rec.data.readUInt16BE(12) === 0x0800 && rec.data[23] === 6 && ((rec.data[14 + ((rec.data[14] as number) & 15) * 4 + 13] as number) & 0x02) !== 0);
          assert.ok(want.length >= 4);
          assert.deepEqual(syns.map((x) => x.frame), want.map((_, i) => i + 1));
          assert.deepEqual(syns.map((x) => x.data), want.map((x) => x.data));
        }
        return;
      }
      if (s.mode === 'run') {
        const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', s.code], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        assert.ok(r.stdout.length > 0, 'the block prints something');
        return;
      }
      // flags-only: each of our commands, as written
      let checked = 0;
      for (const line of s.code.split('\n')) {
        for (const segment of line.split('|')) {
          const argv = words(segment.trim());
          if (argv[0] === 'sudo') argv.shift();
          if (!COMMANDS.includes(argv[0] ?? '')) continue;
          // Empty input may well be an error (grep's is exit status 2, like ngrep's); a usage error prints the usage.
          const r = await runBriefly(argv, env, dir);
          assert.doesNotMatch(r.stderr, /^usage:|unknown option|needs a|takes a/m, `${segment.trim()} (exit ${r.status})`);
          checked++;
        }
      }
      assert.ok(checked > 0, 'no command of ours in a flags-only block');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
