/**
 * grep on a pattern that matches every byte (issue 16: `--hexdump` with such a pattern took 212 s for 40k
 * packets). Two causes, each tested by counting work, not time:
 *  - the regex matcher converted the whole buffer to latin1 text for every match it found, so finding the
 *    N matches of an N-byte payload converted N^2 bytes: now one conversion per search (searcher()), in
 *    per-packet and in stream mode;
 *  - every match became a report object with copies of the match and its context, held with the packet's
 *    verdict until printed (1,400 per full-size packet, a read chunk's worth of packets at a time): now at
 *    most maxMatchesPerPacket (100) per packet are reported, the rest counted (`matchesOmitted`).
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePacket } from '../lib/layers/decode';

import { compileMatcher, DEFAULT_MAX_MATCHES_PER_PACKET, findAll, PacketGrep, StreamGrep, type GrepMatch } from '../lib/grep/grep';
import { pcapFile, record, tcpConversation } from './helpers/craft';

const BIN = path.join(__dirname, '..', 'bin');
const PRELOAD = path.join(__dirname, 'helpers', 'maxrss-preload.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-grep-limits-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;
const SEGMENT = 1400;

/** Printable bytes, every one matched by '.'. */
function payload(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 0x20 + (i % 90);
  return b;
}

/** Bytes converted to latin1 text by Buffer#toString while `fn` runs: the regex matcher's work. */
function latin1Bytes(fn: () => void): number {
  const original = Buffer.prototype.toString;
  let bytes = 0;
  Buffer.prototype.toString = function (this: Buffer, encoding?: BufferEncoding, start?: number, end?: number): string {
    if (encoding === 'latin1') bytes += Math.min(end ?? this.length, this.length) - (start ?? 0);
    return original.call(this, encoding, start, end);
  } as typeof original;
  try {
    fn();
  } finally {
    Buffer.prototype.toString = original;
  }
  return bytes;
}

test('findAll with a pattern matching every byte converts the buffer once, not once per match', () => {
  const buf = payload(SEGMENT);
  let ranges: { start: number; end: number }[] = [];
  const work = latin1Bytes(() => { ranges = findAll(compileMatcher('.'), buf); });
  assert.equal(ranges.length, SEGMENT);
  assert.ok(work <= SEGMENT, `converted ${work} bytes to find ${SEGMENT} matches in ${SEGMENT} bytes (was ${SEGMENT} x ${SEGMENT} / 2)`);
});

test('per packet: at most maxMatchesPerPacket reports per packet, the rest counted; one conversion per packet', () => {
  const frames = tcpConversation([['c', payload(SEGMENT * 20)]], { segment: SEGMENT });
  const g = new PacketGrep(compileMatcher('.'));
  let reports = 0;
  let omitted = 0;
  const work = latin1Bytes(() => {
    for (const [i, f] of frames.entries()) {
      const v = g.packet(decodePacket(record(f, i + 1)));
      reports += v.matches.length;
      omitted += v.matchesOmitted ?? 0;
      assert.ok(v.matches.length <= DEFAULT_MAX_MATCHES_PER_PACKET);
    }
  });
  assert.equal(DEFAULT_MAX_MATCHES_PER_PACKET, 100);
  assert.equal(reports, 20 * 100, 'the first 100 matches of each of the 20 data packets');
  assert.equal(omitted, 20 * (SEGMENT - 100), 'the others counted, not lost');
  assert.equal(g.stats.matches, 20 * SEGMENT);
  // the report texts (ts, flow) convert nothing; the search converts each payload once
  assert.ok(work <= 20 * SEGMENT, `converted ${work} bytes for 20 payloads of ${SEGMENT}`);
});

test('stream mode: one conversion per delivery window (look-behind + new bytes), not per match', () => {
  const frames = tcpConversation([['c', payload(SEGMENT * 20)]], { segment: SEGMENT });
  let matches = 0;
  const sg = new StreamGrep(compileMatcher('.'), { release: () => undefined, match: (_m: GrepMatch) => { matches++; } }, { lookBehind: 1024 });
  const work = latin1Bytes(() => {
    for (const [i, f] of frames.entries()) sg.packet(decodePacket(record(f, i + 1)));
    sg.flush();
  });
  assert.equal(matches, 20 * SEGMENT);
  assert.ok(work <= 20 * (SEGMENT + 1024), `converted ${work} bytes for 20 deliveries of ${SEGMENT}`);
});

test('grep --text --hexdump . on 4,000 full packets: output proportional to the input, RSS bounded', () => {
  const N = 4000;
  const file = path.join(dir, 'every-byte.pcap');
  fs.writeFileSync(file, pcapFile(tcpConversation([['c', payload(SEGMENT * N)]], { segment: SEGMENT })));
  const rssFile = path.join(dir, 'rss');
  const outFile = path.join(dir, 'out');
  for (const args of [['--text', '--hexdump', '.'], ['--json', '.']]) {
    const out = fs.openSync(outFile, 'w');
    const r = spawnSync(process.execPath, ['--require', PRELOAD, path.join(BIN, 'pcap-pipe.js'), 'grep', ...args, file], {
      env: { ...process.env, PCAP_PIPE_MAXRSS_FILE: rssFile }, stdio: ['ignore', out, 'pipe'], timeout: 600_000,
    });
    fs.closeSync(out);
    assert.equal(r.status, 0, r.stderr.toString());
    const size = fs.statSync(outFile).size;
    const maxRss = Number(fs.readFileSync(rssFile, 'utf8')) * 1024;
    if (args[0] === '--text') {
      // a hex dump line (78 bytes) per 16 payload bytes, a header line and the omitted-count line per packet
      assert.ok(size < N * (Math.ceil(SEGMENT / 16) * 80 + 300), `${size} bytes of output`);
      const text = fs.readFileSync(outFile, 'utf8');
      assert.equal(text.split('\n').filter((l) => l.includes(`(${SEGMENT - 100} more matches in this packet`)).length, N);
    } else {
      const lines = fs.readFileSync(outFile, 'utf8').split('\n').filter(Boolean);
      assert.equal(lines.length, N * 101, '100 matches and one matchesOmitted line per packet');
      assert.equal((JSON.parse(lines[100] as string) as { matchesOmitted: number }).matchesOmitted, SEGMENT - 100);
    }
    // before: 1.85 GB for 2,000 such packets (every match a report held with its verdict)
    assert.ok(maxRss < 400 * MiB, `${args.join(' ')}: peak RSS ${(maxRss / MiB).toFixed(0)} MiB`);
  }

});
