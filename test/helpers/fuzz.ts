/**
 * The seeded mutation fuzzer that stays (issue 16, point 6), shared by `npm test` (test/fuzz.test.ts,
 * a small fixed number of cases) and `npm run fuzz` (test/fuzz-main.ts, long runs with --seed and
 * --budget). Every case is a whole capture file derived from the corpus by one seed, so any case can
 * be replayed from (seed, index) alone.
 *
 * Mutations work at both levels a hostile file can attack: the file's own bytes (magic, block and
 * record lengths, options: the readers) and the packets inside (headers, lengths, fragments, TCP
 * flags and sequence numbers, HTTP and WebSocket bytes: the decoders and stream parsers), re-written
 * as a valid capture so they get past the reader.
 *
 * Targets: `runLibraryCase` runs a case through every parser in-process (pcap/pcapng readers fed in
 * random chunks, decoders, printers, defragmentation, TCP reassembly, HTTP/WebSocket per connection,
 * per-packet and stream grep); anything but a typed CaptureError is a bug. `runCommandCase` runs one
 * command as a child on the case (as a file or on stdin); a crash is a signal, an exit status other
 * than 0/1, an uncaught exception's stack on stderr, or no exit within the hang timeout.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureError } from '../../lib/core/errors';
import { jsonText } from '../../lib/core/json-line';
import type { PacketRecord } from '../../lib/core/record';
import { CaptureParser, parseCapture } from '../../lib/formats/detect';
import { PcapWriter } from '../../lib/formats/pcap';
import { decodePacket, type Packet } from '../../lib/layers/decode';
import { Defragmenter } from '../../lib/layers/defrag';
import { formatPacketLine, packetToJson } from '../../lib/layers/print';
import { HttpConnectionParser } from '../../lib/http/parser';
import type { TcpEvent } from '../../lib/tcp/events';
import { TcpReassembler } from '../../lib/tcp/reassembler';
import { compileMatcher, PacketGrep, StreamGrep } from '../../lib/grep/grep';
import { prng } from './prng';

export type Rand = () => number;

const pick = <T>(rand: Rand, list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 24, 28, 32];
const INTERESTING_16 = [0, 1, 7, 8, 20, 0x7fff, 0x8000, 0xffff, 0x2000, 0x3fff];
const HTTP_TOKENS = ['\r\n', '\r\n\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 99999999\r\n', 'Upgrade: websocket\r\n',
  'Connection: Upgrade\r\n', 'HTTP/1.1 101 Switching Protocols\r\n', 'GET / HTTP/1.1\r\n', 'ffffffff\r\n', '0\r\n\r\n',
  'Content-Encoding: gzip\r\n', '\x81\xfe\xff\xff', '\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff', '\x88\x00', '\x1b[2J', '\xc2\x9b'];

/** Byte-level mutations of a whole file or packet: flips, interesting values, cuts, inserts, copies. */
export function mutateBytes(input: Buffer, rand: Rand, headerBias = 64): Buffer {
  let out = Buffer.from(input);
  const ops = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < ops; i++) {
    if (out.length === 0) return Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
    const pos = Math.floor((rand() < 0.6 ? Math.min(out.length, headerBias) : out.length) * rand());
    const r = rand();
    if (r < 0.3) out[pos] = Math.floor(rand() * 256);
    else if (r < 0.4) out[pos] = (out[pos] as number) ^ (1 << Math.floor(rand() * 8));
    else if (r < 0.55 && pos + 4 <= out.length) {
      const v = pick(rand, INTERESTING_32);
      if (rand() < 0.5) out.writeUInt32LE(v >>> 0, pos); else out.writeUInt32BE(v >>> 0, pos);
    } else if (r < 0.65 && pos + 2 <= out.length) out.writeUInt16BE(pick(rand, INTERESTING_16), pos);
    else if (r < 0.75) out = out.subarray(0, Math.floor(out.length * rand()));
    else if (r < 0.85) {
      const insert = rand() < 0.5 ? Buffer.from(pick(rand, HTTP_TOKENS), 'latin1')
        : Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 32) }, () => Math.floor(rand() * 256)));
      out = Buffer.concat([out.subarray(0, pos), insert, out.subarray(pos)]);
    } else {
      // repeat a slice (a record, a header line, a frame) in place
      const len = 1 + Math.floor(rand() * Math.min(512, out.length - pos));
      const slice = out.subarray(pos, pos + len);
      const times = 1 + Math.floor(rand() * 4);
      out = Buffer.concat([out.subarray(0, pos + len), ...Array<Buffer>(times).fill(slice), out.subarray(pos + len)]);
    }
  }
  return out;
}

