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
import { decodePacket } from '../lib/layers/decode';
import { TcpReassembler } from '../lib/tcp/reassembler';
import type { TcpEvent } from '../lib/tcp/events';
import { benchCapture, forEachRecord, median, nodePcapPath, runNodePcapScript } from './common';

const TRANSPORT = { depth: 'transport' } as const;

interface RunResult { packets: number; seconds: number; payloadBytes: number; connections: number }

async function runOurs(file: string): Promise<RunResult> {
  let payloadBytes = 0, connections = 0;
  const r = new TcpReassembler((ev: TcpEvent) => {
    if (ev.type === 'data') payloadBytes += ev.bytes.length;
    else if (ev.type === 'start') connections++;
  });
  const t0 = process.hrtime.bigint();
  const packets = await forEachRecord(file, (rec) => r.packet(decodePacket(rec, TRANSPORT)));
  r.flush();
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

function runNodePcap(file: string, modules: string): RunResult {
  return runNodePcapScript<RunResult>(NODE_PCAP_SCRIPT, file, modules);
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
    ours.push(await runOurs(file));
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
