/**
 * pcapng reader/writer against tshark: the oracle tables in test/fixtures/oracle (frames.tsv made by
 * tshark 4.0.17) and, where a hand-built file is needed, tshark run on it at test time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { PcapngParser, PcapngWriter, BlockType, tsresolToUnitsPerSecond } from '../lib/formats/pcapng';
import { CaptureError, isCaptureError, type CaptureErrorCode } from '../lib/core/errors';
import type { InterfaceInfo, InterfaceStats, NameRecord, SectionInfo } from '../lib/formats/format';
import { formatTimestamp, type PacketRecord } from '../lib/core/record';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures');
const ORACLE = path.join(FIXTURES, 'oracle');
const MALFORMED = 'malformed-pcapng-shb-option-too-long.pcapng';
const PCAPNG_FILES = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.pcapng') && f !== MALFORMED).sort();

const HAVE_TSHARK = spawnSync('tshark', ['--version']).status === 0;

interface Collected {
  packets: PacketRecord[];
  sections: SectionInfo[];
  interfaces: InterfaceInfo[];
  stats: InterfaceStats[];
  names: NameRecord[][];
  skipped: Array<[number, number]>;
  error?: CaptureError;
  parser: PcapngParser;
}

/** Feeds `input` in chunks of `chunkSize` (0 = whole), then end(); collects everything, catches the error. */
function parse(input: Buffer, chunkSize = 0, maxRecordBytes?: number): Collected {
  const c: Omit<Collected, 'parser'> = { packets: [], sections: [], interfaces: [], stats: [], names: [], skipped: [] };
  const parser = new PcapngParser(
    {
      packet: (r) => c.packets.push(r),
      section: (s) => c.sections.push(s),
      interface: (i) => c.interfaces.push(i),
      stats: (s) => c.stats.push(s),
      names: (n) => c.names.push(n),
      skippedBlock: (t, l) => c.skipped.push([t, l]),
    },
    maxRecordBytes === undefined ? undefined : { maxRecordBytes },
  );
  try {
    if (chunkSize === 0) parser.write(input);
    else for (let i = 0; i < input.length; i += chunkSize) parser.write(input.subarray(i, i + chunkSize));
    parser.end();
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    c.error = e;
  }
  return { ...c, parser };
}

/** One oracle row: frame.time_epoch, frame.interface_id, frame.len, frame.cap_len (tab-joined). */
type Row = string;

/** tshark's packet rows, without the extra rows tshark 4.0 makes for custom blocks (see MANIFEST). */
function oracleRows(file: string): Row[] {
  const lines = fs.readFileSync(path.join(ORACLE, `${file}.frames.tsv`), 'utf8').split('\n').filter((l) => l.length > 0);
  const header = lines[0]!.split('\t');
  const col = (name: string) => header.indexOf(name);
  const [cTime, cIf, cLen, cCap, cProto] = ['frame.time_epoch', 'frame.interface_id', 'frame.len', 'frame.cap_len', 'frame.protocols'].map(col);
  return lines
    .slice(1)
    .map((l) => l.split('\t'))
    .filter((f) => !(f[cProto!] === 'data' && f[cIf!] === ''))
    .map((f) => [f[cTime!], f[cIf!], f[cLen!], f[cCap!]].join('\t'));
}

function recordRow(r: PacketRecord): Row {
  return [r.noTimestamp ? '' : formatTimestamp(r.tsSec, r.tsNsec), r.interfaceId, r.len, r.caplen].join('\t');
}

function capinfosPackets(file: string): number {
  const lines = fs.readFileSync(path.join(ORACLE, 'capinfos.tsv'), 'utf8').split('\n');
  const header = lines[0]!.split('\t');
  const row = lines.find((l) => l.startsWith(`${file}\t`));
  assert.ok(row, `capinfos.tsv has ${file}`);
  return Number(row.split('\t')[header.indexOf('packets')]);
}

function expectError(c: Collected, code: CaptureErrorCode): CaptureError {
  assert.ok(c.error, `expected ${code}, got no error`);
  assert.ok(isCaptureError(c.error, code), `expected ${code}, got ${c.error.code}: ${c.error.message}`);
  return c.error;
}

// ---- hand-built blocks (little-endian unless told) ----

function option(code: number, value: Buffer | string, le = true): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  const out = Buffer.alloc(4 + ((v.length + 3) & ~3));
  if (le) { out.writeUInt16LE(code, 0); out.writeUInt16LE(v.length, 2); } else { out.writeUInt16BE(code, 0); out.writeUInt16BE(v.length, 2); }
  v.copy(out, 4);
  return out;
}
const END_OF_OPTIONS = Buffer.alloc(4);

