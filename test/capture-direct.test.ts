/**
 * `pcap-pipe capture -w FILE` has the addon write the file from a thread of its own (CaptureStream.writeTo,
 * addon/block_writer.cc) instead of handing every batch to JS. These tests hold that path to the JS one
 * (`-w -`, stdout, which never takes it) and to tcpdump, on the same real loopback traffic: the same
 * packets, in order, read back by tcpdump and tshark; -c exact; SIGINT losing nothing; a write error
 * reported. Traffic only to 127.0.0.1.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { capture } from '../streams/capture';
import { liveSkipReason, sendUdp, sleep, udpSink } from './helpers/live';
import { listening } from './helpers/child';

const skip = liveSkipReason();
const hasTshark = spawnSync('tshark', ['--version']).status === 0;
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
const PCAP_PIPE = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-direct-'));
}

interface Proc { child: ChildProcess; stderr: () => string; closed: Promise<number | null> }

function start(cmd: string, args: string[], stdoutFile?: string): Proc {
  const out = stdoutFile !== undefined ? fs.openSync(stdoutFile, 'w') : 'ignore';
  const child = spawn(cmd, args, { stdio: ['ignore', out, 'pipe'] });
  if (typeof out === 'number') fs.closeSync(out);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr: () => stderr, closed };
}

/** "frame length, payload hex" per packet, as tshark or tcpdump reads the file. */
function tsharkRows(file: string): string[] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len', '-e', 'data.data'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  return out.split('\n').filter((l) => l.length > 0);
}

/** Row lists equal; on failure names the first difference instead of printing megabytes of hex. */
function sameRows(a: string[], b: string[], what: string): void {
  const i = a.findIndex((row, k) => row !== b[k]);
  assert.ok(a.length === b.length && i < 0, `${what}: ${a.length} vs ${b.length} packets, first difference at packet ${i < 0 ? Math.min(a.length, b.length) : i}`);
}

