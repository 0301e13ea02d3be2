/**
 * `pcap-pipe ws --json` on the websocket-* captures against tshark: every ws-frame's frame number,
 * connection, FIN, RSV bits, opcode, MASK, payload length (oracle/C.http.tsv) and the sha256 of its
 * unmasked payload as printed (text, or base64 with dataEncoding) (oracle/websocket-frames.tsv);
 * ws-message data equals the concatenated frame payloads; the human output prints only WebSocket lines.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fixture, readOracle, REPO_ROOT, websocketOracleFrames } from './helpers/oracle.js';

const PCAP_PIPE = path.join(__dirname, '..', 'bin', 'pcap-pipe.js');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

type Json = Record<string, unknown> & { type: string; frame: number; connection: number };

function ws(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [PCAP_PIPE, 'ws', ...args], { maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function ndjson(text: string): Json[] {
  return text.split('\n').filter((l) => l).map((l) => JSON.parse(l) as Json);
}

function data(e: Json): Buffer {
  return Buffer.from(e.data as string, e.dataEncoding === 'base64' ? 'base64' : 'utf8');
}

/** One expected frame per oracle entry, as the line the test compares. */
function oracleFrames(file: string): string[] {
  return websocketOracleFrames(file).map((f) => [f.frame, f.stream, f.fin, f.rsv, f.opcode, f.mask, f.length].join(' '));
}

const rsv = (e: Json): string => `0x${((e.rsv1 ? 4 : 0) | (e.rsv2 ? 2 : 0) | (e.rsv3 ? 1 : 0)).toString(16).padStart(2, '0')}`;

const files = [
  'websocket-fragmented-ping-close.pcap',
  'websocket-jupyter-multi-frame.pcap',
  'websocket-oversized-close-frame.pcapng',
  'websocket-reply-ping-coalesced.pcap',
  'websocket-text-binary.pcap',
];

for (const file of files) {
  test(`pcap-pipe ws --json on ${file} equals tshark's frames and payloads`, () => {
    const r = ws(['--json', fixture(file)]);
    assert.equal(r.status, 0, r.stderr);
    const events = ndjson(r.stdout);
    assert.ok(events.every((e) => e.type.startsWith('ws-') || e.type === 'http-upgrade'), 'only WebSocket events');
    const frames = events.filter((e) => e.type === 'ws-frame');
    assert.deepEqual(
      frames.map((e) => [e.frame, e.connection, e.fin, rsv(e), e.opcode, e.masked, e.length].join(' ')),
      oracleFrames(file),
    );
    const payloads = readOracle('websocket-frames.tsv').filter((p) => p.capture === file);
    assert.deepEqual(frames.map((e) => sha256(data(e))), payloads.map((p) => p.payload_sha256));
    for (const e of frames) {
      assert.equal(typeof e.from, 'string');
      if (e.dataEncoding === undefined) assert.ok(Buffer.from(e.data as string, 'utf8').length === data(e).length);
    }
    // messages: data frames of a message concatenated (none of these captures uses permessage-deflate)
    const want: string[] = [];
    const current = new Map<string, Buffer[]>();
    for (const f of frames) {
      const dir = `${f.connection}/${f.from}`;
      if ((f.opcode as number) >= 8) continue;
      if (f.opcode !== 0) current.set(dir, []);
      current.get(dir)?.push(data(f));
      if (f.fin && current.has(dir)) {
        want.push(`${dir} ${sha256(Buffer.concat(current.get(dir)!))}`);
        current.delete(dir);
      }
    }
    const messages = events.filter((e) => e.type === 'ws-message');
    assert.deepEqual(messages.map((m) => `${m.connection}/${m.from} ${sha256(data(m))}`), want);
    for (const m of messages) assert.equal(data(m).length, m.length);
    // closes: code and reason as in the close frame's payload
    for (const c of events.filter((e) => e.type === 'ws-close')) {
      const frame = frames.find((f) => f.opcode === 8 && f.frame === c.frame && f.from === c.from);
      assert.ok(frame, 'close frame');
      const payload = data(frame);
      if (payload.length >= 2) {
        assert.equal(c.closeCode, payload.readUInt16BE(0));
        assert.equal(c.closeReason, payload.subarray(2).toString('utf8'));
      }
    }
  });
}

test('pcap-pipe ws (human) prints only WebSocket lines, from stdin too', () => {
  const sample = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
  const r = ws(['--no-color', sample]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l);
  assert.match(lines[0]!, /upgraded to websocket$/);
  assert.ok(lines.slice(1).every((l) => / ws (text|binary|close|ping|pong)/.test(l) || l.startsWith('    ')), r.stdout);
  assert.ok(!r.stdout.includes(' GET '));
  const viaStdin = spawnSync(process.execPath, [PCAP_PIPE, 'ws', '--no-color'], { input: fs.readFileSync(sample) });
  assert.equal(viaStdin.stdout.toString(), r.stdout);
});
