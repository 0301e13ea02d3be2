/**
 * TCP reassembly throughput: read + decode (depth 'transport') + TcpReassembler on a capture file, in
 * packets/s and MB/s of payload delivered, against node_pcap 3.1.0's decoder + TCPTracker on the same
 * file in the same run (alternated, median of BENCH_REPEATS runs, default 3). Target: ≥ 3× node_pcap with
 * every connection kept apart (node_pcap's tracker merges connections that reuse a 4-tuple; the
 * connection counts are printed side by side).
 *
 * node_pcap is found like bench/decode.ts finds it (NODE_PCAP_PATH, NODE_PATH, or
 * $TMPDIR/pcap-bench-scratch/node_modules; see bench/setup-node-pcap.sh); without it that row is skipped.
 * Run: node dist/bench/tcp.js [FILE]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CaptureParser } from '../lib/capture';
import { decodePacket } from '../lib/decode';
import { TcpReassembler } from '../lib/tcp-reassembly';
import type { TcpEvent } from '../lib/tcp-events';
import { benchCapture } from './common';

const CHUNK = 4 << 20;
const TRANSPORT = { depth: 'transport' } as const;

interface RunResult { packets: number; seconds: number; payloadBytes: number; connections: number }

function runOurs(file: string): RunResult {
  let packets = 0, payloadBytes = 0, connections = 0;
  const r = new TcpReassembler((ev: TcpEvent) => {
    if (ev.type === 'data') payloadBytes += ev.bytes.length;
    else if (ev.type === 'start') connections++;
  });
  const parser = new CaptureParser({ packet(rec) { packets++; r.packet(decodePacket(rec, TRANSPORT)); } });
  const t0 = process.hrtime.bigint();
  const fd = fs.openSync(file, 'r');
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK); // records are views: a chunk is never reused
      const got = fs.readSync(fd, buf, 0, CHUNK, null);
      if (got === 0) break;
      parser.write(buf.subarray(0, got));
    }
    parser.end();
    r.flush();
  } finally {
    fs.closeSync(fd);
  }
  return { packets, seconds: Number(process.hrtime.bigint() - t0) / 1e9, payloadBytes, connections };
}

const NODE_PCAP_SCRIPT = `
const pcap = require('pcap');
let packets = 0, payloadBytes = 0, connections = 0;
const tracker = new pcap.TCPTracker();
tracker.on('session', (s) => {
  connections++;
  s.on('data send', (_s, d) => { payloadBytes += d.length; });
  s.on('data recv', (_s, d) => { payloadBytes += d.length; });
});
const t0 = process.hrtime.bigint();
const session = pcap.createOfflineSession(process.argv[1], {});
session.on('packet', (raw) => { packets++; tracker.track_packet(pcap.decode.packet(raw)); });
session.on('complete', () => {
  console.log(JSON.stringify({ packets, payloadBytes, connections, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
});`;

function nodePcapPath(): string | undefined {
  const candidates = [process.env.NODE_PCAP_PATH, ...(process.env.NODE_PATH ?? '').split(path.delimiter),
    path.join(process.env.TMPDIR ?? '/tmp', 'pcap-bench-scratch', 'node_modules'),
    path.join(process.env.TMPDIR ?? '/tmp', 'pcap-pipe-bench', 'node_pcap', 'node_modules')];
  return candidates.find((d) => d && fs.existsSync(path.join(d, 'pcap', 'package.json')));
}

function runNodePcap(file: string, modules: string): RunResult {
  const r = spawnSync(process.execPath, ['-e', NODE_PCAP_SCRIPT, file], { env: { ...process.env, NODE_PATH: modules }, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`node_pcap failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as RunResult;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export interface TcpBenchRow { packets: number; seconds: number; pps: number; payloadMBps: number; payloadBytes: number; connections: number }

export interface TcpBenchResult {
  file: string;
  ours: TcpBenchRow;
  nodePcap?: TcpBenchRow;
  /** Our packets/s over node_pcap's. */
  ratio?: number;
}

function row(runs: RunResult[]): TcpBenchRow {
  const seconds = median(runs.map((r) => r.seconds));
  const last = runs[runs.length - 1];
  return { packets: last.packets, seconds, pps: last.packets / seconds, payloadMBps: last.payloadBytes / seconds / 1e6, payloadBytes: last.payloadBytes, connections: last.connections };
}

export async function benchTcp(file: string = benchCapture()): Promise<TcpBenchResult> {
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  const modules = nodePcapPath();
  const ours: RunResult[] = [];
  const theirs: RunResult[] = [];
  for (let i = 0; i < repeats; i++) {
    ours.push(runOurs(file));
    if (modules) theirs.push(runNodePcap(file, modules));
  }
  const result: TcpBenchResult = { file, ours: row(ours) };
  if (theirs.length) {
    result.nodePcap = row(theirs);
    result.ratio = result.ours.pps / result.nodePcap.pps;
  }
  return result;
}

if (require.main === module) {
  benchTcp(process.argv[2]).then((r) => {
    const fmt = (name: string, x: TcpBenchRow): string =>
      `${name.padEnd(28)} ${(x.pps / 1e6).toFixed(3)} M packets/s  ${x.payloadMBps.toFixed(1)} MB/s payload  ${x.seconds.toFixed(2)} s  ${x.connections} connections  ${(x.payloadBytes / 1e6).toFixed(1)} MB delivered`;
    console.log(`TCP reassembly on ${r.file} (${r.ours.packets} packets)`);
    console.log(fmt('pcap-pipe decode+reassembly', r.ours));
    if (r.nodePcap) console.log(fmt('node_pcap decode+TCPTracker', r.nodePcap));
    if (r.ratio) console.log(`ratio: ${r.ratio.toFixed(2)}x`);
    else console.log('node_pcap not found: run bench/setup-node-pcap.sh and set NODE_PCAP_PATH');
  }).catch((e) => { console.error(e); process.exitCode = 1; });
}
