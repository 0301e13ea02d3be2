/**
 * A generated capture that crosses flows the ways one thread notices (for the --workers tests): ~1,500
 * interleaved connections from many clients over about two hours of capture time, idle sweeps, port
 * reuse, resets, timestamps that go back a little across flows, UDP and ARP between them.
 */
import * as assert from 'node:assert/strict';
import { PcapWriter } from '../../lib/formats/pcap';
import { LinkType, type PacketRecord } from '../../lib/core/record';
import { ethernet, ipv4, tcp, udp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from './craft';
import { prng } from './prng';

const SERVER = [10, 1, 0, 1];

/** How a generated connection ends. */
type Ending = 'fin' | 'client-fin-only' | 'silent' | 'reset';

interface Conn {
  ip: number[];
  port: number;
  cseq: number;
  sseq: number;
  /** Frames still to send, in order. */
  script: Buffer[];
}

function newConnection(rand: () => number, ip: number[], port: number, ending: Ending): Conn {
  const c: Conn = { ip, port, cseq: Math.floor(rand() * 2 ** 32), sseq: Math.floor(rand() * 2 ** 32), script: [] };
  const cf = (flags: number, payload: Buffer = Buffer.alloc(0)): void => {
    c.script.push(ethernet(ipv4({ proto: 6, src: ip, dst: SERVER }, tcp(port, 80, c.cseq, c.sseq, flags, payload))));
    c.cseq = (c.cseq + payload.length + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
  };
  const sf = (flags: number, payload: Buffer = Buffer.alloc(0)): void => {
    c.script.push(ethernet(ipv4({ proto: 6, src: SERVER, dst: ip }, tcp(80, port, c.sseq, c.cseq, flags, payload))));
    c.sseq = (c.sseq + payload.length + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
  };
  cf(TCP_SYN);
  sf(TCP_SYN | TCP_ACK);
  cf(TCP_ACK);
  const requests = 1 + Math.floor(rand() * 4);
  for (let r = 0; r < requests; r++) {
    const url = `/item/${port}/${r}?q=${Math.floor(rand() * 1e6)}`;
    cf(TCP_ACK | TCP_PSH, Buffer.from(`GET ${url} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: gen/${r}\r\n\r\n`));
    const body = Buffer.alloc(Math.floor(rand() * 3000), 'x');
    const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`);
    const all = Buffer.concat([head, body]);
    for (let off = 0; off < all.length; off += 1400) sf(TCP_ACK | TCP_PSH, all.subarray(off, off + 1400));
    cf(TCP_ACK);
  }
  switch (ending) {
    case 'fin': cf(TCP_FIN | TCP_ACK); sf(TCP_FIN | TCP_ACK); cf(TCP_ACK); break;
    case 'client-fin-only': cf(TCP_FIN | TCP_ACK); sf(TCP_ACK); break;
    case 'reset': sf(TCP_RST | TCP_ACK); break;
    case 'silent': break;
  }
  return c;
}

/**
 * ~50 k frames: connections start at random moments of a capture of about two hours (mostly busy, with
 * pauses of minutes now and then) and send their frames a few
 * at a time while others interleave; some never finish (idle sweeps end them), some 4-tuples come back
 * after a minute or more with a new handshake.
 */
export function generatedCapture(seed: number, target = 50_000): Buffer {
  const rand = prng(seed);
  const writer = new PcapWriter({ nanosecond: true });
  const parts: Buffer[] = [writer.fileHeader(LinkType.ETHERNET)];
  let frame = 0;
  let t = 1_760_000_000 * 1e9; // ns
  const emit = (data: Buffer, ts: number): void => {
    frame++;
    const tsSec = Math.floor(ts / 1e9);
    const rec: PacketRecord = { frame, linkType: LinkType.ETHERNET, tsSec, tsNsec: ts - tsSec * 1e9, caplen: data.length, len: data.length, interfaceId: 0, data };
    parts.push(writer.record(rec));
  };
  const active: Conn[] = [];
  const endings: Ending[] = ['fin', 'fin', 'fin', 'client-fin-only', 'silent', 'reset'];
  const used: Array<[number[], number]> = [];
  let started = 0;
  while (frame < target) {
    // capture time moves on: mostly microseconds, sometimes seconds, now and then a long pause
    const r = rand();
    t += r < 0.97 ? Math.floor(rand() * 2_000_000) : r < 0.998 ? Math.floor(rand() * 3e9) : Math.floor(70e9 + rand() * 250e9);
    if (active.length < 40 && rand() < 0.3) {
      // a new connection, or (1 in 8) an old 4-tuple again
      let ip: number[], port: number;
      if (used.length > 20 && rand() < 0.125) [ip, port] = used[Math.floor(rand() * used.length)]!;
      else { ip = [10, 2, Math.floor(rand() * 8), 1 + Math.floor(rand() * 200)]; port = 20000 + Math.floor(rand() * 40000); used.push([ip, port]); }
      active.push(newConnection(rand, ip, port, endings[Math.floor(rand() * endings.length)]!));
      started++;
    }
    if (rand() < 0.02) emit(ethernet(ipv4({ proto: 17, src: [10, 3, 0, 1], dst: [10, 3, 0, 2] }, udp(5353, 5353, Buffer.from('dns-ish')))), t);
    if (rand() < 0.01) emit(ethernet(Buffer.alloc(28, 1), 0x0806), t);
    if (active.length === 0) continue;
    const i = Math.floor(rand() * active.length);
    const c = active[i]!;
    const burst = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < burst && c.script.length > 0; k++) {
      // a frame of another flow may carry a slightly older time (two capture queues): up to 5 ms back
      const skew = rand() < 0.05 ? Math.floor(rand() * 5e6) : 0;
      emit(c.script.shift()!, t - skew);
    }
    if (c.script.length === 0) active.splice(i, 1);
  }
  assert.ok(started > target / 50, `connections: ${started}`);
  return Buffer.concat(parts);
}

