/**
 * Decode throughput (packets/s) on a capture file, against node_pcap 3.1.0's decoder on the same file in
 * the same run:
 *   - read:      readCaptureFile() in batch mode, records only (the floor under every mode below)
 *   - transport: read + decodePacket(depth 'transport'): link, IP, TCP/UDP header; lazy parts untouched
 *   - full:      read + decodePacket() + every lazy getter (addresses, IP/TCP options, DNS records)
 *   - transport-only / full-only: the same decoding on records already in memory (the first
 *     BENCH_DECODE_PACKETS, default 200000), so the decoder's own cost is seen without the reader's
 *   - node_pcap: pcap.createOfflineSession + pcap.decode.packet on every packet (libpcap reads the file)
 * Targets: transport ≥ 3× node_pcap, full ≥ 2× node_pcap.
 *
 * node_pcap is found through NODE_PCAP_PATH (a node_modules folder holding pcap@3.1.0, installed outside
 * the repository, e.g. by ../shared/bench/setup-competitors.sh), else NODE_PATH, else
 * $TMPDIR/pcap-bench-scratch/node_modules; without it that row is skipped.
 * Run: node dist/bench/decode.js [FILE]   (BENCH_REPEATS=n, default 3, median of alternated runs)
 */
import * as fs from 'node:fs';
import { CaptureParser } from '../lib/formats/detect';
import { decodePacket, type NetworkLayers, type Packet } from '../lib/layers/decode';
import type { PacketRecord } from '../lib/core/record';
import { benchCapture, forEachRecord, median, nodePcapPath, runNodePcapScript } from './common';

const CHUNK = 4 << 20; // for preloading records into memory

let sink = 0;

function touchNetwork(t: NetworkLayers): void {
  if (t.ipv4) { sink += t.ipv4.src.length + t.ipv4.dst.length + t.ipv4.options.length; }
  if (t.ipv6) { sink += t.ipv6.src.length + t.ipv6.dst.length; }
  if (t.tcp) { sink += t.tcp.options.length + t.tcp.flagNames.length + t.tcp.payload.length; }
  if (t.udp) sink += t.udp.payload.length;
  if (t.dns) sink += t.dns.answers.length + t.dns.authorities.length + t.dns.additionals.length;
  const q = t.icmp?.quoted ?? t.icmpv6?.quoted;
  if (q) touchNetwork(q);
}

function touchAll(p: Packet): void {
  if (p.eth) sink += p.eth.src.length + p.eth.dst.length;
  touchNetwork(p);
  sink += p.errors.length;
}

const MODES: Record<string, (file: string) => Promise<number>> = {
  read: (file) => forEachRecord(file, (rec) => { sink += rec.caplen; }),
  transport: (file) => forEachRecord(file, (rec) => {
    const p = decodePacket(rec, { depth: 'transport' });
    if (p.tcp) sink += p.tcp.seq + p.tcp.payloadLength;
  }),
  full: (file) => forEachRecord(file, (rec) => touchAll(decodePacket(rec))),
};

const NODE_PCAP_SCRIPT = `
const pcap = require('pcap');
let packets = 0, tcp = 0;
const t0 = process.hrtime.bigint();
const session = pcap.createOfflineSession(process.argv[1], {});
session.on('packet', (raw) => {
  const p = pcap.decode.packet(raw);
  packets++;
  if (p.payload.payload && p.payload.payload.payload && p.payload.payload.payload.sport) tcp++;
});
session.on('complete', () => {
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ packets, tcp, seconds: s }));
});`;

function runNodePcap(file: string, modules: string): { packets: number; seconds: number } {
  return runNodePcapScript(NODE_PCAP_SCRIPT, file, modules);
}

/** The first `limit` records, read once and kept (views into 4 MiB chunks). */
function preload(file: string, limit: number): PacketRecord[] {
  const recs: PacketRecord[] = [];
  const parser = new CaptureParser({ packet(rec) { if (recs.length < limit) recs.push(rec); } });
  const fd = fs.openSync(file, 'r');
  try {
    while (recs.length < limit) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const got = fs.readSync(fd, buf, 0, CHUNK, null);
      if (got === 0) break;
      parser.write(buf.subarray(0, got));
    }
  } finally {
    fs.closeSync(fd);
  }
  return recs;
}

