/**
 * TCP reassembly against tshark's Follow TCP Stream oracle (test/fixtures/oracle/*.follow.tsv): on every
 * capture with TCP, each direction's reassembled bytes have tshark's byte count and sha256, the gaps
 * match tshark's "bytes missing", and connection numbers match tcp.stream.
 *
 * Where we and tshark (or tcpflow) differ on purpose, the test says so and why (see KNOWN_DIFFERENCES).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { captureFiles, fixture, readOracle } from './helpers/oracle';
import { runFile } from './helpers/tcp-run';
import { FollowCollector, type FollowConnection } from '../lib/tcp/follow';

function sha256(b: Buffer): string { return createHash('sha256').update(b).digest('hex'); }

function follow(file: string): FollowConnection[] {
  const fc = new FollowCollector({ keepBytes: true });
  for (const ev of runFile(fixture(file))) fc.event(ev);
  return fc.connections();
}

/**
 * Where we differ from tshark on purpose. tcp-seq-synthetic-zerowin.pcap stream 0 is two fuzzed packets:
 * a SYN carrying 8 bytes, then a segment 251,658,111 bytes past the SYN that nothing ever acknowledges.
 * tshark's follow keeps out-of-order data until an ACK covers the hole and silently drops what is still
 * waiting when the capture ends, so it shows 8 bytes. We flush at end of input: the hole becomes a `gap`
 * (reason 'missing') and the 8 later bytes are delivered after it — the stream a consumer sees says
 * plainly that bytes are missing instead of losing captured ones. tcpflow also keeps both (as two files).
 */
const KNOWN_DIFFERENCES: Record<string, Record<number, { c2s?: { bytes: number; missing: number; prefixSha: string } }>> = {
  'tcp-seq-synthetic-zerowin.pcap': {
    0: { c2s: { bytes: 16, missing: 251_658_103, prefixSha: '5f6806b32b171deb1d2b34af23841c0b8096d6c67fe3096438e31841fb554fee' } },
  },
};

const followFiles = captureFiles().filter((f) => readOracle(`${f}.follow.tsv`).length > 0);

test('there are follow oracles to compare with', () => {
  assert.ok(followFiles.length >= 30, `only ${followFiles.length} follow oracles`);
});

for (const file of followFiles) {
  test(`follow: ${file} matches tshark byte for byte`, () => {
    const rows = readOracle(`${file}.follow.tsv`);
    const conns = new Map(follow(file).map((c) => [c.connection, c]));
    for (const row of rows) {
      const stream = Number(row.stream);
      const conn = conns.get(stream);
      const n0to1 = { bytes: Number(row.bytes_0to1), missing: Number(row.missing_0to1), sha: row.sha256_0to1 };
      const n1to0 = { bytes: Number(row.bytes_1to0), missing: Number(row.missing_1to0), sha: row.sha256_1to0 };
      if (row.node0 === ':0' && row.node1 === ':0') {
        // tshark could not place this TCP header (malformed-tcp-heapoverflow.pcap) and shows no endpoints
        // nor bytes; we decode the 4-tuple from the fuzzed header: it must carry no payload either
        assert.equal(n0to1.bytes + n1to0.bytes, 0);
        if (conn) assert.equal(conn.clientToServer.bytes + conn.serverToClient.bytes, 0);
        continue;
      }
      if (conn === undefined) {
        // tshark lists a stream for a TCP header it could not place (malformed-tcp-heapoverflow: ":0 :0")
        assert.equal(n0to1.bytes + n1to0.bytes, 0, `stream ${stream} missing`);
        continue;
      }
      // node0 = sender of the stream's first packet
      let c2s: typeof n0to1, s2c: typeof n0to1;
      if (row.node0 === conn.client && row.node1 === conn.server) { c2s = n0to1; s2c = n1to0; }
      else if (row.node0 === conn.server && row.node1 === conn.client) { c2s = n1to0; s2c = n0to1; }
      else assert.fail(`stream ${stream}: tshark ${row.node0} / ${row.node1}, we ${conn.client} / ${conn.server}`);
      const known = KNOWN_DIFFERENCES[file]?.[stream];
      if (known?.c2s) {
        const got = FollowCollector.bytesOf(conn, 'client-to-server');
        assert.equal(got.length, known.c2s.bytes);
        assert.equal(conn.clientToServer.missingBytes, known.c2s.missing);
        assert.equal(sha256(got.subarray(0, c2s.bytes)), c2s.sha, 'tshark\'s bytes are our first bytes');
        assert.equal(c2s.sha, known.c2s.prefixSha);
      }
      for (const [want, dir] of [[c2s, conn.clientToServer], [s2c, conn.serverToClient]] as const) {
        if (known?.c2s && dir.direction === 'client-to-server') continue;
        const got = FollowCollector.bytesOf(conn, dir.direction);
        assert.equal(got.length, want.bytes, `stream ${stream} ${dir.direction}: bytes`);
        assert.equal(sha256(got), want.sha, `stream ${stream} ${dir.direction}: sha256`);
        assert.equal(dir.missingBytes, want.missing, `stream ${stream} ${dir.direction}: missing bytes`);
      }
    }
  });
}

/**
 * Snaplen-cut payload: tshark's follow shows only the captured bytes and reports no "missing" bytes for the
 * cut tails (so `missing` above matches ours, which counts only bytes never captured). The cut bytes are
 * our 'snaplen' gaps; checked here against the sequence space in tshark's frames.tsv: for each direction,
 * delivered bytes + gap bytes = the highest sequence byte any segment carried, counted from the SYN.
 */
for (const file of ['snaplen96-tcp-bulk-flow.pcap', 'tcp-retransmit-fast-snaplen54.pcap']) {
  test(`follow: ${file}: bytes + gaps span the sequence space tshark saw`, () => {
    const frames = readOracle(`${file}.frames.tsv`).filter((r) => r['tcp.srcport'] !== '');
    const conns = follow(file);
    assert.equal(conns.length, 1);
    const conn = conns[0];
    let snaplenTotal = 0;
    for (const dir of [conn.clientToServer, conn.serverToClient]) {
      const sender = dir.direction === 'client-to-server' ? conn.client : conn.server;
      const mine = frames.filter((r) => `${r['ip.src']}:${r['tcp.srcport']}` === sender);
      const syn = mine.find((r) => (Number(r['tcp.flags']) & 0x002) !== 0);
      assert.ok(syn, `SYN of ${sender}`);
      const base = (Number(syn['tcp.seq_raw']) + 1) >>> 0;
      let span = 0;
      for (const r of mine) {
        const len = Number(r['tcp.len']);
        if (len > 0) span = Math.max(span, ((Number(r['tcp.seq_raw']) - base) >>> 0) + len);
      }
      assert.equal(dir.bytes + dir.gaps, span, `${dir.direction}: bytes ${dir.bytes} + gaps ${dir.gaps}`);
      snaplenTotal += dir.snaplenBytes;
    }
    assert.ok(snaplenTotal > 0, 'the cut bytes are reported as snaplen gaps');
  });
}