function block(type: number, body: Buffer, le = true): Buffer {
  const total = 12 + body.length;
  const out = Buffer.alloc(total);
  const w = (v: number, o: number) => (le ? out.writeUInt32LE(v, o) : out.writeUInt32BE(v, o));
  w(type, 0);
  w(total, 4);
  body.copy(out, 8);
  w(total, total - 4);
  return out;
}

function shb(opts: Buffer[] = [], le = true, major = 1): Buffer {
  const body = Buffer.alloc(16);
  if (le) { body.writeUInt32LE(0x1a2b3c4d, 0); body.writeUInt16LE(major, 4); body.writeUInt16LE(0, 6); }
  else { body.writeUInt32BE(0x1a2b3c4d, 0); body.writeUInt16BE(major, 4); body.writeUInt16BE(0, 6); }
  body.writeBigInt64LE(-1n, 8);
  return block(BlockType.SECTION_HEADER, Buffer.concat([body, ...opts, ...(opts.length ? [END_OF_OPTIONS] : [])]), le);
}

function idb(linkType: number, snaplen: number, opts: Buffer[] = []): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16LE(linkType, 0);
  body.writeUInt32LE(snaplen, 4);
  return block(BlockType.INTERFACE_DESCRIPTION, Buffer.concat([body, ...opts, ...(opts.length ? [END_OF_OPTIONS] : [])]));
}

function epb(ifId: number, high: number, low: number, data: Buffer, len = data.length, opts: Buffer[] = []): Buffer {
  const head = Buffer.alloc(20);
  head.writeUInt32LE(ifId, 0);
  head.writeUInt32LE(high, 4);
  head.writeUInt32LE(low, 8);
  head.writeUInt32LE(data.length, 12);
  head.writeUInt32LE(len, 16);
  const padded = Buffer.alloc((data.length + 3) & ~3);
  data.copy(padded);
  return block(BlockType.ENHANCED_PACKET, Buffer.concat([head, padded, ...opts, ...(opts.length ? [END_OF_OPTIONS] : [])]));
}

/** A 60-byte Ethernet/IPv4/UDP frame to 127.0.0.1 (tshark decodes it as eth:ip:udp). */
function sampleFrame(tag: number): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from('020000000002020000000001', 'hex').copy(f, 0);
  f.writeUInt16BE(0x0800, 12);
  Buffer.from('450000200001000040110000', 'hex').copy(f, 14);
  Buffer.from([127, 0, 0, 1, 127, 0, 0, 1]).copy(f, 26);
  f.writeUInt16BE(40000, 34);
  f.writeUInt16BE(40001, 36);
  f.writeUInt16BE(12, 38);
  f.writeUInt32BE(tag, 42);
  return f;
}

function tsharkFields(file: string, fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-n', '-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, WIRESHARK_CONFIG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'wscfg-')) },
  });
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

