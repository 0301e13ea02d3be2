/**
 * HTTP throughput, the whole pipeline: read → decode (transport) → TCP reassembly → HTTP/1.x parser, in
 * requests/s and packets/s on a capture file, beside, in the same run:
 *  - node_pcap 3.1.0: its decoder + TCPTracker feeding Node's own HTTP parser (llhttp, via
 *    _http_common), one per direction (node_pcap 3 has no HTTP parser of its own any more);
 *  - tshark -r FILE -Y http.request -T fields -e http.request.method -e http.request.uri (one run: slow).
 * Ours runs twice: the lib/ classes called directly, and the streams a program uses (readCaptureFile in
 * batch mode → decode() → tcp() → http()). Every request is counted; the counts are printed side by side.
 *
 * Run: node dist/bench/http.js [FILE]   (env: BENCH_REPEATS, default 3; NODE_PCAP_PATH; BENCH_NO_TSHARK=1)
 */
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodePacket } from '../lib/layers/decode';
import { HttpConnectionParser } from '../lib/http/parser';
import type { HttpParserEvent } from '../lib/http/events';
import { TcpReassembler } from '../lib/tcp/reassembler';
import type { TcpEvent } from '../lib/tcp/events';
import { decode } from '../streams/decode';
import { http } from '../streams/http';
import { readCaptureFile } from '../streams/read';
import { tcp } from '../streams/tcp';
import { benchCapture, forEachRecord, median, nodePcapPath, runNodePcapScript } from './common';

const TRANSPORT = { depth: 'transport' } as const;
/** Bench parser options: no per-piece body events, no bodies kept (lengths and decoding still done). */
const PARSER = { bodyEvents: false, maxBody: 0 } as const;

interface RunResult { packets: number; seconds: number; requests: number; responses: number; connections: number }

async function runLib(file: string): Promise<RunResult> {
  let requests = 0, responses = 0, connections = 0;
  const parsers = new Map<number, HttpConnectionParser>();
  const onHttp = (ev: HttpParserEvent): void => {
    if (ev.type === 'request') requests++;
    else if (ev.type === 'response' && !ev.interim) responses++;
  };
  const r = new TcpReassembler((ev: TcpEvent) => {
    switch (ev.type) {
      case 'start': connections++; parsers.set(ev.connection, new HttpConnectionParser(onHttp, PARSER)); break;
      case 'data': parsers.get(ev.connection)?.data(ev.from, ev.bytes, ev); break;
      case 'gap': parsers.get(ev.connection)?.gap(ev.from, ev.length, ev); break;
      case 'reset': parsers.get(ev.connection)?.reset(ev); break;
      case 'end': parsers.get(ev.connection)?.end(ev); parsers.delete(ev.connection); break;
      default: break;
    }
  });
  const t0 = process.hrtime.bigint();
  const packets = await forEachRecord(file, (rec) => r.packet(decodePacket(rec, TRANSPORT)));
  r.flush();
  return { packets, seconds: Number(process.hrtime.bigint() - t0) / 1e9, requests, responses, connections };
}

async function runStreams(file: string): Promise<RunResult> {
  let requests = 0, responses = 0, connections = 0;
  const count = (ev: { type: string; interim?: boolean }): void => {
    if (ev.type === 'request') requests++;
    else if (ev.type === 'response' && !ev.interim) responses++;
    else if (ev.type === 'start') connections++;
  };
  const reader = readCaptureFile(file, { batch: true });
  const t0 = process.hrtime.bigint();
  await pipeline(
    reader,
    decode({ depth: 'transport' }),
    tcp(),
    http({ parser: PARSER }),
    new Writable({
      objectMode: true,
      highWaterMark: 64,
      write(chunk: unknown, _enc, done) {
        if (Array.isArray(chunk)) for (const ev of chunk) count(ev as { type: string });
        else count(chunk as { type: string });
        done();
      },
    }),
  );
  return { packets: reader.packets, seconds: Number(process.hrtime.bigint() - t0) / 1e9, requests, responses, connections };
}

