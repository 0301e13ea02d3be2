/** The progress line's logic (lib/core/progress.ts) with a fake clock: when it shows, what it says, how often. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatBytes, formatCount, formatDuration, formatProgress, ProgressMeter, progressWanted } from '../lib/core/progress';

test('shown on a terminal stderr only, never with -q, never when stdout is that terminal', () => {
  const base = { quiet: false, stderrIsTTY: true, stdoutIsTTY: false, sameTerminal: false };
  assert.equal(progressWanted(base), true, 'cmd f > out');
  assert.equal(progressWanted({ ...base, quiet: true }), false, '-q');
  assert.equal(progressWanted({ ...base, stderrIsTTY: false }), false, '2> log');
  assert.equal(progressWanted({ ...base, stdoutIsTTY: true, sameTerminal: true }), false, 'output on the same terminal');
  assert.equal(progressWanted({ ...base, stdoutIsTTY: true, sameTerminal: false }), true, 'output on another terminal');
});

test('units: bytes binary, counts SI, durations rounded up', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.00 KiB');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(12.34 * 1024 * 1024), '12.3 MiB');
  assert.equal(formatBytes(458 * 1024 * 1024), '458 MiB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.50 GiB');
  assert.equal(formatCount(0), '0');
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(1000), '1.00 k');
  assert.equal(formatCount(45_230), '45.2 k');
  assert.equal(formatCount(999_600), '1.00 M');
  assert.equal(formatCount(7_630_000), '7.63 M');
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(0.2), '0:01');
  assert.equal(formatDuration(7), '0:07');
  assert.equal(formatDuration(754), '12:34');
  assert.equal(formatDuration(3723), '1:02:03');
});

test('the line: bytes / total, %, packets, packets/s, ETA; without a total no % and no ETA', () => {
  const MiB = 1024 * 1024;
  assert.equal(
    formatProgress('pcap-pipe read', { bytes: 25 * MiB, total: 100 * MiB, packets: 81_200, bytesPerSecond: 5 * MiB, packetsPerSecond: 45_200 }, 200),
    'pcap-pipe read: 25.0 MiB / 100 MiB  25%  81.2 k packets  45.2 k packets/s  ETA 0:15');
  assert.equal(
    formatProgress('http_trace', { bytes: 3 * MiB, total: undefined, packets: 1200, bytesPerSecond: MiB, packetsPerSecond: 400 }, 200),
    'http_trace: 3.00 MiB  1.20 k packets  400 packets/s');
  // no rate yet: no packets/s, ETA unknown
  assert.equal(formatProgress('x', { bytes: 0, total: 2048, packets: 0, bytesPerSecond: undefined, packetsPerSecond: undefined }, 200), 'x: 0 B / 2.00 KiB  0%  0 packets  ETA ?');
  // more bytes than the size said (a file that grew): capped at 100 %
  assert.match(formatProgress('x', { bytes: 5000, total: 4096, packets: 9, bytesPerSecond: 1, packetsPerSecond: 1 }, 200), /4\.00 KiB \/ 4\.00 KiB {2}100%.*ETA 0:00$/);
  // cut to the terminal's width minus one (a wrapped line cannot be redrawn with \r)
  const cut = formatProgress('pcap-pipe read', { bytes: 25 * MiB, total: 100 * MiB, packets: 81_200, bytesPerSecond: 5 * MiB, packetsPerSecond: 45_200 }, 40);
  assert.equal(cut.length, 39);
  assert.ok(cut.startsWith('pcap-pipe read: 25.0 MiB / 100 MiB'));
});

test('the meter: at most one draw per interval, the first one interval after the start', () => {
  const m = new ProgressMeter(1000, 10_000, 250, 5000);
  assert.equal(m.update(10_000, { bytes: 0, packets: 0 }), null);
  assert.equal(m.update(10_249, { bytes: 10, packets: 1 }), null, 'a short run shows nothing');
  const first = m.update(10_250, { bytes: 100, packets: 10 });
  assert.ok(first !== null);
  assert.equal(first.bytesPerSecond, 400, '100 bytes in 0.25 s');
  assert.equal(first.packetsPerSecond, 40);
  assert.equal(m.update(10_400, { bytes: 150, packets: 15 }), null, '150 ms later: too soon');
  assert.ok(m.update(10_500, { bytes: 200, packets: 20 }) !== null);
  // 4 draws a second at most, however often it is asked
  let draws = 0;
  for (let t = 10_501; t <= 11_500; t++) if (m.update(t, { bytes: 300, packets: 30 }) !== null) draws++;
  assert.equal(draws, 4);
});

test('rates follow the recent pace (a window of a few seconds), and the ETA with them', () => {
  const m = new ProgressMeter(100_000, 0, 250, 2000);
  // 10 s at 1000 bytes/s, then 5000 bytes/s
  let bytes = 0;
  let v = null;
  for (let t = 250; t <= 10_000; t += 250) { bytes += 250; v = m.update(t, { bytes, packets: bytes / 10 }); }
  assert.ok(v !== null);
  assert.equal(v.bytesPerSecond, 1000);
  assert.equal(v.packetsPerSecond, 100);
  for (let t = 10_250; t <= 14_000; t += 250) { bytes += 1250; v = m.update(t, { bytes, packets: bytes / 10 }); }
  assert.ok(v !== null);
  // the window (2 s) holds only the fast part now
  assert.equal(v.bytesPerSecond, 5000);
  assert.equal(bytes, 30_000);
  assert.match(formatProgress('x', v, 200), /30%.*ETA 0:14$/, '70 000 bytes left at 5000/s');
});