/** Packet-level mutations: some records' bytes mutated (biased to headers), dropped, duplicated or reordered. */
function mutateRecords(records: PacketRecord[], rand: Rand): PacketRecord[] {
  let out = records.slice();
  const n = 1 + Math.floor(rand() * Math.max(1, Math.min(8, out.length)));
  for (let i = 0; i < n && out.length > 0; i++) {
    const at = Math.floor(rand() * out.length);
    const rec = out[at] as PacketRecord;
    const r = rand();
    if (r < 0.65) {
      const data = mutateBytes(rec.data, rand, rand() < 0.5 ? 60 : rec.data.length);
      out[at] = { ...rec, data, caplen: data.length, len: Math.max(rec.len, data.length) };
    } else if (r < 0.75) out.splice(at, 1);
    else if (r < 0.87) out.splice(at, 0, rec);
    else {
      const other = Math.floor(rand() * out.length);
      out[at] = out[other] as PacketRecord;
      out[other] = rec;
    }
  }
  if (rand() < 0.05) out = out.concat(out); // the whole capture twice: port reuse, retransmissions
  return out;
}

function writePcap(records: PacketRecord[], linkType: number): Buffer {
  const w = new PcapWriter({ nanosecond: true });
  return Buffer.concat([w.fileHeader(linkType), ...records.map((r) => w.record(r))]);
}

/** One case: a corpus file, mutated at file or packet level (or both). */
export function makeCase(corpus: readonly Buffer[], seed: number, index: number): Buffer {
  const rand = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const base = pick(rand, corpus);
  const r = rand();
  if (r < 0.35) return mutateBytes(base, rand);
  let records: PacketRecord[];
  try {
    records = parseCapture(base).packets;
  } catch {
    return mutateBytes(base, rand);
  }
  if (records.length === 0) return mutateBytes(base, rand);
  const linkType = (records[0] as PacketRecord).linkType;
  const mutated = writePcap(mutateRecords(records.filter((x) => x.linkType === linkType), rand), linkType);
  return r < 0.9 ? mutated : mutateBytes(mutated, rand);
}

/** Capture files under `dir` (pcap and pcapng), read once: the corpus. */
export function loadCorpus(dir: string, maxBytes = 512 * 1024): Buffer[] {
  return fs.readdirSync(dir).filter((f) => /\.pcap(ng)?$/.test(f)).sort()
    .map((f) => fs.readFileSync(path.join(dir, f))).filter((b) => b.length <= maxBytes);
}

export interface LibraryCaseStats { packets: number; typedError: string | null; tcpEvents: number; httpEvents: number; grepMatches: number }

/**
 * Runs one case through every parser. Throws (a bug) on anything but a typed reader error; per-packet
 * and per-stream problems must come out as typed failures and events, never as exceptions.
 */
export function runLibraryCase(input: Buffer, seed: number): LibraryCaseStats {
  const rand = prng(seed);
  const stats: LibraryCaseStats = { packets: 0, typedError: null, tcpEvents: 0, httpEvents: 0, grepMatches: 0 };
  const parsers = new Map<number, HttpConnectionParser>();
  const limits = { maxHeaderBytes: 8192, maxBody: 65536, maxEncodedBody: 65536, maxDecodedLength: 1 << 20, maxUpgradeBuffer: 65536, websocket: { maxMessageSize: 1 << 20 } };
  const onTcp = (ev: TcpEvent): void => {
    stats.tcpEvents++;
    const at = { ts: ev.ts, tsSec: ev.tsSec, tsNsec: ev.tsNsec, frame: ev.frame };
    if (ev.type === 'start') parsers.set(ev.connection, new HttpConnectionParser(() => { stats.httpEvents++; }, limits));
    const parser = parsers.get(ev.connection);
    if (!parser) return;
    if (ev.type === 'data') parser.data(ev.from, ev.bytes, at);
    else if (ev.type === 'gap') parser.gap(ev.from, ev.length, at);
    else if (ev.type === 'end') { parser.end(at); parsers.delete(ev.connection); }
    else if (ev.type === 'reset') { parser.reset(at); parsers.delete(ev.connection); }
  };
  const reassembler = new TcpReassembler(onTcp, { maxConnections: 256 });
  const defrag = new Defragmenter({ maxDatagrams: 64 });
  const packetGrep = new PacketGrep(compileMatcher(pick(rand, ['HTTP', 'a', '\\x00', 'GET|POST', '.'])));
  const streamGrep = new StreamGrep(compileMatcher(pick(rand, ['HTTP/1', 'ab', 'Upgrade'])), { release: () => undefined, match: () => { stats.grepMatches++; } });
  const onPacket = (rec: PacketRecord): void => {
    stats.packets++;
    const pkt: Packet = decodePacket(rec, { depth: 'transport' });
    if (stats.packets % 8 === 0) {
      formatPacketLine(pkt, {});
      jsonText(packetToJson(pkt));
    }
    for (const p of defrag.push(pkt)) {
      reassembler.packet(p);
      packetGrep.packet(p as Packet);
      streamGrep.packet(p as Packet);
    }
  };
  const reader = new CaptureParser({ packet: onPacket });
  try {
    for (let off = 0; off < input.length;) {
      const n = 1 + Math.floor(rand() * (rand() < 0.5 ? 64 : 65536));
      reader.write(input.subarray(off, off + n));
      off += n;
    }
    reader.end();
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    stats.typedError = e.code;
  }
  reassembler.flush();
  streamGrep.flush();
  return stats;
}

