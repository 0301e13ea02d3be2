/**
 * Bounded by pieces as well as bytes, and nothing hidden (issue 16, points 1 and 3), with crafted
 * captures for the rows of the table: a 70 KiB header block no longer hides the requests after
 * it (as tshark shows them), a WebSocket frame over maxMessageSize no longer hides the frames after it,
 * millions of empty WebSocket frames, tiny IP fragments and one-byte chunks are bounded by named count
 * limits. The bounds are asserted on object counts in-process and on the peak RSS of the command
 * (measured by test/helpers/maxrss-preload), never on time.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePacket } from '../lib/layers/decode';
import { Defragmenter, DEFRAG_DEFAULTS } from '../lib/layers/defrag';
import { DEFAULT_WEBSOCKET_LIMITS, WebSocketConnection } from '../lib/http/websocket';
import type { WsEvent } from '../lib/http/ws-events';
import { parseCaptureBuffer } from '../lib/formats/detect';
import { pcapFile, record, tcpConversation, udpFragments } from './helpers/craft';
import { atFrame, runSegments } from './http-test-helpers';

const BIN = path.join(__dirname, '..', 'bin');
const PRELOAD = path.join(__dirname, 'helpers', 'maxrss-preload.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-limits-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 1024 * 1024;

function write(name: string, data: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

/**
 * Runs a command on a file; returns its exit status, stdout and peak RSS in bytes. Its stdout goes to a
 * file, which never pushes back: what is measured is the command's own structures, not output queued
 * toward a slow reader (a separate bound).
 */
function measure(bin: string, args: string[]): { status: number | null; stdout: string; stderr: string; maxRss: number } {
  const id = process.hrtime.bigint();
  const rssFile = path.join(dir, `rss-${id}`);
  const outFile = path.join(dir, `out-${id}`);
  const out = fs.openSync(outFile, 'w');
  const r = spawnSync(process.execPath, ['--require', PRELOAD, path.join(BIN, bin), ...args], {
    env: { ...process.env, PCAP_PIPE_MAXRSS_FILE: rssFile }, stdio: ['ignore', out, 'pipe'], maxBuffer: 64 * MiB, timeout: 600_000,
  });
  fs.closeSync(out);
  const maxRss = Number(fs.readFileSync(rssFile, 'utf8')) * 1024;
  const stdout = fs.readFileSync(outFile, 'utf8');
  fs.rmSync(outFile);
  return { status: r.status, stdout, stderr: r.stderr.toString(), maxRss };
}

// ------------------------------------------------------------------------------------------------
// HTTP: resync past an oversized head

const PAD = `X-Pad: ${'a'.repeat(1000)}\r\n`;
const HUGE_HEAD = `GET /first HTTP/1.1\r\nHost: x\r\n${PAD.repeat(70)}\r\n`;
const LATER = ['POST /admin/one HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 'POST /admin/two HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 'GET /three HTTP/1.1\r\nHost: x\r\n\r\n'];
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

test('a 70 KiB header block does not hide the 3 requests after it: all 4 seen and paired (parser)', () => {
  for (const pipelined of [false, true]) {
    const segments: [('client' | 'server'), Buffer][] = pipelined
      ? [['client', Buffer.from(HUGE_HEAD + LATER.join(''))], ['server', Buffer.from(OK.repeat(4))]]
      : [HUGE_HEAD, ...LATER].flatMap((r): [('client' | 'server'), Buffer][] => [['client', Buffer.from(r)], ['server', Buffer.from(OK)]]);
    const events = runSegments(segments.flatMap(([side, b]) => {
      const parts: [('client' | 'server'), Buffer][] = [];
      for (let off = 0; off < b.length; off += 1448) parts.push([side, b.subarray(off, off + 1448)]);
      return parts;
    }));
    const requests = events.filter((e) => e.type === 'request') as { url: string; index: number; incomplete?: boolean }[];
    assert.deepEqual(requests.map((r) => r.url), ['/first', '/admin/one', '/admin/two', '/three'], `pipelined=${pipelined}`);
    const responses = events.filter((e) => e.type === 'response') as { requestIndex?: number; request?: { index: number } }[];
    assert.equal(responses.length, 4);
    const errors = events.filter((e) => e.type === 'http-error') as { code: string; message: string }[];
    assert.equal(errors[0]?.code, 'HTTP_HEADER_OVERFLOW');
    assert.match(errors[0]!.message, /"GET \/first HTTP\/1\.1"/);
    assert.ok(errors.some((e) => e.code === 'HTTP_DESYNC' && /skipping \d+ bytes/.test(e.message)), 'what was skipped is reported');
  }
});

test('http_trace on the crafted capture lists the same 4 requests as tshark', () => {
  const segments: ['c' | 's', Buffer][] = [HUGE_HEAD, ...LATER].flatMap((r): ['c' | 's', Buffer][] => [['c', Buffer.from(r)], ['s', Buffer.from(OK)]]);
  const file = write('huge-head-then-3.pcap', pcapFile(tcpConversation(segments)));
  const ours = measure('http_trace.js', ['--json', '-r', file]);
  const urls = ours.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; url?: string }).filter((e) => e.type === 'request').map((e) => e.url);
  const tshark = spawnSync('tshark', ['-r', file, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.uri'], { encoding: 'utf8' });
  assert.equal(tshark.status, 0, tshark.stderr);
  assert.deepEqual(urls, tshark.stdout.split('\n').filter(Boolean));
  assert.deepEqual(urls, ['/first', '/admin/one', '/admin/two', '/three']);
});