function tmpFile(name: string, data: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcapng-test-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

// ---- every fixture against tshark ----

for (const file of PCAPNG_FILES) {
  const input = fs.readFileSync(path.join(FIXTURES, file));
  const expected = oracleRows(file);

  for (const chunk of [0, 1, 7, 4096]) {
    test(`${file}: frames equal tshark (chunks of ${chunk === 0 ? 'whole file' : chunk})`, () => {
      const c = parse(input, chunk);
      assert.equal(c.error, undefined, c.error?.message);
      assert.equal(c.packets.length, capinfosPackets(file));
      assert.deepEqual(c.packets.map(recordRow), expected);
      assert.deepEqual(c.packets.map((p) => p.frame), c.packets.map((_, i) => i + 1));
      for (const p of c.packets) assert.equal(p.data.length, p.caplen);
      assert.equal(c.parser.bytesConsumed, input.length);
    });
  }

  test(`${file}: chunked reads give the same bytes; whole-file reads are zero-copy views`, () => {
    const whole = parse(input);
    const split = parse(input, 7);
    assert.equal(split.packets.length, whole.packets.length);
    for (let i = 0; i < whole.packets.length; i++) {
      const w = whole.packets[i]!;
      assert.ok(w.data.buffer === input.buffer, 'data is a view into the input chunk');
      assert.ok(w.data.equals(split.packets[i]!.data));
      assert.equal(w.linkType, split.packets[i]!.linkType);
    }
  });
}

test('every packet takes its link type from its own interface (two link types in one file)', () => {
  const c = parse(fs.readFileSync(path.join(FIXTURES, 'pcapng-le-test006-two-linktypes.pcapng')));
  const byIf = new Map(c.interfaces.map((i) => [i.id, i.linkType]));
  assert.deepEqual([...byIf.values()].sort(), [0, 1]);
  for (const p of c.packets) assert.equal(p.linkType, byIf.get(p.interfaceId));
  // tshark: frame.protocols starts with null: on interface 1, eth: on interface 0
  const protos = fs.readFileSync(path.join(ORACLE, 'pcapng-le-test006-two-linktypes.pcapng.frames.tsv'), 'utf8')
    .split('\n').slice(1).filter(Boolean).map((l) => l.split('\t')[5]!.split(':')[0]);
  assert.deepEqual(c.packets.map((p) => (p.linkType === 0 ? 'null' : 'eth')), protos);
});

// ---- sections, interfaces, statistics, names ----

test('mixed-endian sections: byte order and interface list reset per section', () => {
  const c = parse(fs.readFileSync(path.join(FIXTURES, 'pcapng-le-test202-mixed-endian-sections.pcapng')));
  assert.deepEqual(c.sections.map((s) => [s.section, s.littleEndian]), [[0, true], [1, false], [2, true]]);
  // interface ids restart at 0 in each section
  const perSection = c.interfaces.map((i) => `${i.section}/${i.id}/${i.linkType}`);
  assert.ok(perSection.includes('1/0/1') && perSection.includes('0/0/1'), perSection.join(' '));
  assert.equal(c.skipped.length, c.parser.skippedBlocks);
  assert.ok(c.skipped.every(([t]) => t === BlockType.CUSTOM || t === BlockType.CUSTOM_NO_COPY));
  // tshark lists each custom block as an extra "data" row: 11 rows - 8 packets
  assert.equal(c.skipped.length, 3);
});

test('IDB options of pcapng-2if-tsresol9-dns equal capinfos', () => {
  // capinfos 4.0.17 (checked by hand): if#0 name eth0, snaplen 262144, tsresol 9, os "Linux 6.8.0-90-generic";
  // if#1 name \Device\NPF_{...}, description "Ethernet 2", tsresol 6, os "64-bit Windows 11 (25H2), build 26200"
  const c = parse(fs.readFileSync(path.join(FIXTURES, 'pcapng-2if-tsresol9-dns.pcapng')));
  assert.equal(c.interfaces.length, 2);
  const [a, b] = c.interfaces;
  assert.equal(a!.name, 'eth0');
  assert.equal(a!.snaplen, 262144);
  assert.equal(a!.tsUnitsPerSecond, 1_000_000_000n);
  assert.equal(a!.os, 'Linux 6.8.0-90-generic');
  assert.equal(b!.name, '\\Device\\NPF_{5AE6EDB4-EFF9-46B3-A3C2-EE50C688A9E6}');
  assert.equal(b!.description, 'Ethernet 2');
  assert.equal(b!.tsUnitsPerSecond, 1_000_000n);
  assert.equal(b!.os, '64-bit Windows 11 (25H2), build 26200');
  assert.equal(c.sections[0]!.os, 'Linux 6.8.0-90-generic');
  assert.equal(c.sections[0]!.userAppl, 'Mergecap (Wireshark) 4.2.2 (Git v4.2.2 packaged as 4.2.2-1.1build3)');
});

test('IDB options of test008 equal capinfos (every standard IDB option)', () => {
  const c = parse(fs.readFileSync(path.join(FIXTURES, 'pcapng-le-test008-idb-options-tsresol9.pcapng')));
  const [a, b] = c.interfaces;
  assert.deepEqual(
    { name: a!.name, description: a!.description, speed: a!.speed, snaplen: a!.snaplen, fcs: a!.fcsLength, units: a!.tsUnitsPerSecond, offset: a!.tsOffset, filter: a!.filter, os: a!.os, comments: a!.comments },
    { name: 'eth-_0 foo', description: 'silly ethernet interface', speed: 1_000_000_000n, snaplen: 96, fcs: 0, units: 1_000_000_000n, offset: 0n, filter: 'tcp port 23 and host 192.0.2.5', os: 'Microsoft Windows for Workgroups 3.11b\npatch 42', comments: ['test008, and more\nfoo\r\nbar'] },
  );
  assert.deepEqual(
    { name: b!.name, description: b!.description, speed: b!.speed, snaplen: b!.snaplen, os: b!.os, comments: b!.comments },
    { name: 'en1', description: 'silly ethernet interface 2', speed: 100_000_000n, snaplen: 128, os: 'Novell NetWare 4.11\nbut not using IPX', comments: ['test008'] },
  );
  assert.deepEqual(
    { hw: c.sections[0]!.hardware, os: c.sections[0]!.os, app: c.sections[0]!.userAppl, comments: c.sections[0]!.comments },
    { hw: 'Apple MBP', os: 'OS-X 10.10.5', app: 'pcap_writer.lua', comments: ['test008'] },
  );
  for (const p of c.packets) assert.equal(p.fcsLength, 0); // if_fcslen 0 given on both interfaces
});

test('ISB statistics of test102 (values from the generator script tests/test102.lua)', () => {
  const c = parse(fs.readFileSync(path.join(FIXTURES, 'pcapng-be-test102-all-block-types.pcapng')));
  assert.equal(c.stats.length, 6);
  const full = c.stats.find((s) => s.ifRecv !== undefined)!;
  assert.deepEqual(
    { ...full },
    {
      interfaceId: 0, section: 0, tsSec: 0, tsNsec: 0,
      startTime: { tsSec: 1340954905, tsNsec: 298858000 }, endTime: { tsSec: 1340954905, tsNsec: 299858000 },
      ifRecv: 100n, ifDrop: 1n, filterAccept: 9n, osDrop: 42n, userDeliv: 6n, comments: ['test102 ISB-0'],
    },
  );
  const isb2 = c.stats.find((s) => s.interfaceId === 2)!;
  assert.equal(formatTimestamp(isb2.tsSec, isb2.tsNsec), '1340954905.299858000');
  assert.equal(isb2.filterAccept, 42n);
  assert.equal(isb2.ifDrop, 10n);
  assert.equal(isb2.ifRecv, undefined);
  // the interface statistics of test202 come in both byte orders
  const c202 = parse(fs.readFileSync(path.join(FIXTURES, 'pcapng-le-test202-mixed-endian-sections.pcapng')));
  assert.equal(c202.stats.length, 4);
});

/** `tshark -q -z hosts` on the file (checked by hand, tshark 4.0.17): the last name per address wins. */
const TSHARK_HOSTS = {
  '192.168.1.2': 'qux.example.com', '10.1.2.3': 'example.org', '192.168.1.3': 'bar.example.com',
  '10.1.2.4': 'bar.example.org', '192.168.1.8': 'example.com', 'fc01:feed::beef': 'bar.example.net',
  'fc01:dead::beef': 'foo.example.com',
};

for (const file of ['pcapng-be-test102-all-block-types.pcapng', 'pcapng-le-test202-mixed-endian-sections.pcapng']) {
  test(`NRB names of ${file} equal tshark -z hosts`, () => {
    const c = parse(fs.readFileSync(path.join(FIXTURES, file)));
    const hosts: Record<string, string> = {};
    for (const recs of c.names) for (const r of recs) hosts[r.address] = r.names[0]!;
    assert.deepEqual(hosts, TSHARK_HOSTS);
  });
}

test('126 IDBs: every interface announced, packets on interface 48 take its link type', () => {
  const c = parse(fs.readFileSync(path.join(FIXTURES, 'pcapng-126-idbs-nrb-ldap.pcapng')));
  assert.equal(c.interfaces.length, 126);
  assert.deepEqual(new Set(c.interfaces.map((i) => i.linkType)), new Set([1, 113, 274]));
  assert.ok(c.packets.every((p) => p.interfaceId === 48 && p.linkType === c.interfaces[48]!.linkType));
  assert.equal(c.names.length, 5);
});

// ---- malformed input ----

test('malformed SHB (option too long, trailing length wrong): PCAP_BAD_BLOCK at offset 0, in any chunking', () => {
  const input = fs.readFileSync(path.join(FIXTURES, MALFORMED));
  for (const chunk of [0, 1, 7, 4096]) {
    const c = parse(input, chunk);
    const e = expectError(c, 'PCAP_BAD_BLOCK');
    assert.equal(e.offset, 0);
    assert.equal(c.packets.length, 0);
  }
});

test('an option whose length runs past its block: PCAP_BAD_BLOCK with the offset, earlier packets delivered', () => {
  const good = Buffer.concat([shb(), idb(1, 0), epb(0, 0, 1, sampleFrame(1))]);
  const badIdb = idb(1, 0, [option(2, 'eth1')]);
  badIdb.writeUInt16LE(200, 16 + 2); // if_name length 200 in a 36-byte block
  const c = parse(Buffer.concat([good, badIdb, epb(1, 0, 2, sampleFrame(2))]));
  const e = expectError(c, 'PCAP_BAD_BLOCK');
  assert.equal(e.offset, good.length);
  assert.match(e.message, /runs past the end/);
  assert.equal(c.packets.length, 1);
});

test('block total length < 12, not a multiple of 4, or a wrong trailing copy: PCAP_BAD_BLOCK', () => {
  const head = Buffer.concat([shb(), idb(1, 0)]);
  for (const total of [8, 34]) {
    const b = epb(0, 0, 1, sampleFrame(1));
    b.writeUInt32LE(total, 4);
    const c = parse(Buffer.concat([head, b]), 5);
    assert.equal(expectError(c, 'PCAP_BAD_BLOCK').offset, head.length);
  }
  const b = epb(0, 0, 1, sampleFrame(1));
  b.writeUInt32LE(b.length + 4, b.length - 4);
  assert.equal(expectError(parse(Buffer.concat([head, b])), 'PCAP_BAD_BLOCK').offset, head.length);
});

test('SHB major version 2: PCAP_BAD_VERSION; packet on an undeclared interface: PCAP_NO_INTERFACE', () => {
  expectError(parse(shb([], true, 2)), 'PCAP_BAD_VERSION');
  const c = parse(Buffer.concat([shb(), idb(1, 0), epb(0, 0, 1, sampleFrame(1)), epb(3, 0, 2, sampleFrame(2))]));
  expectError(c, 'PCAP_NO_INTERFACE');
  assert.equal(c.packets.length, 1);
  expectError(parse(Buffer.concat([idb(1, 0)])), 'PCAP_BAD_MAGIC');
  expectError(parse(Buffer.alloc(0)), 'PCAP_TRUNCATED');
});

test('after an error the parser stays failed', () => {
  const events: number[] = [];
  const p = new PcapngParser({ packet: (r) => events.push(r.frame) });
  assert.throws(() => p.write(shb([], true, 2)), (e) => isCaptureError(e, 'PCAP_BAD_VERSION'));
  assert.throws(() => p.write(Buffer.concat([shb(), idb(1, 0), epb(0, 0, 1, sampleFrame(1))])), (e) => isCaptureError(e, 'PCAP_BAD_VERSION'));
  assert.throws(() => p.end(), (e) => isCaptureError(e, 'PCAP_BAD_VERSION'));
  assert.deepEqual(events, []);
});

test('a block length of 2 GB: PCAP_RECORD_TOO_LARGE without allocating it', () => {
  const head = Buffer.concat([shb(), idb(1, 0)]);
  const huge = Buffer.alloc(16);
  huge.writeUInt32LE(BlockType.ENHANCED_PACKET, 0);
  huge.writeUInt32LE(0x80000000, 4);
  const before = process.memoryUsage().arrayBuffers;
  for (const chunk of [0, 1, 3]) {
    const e = expectError(parse(Buffer.concat([head, huge]), chunk), 'PCAP_RECORD_TOO_LARGE');
    assert.equal(e.offset, head.length);
  }
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  // the limit is configurable
  const normal = Buffer.concat([head, epb(0, 0, 1, sampleFrame(1))]);
  expectError(parse(normal, 0, 64), 'PCAP_RECORD_TOO_LARGE');
  assert.equal(parse(normal, 0, 128).packets.length, 1);
});

/** Block boundaries of a little-endian single-section pcapng: [type, end offset]. */
function blockEnds(buf: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let off = 0; off < buf.length; off += buf.readUInt32LE(off + 4)) out.push([buf.readUInt32LE(off), off + buf.readUInt32LE(off + 4)]);
  return out;
}

