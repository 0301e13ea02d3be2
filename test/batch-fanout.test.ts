/**
 * A stage whose input array fans out (one packet of 2-byte WebSocket frames is 700 events; a 512 KiB read
 * chunk of them is 250 k) must not build one giant array out, nor run through its whole input while
 * nobody reads: BatchTransform pushes arrays of about MAX_OBJECTS_PER_BATCH and stops in the middle of an
 * input array while its readable side is full (issue 16: queued events bounded by count). Checked by
 * counting objects, never by time; and on the command, by peak RSS on a crafted capture.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as turn } from 'node:timers/promises';
import { BatchTransform, MAX_OBJECTS_PER_BATCH } from '../streams/batch';
import { pcapFile, tcpConversation } from './helpers/craft';

const MiB = 1024 * 1024;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-fanout-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Each input number n becomes n outputs; counts what it has handled. */
class FanOut extends BatchTransform<number, number> {
  handled = 0;
  protected override handle(n: number): void {
    this.handled++;
    for (let i = 0; i < n; i++) this.out.push(i);
  }
}

test('fan-out: arrays out stay near MAX_OBJECTS_PER_BATCH and every output arrives, in order', async () => {
  const stage = new FanOut();
  const sizes: number[] = [];
  let total = 0;
  let inOrder = true;
  let expect = 0;
  const input = Array<number>(500).fill(700); // 350,000 outputs from one input array
  await pipeline(
    (async function* () { yield input; })(),
    stage,
    new Writable({
      objectMode: true,
      write(chunk: number[], _e, cb) {
        sizes.push(chunk.length);
        for (const v of chunk) { if (v !== expect) inOrder = false; expect = (expect + 1) % 700; }
        total += chunk.length;
        cb();
      },
    }),
  );
  assert.equal(total, 350_000);
  assert.ok(inOrder, 'outputs keep their order across the split');
  assert.ok(Math.max(...sizes) < MAX_OBJECTS_PER_BATCH + 700, `largest array out: ${Math.max(...sizes)}`);
});

test('fan-out toward a consumer that does not read: the stage stops in the middle of its input array', async () => {
  const stage = new FanOut();
  const input = Array<number>(500).fill(700);
  let finished = false;
  stage.write(input, () => { finished = true; });
  for (let i = 0; i < 20; i++) await turn(); // let it run as far as it will
  assert.equal(finished, false, 'the input array is not done while nobody reads');
  assert.ok(stage.handled < 50, `handled ${stage.handled} of 500 inputs with nobody reading`);
  assert.ok(stage.readableLength <= 2, `arrays queued: ${stage.readableLength}`);
  // reading resumes it, and everything comes out
  let total = 0;
  stage.on('data', (chunk: number[]) => { total += chunk.length; });
  stage.end();
  await new Promise((resolve) => stage.on('end', resolve));
  assert.equal(finished, true);
  assert.equal(stage.handled, 500);
  assert.equal(total, 350_000);
});

test('pcap-pipe ws on 2M empty WebSocket frames: peak RSS bounded (was 491 MB text, 542 MB --json)', () => {
  const up = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  const ok = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';
  const N = 2_000_000;
  const frames = Buffer.concat([Buffer.from([0x01, 0x00]), Buffer.alloc(2 * N), Buffer.from([0x80, 0x00])]);
  const file = path.join(dir, 'ws-empty-frames.pcap');
  fs.writeFileSync(file, pcapFile(tcpConversation([['c', Buffer.from(up)], ['s', Buffer.from(ok)], ['s', frames]], { port: 40000, serverPort: 80, segment: 1400 })));
  const rssFile = path.join(dir, 'rss');
  const r = spawnSync(process.execPath, ['--require', path.join(__dirname, 'helpers', 'maxrss-preload.js'), path.join(__dirname, '..', 'bin', 'pcap-pipe.js'), 'ws', '-r', file], {
    env: { ...process.env, PCAP_PIPE_MAXRSS_FILE: rssFile }, encoding: 'utf8', maxBuffer: 16 * MiB, timeout: 600_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /WS_TOO_MANY_FRAMES/, 'the frame-count limit is reported');
  const maxRss = Number(fs.readFileSync(rssFile, 'utf8')) * 1024;
  assert.ok(maxRss < 250 * MiB, `peak RSS ${(maxRss / MiB).toFixed(0)} MiB for ${N} empty frames`);
});
