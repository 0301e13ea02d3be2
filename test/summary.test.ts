/**
 * The closing counts of an HTTP trace (lib/trace/summary.ts): the arithmetic on hand-made events, and the
 * counts http_trace --summary and pcap-pipe http --summary print for every fixture against tshark's
 * (http.request / http.response from the stored oracle tables, tcp.stream from tshark itself when
 * installed). Where tshark counts differently the reason is written next to the fixture. Also: stderr
 * only (stdout byte-identical with and without), never with -q, not by default into a pipe.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { captureFiles, fixture, readOracle, REPO_ROOT } from './helpers/oracle.js';
import { countEvent, countPacket, emptyTraceCounts, formatTraceSummary, unanswered } from '../lib/trace/summary';
import type { HttpTraceEvent } from '../lib/trace/output';

const BIN = path.join(__dirname, '..', 'bin');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const HAS_TSHARK = spawnSync('tshark', ['--version']).status === 0;

function ev(o: Record<string, unknown>): HttpTraceEvent {
  return { ts: '0.000000000', frame: 1, connection: 0, client: 'a:1', server: 'b:80', from: 'client', ...o } as unknown as HttpTraceEvent;
}

test('counts: interim responses apart, exchanges only with a request, unanswered, gaps with their bytes', () => {
  const c = emptyTraceCounts();
  countPacket(c, false);
  countPacket(c, true);
  for (const e of [
    ev({ type: 'start' }), ev({ type: 'start' }),
    ev({ type: 'request' }), ev({ type: 'request' }), ev({ type: 'request' }),
    ev({ type: 'response', interim: true, request: { method: 'POST', url: '/', index: 1 } }),
    ev({ type: 'response', request: { method: 'POST', url: '/', index: 1 } }),
    ev({ type: 'response' }), // no request seen (capture started mid-connection)
    ev({ type: 'http-upgrade', websocket: true }), ev({ type: 'http-upgrade', websocket: false }),
    ev({ type: 'http-error' }), ev({ type: 'ws-error' }), ev({ type: 'h2-error' }),
    ev({ type: 'gap', length: 100 }), ev({ type: 'gap', length: 20 }),
    ev({ type: 'data' }), ev({ type: 'end' }), ev({ type: 'ws-message' }),
  ]) countEvent(c, e);
  assert.deepEqual(c, {
    packets: 2, decodeFailures: 1, connections: 2, requests: 3, responses: 2, interimResponses: 1, exchanges: 1,
    upgrades: 2, websocketUpgrades: 1, parseErrors: 3, gaps: 2, missingBytes: 120,
  });
  assert.equal(unanswered(c), 2);
  assert.equal(formatTraceSummary('http_trace', c),
    'http_trace: 3 requests, 2 responses (+1 interim), 1 exchange, 2 unanswered; 2 connections, 1 WebSocket upgrade (+1 other upgrade); ' +
    '3 parse errors, 2 TCP gaps (120 bytes missing), 1 packet of 2 not decoded');
  assert.equal(formatTraceSummary('x', emptyTraceCounts()),
    'x: 0 requests, 0 responses, 0 exchanges, 0 unanswered; 0 connections, 0 WebSocket upgrades; 0 parse errors, 0 TCP gaps (0 bytes missing), 0 packets of 0 not decoded');
});

interface Summary { requests: number; responses: number; interim: number; exchanges: number; unanswered: number; connections: number; websocket: number; gaps: number; missing: number; notDecoded: number; packets: number }

const LINE = /^(?:http_trace|pcap-pipe http): (\d+) requests?, (\d+) responses?(?: \(\+(\d+) interim\))?, (\d+) exchanges?, (\d+) unanswered; (\d+) connections?, (\d+) WebSocket upgrades?(?: \(\+\d+ other upgrades?\))?; \d+ parse errors?, (\d+) TCP gaps? \((\d+) bytes? missing\), (\d+) packets? of (\d+) not decoded$/m;

function summaryOf(stderr: string): Summary {
  const m = LINE.exec(stderr);
  assert.ok(m, `a summary line in ${JSON.stringify(stderr)}`);
  const [requests, responses, interim, exchanges, unans, connections, websocket, gaps, missing, notDecoded, packets] = m.slice(1).map((x) => Number(x ?? 0));
  return { requests, responses, interim, exchanges, unanswered: unans, connections, websocket, gaps, missing, notDecoded, packets } as Summary;
}

function run(args: string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, args, { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** tshark and we count differently here, and why. */
const RESPONSES_DIFFER: Record<string, string> = {
  'http-post-chunked-retrans.pcap': 'tshark dissects the retransmitted copies of two responses again (frames 42, 86): 6 response frames for 4 responses',
  'http-206-long-flow-zerowin-ooo.pcap': 'tshark does not finish reassembling the first 206 of the out-of-order flow: 2 response frames for 3 responses',
};
const STREAMS_DIFFER: Record<string, string> = {
  'null-ipv4-ipv6-irc.pcap': 'tshark gives a lone segment of its own a tcp.stream; the reassembler counts a connection at its first segment that opens or carries one',
  'tcp-handshake-synthetic.pcap': 'synthetic lone RSTs and stray segments: tshark numbers each as a stream, the reassembler opens no connection for them',
};