for (const file of ['pcapng-2if-tsresol9-dns.pcapng', 'pcapng-le-test012-spb-epb-snaplen.pcapng']) {
  test(`${file} cut at many points: all complete packets, then PCAP_TRUNCATED`, () => {
    const input = fs.readFileSync(path.join(FIXTURES, file));
    const ends = blockEnds(input);
    const oracle = oracleRows(file);
    const cuts = new Set<number>([1, 11, 12, 27, input.length - 1, input.length - 4]);
    for (const [, end] of ends) { cuts.add(end - 13); cuts.add(end - 1); cuts.add(end + 5); cuts.add(end); }
    for (const cut of [...cuts].filter((n) => n > 0 && n <= input.length)) {
      const complete = ends.filter(([t, end]) => end <= cut && (t === 6 || t === 3)).length;
      for (const chunk of [0, 7]) {
        const c = parse(input.subarray(0, cut), chunk);
        assert.deepEqual(c.packets.map(recordRow), oracle.slice(0, complete), `cut ${cut}`);
        const atBoundary = ends.some(([, end]) => end === cut);
        if (atBoundary) {
          assert.equal(c.error, undefined, `cut ${cut} is at a block boundary`);
        } else {
          const e = expectError(c, 'PCAP_TRUNCATED');
          assert.match(e.message, /(\d+) of (its \d+|at least 12) bytes present/);
        }
      }
    }
  });
}