test('one-byte chunks: a body of 1M chunks is kept in blocks, not 1M pieces (http_trace --bodies RSS bounded)', () => {
  const N = 1_000_000;
  const body = Buffer.from('1\r\nx\r\n'.repeat(N) + '0\r\n\r\n');
  const res = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), body]);
  const file = write('one-byte-chunks.pcap', pcapFile(tcpConversation([['c', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], ['s', res]])));
  const r = measure('http_trace.js', ['--json', '--bodies', '-r', file]);
  const response = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; bodyLength?: number }).find((e) => e.type === 'response');
  assert.equal(response?.bodyLength, N);
  assert.ok(r.maxRss < 300 * MiB, `peak RSS ${(r.maxRss / MiB).toFixed(0)} MiB for ${N} one-byte chunks`);
});

// ------------------------------------------------------------------------------------------------
// WebSocket: frames per message, resync past a too-large frame


test('WebSocket: empty continuation frames are bounded by maxFramesPerMessage (object count)', () => {
  const events: WsEvent[] = [];
  const ws = new WebSocketConnection((e) => { if (e.type !== 'ws-frame') events.push(e); }, { clientSide: 'client', limits: { maxFramesPerMessage: 1000 } });
  const start = Buffer.from([0x01, 0x01, 0x41]); // text, not fin, "A"
  const one = Buffer.from([0x00, 0x01, 0x42]); // continuation, one byte
  ws.data('server', start, atFrame(1));
  let peak = 0;
  for (let i = 0; i < 50; i++) {
    ws.data('server', Buffer.concat(Array<Buffer>(200).fill(one)), atFrame(2 + i));
    peak = Math.max(peak, ws.heldFrames);
  }
  ws.data('server', Buffer.from([0x80, 0x00]), atFrame(100)); // fin
  ws.data('server', Buffer.from([0x81, 0x02, 0x6f, 0x6b]), atFrame(101)); // the next message still arrives
  assert.ok(peak <= 1000, `held frames peaked at ${peak}`);
  assert.equal(ws.heldFrames, 0);
  assert.deepEqual(events.map((e) => (e.type === 'ws-error' ? e.code : e.type)), ['WS_TOO_MANY_FRAMES', 'ws-message']);
  assert.equal(DEFAULT_WEBSOCKET_LIMITS.maxFramesPerMessage, 65536);
});

// ------------------------------------------------------------------------------------------------
// IP fragments: per datagram and in total

test('defrag: fragments per datagram and in total are bounded; what is given up comes back flagged', () => {
  const frames: Buffer[] = [];
  // one datagram of 8-byte fragments that never completes (no last fragment), 3000 of them
  for (let i = 0; i < 3000; i++) frames.push(...udpFragments(7, Buffer.alloc(64), 8).slice(0, 1).map((f) => f));
  // and 5000 datagrams of two fragments each, never completed
  for (let id = 100; id < 5100; id++) frames.push(udpFragments(id, Buffer.alloc(64), 8)[1] as Buffer);
  const d = new Defragmenter({ maxFragmentsPerDatagram: 1024, maxFragments: 4000 });
  let out = 0, flagged = 0, peakFragments = 0, peakBytes = 0;
  for (const [i, f] of frames.entries()) {
    for (const p of d.push(decodePacket(record(f, i + 1), { depth: 'transport' }))) {
      out++;
      if (p.errors.some((e) => e.layer === 'defrag' && /reassembly limit reached/.test(e.message))) flagged++;
    }
    peakFragments = Math.max(peakFragments, d.stats.heldFragments);
    peakBytes = Math.max(peakBytes, d.stats.heldBytes);
  }
  for (const p of d.flush()) { out++; void p; }
  assert.ok(peakFragments <= 4000, `held fragments peaked at ${peakFragments}`);
  assert.equal(out, frames.length, 'every fragment comes back out (held, given up or flushed): nothing disappears');
  assert.ok(flagged > 0, 'fragments given up at a limit carry a defrag failure naming it');
  assert.equal(DEFRAG_DEFAULTS.maxFragments, 16384);
});

test('defrag: 300k 8-byte fragments (print --defragment) stay within a bounded RSS', () => {
  const frames: Buffer[] = [];
  for (let id = 0; id < 150_000; id++) frames.push(...(udpFragments(id & 0xffff, Buffer.alloc(16), 8).slice(0, 2)));
  const file = write('frag-300k.pcap', pcapFile(frames));
  assert.equal(parseCaptureBuffer(fs.readFileSync(file)).length, 300_000);
  const r = measure('pcap-pipe.js', ['print', '--defragment', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.maxRss < 300 * MiB, `peak RSS ${(r.maxRss / MiB).toFixed(0)} MiB for 300k tiny fragments`);
});
