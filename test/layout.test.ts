/**
 * The layout rules of ARCHITECTURE.md, checked on the TypeScript sources (not dist/):
 *  - no import cycle among lib/, streams/, bin/, addon/ and index.ts, type-only imports included;
 *  - nothing imports a command (bin/cmd-*.ts and the package's bin entry points): bin/ files import only
 *    the shared helper modules of bin/ (cli.ts, trace-cli.ts, grep-cli.ts, ...);
 *  - lib/ never imports node:stream, streams/, bin/ or the addon;
 *  - no `.pipe(` in lib/, streams/ or bin/ (chains are composed with stream.pipeline: streams/trace.ts);
 *  - no stream stage class defined in bin/ (stages live in streams/);
 *  - no source file under lib/, streams/, bin/ or addon/*.ts over 600 lines.
 * Imports are read with a regex over `import ... from`, `export ... from`, `import(` and `require(` with a
 * literal path, after comments are removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const SCANNED = ['lib', 'streams', 'bin', 'addon'];

function sourceFiles(): string[] {
  const files = ['index.ts'];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.push(rel);
    }
  };
  for (const d of SCANNED) walk(d);
  return files.sort();
}

function withoutComments(text: string): string {
  // Block comments, then line comments not inside a string on that line (good enough for our sources:
  // no '//' inside the import paths we look for).
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** The module specifiers a file imports, by the four forms. */
export function importSpecifiers(text: string): string[] {
  const src = withoutComments(text);
  const specs: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?[^'";]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?(?:\*|\{[^}]*\})(?:\s+as\s+\w+)?\s*from\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of src.matchAll(re)) specs.push(m[1] as string);
  return specs;
}

/** A relative specifier resolved to a source file of the repository, or null (packages, node:). */
function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '');
  for (const candidate of [`${base}.ts`, `${base}/index.ts`]) {
    if (fs.existsSync(path.join(ROOT, candidate))) return candidate;
  }
  return null;
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of sourceFiles()) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    const deps = importSpecifiers(text).map((s) => resolve(f, s)).filter((d): d is string => d !== null);
    graph.set(f, [...new Set(deps)]);
  }
  return graph;
}

/** The files caught in cycles: each strongly connected component of more than one file (or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's strongly connected components.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** The commands: bin/cmd-*.ts and the package's bin entry points. */
function commandFiles(): Set<string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const entries = Object.values(pkg.bin).map((js) => js.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
  const cmds = fs.readdirSync(path.join(ROOT, 'bin')).filter((f) => /^cmd-.*\.ts$/.test(f)).map((f) => `bin/${f}`);
  return new Set([...entries, ...cmds]);
}

test('the import reader sees all four forms, type-only included, and skips comments', () => {
  const specs = importSpecifiers([
    "import type { A } from './a';",
    "import { B,\n  C } from '../b.js';",
    "import './side-effect';",
    "export type { D } from './d';",
    "export * from './e';",
    "const f = import('./f');",
    "const g = require('./g') as G;",
    "// import { H } from './h';",
    "/* import { I } from './i'; */",
  ].join('\n'));
  assert.deepEqual(specs.sort(), ['../b.js', './a', './d', './e', './f', './g', './side-effect']);
});

test('the cycle finder finds a two-file cycle and a self-import, and nothing in a tree', () => {
  assert.deepEqual(cycles(new Map([['a', ['b']], ['b', ['a']], ['c', ['a']]])), [['a', 'b']]);
  assert.deepEqual(cycles(new Map([['a', ['a']]])), [['a']]);
  assert.deepEqual(cycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), []);
});

test('no import cycles in lib/, streams/, bin/, addon/, index.ts (type-only imports count)', () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `read ${graph.size} source files`);
  const found = cycles(graph).map((c) => c.join(' ↔ '));
  assert.deepEqual(found, [], `import cycles:\n${found.join('\n')}`);
});

test('nothing imports a command; bin/ imports only its helper modules', () => {
  const graph = importGraph();
  const commands = commandFiles();
  assert.ok(commands.has('bin/http_trace.ts') && commands.has('bin/cmd-grep.ts'), [...commands].join(' '));
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    for (const d of deps) if (commands.has(d)) bad.push(`${file} imports the command ${d}`);
  }
  assert.deepEqual(bad, []);
});

test('lib/ imports no streams, no bin/, no addon; streams/ and addon/ import no bin/', () => {
  const graph = importGraph();
  const bad: string[] = [];
  for (const f of sourceFiles()) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    if (f.startsWith('lib/') && importSpecifiers(text).some((s) => s === 'node:stream' || s === 'stream' || s.startsWith('node:stream/'))) {
      bad.push(`${f} imports node:stream`);
    }
    for (const d of graph.get(f) ?? []) {
      if (f.startsWith('lib/') && !d.startsWith('lib/')) bad.push(`${f} imports ${d}`);
      if ((f.startsWith('streams/') || f.startsWith('addon/')) && d.startsWith('bin/')) bad.push(`${f} imports ${d}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no .pipe( in lib/, streams/, bin/, and no stream stage class in bin/', () => {
  const bad: string[] = [];
  for (const f of sourceFiles().filter((x) => /^(lib|streams|bin)\//.test(x))) {
    const code = withoutComments(fs.readFileSync(path.join(ROOT, f), 'utf8'));
    if (/\.pipe\s*\(/.test(code)) bad.push(`${f}: .pipe( (compose with stream.pipeline, streams/trace.ts)`);
    if (f.startsWith('bin/') && /\bextends\s+(Transform|Writable|Readable|Duplex|PassThrough|BatchTransform|LineTransform)\b/.test(code)) {
      bad.push(`${f}: defines a stream stage (stages live in streams/)`);
    }
  }
  assert.deepEqual(bad, []);
});

test('files a reader can hold: no source file under lib/, streams/, bin/ or addon/*.ts is over 600 lines', () => {
  const MAX_LINES = 600;
  const long: string[] = [];
  for (const f of sourceFiles().filter((x) => /^(lib|streams|bin)\//.test(x) || /^addon\/[^/]+\.ts$/.test(x))) {
    const lines = fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n').length - 1;
    if (lines > MAX_LINES) long.push(`${f}: ${lines} lines`);
  }
  assert.deepEqual(long, [], `split along the code's own seams (ARCHITECTURE.md):\n${long.join('\n')}`);
});