/** node_pcap 3.1.0 decoder + TCPTracker, each direction's in-order payload into Node's llhttp parser. */
const NODE_PCAP_SCRIPT = `
const pcap = require('pcap');
const { HTTPParser } = require('_http_common');
let packets = 0, requests = 0, responses = 0, connections = 0;
function newParser(kind, onHeaders) {
  const p = new HTTPParser();
  p.initialize(kind, {});
  p[HTTPParser.kOnHeaders] = () => {};
  p[HTTPParser.kOnHeadersComplete] = onHeaders;
  p[HTTPParser.kOnBody] = () => {};
  p[HTTPParser.kOnMessageComplete] = () => {};
  p[HTTPParser.kOnExecute] = () => {};
  return p;
}
const tracker = new pcap.TCPTracker();
tracker.on('session', (session) => {
  connections++;
  const req = newParser(HTTPParser.REQUEST, () => { requests++; });
  const res = newParser(HTTPParser.RESPONSE, () => { responses++; });
  session.on('data send', (s, data) => { req.execute(data); });
  session.on('data recv', (s, data) => { res.execute(data); });
  session.on('end', () => { req.close(); res.close(); });
});
const t0 = process.hrtime.bigint();
const session = pcap.createOfflineSession(process.argv[1], {});
session.on('packet', (raw) => { packets++; tracker.track_packet(pcap.decode.packet(raw)); });
session.on('complete', () => {
  console.log(JSON.stringify({ packets, requests, responses, connections, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
});`;

function runNodePcap(file: string, modules: string): RunResult {
  return runNodePcapScript<RunResult>(NODE_PCAP_SCRIPT, file, modules);
}

function runTshark(file: string, packets: number): RunResult | undefined {
  if (spawnSync('tshark', ['--version']).status !== 0) return undefined;
  const t0 = process.hrtime.bigint();
  const r = spawnSync('tshark', ['-r', file, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.method', '-e', 'http.request.uri'], { maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr.toString()}`);
  // One line per frame with requests; several requests in one frame (pipelining) are ','-joined methods.
  let requests = 0;
  for (const line of r.stdout.toString('latin1').split('\n')) {
    if (line.length > 0) requests += (line.split('\t')[0] as string).split(',').length;
  }
  return { packets, seconds, requests, responses: NaN, connections: NaN };
}

export interface HttpBenchRow { name: string; packets: number; seconds: number; pps: number; rps: number; requests: number; responses: number; connections: number }

function row(name: string, runs: RunResult[]): HttpBenchRow {
  const seconds = median(runs.map((r) => r.seconds));
  const last = runs[runs.length - 1] as RunResult;
  return { name, packets: last.packets, seconds, pps: last.packets / seconds, rps: last.requests / seconds, requests: last.requests, responses: last.responses, connections: last.connections };
}

export async function benchHttp(file: string = benchCapture()): Promise<HttpBenchRow[]> {
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  const modules = nodePcapPath();
  const lib: RunResult[] = [];
  const streams: RunResult[] = [];
  const theirs: RunResult[] = [];
  for (let i = 0; i < repeats; i++) {
    lib.push(await runLib(file));
    streams.push(await runStreams(file));
    if (modules) theirs.push(runNodePcap(file, modules));
  }
  const rows = [row('pcap-pipe (lib)', lib), row('pcap-pipe (streams, batch)', streams)];
  if (theirs.length) rows.push(row('node_pcap 3.1.0 + llhttp', theirs));
  const ts = process.env.BENCH_NO_TSHARK ? undefined : runTshark(file, rows[0]!.packets);
  if (ts) rows.push(row('tshark -Y http.request', [ts]));
  return rows;
}

if (require.main === module) {
  const file = process.argv[2] ?? benchCapture();
  benchHttp(file).then((rows) => {
    const ours = rows[0]!;
    process.stdout.write(`HTTP: read → decode → TCP → HTTP on ${file} (${ours.packets} packets, median of ${process.env.BENCH_REPEATS ?? 3} runs; tshark 1 run)\n\n`);
    process.stdout.write('| what | seconds | packets/s | requests/s | requests | responses | connections | pcap-pipe (lib) is |\n|---|---:|---:|---:|---:|---:|---:|---:|\n');
    for (const r of rows) {
      const n = (x: number): string => (Number.isNaN(x) ? '' : String(x));
      process.stdout.write(`| ${r.name} | ${r.seconds.toFixed(2)} | ${Math.round(r.pps).toLocaleString('en-US')} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.requests} | ${n(r.responses)} | ${n(r.connections)} | ${r === ours ? '' : `${(ours.pps / r.pps).toFixed(2)}×`} |\n`);
    }
    if (!rows.some((r) => r.name.startsWith('node_pcap'))) process.stdout.write('\nnode_pcap not found: run bench/setup-node-pcap.sh and set NODE_PCAP_PATH\n');
  }).catch((e) => { console.error(e); process.exitCode = 1; });
}
