/**
 * Flat memory on big files: once the packets of a read chunk have gone through the HTTP pipeline
 * (read → decode → tcp → http), nothing may keep that chunk reachable, even while connections stay open.
 * A view kept by a stage (the reassembler's copy of the last segment, the HTTP parser's capture position)
 * would pin its whole chunk, and on a 1 GB capture with dozens of quiet connections that is hundreds of MB.
 *
 * The capture is generated here: 48 keep-alive HTTP connections, each doing a handshake and two exchanges,
 * then going quiet (no FIN: still open at the check). It is fed in small chunks, each in its own
 * ArrayBuffer registered with a FinalizationRegistry; after the pipeline has taken every packet, and
 * after forced garbage collections, every chunk but the last must have been collected. No timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pipeline, Writable } from 'node:stream';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { readCapture } from '../streams/read';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { http } from '../streams/http';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CLIENT_MAC = Buffer.from('020000000001', 'hex');
const SERVER_MAC = Buffer.from('020000000002', 'hex');

interface Seg { client: number; toServer: boolean; flags: number; seq: number; ack: number; payload: Buffer }

/** One Ethernet/IPv4/TCP frame (checksums left 0: the pipeline does not verify them). */
function frame(s: Seg): Buffer {
  const tcpLen = 20;
  const ipLen = 20 + tcpLen + s.payload.length;
  const b = Buffer.alloc(14 + ipLen);
  (s.toServer ? SERVER_MAC : CLIENT_MAC).copy(b, 0);
  (s.toServer ? CLIENT_MAC : SERVER_MAC).copy(b, 6);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(ipLen, 16);
  b[22] = 64;
  b[23] = 6;
  const clientIp = [10, 1, 0, 1], serverIp = [10, 2, 0, 1];
  Buffer.from(s.toServer ? clientIp : serverIp).copy(b, 26);
  Buffer.from(s.toServer ? serverIp : clientIp).copy(b, 30);
  const clientPort = 40000 + s.client;
  b.writeUInt16BE(s.toServer ? clientPort : 80, 34);
  b.writeUInt16BE(s.toServer ? 80 : clientPort, 36);
  b.writeUInt32BE(s.seq >>> 0, 38);
  b.writeUInt32BE(s.ack >>> 0, 42);
  b[46] = (tcpLen / 4) << 4;
  b[47] = s.flags;
  b.writeUInt16BE(65535, 48);
  s.payload.copy(b, 54);
  return b;
}

const SYN = 0x02, ACK = 0x10, PSH = 0x08;

/** The segments of one connection: handshake, two request/response exchanges, then quiet. */
function connection(client: number): Seg[] {
  let cseq = 1000 + client * 100000, sseq = 5000 + client * 100000;
  const segs: Seg[] = [];
  const seg = (toServer: boolean, flags: number, payload = Buffer.alloc(0)): void => {
    segs.push({ client, toServer, flags, seq: toServer ? cseq : sseq, ack: toServer ? sseq : cseq, payload });
    const len = payload.length + (flags & SYN ? 1 : 0);
    if (toServer) cseq += len; else sseq += len;
  };
  seg(true, SYN);
  segs[0]!.ack = 0;
  seg(false, SYN | ACK);
  seg(true, ACK);
  for (let i = 0; i < 2; i++) {
    seg(true, PSH | ACK, Buffer.from(`GET /c${client}/r${i} HTTP/1.1\r\nHost: example.test\r\nUser-Agent: memory-test\r\n\r\n`));
    seg(false, ACK);
    const body = Buffer.alloc(3000, 0x61 + (client % 26));
    seg(false, PSH | ACK, Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nContent-Type: text/plain\r\n\r\n`), body.subarray(0, 1200)]));
    seg(false, PSH | ACK, body.subarray(1200, 2400));
    seg(false, PSH | ACK, body.subarray(2400));
    seg(true, ACK);
  }
  return segs;
}

/** A classic pcap of all connections, interleaved round-robin so every chunk holds several connections. */
function capture(connections: number): Buffer {
  const per = Array.from({ length: connections }, (_, i) => connection(i));
  const parts: Buffer[] = [];
  const fileHeader = Buffer.alloc(24);
  fileHeader.writeUInt32LE(0xa1b2c3d4, 0);
  fileHeader.writeUInt16LE(2, 4);
  fileHeader.writeUInt16LE(4, 6);
  fileHeader.writeUInt32LE(65535, 16);
  fileHeader.writeUInt32LE(1, 20);
  parts.push(fileHeader);
  let t = 0;
  for (let i = 0; per.some((p) => i < p.length); i++) {
    for (const p of per) {
      const s = p[i];
      if (!s) continue;
      const f = frame(s);
      const rh = Buffer.alloc(16);
      rh.writeUInt32LE(1700000000 + Math.floor(t / 1000), 0);
      rh.writeUInt32LE((t % 1000) * 1000, 4);
      rh.writeUInt32LE(f.length, 8);
      rh.writeUInt32LE(f.length, 12);
      parts.push(rh, f);
      t++;
    }
  }
  return Buffer.concat(parts);
}

test('no read chunk stays reachable once its packets went through read → decode → tcp → http', async () => {
  const file = capture(48);
  const chunkSize = 8192;
  const total = Math.ceil(file.length / chunkSize);
  const collected = new Set<number>();
  const registry = new FinalizationRegistry<number>((i) => collected.add(i));

  let requests = 0, responses = 0, dataEvents = 0;
  const reader = readCapture({ batch: true });
  const sink = new Writable({
    objectMode: true,
    write(chunk: unknown, _enc, cb) {
      for (const ev of (Array.isArray(chunk) ? chunk : [chunk]) as { type: string }[]) {
        if (ev.type === 'request') requests++;
        else if (ev.type === 'response') responses++;
        else if (ev.type === 'data') dataEvents++;
      }
      cb();
    },
  });
  const done = new Promise<void>((resolve, reject) => {
    pipeline(reader, decode({ depth: 'transport', defragment: true }), tcp(), http({ parser: { bodyEvents: false, maxBody: 0 } }), sink, (e) => (e ? reject(e) : resolve()));
  });

  // Each chunk is copied into an ArrayBuffer of its own that only the pipeline can reach.
  const feed = (i: number): Promise<void> => new Promise((resolve, reject) => {
    const chunk = Buffer.allocUnsafeSlow(Math.min(chunkSize, file.length - i * chunkSize));
    file.copy(chunk, 0, i * chunkSize, i * chunkSize + chunk.length);
    registry.register(chunk.buffer, i);
    reader.write(chunk, (e) => (e ? reject(e) : resolve()));
  });
  for (let i = 0; i < total; i++) await feed(i);
  // let every stage take what it was given
  for (let i = 0; i < 20 && (requests < 96 || responses < 96); i++) await new Promise((r) => setImmediate(r));
  assert.equal(requests, 96, 'every request parsed before the check');
  assert.equal(responses, 96, 'every response parsed before the check');
  assert.ok(dataEvents > 0);

  for (let round = 0; round < 10 && collected.size < total - 1; round++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  const kept = [...Array(total).keys()].filter((i) => !collected.has(i));
  // The last chunk may still be referenced (the stream's last event, the reader's tail); none before it.
  assert.ok(kept.every((i) => i >= total - 1), `chunks still reachable after their packets were processed: ${kept.join(', ')} of ${total}`);
  reader.end();
  await done;
});