function tcpdumpCount(file: string): number {
  const out = execFileSync('tcpdump', ['-r', file, '-n'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  return out.split('\n').filter((l) => l.length > 0).length;
}

/** Sequence numbers (first 4 payload bytes, after Ethernet + IPv4 + UDP) of the records in a file. */
function sequence(file: string): number[] {
  return parseCaptureBuffer(fs.readFileSync(file)).map((r) => r.data.readUInt32BE(42));
}

test('capture -w FILE (written by the addon) holds the same packets as the JS path and tcpdump, on the same traffic', { skip: skip || (!hasTshark && 'tshark not installed') || (!hasTcpdump && 'tcpdump not installed') }, async () => {
  const dir = tmpDir();
  const sink = await udpSink();
  const filter = `udp dst port ${sink.port}`;
  const direct = path.join(dir, 'direct.pcap');
  const viaJs = path.join(dir, 'js.pcap');
  const ref = path.join(dir, 'tcpdump.pcap');
  // -B 64: a ring big enough that a loaded test machine drops nothing (checked below, not assumed)
  const procs = [
    start(process.execPath, [PCAP_PIPE, 'capture', '-i', 'lo', '-B', '64', '-w', direct, filter]),
    start(process.execPath, [PCAP_PIPE, 'capture', '-i', 'lo', '-B', '64', '-w', '-', filter], viaJs),
    start('tcpdump', ['-i', 'lo', '-n', '-B', '65536', '-w', ref, filter]),
  ];
  try {
    await Promise.all(procs.map((p) => listening(p.child)));
    await sleep(100);
    // 3000 datagrams of 1000 bytes: ~3 MB, more than one of the writer's 1 MiB blocks
    const N = 3000;
    await sendUdp(sink.port, N, 1000);
    // tcpdump, unlike capture, loses the packets of the ring block still open at SIGINT: let the kernel
    // retire it first (the read timeout is 1 s)
    await sleep(1500);
    for (const p of procs) p.child.kill('SIGINT');
    const codes = await Promise.all(procs.map((p) => p.closed));
    assert.deepEqual(codes, [0, 0, 0], procs.map((p) => p.stderr()).join('\n'));
    for (const p of procs) assert.match(p.stderr(), /^0 packets dropped by kernel$/m, p.stderr());
    assert.match(procs[0]!.stderr(), new RegExp(`^${N} packets captured$`, 'm'));
    const rows = tsharkRows(direct);
    assert.equal(rows.length, N);
    sameRows(rows, tsharkRows(viaJs), 'the addon-written file and the JS-written file');
    sameRows(rows, tsharkRows(ref), 'the addon-written file and tcpdump\'s');
    assert.equal(tcpdumpCount(direct), N, 'tcpdump reads the file back');
    assert.deepEqual(sequence(direct), [...Array(N).keys()], 'every datagram, in order');
    const bytes = fs.readFileSync(direct);
    assert.equal(bytes.readUInt32LE(0), 0xa1b23c4d, 'nanosecond pcap');
    assert.deepEqual(bytes.subarray(0, 24), fs.readFileSync(viaJs).subarray(0, 24), 'the same file header');
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    sink.close();
  }
});

test('capture -c COUNT -w FILE without --immediate: exactly the first COUNT packets, and the process ends by itself', { skip }, async () => {
  const sink = await udpSink();
  const file = path.join(tmpDir(), 'count.pcap');
  const p = start(process.execPath, [PCAP_PIPE, 'capture', '-i', 'lo', '-c', '7', '-w', file, `udp dst port ${sink.port}`]);
  try {
    await listening(p.child);
    await sleep(50);
    await sendUdp(sink.port, 40, 300);
    assert.equal(await p.closed, 0, p.stderr());
  } finally {
    p.child.kill('SIGKILL');
    sink.close();
  }
  assert.match(p.stderr(), /^7 packets captured$/m);
  assert.deepEqual(sequence(file), [0, 1, 2, 3, 4, 5, 6]);
});

test('CaptureStream.writeTo: the stream ends with stats().captured = the records written; a write error fails the stream', { skip }, async () => {
  const sink = await udpSink();
  const file = path.join(tmpDir(), 'api.pcap');
  const fd = fs.openSync(file, 'w');
  const cap = capture({ device: 'lo', filter: `udp dst port ${sink.port}`, immediate: true });
  try {
    cap.writeTo(fd);
    const ended = once(cap, 'end');
    cap.resume();
    await sleep(50);
    await sendUdp(sink.port, 20, 100);
    await sleep(100);
    cap.stop();
    await ended;
    assert.equal(cap.stats().captured, 20);
    assert.throws(() => cap.writeTo(fd), /before the capture starts/);
  } finally {
    cap.close();
    fs.closeSync(fd);
  }
  // The addon writes records only: the caller's header is not there, the 20 records are.
  const body = fs.readFileSync(file);
  let off = 0;
  let n = 0;
  while (off + 16 <= body.length) {
    off += 16 + body.readUInt32LE(off + 8);
    n++;
  }
  assert.equal(off, body.length);
  assert.equal(n, 20);

  // /dev/full: every write fails with ENOSPC on the writer's thread; the stream errors with it.
  const full = fs.openSync('/dev/full', 'w');
  const failing = capture({ device: 'lo', filter: `udp dst port ${sink.port}`, immediate: true });
  try {
    failing.writeTo(full);
    const errored = once(failing, 'error').then(([e]) => e as Error);
    failing.resume();
    await sleep(50);
    await sendUdp(sink.port, 5, 100);
    await sleep(100);
    failing.stop();
    assert.match((await errored).message, /writing the capture failed: No space left on device/);
  } finally {
    failing.close();
    fs.closeSync(full);
    sink.close();
  }
});

test('a worker writing a capture with writeTo and terminated without close() joins the writer and closes the socket', { skip }, async () => {
  const captureModule = path.join(__dirname, '..', 'streams', 'capture.js');
  const sockets = (): number => fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
  const threads = (): number => fs.readdirSync('/proc/self/task').length;
  const sink = await udpSink();
  const before = sockets();
  const threadsBefore = threads();
  try {
    for (let i = 0; i < 3; i++) {
      const worker = new Worker(
        `const { parentPort } = require('node:worker_threads');
         const fs = require('node:fs');
         const { capture } = require(${JSON.stringify(captureModule)});
         const cap = capture({ device: 'lo', filter: 'udp dst port ${sink.port}', timeout: 10 });
         cap.writeTo(fs.openSync('/dev/null', 'w'));
         cap.resume();
         parentPort.postMessage('capturing');`,
        { eval: true },
      );
      const [msg] = await once(worker, 'message');
      assert.equal(msg, 'capturing');
      await sendUdp(sink.port, 50, 200);
      await sleep(30);
      await worker.terminate();
    }
    await sleep(200);
    assert.equal(sockets(), before, 'every capture socket the workers opened was closed');
    assert.equal(threads(), threadsBefore, 'no writer thread is left running');
  } finally {
    sink.close();
  }
});