test('requests and responses as tshark counts http.request / http.response, on every fixture with HTTP', () => {
  let checked = 0;
  for (const file of captureFiles()) {
    const rows = readOracle(`${file}.http.tsv`);
    if (rows.length === 0) continue;
    const count = (col: string): number => rows.flatMap((r) => (r[col] ?? '') === '' ? [] : (r[col] as string).split(';')).length;
    const r = run([path.join(BIN, 'http_trace.js'), '-r', fixture(file), '--summary']);
    const s = summaryOf(r.stderr);
    assert.equal(s.requests, count('http.request.method'), `${file}: requests`);
    if (RESPONSES_DIFFER[file] === undefined) assert.equal(s.responses + s.interim, count('http.response.code'), `${file}: responses (interim included, as tshark)`);
    else assert.notEqual(s.responses + s.interim, count('http.response.code'), `${file}: the difference is still there (${RESPONSES_DIFFER[file]})`);
    assert.equal(s.unanswered, s.requests - s.exchanges, file);
    checked++;
  }
  assert.ok(checked >= 15, `${checked} fixtures`);
});

test('connections as tshark counts tcp.stream; packets as many as the file holds', { skip: HAS_TSHARK ? false : 'tshark not installed' }, () => {
  let checked = 0;
  for (const file of captureFiles()) {
    const t = spawnSync('tshark', ['-r', fixture(file), '-T', 'fields', '-e', 'tcp.stream'], { encoding: 'utf8' });
    if (t.status !== 0) continue; // a capture tshark refuses (the malformed ones)
    const streams = new Set(t.stdout.split('\n').filter((l) => l !== '')).size;
    const r = run([path.join(BIN, 'http_trace.js'), '-r', fixture(file), '--summary']);
    const s = summaryOf(r.stderr);
    if (STREAMS_DIFFER[file] === undefined) assert.equal(s.connections, streams, `${file}: connections`);
    else assert.notEqual(s.connections, streams, `${file}: the difference is still there (${STREAMS_DIFFER[file]})`);
    checked++;
  }
  assert.ok(checked >= 40, `${checked} fixtures`);
  // gaps and missing bytes, WebSocket upgrades, decode failures on fixtures that have them
  const snap = summaryOf(run([path.join(BIN, 'http_trace.js'), '-r', fixture('tcp-retransmit-fast-snaplen54.pcap'), '--summary']).stderr);
  assert.ok(snap.gaps > 0 && snap.missing > 0, 'a snaplen-cut capture has holes');
  assert.equal(summaryOf(run([path.join(BIN, 'http_trace.js'), '-r', fixture('websocket-text-binary.pcap'), '--summary']).stderr).websocket, 1);
  const bad = summaryOf(run([path.join(BIN, 'http_trace.js'), '-r', fixture('malformed-ipv4-bad-ihl.pcap'), '--summary']).stderr);
  assert.equal(bad.notDecoded, 1);
  assert.equal(bad.packets, 1);
});

test('stderr only: stdout byte-identical with --summary; -q none; none by default into a pipe; pcap-pipe http the same counts', () => {
  for (const [cmd, args] of [[path.join(BIN, 'http_trace.js'), ['-r', SAMPLE]], [path.join(BIN, 'pcap-pipe.js'), ['http', SAMPLE]]] as [string, string[]][]) {
    for (const extra of [[], ['--json'], ['--json', '--bodies', '--tcp-verbose']]) {
      const plain = run([cmd, ...args, ...extra]);
      const withSummary = run([cmd, ...args, ...extra, '--summary']);
      assert.equal(plain.status, 0);
      assert.equal(withSummary.status, 0);
      assert.equal(plain.stderr, '', 'no summary into a pipe by default');
      assert.ok(Buffer.compare(plain.stdout, withSummary.stdout) === 0, `${extra.join(' ')}: stdout unchanged`);
      assert.ok(!withSummary.stdout.toString().includes('requests,'));
      const s = summaryOf(withSummary.stderr);
      assert.deepEqual([s.requests, s.responses, s.exchanges, s.connections, s.websocket], [7, 7, 7, 2, 1]);
      const quiet = run([cmd, ...args, ...extra, '--summary', '-q']);
      assert.equal(quiet.stderr, '', '-q wins over --summary');
    }
  }
  // counted before the selection: the filter does not change the counts
  const filtered = run([path.join(BIN, 'http_trace.js'), '-r', SAMPLE, '--summary', '--url', '^/nothing$']);
  assert.equal(filtered.stdout.length, 0);
  assert.equal(summaryOf(filtered.stderr).requests, 7);
});

test('on a terminal the summary comes without --summary, after the output, and not with -q', { skip: spawnSync('script', ['--version']).status === 0 ? false : 'script(1) not installed' }, () => {
  const cmd = [process.execPath, path.join(BIN, 'http_trace.js'), '-r', SAMPLE].map((a) => `'${a}'`).join(' ');
  const tty = spawnSync('script', ['-qefc', `${cmd} --no-color`, '/dev/null'], { encoding: 'utf8' }).stdout;
  assert.match(tty, /GET \/[^]*\r?\nhttp_trace: 7 requests, 7 responses, 7 exchanges, 0 unanswered; 2 connections, 1 WebSocket upgrade; 0 parse errors, 0 TCP gaps \(0 bytes missing\), 0 packets of 46 not decoded\r?\n$/);
  const quiet = spawnSync('script', ['-qefc', `${cmd} --no-color -q`, '/dev/null'], { encoding: 'utf8' }).stdout;
  assert.ok(!quiet.includes('requests,'), quiet.slice(-300));
  // pcap-pipe ws: no summary (it is for http_trace and pcap-pipe http)
  const ws = spawnSync('script', ['-qefc', `'${process.execPath}' '${path.join(BIN, 'pcap-pipe.js')}' ws '${fixture('websocket-text-binary.pcap')}'`, '/dev/null'], { encoding: 'utf8' }).stdout;
  assert.ok(!ws.includes('requests,'));
});
