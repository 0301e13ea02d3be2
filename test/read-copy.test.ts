/**
 * `pcap-pipe read`'s pass-through (bin/read-copy.ts): one classic pcap input written as classic pcap is
 * copied in blocks instead of parsed and re-written. Whatever the input (clean, cut short, a record too
 * large, a fraction out of range, big-endian, nanosecond, records across 1 MiB reads, split across pipe
 * reads), and however it comes (a file argument, stdin redirected from the file, stdin a pipe), the bytes
 * out, the one-line error and the exit status are what parsing every record and writing it again gives
 * (the library's reader and writer, computed here), and tshark reads the output as the input's frames.
 * Inputs the copy does not take (pcapng, not a capture) still go the ordinary way, on a pipe too.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseCapture } from '../lib/formats/detect';
import { parsePcapFileHeader, PcapWriter, type PcapFileHeader } from '../lib/formats/pcap';
import { PcapngWriter } from '../lib/formats/pcapng';
import { writeCapture, writePcap } from '../streams/write';
import { captureFiles, fixture, REPO_ROOT } from './helpers/oracle';
import { CONVERT_READ_BYTES, COPY_READ_BYTES } from '../bin/read-copy';
import { DEFAULT_FILE_CHUNK } from '../streams/read';
import type { PacketRecord } from '../lib/core/record';

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-read-copy-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

interface Outcome { stdout: Buffer; stderr: string; status: number | null }

/** What the parsing path writes for `buf`: the reader's records through the classic pcap writer. */
async function parsedAndWritten(buf: Buffer, label: string): Promise<Outcome> {
  const parsed = parseCapture(buf);
  const parts: Buffer[] = [];
  const header = pcapHeaderOf(buf);
  const writer = writePcap(header ? { sourceHeader: header } : {});
  writer.on('data', (b: Buffer) => parts.push(b));
  await pipeline(Readable.from(parsed.packets.map((p) => p as PacketRecord), { objectMode: true }), writer);
  const n = parsed.packets.length;
  const stderr = parsed.error
    ? `pcap-pipe read: ${label}: ${parsed.error.message} [${parsed.error.code}]${n > 0 ? `; wrote the ${n} complete packet${n === 1 ? '' : 's'}` : ''}\n`
    : '';
  return { stdout: Buffer.concat(parts), stderr, status: parsed.error ? 1 : 0 };
}

/** The input's file header, as the reader keeps it for the writer (null when there is none to keep). */
function pcapHeaderOf(buf: Buffer): PcapFileHeader | null {
  if (buf.length < 24) return null;
  try { return parsePcapFileHeader(buf.subarray(0, 24)); } catch { return null; }
}

/** Offsets of the record headers of a little-endian classic pcap. */
function recordStarts(buf: Buffer): number[] {
  const starts: number[] = [];
  for (let o = 24; o + 16 <= buf.length; o += 16 + buf.readUInt32LE(o + 8)) starts.push(o);
  return starts;
}

/** `pcap-pipe read` three ways: the file as argument, stdin redirected from it, stdin a pipe (cat). */
function runRead(file: string): Record<'file' | 'stdin' | 'pipe', Outcome> {
  const run = (script: string): Outcome => {
    const r = spawnSync('bash', ['-c', script, 'read', process.execPath, CLI, file], { maxBuffer: 256 << 20 });
    return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status };
  };
  return {
    file: run('"$1" "$2" read "$3"'),
    stdin: run('"$1" "$2" read < "$3"'),
    pipe: run('cat "$3" | "$1" "$2" read'),
  };
}

async function assertLikeParsing(file: string, what: string): Promise<void> {
  const buf = fs.readFileSync(file);
  const runs = runRead(file);
  for (const [how, got] of Object.entries(runs)) {
    const want = await parsedAndWritten(buf, how === 'file' ? file : '-');
    assert.equal(got.stderr, want.stderr, `${what} (${how}): stderr`);
    assert.equal(got.status, want.status, `${what} (${how}): exit status`);
    assert.ok(got.stdout.equals(want.stdout), `${what} (${how}): ${got.stdout.length} bytes out, parsing writes ${want.stdout.length}`);
  }
}