export interface CommandSpec {
  name: string;
  bin: string;
  args: string[];
  /** The option naming the input file (default: the file is the last argument). */
  fileFlag?: string;
  /** Whether the command reads a capture on stdin, and the arguments that say so when needed. */
  stdin: boolean;
  stdinArgs?: string[];
  /** Exit statuses the command documents (default 0 ok, 1 damaged input; grep: 2 = error). */
  okStatus?: number[];
}

/** Every command that reads a capture, with the options that reach the most code. */
export const COMMANDS: readonly CommandSpec[] = [
  { name: 'info', bin: 'pcap-pipe.js', args: ['info'], stdin: true },
  { name: 'print', bin: 'pcap-pipe.js', args: ['print', '-x', '--defragment'], stdin: true },
  { name: 'print --json', bin: 'pcap-pipe.js', args: ['print', '--json'], stdin: true },
  { name: 'read', bin: 'pcap-pipe.js', args: ['read'], stdin: true },
  { name: 'filter', bin: 'pcap-pipe.js', args: ['filter', 'tcp or udp'], fileFlag: '-r', stdin: true },
  { name: 'tcp', bin: 'pcap-pipe.js', args: ['tcp', '--json'], stdin: true },
  { name: 'follow', bin: 'pcap-pipe.js', args: ['follow', '--hex'], stdin: true },
  { name: 'http', bin: 'pcap-pipe.js', args: ['http', '--headers', '--bodies'], stdin: true },
  { name: 'ws', bin: 'pcap-pipe.js', args: ['ws', '--json'], stdin: true },
  { name: 'grep', bin: 'pcap-pipe.js', args: ['grep', '--text', '--hexdump', 'a'], stdin: true, okStatus: [0, 1, 2] },
  { name: 'grep --stream', bin: 'pcap-pipe.js', args: ['grep', '--stream', '--json', 'HTTP'], stdin: true, okStatus: [0, 1, 2] },
  { name: 'http_trace', bin: 'http_trace.js', args: ['--json', '--bodies', '--tcp-verbose'], fileFlag: '-r', stdin: true, stdinArgs: ['-r', '-'] },
  { name: 'network_grep', bin: 'network_grep.js', args: ['GET'], fileFlag: '-I', stdin: false, okStatus: [0, 1, 2] },
];

export interface CommandResult { status: number | null; signal: NodeJS.Signals | null; stderr: string; timedOut: boolean }

/** Runs `spec` on `input` (written to `file` first when via 'file'); never rejects. */
export function runCommandCase(binDir: string, spec: CommandSpec, input: Buffer, via: 'file' | 'stdin', file: string, hangMs: number): Promise<CommandResult & { args: string[] }> {
  let args = via === 'stdin' && spec.stdinArgs ? [...spec.stdinArgs, ...spec.args] : spec.args.slice();
  if (via === 'file') {
    fs.writeFileSync(file, input);
    if (!spec.fileFlag) args = [...args, file];
    else if (spec.bin === 'pcap-pipe.js') args = [args[0] as string, spec.fileFlag, file, ...args.slice(1)]; // pcap-pipe SUB -r FILE ...
    else args = [spec.fileFlag, file, ...args];
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(binDir, spec.bin), ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < 65536) stderr += d.toString(); });
    child.stdin.on('error', () => undefined); // the command may stop reading early (EPIPE)
    child.stdin.end(via === 'stdin' ? input : undefined);
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, hangMs);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal: timedOut ? null : signal, stderr, timedOut, args });
    });
  });
}

/** Why a command's result is a crash (or a hang), or null when it ended as a command should. */
export function crashReason(r: CommandResult, spec: CommandSpec): string | null {
  if (r.timedOut) return 'no exit before the hang timeout';
  if (r.signal) return `killed by ${r.signal}`;
  if (!(spec.okStatus ?? [0, 1]).includes(r.status as number)) return `exit status ${r.status}`;
  if (/^\s+at .+:\d+:\d+\)?$/m.test(r.stderr) || /(TypeError|RangeError|ReferenceError|FATAL ERROR|heap out of memory)/.test(r.stderr)) {
    return `uncaught error: ${r.stderr.split('\n').slice(0, 6).join(' | ')}`;
  }
  return null;
}
