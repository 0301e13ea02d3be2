/**
 * A consumer that stops reading must stop the command (issue 16: "queued events toward a slow consumer";
 * `http_trace --json -r` on 1 M packets into a stalled pipe peaked at 1.3 GB, against 120 MB into
 * /dev/null). Node counts an object-mode queue in chunks, and the stages pass batches of hundreds of
 * records (each pinning its 512 KiB read chunk): with 256 chunks per queue the chain read the whole file
 * while nobody read its output. Now every queue is bounded in objects and in batches (BatchQueueBound).
 *
 * Each command runs on a generated 96 MiB capture with its stdout a pipe nobody reads. Once the command
 * has stopped working (no CPU and no reads for a while), the bytes it has read (/proc/PID/io rchar,
 * which counts pread too) must be a small part of the file: what is read ahead of a stalled consumer is
 * what is queued in the process. Then the pipe is drained and the output checked complete. A bound on
 * bytes, not a time: a loaded machine only makes the command read less before the check.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pcapFile, tcpConversation, type Side } from './helpers/craft';

const BIN = path.join(__dirname, '..', 'bin');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-slow-consumer-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;
const CONNECTIONS = 600;
const EXCHANGES = 55;
/** Read ahead of a stalled consumer, at most (measured after the fix: 3.5-11 MiB, module files included; before: all of it). */
const MAX_READ_AHEAD = 40 * MiB;

/** 600 keep-alive connections of 55 GET exchanges each (2,700-byte bodies in two segments), one after another. */
function generate(): string {
  const frames: Buffer[] = [];
  const body = Buffer.alloc(2700, 0x61);
  for (let c = 0; c < CONNECTIONS; c++) {
    const payloads: [Side, Buffer][] = [];
    for (let i = 0; i < EXCHANGES; i++) {
      payloads.push(['c', Buffer.from(`GET /c${c}/r${i} HTTP/1.1\r\nHost: slow.test\r\nUser-Agent: slow-consumer\r\n\r\n`)]);
      payloads.push(['s', Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`), body])]);
    }
    frames.push(...tcpConversation(payloads, { port: 20000 + c, segment: 1400 }));
  }
  const file = path.join(dir, 'http.pcap');
  fs.writeFileSync(file, pcapFile(frames));
  return file;
}

let capture: string | undefined;
function captureFile(): string {
  capture ??= generate();
  return capture;
}

function procNumbers(pid: number): { cpu: number; rchar: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const io = /rchar:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    return { cpu: Number(stat[11]) + Number(stat[12]), rchar: Number(io?.[1]) };
  } catch {
    return null;
  }
}

interface StalledRun { readWhileStalled: number; output: Buffer; status: number | null; stderr: string }

/** Runs a command with stdout a pipe left unread until it has gone quiet, then drains it. */
async function runStalled(args: string[]): Promise<StalledRun> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const stdout = child.stdout;
  stdout.pause();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let exitedEarly = false;
  void exited.then(() => { exitedEarly = true; });
  // Quiet: neither CPU time nor bytes read moved for 20 polls. A waiting loop, not an assertion on time.
  let last = procNumbers(child.pid as number);
  let still = 0;
  let readWhileStalled = last?.rchar ?? 0;
  for (let i = 0; i < 1200 && still < 20 && !exitedEarly; i++) {
    await sleep(100);
    const now = procNumbers(child.pid as number);
    if (now === null) break;
    still = last !== null && now.cpu === last.cpu && now.rchar === last.rchar ? still + 1 : 0;
    readWhileStalled = now.rchar;
    last = now;
  }
  const chunks: Buffer[] = [];
  stdout.on('data', (d: Buffer) => chunks.push(d));
  stdout.resume();
  const status = await exited;
  return { readWhileStalled, output: Buffer.concat(chunks), status, stderr };
}

const COMMANDS: { name: string; args: (file: string) => string[]; check: (out: string) => void }[] = [
  {
    name: 'http_trace --json -r',
    args: (f) => [path.join(BIN, 'http_trace.js'), '--json', '-r', f],
    check: (out) => assert.equal(out.split('\n').filter((l) => l.startsWith('{"type":"request"')).length, CONNECTIONS * EXCHANGES),
  },
  {
    // text lines of 30 requests in 55: little output per read chunk, gathered into 64 KiB writes and
    // flushed on setImmediate, outside _transform, where Node applied no backpressure (ReadableGate)
    name: 'http_trace -r --url (text)',
    args: (f) => [path.join(BIN, 'http_trace.js'), '-r', f, '--url', '/r[0-2]?[0-9]$'],
    check: (out) => assert.equal(out.split('GET /c').length - 1, CONNECTIONS * 30),
  },
  {
    name: 'pcap-pipe http --json',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'http', '--json', f],
    check: (out) => assert.equal(out.split('\n').filter((l) => l.startsWith('{"type":"response"')).length, CONNECTIONS * EXCHANGES),
  },
  {
    name: 'pcap-pipe tcp',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'tcp', f],
    check: (out) => assert.equal(out.split('\n').filter((l) => / end\b/.test(l)).length, CONNECTIONS),
  },
  {
    name: 'pcap-pipe follow',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'follow', f],
    check: (out) => assert.equal(out.split('GET /c').length - 1, CONNECTIONS * EXCHANGES),
  },
  {
    name: 'pcap-pipe print',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'print', f],
    check: (out) => assert.equal(out.split('\n').length - 1, CONNECTIONS * (EXCHANGES * 3 + 6)),
  },
  {
    name: 'pcap-pipe read',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'read', f],
    check: (out) => assert.equal(out.length, fs.statSync(captureFile()).size),
  },
  {
    name: 'pcap-pipe grep --json',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'grep', '--json', 'GET', f],
    check: (out) => assert.equal(out.split('\n').length - 1, CONNECTIONS * EXCHANGES),
  },
  {
    // pcap out: the writer fills 256 KiB blocks and pushes the rest on setImmediate (ReadableGate)
    name: 'pcap-pipe grep (pcap out)',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'grep', 'GET', f],
    check: (out) => assert.equal(out.split('GET /c').length - 1, CONNECTIONS * EXCHANGES),
  },
  {
    name: 'pcap-pipe grep --stream --json',
    args: (f) => [path.join(BIN, 'pcap-pipe.js'), 'grep', '--stream', '--json', 'GET', f],
    check: (out) => assert.equal(out.split('\n').length - 1, CONNECTIONS * EXCHANGES),
  },
];

for (const cmd of COMMANDS) {
  test(`${cmd.name} into a pipe nobody reads stops reading its input (read ahead <= 40 MiB of 96 MiB), then prints everything`, async (t) => {
    const file = captureFile();
    const size = fs.statSync(file).size;
    assert.ok(size > 90 * MiB, `the capture is ${size} bytes`);
    const run = await runStalled(cmd.args(file));
    assert.equal(run.status, 0, run.stderr);
    t.diagnostic(`read ${(run.readWhileStalled / MiB).toFixed(1)} MiB while stalled`);
    assert.ok(run.readWhileStalled <= MAX_READ_AHEAD,
      `read ${(run.readWhileStalled / MiB).toFixed(1)} MiB of a ${(size / MiB).toFixed(1)} MiB capture while stdout was not read`);
    cmd.check(run.output.toString('latin1'));
  });
}