// ---- blocks the fixtures do not have: hand-built, checked with tshark ----

test('if_tsresol as a power of two and as 10^3, and a non-zero if_tsoffset, agree with tshark', { skip: !HAVE_TSHARK && 'tshark not installed' }, () => {
  const ifs = [
    idb(1, 0, [option(9, Buffer.from([0x80 | 20]))]), // 2^-20 s
    idb(1, 0, [option(9, Buffer.from([0x80 | 30])), option(14, Buffer.from('0010a5d400000000', 'hex'))]), // 2^-30 s, +3567587328 s
    idb(1, 0, [option(9, Buffer.from([3]))]), // ms
    idb(1, 0, [option(9, Buffer.from([9])), option(14, Buffer.from('00ca9a3b00000000', 'hex'))]), // ns, +1e9 s
  ];
  const pkts: Buffer[] = [];
  const stamps: Array<[number, number, number]> = [
    [0, 0x0001_5f90, 0x1234_5678], [0, 0x0000_0000, 0xffff_ffff], [1, 0x1234_5678, 0x9abc_def1], [1, 0, 1],
    [2, 0x0000_018b, 0xcdef_0123], [3, 0x17f0_0000, 0x0000_0001], [3, 0x1867_5b19, 0x37d2_11ef], [0, 0x000f_ffff, 0xffff_ffff],
  ];
  stamps.forEach(([ifId, hi, lo], i) => pkts.push(epb(ifId, hi, lo, sampleFrame(i))));
  const file = tmpFile('tsresol.pcapng', Buffer.concat([shb(), ...ifs, ...pkts]));
  const c = parse(fs.readFileSync(file));
  assert.equal(c.error, undefined);
  assert.equal(c.interfaces[0]!.tsUnitsPerSecond, 1n << 20n);
  assert.equal(c.interfaces[1]!.tsOffset, 3567587328n);
  const tshark = tsharkFields(file, ['frame.time_epoch', 'frame.interface_id']).map((r) => r.join('\t'));
  assert.deepEqual(c.packets.map((p) => `${formatTimestamp(p.tsSec, p.tsNsec)}\t${p.interfaceId}`), tshark);
});