function write(name: string, bytes: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** A classic pcap of `n` records of varied sizes (1 .. 1514 bytes), little- or big-endian, us or ns. */
function generated(n: number, opts: { bigEndian?: boolean; nanosecond?: boolean } = {}): Buffer {
  const w = new PcapWriter(opts);
  const parts = [w.fileHeader(1)];
  for (let i = 0; i < n; i++) {
    const len = 1 + ((i * 7919) % 1514);
    const data = Buffer.alloc(len, i & 0xff);
    parts.push(w.record({ frame: i + 1, linkType: 1, tsSec: 1_700_000_000 + i, tsNsec: (i * 1237) % 1_000_000_000, caplen: len, len: len + (i % 3), interfaceId: 0, data, noTimestamp: undefined, options: undefined, fcsLength: undefined, nanoPrecision: opts.nanosecond }));
  }
  return Buffer.concat(parts);
}

test('every classic pcap fixture, damaged ones included: the copy writes what parsing writes, the same error and status', async () => {
  // (a file header of an unsupported version fails the command before any output: not a copy, read-write.test.ts)
  const fixtures = captureFiles().filter((x) => x.endsWith('.pcap') && x !== 'malformed-pcap-invalid-version.pcap');
  for (const f of fixtures) await assertLikeParsing(fixture(f), f);
});

test('several MiB across 1 MiB reads, big-endian and nanosecond: byte-identical to the input', async () => {
  for (const [name, opts] of [['le-us', {}], ['be-us', { bigEndian: true }], ['le-ns', { nanosecond: true }], ['be-ns', { bigEndian: true, nanosecond: true }]] as const) {
    const buf = generated(name === 'le-us' ? 6000 : 1500, opts);
    const p = write(`${name}.pcap`, buf);
    for (const [how, got] of Object.entries(runRead(p))) {
      assert.equal(got.status, 0, `${name} (${how}): ${got.stderr}`);
      assert.ok(got.stdout.equals(buf), `${name} (${how}): output differs from the input`);
    }
  }
});

test('cut short at every kind of place: the complete packets, the parser\'s one line, exit 1; tshark reads the output', async () => {
  const buf = generated(3000);
  // inside the file header, just after it, inside a record header, inside record data, past 1 MiB
  const starts = recordStarts(buf);
  const late = starts.find((s) => s > (1 << 20) + 5000) as number;
  for (const cut of [10, 24, (starts[3] as number) + 9, (starts[3] as number) + 20, late + 16 + 3]) {
    const p = write(`cut-${cut}.pcap`, buf.subarray(0, cut));
    await assertLikeParsing(p, `cut at ${cut}`);
  }
  const p = path.join(dir, `cut-${late + 19}.pcap`);
  const out = spawnSync(process.execPath, [CLI, 'read', p], { maxBuffer: 64 << 20 }).stdout;
  const frames = execFileSync('bash', ['-c', 'cat | tshark -n -r - -T fields -e frame.len | wc -l'], { input: out, stdio: ['pipe', 'pipe', 'ignore'] }).toString().trim();
  assert.equal(Number(frames), starts.indexOf(late), 'tshark: frames before the cut record');
});

test('a record over the limit and a fraction out of range: what parsing + writing gives', async () => {
  const buf = generated(20);
  const third = recordStarts(buf)[2] as number;
  const big = Buffer.from(buf);
  big.writeUInt32LE(10_000_000, third + 8);
  await assertLikeParsing(write('too-large.pcap', big), 'record too large');
  const frac = Buffer.from(buf);
  frac.writeUInt32LE(3_500_000, third + 4);
  await assertLikeParsing(write('frac.pcap', frac), 'fraction out of range');
  const r = spawnSync(process.execPath, [CLI, 'read', path.join(dir, 'frac.pcap')]);
  assert.equal(r.status, 0);
  assert.equal(parseCapture(r.stdout).packets[2]?.tsSec, 1_700_000_002 + 3, 'the carried second');
});

test('records split across pipe reads by a slow writer are copied whole', () => {
  const buf = generated(400);
  const p = write('slow.pcap', buf);
  // three pieces a moment apart: the first ends inside the file header's record stream, mid-record
  const r = spawnSync('bash', ['-c', '{ head -c 1000 "$3"; sleep 0.3; head -c 5000 "$3" | tail -c 4000; sleep 0.3; tail -c +5001 "$3"; } | "$1" "$2" read', 'x', process.execPath, CLI, p], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.ok(r.stdout.equals(buf));
});

test('not for the copy: pcapng and non-capture input on a pipe go the ordinary way from the bytes already read', async () => {
  for (const f of captureFiles().filter((x) => x.endsWith('.pcapng'))) {
    const fromFile = spawnSync(process.execPath, [CLI, 'read', fixture(f)], { maxBuffer: 64 << 20 });
    const fromPipe = spawnSync('bash', ['-c', 'cat "$3" | "$1" "$2" read', 'x', process.execPath, CLI, fixture(f)], { maxBuffer: 64 << 20 });
    assert.equal(fromPipe.status, fromFile.status, `${f}: status`);
    assert.ok(fromPipe.stdout.equals(fromFile.stdout), `${f}: pipe and file differ`);
    assert.equal(fromPipe.stderr.toString(), fromFile.stderr.toString().replace(fixture(f), '-'), `${f}: stderr`);
  }
  // pcapng → pcap: the same frames as tshark reads in the pcapng
  const ng = fixture('pcapng-2if-tsresol9-dns.pcapng');
  const out = execFileSync('bash', ['-c', 'cat "$3" | "$1" "$2" read', 'x', process.execPath, CLI, ng]);
  const fields = (input: Buffer): string => execFileSync('bash', ['-c', 'cat | tshark -n -r - -T fields -e frame.len -e frame.time_epoch'], { input, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
  assert.equal(fields(out), fields(fs.readFileSync(ng)));
  // text on a pipe: the ordinary error
  const text = spawnSync('bash', ['-c', 'echo "hello, this is not a capture" | "$1" "$2" read', 'x', process.execPath, CLI]);
  assert.equal(text.status, 1);
  assert.match(text.stderr.toString(), /^pcap-pipe read: -: input is neither pcap nor pcapng: it starts with text "hello, this is n" \[PCAP_BAD_MAGIC\]\n$/);
  // --format pcapng is not a copy either: pcapng out
  const forced = spawnSync(process.execPath, [CLI, 'read', '--format', 'pcapng', fixture('arp-ethernet.pcap')]);
  assert.equal(forced.stdout.readUInt32BE(0), 0x0a0d0d0a);
  const parts: Buffer[] = [];
  const w = writeCapture({ format: 'pcapng' });
  w.on('data', (b: Buffer) => parts.push(b));
  await pipeline(Readable.from(parseCapture(fs.readFileSync(fixture('arp-ethernet.pcap'))).packets, { objectMode: true }), w);
  assert.equal(parseCapture(forced.stdout).packets.length, parseCapture(Buffer.concat(parts)).packets.length);
});

test('-w FILE gets the copy too; a full disk is one line and status 1; a closed pipe is quiet', () => {
  const out = path.join(dir, 'w.pcap');
  const src = fixture('http-keepalive-304.pcap');
  const r = spawnSync(process.execPath, [CLI, 'read', '-w', out, src]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(src)));
  const full = spawnSync('bash', ['-c', '"$1" "$2" read "$3" > /dev/full', 'x', process.execPath, CLI, src]);
  assert.equal(full.status, 1);
  assert.equal(full.stderr.toString(), 'pcap-pipe read: stdout: no space left on device\n');
  const p = write('head.pcap', generated(3000));
  const closed = spawnSync('bash', ['-o', 'pipefail', '-c', '"$1" "$2" read "$3" | head -c 100 > /dev/null', 'x', process.execPath, CLI, p]);
  assert.equal(closed.stderr.toString(), '');
  assert.ok(closed.status === 0 || closed.status === 141, `status ${closed.status}`);
});

// ---- pcapng in, classic pcap out: PcapngParser's blocks written as pcap records without PacketRecords ----

/**
 * What the ordinary path writes for a pcapng `buf` (a single read chunk's worth: the fixtures and the
 * generated files here are under 512 KiB, so the output format is chosen with every interface known):
 * classic pcap when the interfaces and the first packet share one link type (or --format pcap), else pcapng.
 */
async function ordinaryPcapng(buf: Buffer, label: string, forced?: 'pcap'): Promise<Outcome & { format: 'pcap' | 'pcapng' }> {
  const parsed = parseCapture(buf);
  const linkTypes = new Set(parsed.interfaces.map((i) => i.linkType));
  if (parsed.packets[0]) linkTypes.add(parsed.packets[0].linkType);
  const format = forced ?? (linkTypes.size > 1 ? 'pcapng' : 'pcap');
  const parts: Buffer[] = [];
  const writer = writeCapture({ format, interfaces: parsed.interfaces });
  writer.on('data', (b: Buffer) => parts.push(b));
  let writeError = '';
  try {
    await pipeline(Readable.from(parsed.packets, { objectMode: true }), writer);
  } catch (e) {
    writeError = `pcap-pipe read: ${(e as Error).message} [${(e as { code: string }).code}]\n`;
  }
  const n = parsed.packets.length;
  const stderr = writeError !== '' ? writeError : parsed.error
    ? `pcap-pipe read: ${label}: ${parsed.error.message} [${parsed.error.code}]${n > 0 ? `; wrote the ${n} complete packet${n === 1 ? '' : 's'}` : ''}\n`
    : '';
  return { stdout: Buffer.concat(parts), stderr, status: writeError !== '' || parsed.error ? 1 : 0, format };
}

function runReadArgs(file: string, args: string[], ways: readonly ('file' | 'stdin' | 'pipe')[] = ['file', 'stdin', 'pipe']): [string, Outcome][] {
  const scripts = { file: '"$1" "$2" read "${@:4}" "$3"', stdin: '"$1" "$2" read "${@:4}" < "$3"', pipe: 'cat "$3" | "$1" "$2" read "${@:4}"' };
  return ways.map((how) => {
    const r = spawnSync('bash', ['-c', scripts[how], 'read', process.execPath, CLI, file, ...args], { maxBuffer: 256 << 20 });
    return [how, { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status }];
  });
}

async function assertPcapngLikeOrdinary(file: string, what: string, args: string[] = [], ways?: readonly ('file' | 'stdin' | 'pipe')[]): Promise<void> {
  const buf = fs.readFileSync(file);
  for (const [how, got] of runReadArgs(file, args, ways)) {
    const want = await ordinaryPcapng(buf, how === 'file' ? file : '-', args.includes('pcap') ? 'pcap' : undefined);
    assert.equal(got.stderr, want.stderr, `${what} (${how}): stderr`);
    assert.equal(got.status, want.status, `${what} (${how}): exit status`);
    if (want.stderr.includes('[PCAP_WRITE]')) {
      // a second link type under --format pcap: the ordinary writer loses the batch it fails on, and what
      // it wrote before depends on when the event loop turned; the copy writes the packets of earlier reads
      const wrote = got.stdout.length === 0 ? [] : parseCapture(got.stdout).packets;
      assert.ok(wrote.length <= parseCapture(buf).packets.length, `${what} (${how}): packets before the error`);
      continue;
    }
    assert.ok(got.stdout.equals(want.stdout), `${what} (${how}): ${got.stdout.length} bytes out (${want.format} wanted: ${want.stdout.length})`);
  }
}

/** A pcapng of `n` packets of varied sizes, some with options (comment, flags), one interface of link type 1. */
function generatedPcapng(n: number): Buffer {
  const w = new PcapngWriter();
  const parts = [w.header({ comment: 'generated' })];
  for (let i = 0; i < n; i++) {
    const len = 1 + ((i * 7919) % 1514);
    const options = i % 7 === 3 ? { comments: [`packet ${i}`], flags: 1 } : undefined;
    parts.push(w.packet({ frame: i + 1, linkType: 1, tsSec: 1_700_000_000 + i, tsNsec: (i * 1237) % 1_000_000_000, caplen: len, len: len + (i % 3), interfaceId: 0, data: Buffer.alloc(len, i & 0xff), noTimestamp: undefined, options, fcsLength: undefined, nanoPrecision: i % 2 === 0 }));
  }
  return Buffer.concat(parts);
}

test('pcapng to pcap: every pcapng fixture, with and without --format pcap, writes what the ordinary path writes', async () => {
  for (const f of captureFiles().filter((x) => x.endsWith('.pcapng'))) {
    await assertPcapngLikeOrdinary(fixture(f), f);
    await assertPcapngLikeOrdinary(fixture(f), `${f} --format pcap`, ['--format', 'pcap']);
  }
});

test('pcapng to pcap: several MiB across reads, cut short at every kind of place, and fuzzed: the same bytes, error and status', async () => {
  // big: blocks across 1 MiB reads (and the ordinary reader's 512 KiB ones); tshark reads the same frames
  const big = generatedPcapng(9000);
  const bigFile = write('big.pcapng', big);
  const want = await ordinaryPcapng(big, bigFile);
  assert.equal(want.format, 'pcap');
  for (const [how, got] of runReadArgs(bigFile, [])) {
    assert.equal(got.status, 0, `${how}: ${got.stderr}`);
    assert.ok(got.stdout.equals(want.stdout), `big (${how}): output differs from parsing + writing`);
  }
  const small = generatedPcapng(300);
  const blocks: number[] = [];
  for (let o = 0; o + 8 <= small.length; o += small.readUInt32LE(o + 4)) blocks.push(o);
  // inside the SHB, inside the IDB, just after it, inside an EPB header, inside its data, inside its options
  const epb = blocks[5] as number;
  for (const cut of [6, 40, blocks[2] as number, epb + 10, epb + 40, (blocks[4] as number) - 6]) {
    await assertPcapngLikeOrdinary(write(`ng-cut-${cut}.pcapng`, small.subarray(0, cut)), `cut at ${cut}`);
  }
  // fuzzed: random bytes and random lengths in three bases (generated, big-endian with every block type,
  // mixed-endian sections), file and pipe alternately
  let seed = 0x5eed;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  const bases = [small, fs.readFileSync(fixture('pcapng-be-test102-all-block-types.pcapng')), fs.readFileSync(fixture('pcapng-le-test202-mixed-endian-sections.pcapng'))];
  for (let i = 0; i < 45; i++) {
    const b = Buffer.from(bases[i % bases.length] as Buffer);
    const kind = rnd(3);
    if (kind === 0) b[rnd(b.length)] = rnd(256);
    else if (kind === 1) b.writeUInt32LE(rnd(4) === 0 ? rnd(0x20000) : rnd(64), rnd(b.length >> 2) << 2);
    const data = kind === 2 ? b.subarray(0, rnd(b.length)) : b;
    await assertPcapngLikeOrdinary(write(`ng-fuzz-${i}.pcapng`, data), `fuzz ${i} (kind ${kind})`, [], [i % 2 === 0 ? 'file' : 'pipe']);
  }
});

test('pcapng to pcap: tshark reads the converted frames as it reads the pcapng', () => {
  const ng = write('tshark.pcapng', generatedPcapng(500));
  const out = execFileSync(process.execPath, [CLI, 'read', ng], { maxBuffer: 64 << 20 });
  const fields = (input: Buffer): string => execFileSync('bash', ['-c', 'cat | tshark -n -r - -T fields -e frame.len -e frame.cap_len -e frame.time_epoch'], { input, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
  const want = fields(fs.readFileSync(ng));
  assert.ok(want.split('\n').length > 500);
  // the pcap keeps nanoseconds (the first packet's interface has them): the same times to the digit
  assert.equal(fields(out), want);
});

test('pcapng to pcap: a second link type declared after the first packet, before and after the ordinary reader\'s first read', async () => {
  // the format is chosen once the read holding the first packet is parsed: the copy's reads must cover the
  // ordinary reader's (a multiple of its chunk), so that what the ordinary path saw, the copy saw too
  assert.equal(COPY_READ_BYTES % DEFAULT_FILE_CHUNK, 0);
  for (const at of [200 << 10, 400 << 10, 700 << 10, 1600 << 10]) {
    const w = new PcapngWriter();
    const parts = [w.header()];
    let size = parts[0]!.length;
    let i = 0;
    const packet = (linkType: number): void => {
      const len = 200 + (i % 1200);
      const b = w.packet({ frame: ++i, linkType, tsSec: 1_700_000_000 + i, tsNsec: 0, caplen: len, len, interfaceId: linkType === 1 ? 0 : 1, data: Buffer.alloc(len, i & 0xff), noTimestamp: undefined, options: undefined, fcsLength: undefined, nanoPrecision: false });
      parts.push(b);
      size += b.length;
    };
    while (size < at) packet(1);
    for (let k = 0; k < 50; k++) packet(k % 2 === 0 ? 101 : 1);
    const file = write(`second-linktype-${at}.pcapng`, Buffer.concat(parts));
    const got = spawnSync(process.execPath, [CLI, 'read', file], { maxBuffer: 64 << 20 });
    if (at < DEFAULT_FILE_CHUNK) {
      // the ordinary reader's first read holds both interfaces: pcapng, every packet
      assert.equal(got.status, 0, `at ${at}: ${got.stderr}`);
      assert.equal(got.stdout.readUInt32BE(0), 0x0a0d0d0a, `at ${at}: pcapng`);
      assert.equal(parseCapture(got.stdout).packets.length, i);
    } else {
      // it chose classic pcap before the second interface: the writer's error at its first packet
      const first = parseCapture(fs.readFileSync(file)).packets.find((p) => p.linkType === 101)!.frame;
      assert.equal(got.stderr.toString(), `pcap-pipe read: classic pcap holds one link type: frame ${first} has link type 101 after 1; write pcapng instead [PCAP_WRITE]\n`, `at ${at}`);
      assert.equal(got.status, 1);
    }
  }
});

// ---- the EPB walker of lib/formats/pcapng-copy.ts: it runs from the second 1 MiB read on, so these files are bigger ----

/** Hand-made pcapng blocks in either byte order (PcapngWriter writes little-endian only). */
class NgBlocks {
  constructor(readonly le: boolean) {}
  u16(v: number): Buffer { const b = Buffer.alloc(2); if (this.le) b.writeUInt16LE(v); else b.writeUInt16BE(v); return b; }
  u32(v: number): Buffer { const b = Buffer.alloc(4); if (this.le) b.writeUInt32LE(v >>> 0); else b.writeUInt32BE(v >>> 0); return b; }
  pad(b: Buffer): Buffer { return Buffer.concat([b, Buffer.alloc((4 - (b.length & 3)) & 3)]); }
  opt(code: number, value: Buffer): Buffer { return Buffer.concat([this.u16(code), this.u16(value.length), this.pad(value)]); }
  block(type: number, body: Buffer, total = 12 + body.length): Buffer { return Buffer.concat([this.u32(type), this.u32(total), body, this.u32(total)]); }
  shb(): Buffer { return this.block(0x0a0d0d0a, Buffer.concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), Buffer.alloc(8, 0xff)])); }
  idb(linkType: number, options: Buffer[] = []): Buffer {
    const opts = options.length > 0 ? Buffer.concat([...options, this.u32(0)]) : Buffer.alloc(0);
    return this.block(1, Buffer.concat([this.u16(linkType), this.u16(0), this.u32(0), opts]));
  }
  epb(iface: number, i: number, data: Buffer, options?: Buffer): Buffer {
    return this.block(6, Buffer.concat([this.u32(iface), this.u32(0x60000 + (i >>> 12)), this.u32(Math.imul(i, 2654435761)), this.u32(data.length), this.u32(data.length + (i % 5)), this.pad(data), options ?? Buffer.alloc(0)]));
  }
}

/**
 * A pcapng over 1 MiB: three interfaces of link type 1 (µs; ns; 2^-20 s with an offset), EPBs over them,
 * some with options (a comment; a flags word without opt_endofopt), then `tail` blocks and more EPBs.
 */
function walkerPcapng(le: boolean, tail: (b: NgBlocks, size: number) => Buffer[], before = 1300 << 10): Buffer {
  const b = new NgBlocks(le);
  const tsoffset = Buffer.alloc(8);
  if (le) tsoffset.writeBigInt64LE(100n); else tsoffset.writeBigInt64BE(100n);
  const parts = [b.shb(), b.idb(1), b.idb(1, [b.opt(9, Buffer.from([9]))]), b.idb(1, [b.opt(9, Buffer.from([0x94])), b.opt(14, tsoffset)])];
  let size = parts.reduce((n, p) => n + p.length, 0);
  let i = 0;
  const packets = (until: number): void => {
    while (size < until) {
      const data = Buffer.alloc(1 + ((i * 7919) % 1514), i & 0xff);
      const options = i % 11 === 4 ? Buffer.concat([b.opt(1, Buffer.from(`packet ${i}`)), b.u32(0)]) : i % 13 === 6 ? b.opt(2, b.u32(1)) : undefined;
      const p = b.epb(i % 3, i, data, options);
      parts.push(p);
      size += p.length;
      i++;
    }
  };
  packets(before);
  for (const p of tail(b, size)) { parts.push(p); size += p.length; }
  packets(size + (300 << 10));
  return Buffer.concat(parts);
}

test('pcapng to pcap past the first read: blocks the walker leaves to the parser, damage and cuts give what the ordinary path gives', async () => {
  const data = Buffer.alloc(100, 7);
  const cases: Record<string, (b: NgBlocks, size: number) => Buffer[]> = {
    'plain': () => [],
    'SPB': (b) => [b.block(3, Buffer.concat([b.u32(90), b.pad(Buffer.alloc(90, 3))]))],
    'custom block and ISB': (b) => [b.block(0x0bad, Buffer.alloc(20)), b.block(5, Buffer.concat([b.u32(0), b.u32(0), b.u32(0)]))],
    'new section, same order': (b) => [b.shb(), b.idb(1), b.epb(0, 1, data)],
    'new section, other order': (b) => { const o = new NgBlocks(!b.le); return [o.shb(), o.idb(1), o.idb(1), o.idb(1), o.epb(0, 1, data)]; },
    'EPB header across the 2 MiB read': (b, size) => [b.block(0x0bad, Buffer.alloc((2 << 20) - 8 - size - 12)), b.epb(1, 5, data)],
    'EPB across reads': (b) => [b.epb(0, 7, Buffer.alloc(1500 << 10, 9))],
    'option past its block': (b) => [b.epb(0, 1, data, Buffer.concat([b.u16(1), b.u16(40), b.u32(0)]))],
    'trailing length differs': (b) => { const e = b.epb(0, 1, data); e.writeUInt8(e[e.length - 4]! ^ 4, e.length - 4); return [e]; },
    'undeclared interface': (b) => [b.epb(3, 1, data)],
    'caplen over the block': (b) => { const e = b.epb(0, 1, data); if (b.le) e.writeUInt32LE(200, 20); else e.writeUInt32BE(200, 20); return [e]; },
    'length over the limit': (b) => [b.block(6, Buffer.alloc(28), 32 << 20)],
    'length not a multiple of 4': (b) => [b.block(6, Buffer.alloc(28), 50)],
  };
  for (const le of [true, false]) {
    for (const [name, tail] of Object.entries(cases)) {
      const buf = walkerPcapng(le, tail);
      const file = write(`walker-${le ? 'le' : 'be'}-${name.replace(/\W+/g, '-')}.pcapng`, buf);
      await assertPcapngLikeOrdinary(file, `${le ? 'LE' : 'BE'} ${name}`, [], le ? ['file', 'pipe'] : ['file']);
    }
  }
  // cut inside an EPB header, its data and its options, past 2 MiB; with --format pcap too
  const buf = walkerPcapng(true, () => [], 2200 << 10);
  const blocks: number[] = [];
  for (let o = 0; o + 8 <= buf.length; o += buf.readUInt32LE(o + 4)) blocks.push(o);
  const late = blocks.filter((o) => o > (2100 << 10) && buf.readUInt32LE(o + 4) > 28 + padded(buf.readUInt32LE(o + 20)) + 4);
  const withOptions = late[0]!;
  for (const cut of [blocks.find((o) => o > (2100 << 10))! + 6, withOptions + 30, withOptions + buf.readUInt32LE(withOptions + 4) - 6]) {
    await assertPcapngLikeOrdinary(write(`walker-cut-${cut}.pcapng`, buf.subarray(0, cut)), `cut at ${cut}`);
    await assertPcapngLikeOrdinary(write(`walker-cut-${cut}.pcapng`, buf.subarray(0, cut)), `cut at ${cut} --format pcap`, ['--format', 'pcap'], ['file']);
  }
  // fuzzed past the first read: a byte or a word anywhere after 1 MiB
  let seed = 0xface;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  for (let i = 0; i < 16; i++) {
    const b = Buffer.from(buf);
    const at = (1 << 20) + rnd(b.length - (1 << 20) - 4);
    if (i % 2 === 0) b[at] = rnd(256);
    else b.writeUInt32LE(rnd(4) === 0 ? rnd(0x20000) : rnd(64), at & ~3);
    await assertPcapngLikeOrdinary(write(`walker-fuzz-${i}.pcapng`, b), `walker fuzz ${i} at ${at}`, [], ['file']);
  }
});

function padded(n: number): number { return (n + 3) & ~3; }

test('pcapng to pcap: blocks cut by the conversion\'s reads (carried over to the next read, or gathered by the parser when big)', async () => {
  // the reads of a file: COPY_READ_BYTES first, then CONVERT_READ_BYTES each; boundary k is where read k+1 ends
  const boundary = (k: number): number => COPY_READ_BYTES + k * CONVERT_READ_BYTES;
  for (const le of [true, false]) {
    const b = new NgBlocks(le);
    const parts = [b.shb(), b.idb(1)];
    let size = parts.reduce((n, p) => n + p.length, 0);
    let i = 0;
    const epb = (caplen: number): void => { const p = b.epb(0, i++, Buffer.alloc(caplen, i & 0xff)); parts.push(p); size += p.length; };
    /** EPBs up to exactly `to` (a multiple of 4) */
    const fillTo = (to: number): void => {
      while (to - size > 1600) epb(1 + ((i * 7919) % 1400));
      epb(to - size - 32);
    };
    fillTo(boundary(1) - 5); epb(300); // its header cut after 5 bytes
    fillTo(boundary(2)); // a read that ends with a block, after a read that carried one
    fillTo(boundary(3) - 20); epb(60); // cut after 20 bytes: its length known, under EPB_FIXED_BYTES
    fillTo(boundary(4) - 1000); epb(1500);
    fillTo(boundary(5) - 100); epb(300 << 10); // over MAX_CARRY_BYTES: the parser gathers it
    fillTo(boundary(7) - 8); epb(100); // cut right after its length
    fillTo(boundary(8) + 4000);
    const buf = Buffer.concat(parts);
    const name = `carry-${le ? 'le' : 'be'}`;
    await assertPcapngLikeOrdinary(write(`${name}.pcapng`, buf), name, [], le ? ['file', 'stdin', 'pipe'] : ['file']);
    // the input ends inside a carried block (its header; its body), or right after the read before it
    for (const cut of [boundary(1) - 2, boundary(3) + 10, boundary(7) - 8, boundary(7) + 30]) {
      await assertPcapngLikeOrdinary(write(`${name}-cut-${cut}.pcapng`, buf.subarray(0, cut)), `${name} cut at ${cut}`, [], ['file']);
    }
  }
});