export interface DecodeBenchResult {
  file: string;
  packets: number;
  /** Median seconds and packets/s per mode. */
  modes: Record<string, { seconds: number; pps: number }>;
  /** transport and full divided by node_pcap's packets/s (when node_pcap was found). */
  ratios?: { transport: number; full: number };
}

export async function benchDecode(file: string = benchCapture()): Promise<DecodeBenchResult> {
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  const modules = nodePcapPath();
  const times: Record<string, number[]> = {};
  let packets = 0;
  for (let i = 0; i < repeats; i++) {
    for (const [name, fn] of Object.entries(MODES)) {
      const t0 = process.hrtime.bigint();
      packets = await fn(file);
      (times[name] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    if (modules) {
      const r = runNodePcap(file, modules);
      (times.node_pcap ??= []).push(r.seconds);
    }
  }
  // In-memory loops last: the preloaded records hold ~230 MB of chunks, which would slow the end-to-end
  // runs' garbage collection if they were alive during them.
  const inMemory = preload(file, Number(process.env.BENCH_DECODE_PACKETS ?? 200_000));
  const onlyTimes: Record<string, number[]> = {};
  for (let i = 0; i < repeats; i++) {
    let t0 = process.hrtime.bigint();
    for (const rec of inMemory) { const p = decodePacket(rec, { depth: 'transport' }); if (p.tcp) sink += p.tcp.seq; }
    (onlyTimes['transport-only'] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e9);
    t0 = process.hrtime.bigint();
    for (const rec of inMemory) touchAll(decodePacket(rec));
    (onlyTimes['full-only'] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const modes: DecodeBenchResult['modes'] = {};
  for (const [name, ts] of Object.entries(times)) {
    const seconds = median(ts);
    modes[name] = { seconds: +seconds.toFixed(3), pps: Math.round(packets / seconds) };
  }
  for (const [name, ts] of Object.entries(onlyTimes)) {
    const seconds = median(ts);
    modes[name] = { seconds: +seconds.toFixed(3), pps: Math.round(inMemory.length / seconds) };
  }
  const result: DecodeBenchResult = { file, packets, modes };
  if (modes.node_pcap) {
    result.ratios = {
      transport: +(modes.transport.pps / modes.node_pcap.pps).toFixed(2),
      full: +(modes.full.pps / modes.node_pcap.pps).toFixed(2),
    };
  }
  return result;
}

if (require.main === module) {
  benchDecode(process.argv[2] ?? benchCapture()).then((r) => {
    process.stdout.write(`decode throughput on ${r.file} (${r.packets} packets, median of ${process.env.BENCH_REPEATS ?? 3})\n`);
    for (const [name, m] of Object.entries(r.modes)) {
      process.stdout.write(`  ${name.padEnd(10)} ${m.seconds.toFixed(3)} s  ${(m.pps / 1e6).toFixed(2)} M packets/s\n`);
    }
    // What the decoder itself adds per packet on top of reading (the reader is the floor of every mode).
    const perPacketNs = (mode: string): string => ((r.modes[mode].seconds - r.modes.read.seconds) / r.packets * 1e9).toFixed(0);
    process.stdout.write(`  decoding adds: transport ${perPacketNs('transport')} ns/packet, full ${perPacketNs('full')} ns/packet over read\n`);
    if (r.ratios) process.stdout.write(`  × node_pcap: transport ${r.ratios.transport}, full ${r.ratios.full} (targets 3 and 2)\n`);
    else process.stdout.write('  node_pcap not found (set NODE_PCAP_PATH): no ratio\n');
    if (sink === -1) process.stdout.write('');
  }, (e) => { process.stderr.write(`bench decode: ${(e as Error).message}\n`); process.exitCode = 1; });
}