// Seconds are a JS number: exact below 2^52 s, which is where the fast path is guaranteed exact too.
test('timestamp conversion: fast path equals BigInt math over edge values', () => {
  for (const resol of [0, 3, 6, 9]) {
    const units = tsresolToUnitsPerSecond(resol);
    const vals: bigint[] = [0n, 1n, units - 1n, units, 2n ** 53n - 1n, 2n ** 53n + 1n, 1_767_663_089_500_330_493n, 2n ** 64n - 1n];
    for (let i = 0; i < 200; i++) vals.push(BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 32)) << 32n | BigInt(Math.floor(Math.random() * 2 ** 32))));
    vals.splice(0, vals.length, ...vals.filter((v) => v / units < 2n ** 52n));
    const ifBlock = idb(1, 0, [option(9, Buffer.from([resol]))]);
    const c = parse(Buffer.concat([shb(), ifBlock, ...vals.map((v, i) => epb(0, Number(v >> 32n), Number(v & 0xffffffffn), sampleFrame(i)))]));
    assert.equal(c.packets.length, vals.length);
    c.packets.forEach((p, i) => {
      const v = vals[i]!;
      const sec = v / units;
      const nsec = ((v % units) * 1_000_000_000n) / units;
      assert.equal(`${p.tsSec}.${p.tsNsec}`, `${sec}.${nsec}`, `value ${v} at 10^-${resol}`);
    });
  }
});

