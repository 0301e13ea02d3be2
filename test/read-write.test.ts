/**
 * The foundation: every capture of the corpus read through the stream reader in chunks of 1, 7, 4096 bytes
 * and whole, compared with tshark's oracle; damaged files give typed errors after their complete packets;
 * writers round-trip (byte-identical for classic pcap) and tshark reads what we write.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import through2 from 'through2';
import { readCapture, readCaptureFile } from '../streams/read';
import { writeCapture, writePcap, writePcapng } from '../streams/write';
import { formatTimestamp, type PacketRecord } from '../lib/core/record';
import { CaptureError } from '../lib/core/errors';
import { parseCapture } from '../lib/formats/detect';
import { captureFiles, chunks, fixture, oracleFrames, REPO_ROOT } from './helpers/oracle';

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
const DAMAGED: Record<string, string> = {
  'truncated-last-record-mid-data.pcap': 'PCAP_TRUNCATED',
  'truncated-last-record-mid-header.pcap': 'PCAP_TRUNCATED',
  'malformed-pcap-invalid-version.pcap': 'PCAP_BAD_VERSION',
  'malformed-pcapng-shb-option-too-long.pcapng': 'PCAP_BAD_BLOCK',
};

async function readAll(buf: Buffer, chunkSize: number): Promise<{ packets: PacketRecord[]; error: unknown }> {
  const packets: PacketRecord[] = [];
  let error: unknown = null;
  try {
    await pipeline(Readable.from(chunks(buf, chunkSize)), readCapture(), new Writable({
      objectMode: true,
      write(rec: PacketRecord, _e, cb) { packets.push(rec); cb(); },
    }));
  } catch (e) { error = e; }
  return { packets, error };
}

function tmpdir(): string { return fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-test-')); }

for (const file of captureFiles()) {
  test(`read ${file} matches tshark in chunks of 1, 7, 4096 and whole`, async () => {
    const buf = fs.readFileSync(fixture(file));
    const oracle = oracleFrames(file);
    for (const size of [1, 7, 4096, buf.length]) {
      const { packets, error } = await readAll(buf, size);
      const expectedError = DAMAGED[file];
      if (expectedError) {
        assert.ok(error instanceof CaptureError, `${file}/${size}: expected a CaptureError, got ${String(error)}`);
        assert.equal(error.code, expectedError);
      } else {
        assert.equal(error, null, `${file}/${size}: ${String(error)}`);
      }
      assert.equal(packets.length, oracle.length, `${file}/${size}: packet count`);
      packets.forEach((rec, i) => {
        const row = oracle[i] as Record<string, string>;
        const where = `${file}/${size} frame ${i + 1}`;
        assert.equal(rec.frame, i + 1, where);
        if (row['frame.time_epoch'] === '') assert.ok(rec.noTimestamp, `${where}: tshark has no time, we should flag it`);
        else assert.equal(formatTimestamp(rec.tsSec, rec.tsNsec), row['frame.time_epoch'], `${where} time`);
        assert.equal(String(rec.len), row['frame.len'], `${where} len`);
        assert.equal(String(rec.caplen), row['frame.cap_len'], `${where} caplen`);
        assert.equal(rec.data.length, rec.caplen, where);
        if (row['frame.interface_id'] !== '') assert.equal(String(rec.interfaceId), row['frame.interface_id'], `${where} interface`);
      });
    }
  });
}

test('a damaged file delivers every complete packet before its error, whatever the chunking', async () => {
  const whole = fs.readFileSync(fixture('http-keepalive-304.pcap'));
  // Cut inside the file header, inside a record header, inside record data.
  for (const cut of [10, 24 + 8, 24 + 16 + 20, whole.length - 1]) {
    const part = whole.subarray(0, cut);
    const full = parseCapture(whole).packets;
    const expected = full.filter((r, i) => {
      let end = 24;
      for (let k = 0; k <= i; k++) end += 16 + (full[k] as PacketRecord).caplen;
      return end <= cut && r;
    }).length;
    for (const size of [1, 7, 4096]) {
      const { packets, error } = await readAll(part, size);
      assert.ok(error instanceof CaptureError && error.code === 'PCAP_TRUNCATED', `cut ${cut}: ${String(error)}`);
      assert.equal(packets.length, expected, `cut ${cut} chunk ${size}`);
    }
  }
});

test('input that is not a capture gets a clear error naming what it saw', async () => {
  const { error } = await readAll(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 4096);
  assert.ok(error instanceof CaptureError);
  assert.equal(error.code, 'PCAP_BAD_MAGIC');
  assert.match(error.message, /GET \/ HTTP/);
  const empty = await readAll(Buffer.alloc(0), 1);
  assert.ok(empty.error instanceof CaptureError && empty.error.code === 'PCAP_TRUNCATED');
});

test('a record larger than the limit is refused before it is buffered', () => {
  const header = Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex');
  const rec = Buffer.alloc(16);
  rec.writeUInt32LE(0x7fffffff, 8); // 2 GB captured length
  rec.writeUInt32LE(0x7fffffff, 12);
  const r = parseCapture(Buffer.concat([header, rec]), 1);
  assert.equal(r.error?.code, 'PCAP_RECORD_TOO_LARGE');
  assert.equal(r.packets.length, 0);
});

test('big-endian and nanosecond classic pcap keep their exact timestamps', () => {
  const be = parseCapture(fs.readFileSync(fixture('pcap-bigendian-pptp.pcap')));
  assert.equal(be.sections[0]?.littleEndian, false);
  const ns = parseCapture(fs.readFileSync(fixture('pcap-nsec-sll-tcp-handshake.pcap')));
  assert.equal(ns.sections[0]?.nanosecond, true);
  assert.ok(ns.packets.every((p) => p.nanoPrecision));
  assert.ok(ns.packets.some((p) => p.tsNsec % 1000 !== 0), 'the ns file has sub-microsecond digits');
});

test('the link-type field FCS bits are split off (libpcap LT_* layout)', () => {
  const r = parseCapture(fs.readFileSync(fixture('malformed-tcp-heapoverflow.pcap')));
  assert.equal(r.packets[0]?.linkType, 1); // field 0x30000001: reserved bits set, no FCS flag
  const h = Buffer.from('d4c3b2a1020004000000000000000000ffff000001000014', 'hex'); // F bit + 1 word... set below
  h.writeUInt32LE(0x04000000 | (2 << 28) | 1, 20);
  const withFcs = parseCapture(Buffer.concat([h, Buffer.from('00000000000000000400000004000000deadbeef', 'hex')]));
  assert.equal(withFcs.packets[0]?.linkType, 1);
  assert.equal(withFcs.packets[0]?.fcsLength, 4);
});

test('pcap-pipe read FILE is byte-identical for every classic pcap file', () => {
  for (const file of captureFiles().filter((f) => f.endsWith('.pcap') && !DAMAGED[f])) {
    const out = execFileSync(process.execPath, [CLI, 'read', fixture(file)], { maxBuffer: 64 << 20 });
    assert.ok(out.equals(fs.readFileSync(fixture(file))), `${file} differs after read`);
  }
});

test('pcap-pipe read of a truncated file writes every complete packet, says so, exits 1', () => {
  const r = spawnSync(process.execPath, [CLI, 'read', fixture('truncated-last-record-mid-data.pcap')], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 1);
  assert.match(r.stderr.toString(), /cut short.*PCAP_TRUNCATED.*13 complete packets/);
  assert.equal(parseCapture(r.stdout).packets.length, 13);
  assert.equal(parseCapture(r.stdout).error, null);
});

/** tshark's fields for a file, or for bytes fed through a real pipe (`cat | tshark -r -`, as users do). */
function tsharkFields(file: string | '-', fields: string[], input?: Buffer): string {
  const args = ['-n', '-r', '-', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  if (file !== '-') {
    args[2] = file;
    return execFileSync('tshark', args, { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).toString();
  }
  // Node's `input` is a socket, which tshark refuses for -r -: go through cat so stdin is a pipe.
  return execFileSync('bash', ['-c', 'cat | tshark "$@"', 'tshark', ...args], { input, stdio: ['pipe', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).toString();
}

test('pcap-pipe read a.pcapng | tshark -r - gives the same frames as tshark on the file', () => {
  for (const file of captureFiles().filter((f) => f.endsWith('.pcapng') && !DAMAGED[f])) {
    const out = execFileSync(process.execPath, [CLI, 'read', fixture(file)], { maxBuffer: 64 << 20 });
    // pcapng with several link types stays pcapng; the rest becomes classic pcap
    const piped = tsharkFields('-', ['frame.len', 'frame.cap_len'], out);
    const expectedLens = oracleFrames(file).map((r) => `${r['frame.len']}\t${r['frame.cap_len']}`);
    assert.deepEqual(piped.trim().split('\n'), expectedLens, file);
  }
});

test('pcapng → classic pcap → tshark keeps ns timestamps; our pcapng is read by tshark with the same frames', async () => {
  const dir = tmpdir();
  for (const file of ['pcapng-2if-tsresol9-dns.pcapng', 'pcapng-le-test202-mixed-endian-sections.pcapng', 'pcap-nsec-sll-tcp-handshake.pcap', 'http-keepalive-304.pcap']) {
    const expected = oracleFrames(file).filter((r) => r['frame.time_epoch'] !== '')
      .map((r) => `${r['frame.time_epoch']}\t${r['frame.len']}\t${r['frame.cap_len']}`);
    for (const format of ['pcap', 'pcapng'] as const) {
      const single = new Set(parseCapture(fs.readFileSync(fixture(file))).packets.map((p) => p.linkType)).size === 1;
      if (format === 'pcap' && !single) continue; // classic pcap cannot hold several link types
      const out = path.join(dir, `${file}.${format}`);
      await pipeline(readCaptureFile(fixture(file)), writeCapture({ format }), fs.createWriteStream(out));
      const got = tsharkFields(out, ['frame.time_epoch', 'frame.len', 'frame.cap_len']).trim().split('\n')
        .filter((l) => !l.startsWith('0.000000000') && !l.startsWith('\t'));
      assert.deepEqual(got, expected, `${file} as ${format}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('classic pcap writer refuses a second link type with a clear error', async () => {
  const recs = parseCapture(fs.readFileSync(fixture('pcapng-le-test006-two-linktypes.pcapng'))).packets;
  await assert.rejects(pipeline(Readable.from(recs), writePcap(), new Writable({ write(_c, _e, cb) { cb(); } })),
    (e: unknown) => e instanceof CaptureError && e.code === 'PCAP_WRITE');
});

test('users compose a through2 stage and a plain Transform between our reader and writer', async () => {
  const dir = tmpdir();
  const out = path.join(dir, 'syn-only.pcapng');
  let seen = 0;
  const countAll = through2.obj(function (rec: PacketRecord, _enc, cb) { seen++; cb(null, rec); });
  // keep only TCP SYNs: Ethernet/IPv4, protocol 6, flags byte has SYN
  const synOnly = new Transform({
    objectMode: true,
    transform(rec: PacketRecord, _enc, cb) {
      const d = rec.data;
      const isSyn = d.length > 47 && d.readUInt16BE(12) === 0x0800 && d[23] === 6 && ((d[14 + ((d[14] as number) & 15) * 4 + 13] as number) & 0x02) !== 0;
      cb(null, isSyn ? rec : undefined);
    },
  });
  await pipeline(readCaptureFile(fixture('http-keepalive-304.pcap')), countAll, synOnly, writePcapng(), fs.createWriteStream(out));
  assert.equal(seen, 121);
  const tsharkSyns = tsharkFields(fixture('http-keepalive-304.pcap'), ['frame.number'].concat([]))
    .trim().split('\n').length;
  assert.equal(tsharkSyns, 121);
  const synFrames = execFileSync('tshark', ['-r', fixture('http-keepalive-304.pcap'), '-Y', 'tcp.flags.syn == 1', '-T', 'fields', '-e', 'frame.time_epoch'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const ours = tsharkFields(out, ['frame.time_epoch']).trim();
  assert.equal(ours, synFrames);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('pcap-pipe write FILE from stdin; --help; unknown options exit 2', () => {
  const dir = tmpdir();
  const out = path.join(dir, 'w.pcapng');
  const input = fs.readFileSync(fixture('dns-tcp.pcap'));
  const r = spawnSync(process.execPath, [CLI, 'write', out], { input });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(tsharkFields(out, ['frame.time_epoch']).trim(), tsharkFields(fixture('dns-tcp.pcap'), ['frame.time_epoch']).trim());
  const bad = spawnSync(process.execPath, [CLI, 'read', '--bogus', fixture('dns-tcp.pcap')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.toString(), /^pcap-pipe read: unknown option --bogus \(pcap-pipe read --help for usage\)\n$/);
  const help = spawnSync(process.execPath, [CLI, 'info', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout.toString(), /usage: pcap-pipe info/);
  const nocmd = spawnSync(process.execPath, [CLI, 'frobnicate']);
  assert.equal(nocmd.status, 2);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('pcap-pipe read merges several files in timestamp order; pcap-pipe info agrees with capinfos', () => {
  const a = fixture('arp-ethernet.pcap');
  const b = fixture('vlan-dot1q-icmp-arp.pcap');
  const merged = execFileSync(process.execPath, [CLI, 'read', a, b]);
  const got = tsharkFields('-', ['frame.time_epoch'], merged).trim().split('\n');
  const want = [...tsharkFields(a, ['frame.time_epoch']).trim().split('\n'), ...tsharkFields(b, ['frame.time_epoch']).trim().split('\n')]
    .sort((x, y) => (BigInt(x.replace('.', '')) < BigInt(y.replace('.', '')) ? -1 : 1));
  assert.deepEqual(got, want);
  const info = JSON.parse(execFileSync(process.execPath, [CLI, 'info', '--json', fixture('snaplen96-tcp-bulk-flow.pcap')]).toString());
  assert.equal(info.packets, 878);
  assert.equal(info.cutBySnaplen, 691);
  assert.equal(info.snaplen, 262144); // the file header's, as capinfos reports (the records were cut at 96)
  assert.equal(info.truncated, false);
});

test('a broken pipe (| head) ends pcap-pipe read quietly', () => {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${CLI}" read "${fixture('http-206-long-flow-zerowin-ooo.pcap')}" | head -c 100 > /dev/null`]);
  assert.equal(r.stderr.toString(), '');
  assert.ok(r.status === 0 || r.status === 141, `status ${r.status}`);
});
