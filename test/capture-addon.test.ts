/**
 * An install without libpcap's headers has no addon: live capture must fail with one clear error that
 * says what was tried and which package to install, and the offline tools must keep working.
 * PCAP_PIPE_ADDON points the loader at a file that does not exist, as on such an install.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isCaptureError } from '../lib/core/errors';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { addonCandidates, batchPrefixLength, countBatchRecords, loadAddonFrom, splitBatch } from '../addon/index';
import { pcapFileHeader } from '../streams/capture';
import { fixture } from './helpers/oracle';

const PCAP_PIPE = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');
const MISSING = path.join(os.tmpdir(), 'pcap-pipe-no-such-dir', 'pcap_pipe.node');

function run(args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PCAP_PIPE, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

test('PCAP_PIPE_ADDON overrides the search path', () => {
  assert.deepEqual(addonCandidates({ PCAP_PIPE_ADDON: MISSING }), [MISSING]);
  const defaults = addonCandidates({});
  assert.ok(defaults.length >= 1 && defaults.every((p) => p.endsWith(path.join('build', 'Release', 'pcap_pipe.node')) || p.endsWith(path.join('build', 'Debug', 'pcap_pipe.node'))));
});

test('a missing addon is ADDON_UNAVAILABLE, naming the paths tried and libpcap-dev', () => {
  assert.throws(() => loadAddonFrom([MISSING]), (e: unknown) => {
    assert.ok(isCaptureError(e, 'ADDON_UNAVAILABLE'));
    assert.ok(e.message.includes(`${MISSING}: not found`));
    assert.match(e.message, /libpcap-dev/);
    return true;
  });
});

test('a file that is not a loadable addon is reported with the loader error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-addon-'));
  const bogus = path.join(dir, 'pcap_pipe.node');
  fs.writeFileSync(bogus, 'not an ELF file');
  assert.throws(() => loadAddonFrom([bogus]), (e: unknown) => isCaptureError(e, 'ADDON_UNAVAILABLE') && e.message.includes(`${bogus}: `) && /invalid ELF|not a valid|file too short/i.test(e.message));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('without the addon: capture exits 1 with the clear message; read and print still work', async () => {
  const env = { PCAP_PIPE_ADDON: MISSING };
  const live = await run(['capture', '-i', 'lo', '-c', '1'], env);
  assert.equal(live.code, 1);
  assert.match(live.stderr, /the libpcap addon is not available/);
  assert.match(live.stderr, /libpcap-dev/);
  assert.match(live.stderr, /\[ADDON_UNAVAILABLE\]/);
  const devices = await run(['devices'], env);
  assert.equal(devices.code, 1);
  assert.match(devices.stderr, /libpcap-dev/);

  const input = fs.readFileSync(fixture('dns-tcp.pcap'));
  const read = await run(['read', '-'], env, input);
  assert.equal(read.code, 0, read.stderr);
  assert.ok(read.stdout.equals(input), 'offline tools work without the addon');
});

test('the addon batch layout is classic pcap records: splitBatch, countBatchRecords, batchPrefixLength', () => {
  const frames = [Buffer.from('abcde'), Buffer.alloc(0), Buffer.from('0123456789ab')];
  const parts: Buffer[] = [];
  frames.forEach((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1_700_000_000 + i, 0);
    h.writeUInt32LE(999_999_999 - i, 4);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length + 100, 12);
    parts.push(h, f);
  });
  const batch = Buffer.concat(parts);
  const ctx = { linkType: 1, nanoPrecision: true };
  const got: { frame: number; tsSec: number; tsNsec: number; len: number; data: string }[] = [];
  const n = splitBatch(batch, ctx, 7, (r) => got.push({ frame: r.frame, tsSec: r.tsSec, tsNsec: r.tsNsec, len: r.len, data: r.data.toString() }));
  const expected = frames.map((f, i) => ({ frame: 7 + i, tsSec: 1_700_000_000 + i, tsNsec: 999_999_999 - i, len: f.length + 100, data: f.toString() }));
  assert.equal(n, 3);
  assert.deepEqual(got, expected);
  assert.equal(countBatchRecords(batch), 3);
  assert.equal(splitBatch(batch, ctx, 1, () => {}, 2), 2, 'limit');
  assert.equal(batchPrefixLength(batch, 2), 16 + 5 + 16);
  assert.equal(batchPrefixLength(batch, 9), batch.length);
  // A batch cut inside a record stops before it rather than reading past the end.
  assert.equal(splitBatch(batch.subarray(0, batch.length - 3), ctx, 1, () => {}), 2);
  assert.equal(countBatchRecords(batch.subarray(0, batch.length - 3)), 2);

  // With the nanosecond pcap file header in front, the pcap reader sees the same packets.
  const file = Buffer.concat([pcapFileHeader(1, 65535), batch]);
  const parsed = parseCaptureBuffer(file).map((r) => ({ frame: r.frame + 6, tsSec: r.tsSec, tsNsec: r.tsNsec, len: r.len, data: r.data.toString() }));
  assert.deepEqual(parsed, expected);
});