test('EPB options: flags/direction, comments, dropcount, packet id, queue, hash, verdict (tshark agrees)', { skip: !HAVE_TSHARK && 'tshark not installed' }, () => {
  const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return b; };
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  const input = Buffer.concat([
    shb(), idb(1, 0, [option(9, Buffer.from([9]))]),
    epb(0, 0x17f0_0000, 5, sampleFrame(1), 60, [option(2, u32(1)), option(1, 'first'), option(1, 'second'), option(4, u64(7n))]),
    epb(0, 0x17f0_0000, 6, sampleFrame(2), 60, [option(2, u32(2)), option(5, u64(0x1122334455667788n)), option(6, u32(3)), option(3, Buffer.from('02deadbeef', 'hex')), option(7, Buffer.from('0001', 'hex'))]),
    epb(0, 0x17f0_0000, 7, sampleFrame(3)),
  ]);
  const c = parse(input);
  assert.equal(c.error, undefined);
  const [a, b, d] = c.packets;
  assert.deepEqual(a!.options, { flags: 1, direction: 'in', comments: ['first', 'second'], dropCount: 7n });
  assert.deepEqual(b!.options, { flags: 2, direction: 'out', packetId: 0x1122334455667788n, queue: 3, hashes: [Buffer.from('02deadbeef', 'hex')], verdicts: [Buffer.from('0001', 'hex')] });
  assert.equal(d!.options, undefined);
  const file = tmpFile('epbopts.pcapng', input);
  const rows = tsharkFields(file, ['frame.packet_flags_direction', 'frame.comment', 'frame.drop_count', 'frame.packet_id', 'frame.interface_queue']);
  assert.deepEqual(rows[0], ['0x00000001', 'first,second', '7', '', '']);
  assert.deepEqual(rows[1], ['0x00000002', '', '', String(0x1122334455667788n), '3']);
});

test('obsolete Packet Block (type 2), DSB, systemd journal, reserved and local-use blocks (tshark agrees)', { skip: !HAVE_TSHARK && 'tshark not installed' }, () => {
  const pbBody = Buffer.alloc(20);
  pbBody.writeUInt16LE(0, 0); // interface
  pbBody.writeUInt16LE(4, 2); // drops count
  pbBody.writeUInt32LE(0x0004c397, 4);
  pbBody.writeUInt32LE(0x64ca47aa, 8);
  const data = sampleFrame(9);
  pbBody.writeUInt32LE(data.length, 12);
  pbBody.writeUInt32LE(data.length + 10, 16);
  const pb = block(BlockType.PACKET, Buffer.concat([pbBody, data]));
  const dsbBody = Buffer.alloc(12);
  dsbBody.writeUInt32LE(0x544c534b, 0); // TLS key log
  dsbBody.writeUInt32LE(4, 4);
  dsbBody.write('abcd', 8);
  const input = Buffer.concat([
    shb(), idb(1, 0),
    block(BlockType.DECRYPTION_SECRETS, dsbBody),
    block(BlockType.SYSTEMD_JOURNAL, Buffer.from('__REALTIME_TIMESTAMP=1\n\0')),
    block(0x00000123, Buffer.from('reserved')),
    block(0x80000001, Buffer.from('localuse')),
    pb,
    epb(0, 0x0004c397, 0x64ca47ab, sampleFrame(10)),
  ]);
  const c = parse(input, 3);
  assert.equal(c.error, undefined);
  assert.deepEqual(c.skipped.map(([t]) => t), [BlockType.DECRYPTION_SECRETS, BlockType.SYSTEMD_JOURNAL, 0x123, 0x80000001]);
  assert.equal(c.parser.skippedBlocks, 4);
  assert.equal(c.packets.length, 2);
  assert.equal(c.packets[0]!.options?.dropCount, 4n);
  const file = tmpFile('pb.pcapng', input);
  // tshark also lists the journal entry as a record without an interface: leave it out
  const rows = tsharkFields(file, ['frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.interface_id']).filter((r) => r[3] !== '');
  assert.equal(rows.length, 2);
  assert.deepEqual(c.packets.map((p) => [formatTimestamp(p.tsSec, p.tsNsec), String(p.len), String(p.caplen), String(p.interfaceId)]), rows);
});

// ---- writer ----

function writeAll(records: PacketRecord[], interfaces: InterfaceInfo[]): Buffer {
  const w = new PcapngWriter();
  const parts = [w.header({ userAppl: 'pcap-pipe test' })];
  for (const r of records) {
    const iface = interfaces.find((i) => i.id === r.interfaceId && i.linkType === r.linkType);
    parts.push(w.packet(r, iface));
  }
  return Buffer.concat(parts);
}

