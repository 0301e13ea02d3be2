/**
 * Helpers for the web view tests: tshark's view of samples/http-sample.pcap (the oracle), and a
 * `pcap-pipe serve` child process whose URL is read from its stdout.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/oracle.js';

export const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
export const PCAP_PIPE = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');

export function tsharkAvailable(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tsharkFields(file: string, filter: string, fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=;', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('|'));
}

/** tshark prints text bytes with C-style escapes. */
function unescapeTshark(s: string): string {
  return s.replace(/\\(n|r|t|\\|")/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"' })[c] as string);
}

export interface SampleOracle {
  requests: { stream: number; method: string; uri: string }[];
  responses: { stream: number; code: number; uri: string; body: string }[];
  /** Text WebSocket messages, in capture order. */
  wsTexts: string[];
}

/** What tshark sees in a capture: requests, responses (with decoded bodies as text), WebSocket texts. */
export function tsharkHttp(file: string): SampleOracle {
  const requests = tsharkFields(file, 'http.request', ['tcp.stream', 'http.request.method', 'http.request.uri'])
    .map(([s, m, u]) => ({ stream: Number(s), method: m as string, uri: u as string }));
  const responses = tsharkFields(file, 'http.response', ['tcp.stream', 'http.response.code', 'http.response_for.uri', 'http.file_data'])
    .map(([s, c, u, b]) => ({ stream: Number(s), code: Number(c), uri: new URL(u as string).pathname, body: unescapeTshark(b ?? '') }));
  const wsTexts: string[] = [];
  for (const [ops, texts] of tsharkFields(file, 'websocket', ['websocket.opcode', 'websocket.payload.text'])) {
    const t = (texts ?? '').split(';');
    (ops ?? '').split(';').forEach((op, i) => { if (op === '1') wsTexts.push(unescapeTshark(t[i] ?? '')); });
  }
  return { requests, responses, wsTexts };
}

export interface ServeChild {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  /** SIGINT, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `pcap-pipe serve --port 0 ...` with the given stdin; resolves with the URL it prints. */
export function startServe(stdin: 'pipe' | 'ignore' | number | NodeJS.ReadableStream, args: string[] = []): Promise<ServeChild> {
  const child = spawn(process.execPath, [PCAP_PIPE, 'serve', '--port', '0', ...args], {
    stdio: [typeof stdin === 'object' ? 'pipe' : stdin, 'pipe', 'pipe'],
  });
  if (typeof stdin === 'object') stdin.pipe(child.stdin as NodeJS.WritableStream);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL: ${out} ${err}`)), 15_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1] as string,
          child,
          stderr: () => err,
          stop: async () => {
            if (child.exitCode === null) child.kill('SIGINT');
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before printing a URL: ${err}`));
    });
  });
}
