/**
 * Ctrl-C loses nothing libpcap has (issue 16, point 4). Without --immediate libpcap reads the kernel ring
 * (TPACKET_V3) a block at a time, and packets in the open block stay invisible until its retire timer
 * fires: closing at SIGINT used to leave them uncaptured (0 captured / 24 received). These runs send N
 * datagrams to 127.0.0.1 and SIGINT `pcap-pipe capture -w FILE` right away, in default (block) mode.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { captureSummary } from '../bin/cmd-capture';
import { liveSkipReason, sendUdp, sleep, udpSink } from './helpers/live';
import { listening } from './helpers/child';

const skip = liveSkipReason();
const PCAP_PIPE = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');

/** The numbers of tcpdump's summary lines. */
function summaryNumbers(stderr: string): { captured: number; received: number; dropped: number } {
  const num = (re: RegExp): number => {
    const m = re.exec(stderr);
    assert.ok(m, `${re} in ${stderr}`);
    return Number(m[1]);
  };
  return {
    captured: num(/^(\d+) packets? captured$/m),
    received: num(/^(\d+) packets? received by filter$/m),
    dropped: num(/^(\d+) packets? dropped by kernel$/m),
  };
}

for (const N of [1, 12, 300]) {
  test(`SIGINT right after ${N} datagrams, without --immediate: all ${N} in the file, the summary adds up`, { skip }, async () => {
    const sink = await udpSink();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-sigint-')), 'out.pcap');
    const child = spawn(process.execPath, [PCAP_PIPE, 'capture', '-i', 'lo', '-w', file, `udp dst port ${sink.port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await listening(child);
      await sleep(50);
      await sendUdp(sink.port, N, 200);
      child.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill('SIGKILL');
      sink.close();
    }
    const records = parseCaptureBuffer(fs.readFileSync(file));
    assert.deepEqual(records.map((r) => r.data.readUInt32BE(42)), [...Array(N).keys()], 'every datagram, in order');
    const numbers = summaryNumbers(stderr);
    assert.equal(numbers.captured, N);
    // lo: the kernel counts each packet as sent and as received; libpcap keeps one copy.
    assert.equal(numbers.received, 2 * numbers.captured + numbers.dropped, stderr);
    assert.match(stderr, /loopback: the kernel counts each packet as sent and as received/);
  });
}

test('the summary explains every difference between captured + dropped and received', () => {
  const stats = (received: number, dropped: number) => ({ received, dropped, ifDropped: 0 });
  assert.equal(captureSummary(5, stats(5, 0)), '5 packets captured\n5 packets received by filter\n0 packets dropped by kernel\n');
  assert.match(captureSummary(5, stats(7, 0)), /^\(2 packets received by filter were not read: they arrived after the last read\)$/m);
  assert.match(captureSummary(5, stats(6, 0), { countReached: true }), /^\(1 packet received by filter was not read: the -c count was reached\)$/m);
  assert.match(captureSummary(5, stats(12, 1), { loopbackBothWays: true }), /received = 2 x captured \+ dropped; 1 more packet arrived after the last read\)$/m);
  assert.match(captureSummary(5, stats(11, 1), { loopbackBothWays: true }), /received = 2 x captured \+ dropped\)$/m);
});