for (const file of PCAPNG_FILES) {
  test(`writer round trip of ${file}: tshark reads identical frames and ns timestamps`, { skip: !HAVE_TSHARK && 'tshark not installed' }, () => {
    const src = parse(fs.readFileSync(path.join(FIXTURES, file)));
    // one section per merge key: the writer keys IDBs on interface id + link type
    const out = writeAll(src.packets, src.interfaces);
    const again = parse(out);
    assert.equal(again.error, undefined);
    assert.equal(again.packets.length, src.packets.length);
    again.packets.forEach((p, i) => {
      const s = src.packets[i]!;
      assert.equal(p.linkType, s.linkType);
      assert.ok(p.data.equals(s.data));
      if (!s.noTimestamp) assert.equal(formatTimestamp(p.tsSec, p.tsNsec), formatTimestamp(s.tsSec, s.tsNsec));
    });
    const tshark = tsharkFields(tmpFile('rt.pcapng', out), ['frame.time_epoch', 'frame.len', 'frame.cap_len']).map((r) => r.join('\t'));
    // SPBs have no timestamp; the writer stores them as EPBs with timestamp 0
    const expected = oracleRows(file).map((r) => {
      const [t, , len, cap] = r.split('\t');
      return [t === '' ? '0.000000000' : t, len, cap].join('\t');
    });
    assert.deepEqual(tshark, expected);
  });
}

test('writer: one IDB per distinct (interface, link type); names, direction and comments reach tshark', { skip: !HAVE_TSHARK && 'tshark not installed' }, () => {
  const mk = (frame: number, interfaceId: number, linkType: number, tsSec: number, tsNsec: number, options?: PacketRecord['options']): PacketRecord => ({
    frame, linkType, tsSec, tsNsec, caplen: 60, len: 60, interfaceId, data: linkType === 1 ? sampleFrame(frame) : Buffer.concat([Buffer.from([2, 0, 0, 0]), sampleFrame(frame).subarray(14)]), options,
  });
  const recs = [
    mk(1, 0, 1, 1767663089, 500330493, { direction: 'in', comments: ['hello'] }),
    mk(2, 0, 0, 1767663089, 999999999, { direction: 'out' }),
    mk(3, 0, 1, 4294967296, 1),
    mk(4, 1, 1, 0, 0),
  ];
  const w = new PcapngWriter();
  const out = Buffer.concat([w.header(), ...recs.map((r) => w.packet(r, { name: `if-${r.interfaceId}-${r.linkType}`, snaplen: 65535 }))]);
  assert.equal(w.interfaceCount, 3);
  const c = parse(out);
  assert.deepEqual(c.interfaces.map((i) => [i.id, i.linkType, i.name, i.tsUnitsPerSecond]), [
    [0, 1, 'if-0-1', 1_000_000_000n], [1, 0, 'if-0-0', 1_000_000_000n], [2, 1, 'if-1-1', 1_000_000_000n],
  ]);
  assert.deepEqual(c.packets.map((p) => p.options?.direction), ['in', 'out', undefined, undefined]);
  const rows = tsharkFields(tmpFile('w.pcapng', out), ['frame.time_epoch', 'frame.interface_id', 'frame.interface_name', 'frame.packet_flags_direction', 'frame.comment']);
  assert.deepEqual(rows, [
    ['1767663089.500330493', '0', 'if-0-1', '0x00000001', 'hello'],
    ['1767663089.999999999', '1', 'if-0-0', '0x00000002', ''],
    ['4294967296.000000001', '0', 'if-0-1', '', ''],
    ['0.000000000', '2', 'if-1-1', '', ''],
  ]);
  assert.throws(() => w.packet(mk(5, 0, 1, -1, 0)), (e) => isCaptureError(e, 'PCAP_WRITE'));
  assert.throws(() => w.packet(mk(6, 0, 1, 2 ** 36, 0)), (e) => isCaptureError(e, 'PCAP_WRITE'));
  // the last representable second round-trips exactly
  const w2 = new PcapngWriter();
  const last = parse(Buffer.concat([w2.header(), w2.packet(mk(7, 0, 1, 18446744072, 999999999))]));
  assert.equal(last.error, undefined);
  assert.equal(formatTimestamp(last.packets[0]!.tsSec, last.packets[0]!.tsNsec), '18446744072.999999999');
});
