/**
 * The symmetric flow hash and the router (lib/shard/): both directions of a connection give one value
 * (IPv4, IPv6 with extension headers, every link type we decode, VLAN stacks), VLAN tags in the key only
 * when asked, fragments of a datagram routed where its first fragment went, non-IP packets to worker 0;
 * and on every fixture capture, every packet of every TCP connection (as the reassembler numbers them)
 * lands on one worker.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import { LinkType, type PacketRecord } from '../lib/core/record';
import { parseCapture } from '../lib/formats/detect';
import { decodePacket } from '../lib/layers/decode';
import { FlowHasher, flowHash, workerOf } from '../lib/shard/flow-hash';
import { FlowRouter } from '../lib/shard/router';
import { TcpReassembler } from '../lib/tcp/reassembler';
import { ipv4, tcp, udp } from './helpers/craft';
import { fixture } from './helpers/oracle';

const A = [192, 168, 1, 10], B = [10, 0, 0, 2];

function eth(payload: Buffer, etherType: number, vlans: number[] = []): Buffer {
  const head = Buffer.alloc(12, 2);
  const tags = vlans.map((id, i) => {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(i < vlans.length - 1 ? 0x88a8 : 0x8100, 0);
    t.writeUInt16BE(id, 2);
    return t;
  });
  const type = Buffer.alloc(2);
  type.writeUInt16BE(etherType, 0);
  return Buffer.concat([head, ...tags, type, payload]);
}

function v4tcp(src: number[], sp: number, dst: number[], dp: number, vlans: number[] = []): Buffer {
  return eth(ipv4({ src, dst, proto: 6 }, tcp(sp, dp, 1, 0, 0x10, Buffer.alloc(0))), 0x0800, vlans);
}

function ipv6(src: string, dst: string, next: number, payload: Buffer, ext: Buffer[] = []): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  const body = Buffer.concat([...ext, payload]);
  h.writeUInt16BE(body.length, 4);
  h[6] = ext.length > 0 ? 0 : next; // the first extension header is hop-by-hop
  h[7] = 64;
  Buffer.from(src.split(':').map((x) => x.padStart(4, '0')).join(''), 'hex').copy(h, 8);
  Buffer.from(dst.split(':').map((x) => x.padStart(4, '0')).join(''), 'hex').copy(h, 24);
  return Buffer.concat([h, body]);
}

const S6 = '2001:db8:0:0:0:0:0:1', D6 = '2001:db8:0:0:0:0:0:2';

test('symmetric: both directions of IPv4 TCP and UDP flows hash alike; other flows differ', () => {
  const h = (b: Buffer): number => flowHash(b, LinkType.ETHERNET);
  assert.strictEqual(h(v4tcp(A, 40000, B, 80)), h(v4tcp(B, 80, A, 40000)));
  const u1 = eth(ipv4({ src: A, dst: B, proto: 17 }, udp(5353, 53, Buffer.alloc(4))), 0x0800);
  const u2 = eth(ipv4({ src: B, dst: A, proto: 17 }, udp(53, 5353, Buffer.alloc(4))), 0x0800);
  assert.strictEqual(h(u1), h(u2));
  // other ports, other protocol, other address: other hashes (these particular ones do not collide)
  const values = new Set([h(v4tcp(A, 40000, B, 80)), h(v4tcp(A, 40001, B, 80)), h(v4tcp(A, 40000, B, 81)), h(u1), h(v4tcp([192, 168, 1, 11], 40000, B, 80))]);
  assert.strictEqual(values.size, 5);
  // equal addresses (loopback): the ports order the endpoints
  const lo = [127, 0, 0, 1];
  assert.strictEqual(h(v4tcp(lo, 50000, lo, 8080)), h(v4tcp(lo, 8080, lo, 50000)));
  assert.notStrictEqual(h(v4tcp(lo, 50000, lo, 8080)), h(v4tcp(lo, 50001, lo, 8080)));
});

test('IPv6: symmetric, through hop-by-hop and destination options headers, on raw and Ethernet links', () => {
  const seg = (sp: number, dp: number): Buffer => tcp(sp, dp, 1, 0, 0x10, Buffer.alloc(0));
  const hbh = (next: number): Buffer => { const e = Buffer.alloc(8); e[0] = next; return e; };
  const plain1 = ipv6(S6, D6, 6, seg(40000, 443));
  const plain2 = ipv6(D6, S6, 6, seg(443, 40000));
  const ext = ipv6(S6, D6, 6, seg(40000, 443), [hbh(60), hbh(6)]);
  const hr = (b: Buffer): number => flowHash(b, LinkType.RAW);
  assert.strictEqual(hr(plain1), hr(plain2));
  assert.strictEqual(hr(ext), hr(plain1), 'extension headers are walked to the ports');
  assert.strictEqual(flowHash(eth(plain1, 0x86dd), LinkType.ETHERNET), hr(plain2));
  const info = new FlowHasher().classify(plain1, LinkType.RAW);
  assert.strictEqual(info.kind, 'flow');
  assert.strictEqual(info.protocol, 6);
  assert.notStrictEqual(hr(plain1), hr(ipv6(S6, D6, 6, seg(40001, 443))));
  // the same bytes behind other link headers: NULL (AF_INET6 = 30), SLL
  const nul = Buffer.concat([Buffer.from([30, 0, 0, 0]), plain1]);
  assert.strictEqual(flowHash(nul, LinkType.NULL), hr(plain1));
  const sll = Buffer.alloc(16);
  sll.writeUInt16BE(0x86dd, 14);
  assert.strictEqual(flowHash(Buffer.concat([sll, plain2]), LinkType.LINUX_SLL), hr(plain1));
});

test('VLAN: tags are walked (802.1Q, QinQ); in the key only with { vlan: true }', () => {
  const plain = v4tcp(A, 40000, B, 80);
  const tagged = v4tcp(B, 80, A, 40000, [100]);
  const qinq = v4tcp(A, 40000, B, 80, [7, 100]);
  assert.strictEqual(flowHash(tagged, LinkType.ETHERNET), flowHash(plain, LinkType.ETHERNET), 'default: the reassembler key (no VLAN)');
  assert.strictEqual(flowHash(qinq, LinkType.ETHERNET), flowHash(plain, LinkType.ETHERNET));
  const v = { vlan: true };
  assert.strictEqual(flowHash(tagged, LinkType.ETHERNET, v), flowHash(v4tcp(A, 40000, B, 80, [100]), LinkType.ETHERNET, v), 'symmetric with tags');
  assert.notStrictEqual(flowHash(tagged, LinkType.ETHERNET, v), flowHash(plain, LinkType.ETHERNET, v));
  assert.notStrictEqual(flowHash(tagged, LinkType.ETHERNET, v), flowHash(v4tcp(A, 40000, B, 80, [101]), LinkType.ETHERNET, v));
  assert.notStrictEqual(flowHash(qinq, LinkType.ETHERNET, v), flowHash(tagged, LinkType.ETHERNET, v));
});

test('non-IP and truncated packets: class other, hash 0, worker 0', () => {
  const arp = eth(Buffer.alloc(28), 0x0806);
  const hasher = new FlowHasher();
  assert.strictEqual(hasher.classify(arp, LinkType.ETHERNET).kind, 'other');
  assert.strictEqual(flowHash(arp, LinkType.ETHERNET), 0);
  assert.strictEqual(flowHash(v4tcp(A, 1, B, 2).subarray(0, 20), LinkType.ETHERNET), 0, 'cut inside the IP header');
  assert.strictEqual(flowHash(Buffer.alloc(40), 147), 0, 'a link type we do not decode');
  const router = new FlowRouter(4);
  const got: number[] = [];
  for (let i = 0; i < 5; i++) router.route({ ...rec(arp), frame: i + 1 }, (w) => got.push(w));
  assert.deepStrictEqual(got, [0, 0, 0, 0, 0]);
  assert.strictEqual(workerOf(12345, 1), 0);
});

function rec(data: Buffer, frame = 1, linkType: number = LinkType.ETHERNET): PacketRecord {
  return { frame, linkType, tsSec: 1, tsNsec: frame, caplen: data.length, len: data.length, interfaceId: 0, data };
}

/** A TCP segment's IPv4 datagram cut into fragments (first: the TCP header and 8 bytes). */
function tcpFragments(id: number, sp: number, dp: number, payload: Buffer, src = A, dst = B): Buffer[] {
  const whole = tcp(sp, dp, 1, 0, 0x18, payload);
  const out: Buffer[] = [];
  for (let off = 0; off < whole.length; off += 24) {
    const piece = whole.subarray(off, Math.min(off + 24, whole.length));
    out.push(eth(ipv4({ src, dst, proto: 6, id, fragmentOffset8: off / 8, moreFragments: off + 24 < whole.length }, piece), 0x0800));
  }
  return out;
}

test('fragments: the first carries the flow hash, later ones follow it (also when they come first)', () => {
  const frags = tcpFragments(77, 40000, 80, Buffer.alloc(60, 1));
  assert.strictEqual(frags.length, 4);
  const hasher = new FlowHasher();
  const first = hasher.classify(frags[0]!, LinkType.ETHERNET);
  assert.strictEqual(first.kind, 'first-fragment');
  assert.strictEqual(first.hash, flowHash(v4tcp(B, 80, A, 40000), LinkType.ETHERNET), 'the connection\'s hash');
  const key = first.fragmentKey;
  const later = hasher.classify(frags[2]!, LinkType.ETHERNET);
  assert.strictEqual(later.kind, 'fragment');
  assert.strictEqual(later.fragmentKey, key);
  for (const workers of [2, 3, 4, 7]) {
    const want = workerOf(flowHash(v4tcp(A, 40000, B, 80), LinkType.ETHERNET), workers);
    // in order, and last-first (the first fragment last): every fragment goes to the connection's worker
    for (const order of [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]]) {
      const router = new FlowRouter(workers);
      const sent: [number, number][] = [];
      order.forEach((i, n) => router.route(rec(frags[i]!, n + 1), (w, r) => sent.push([w, r.frame])));
      router.flush((w, r) => sent.push([w, r.frame]));
      assert.strictEqual(sent.length, 4);
      assert.ok(sent.every(([w]) => w === want), `${workers} workers, order ${order}: ${JSON.stringify(sent)}`);
      // held fragments leave in capture order, right before the first fragment
      assert.deepStrictEqual(sent.map(([, f]) => f), [1, 2, 3, 4]);
    }
  }
});

test('fragments whose first fragment never comes go to their addresses\' worker at the end; holding is bounded', () => {
  const frags = tcpFragments(9, 40000, 80, Buffer.alloc(60, 1));
  const router = new FlowRouter(4, { limits: { maxHeldFragments: 2 } });
  const sent: [number, number][] = [];
  const sink = (w: number, r: PacketRecord): void => { sent.push([w, r.frame]); };
  router.route(rec(frags[1]!, 1), sink);
  router.route(rec(frags[2]!, 2), sink);
  assert.strictEqual(sent.length, 0, 'held');
  router.route(rec(frags[3]!, 3), sink); // over the limit: the oldest datagram's fragments go
  assert.strictEqual(sent.length, 3);
  const addrWorker = workerOf(new FlowHasher().classify(frags[1]!, LinkType.ETHERNET).addressHash, 4);
  assert.ok(sent.every(([w]) => w === addrWorker));
  assert.strictEqual(router.stats.orphanFragments, 3);
  const other = tcpFragments(10, 40000, 80, Buffer.alloc(60, 1));
  router.route(rec(other[1]!, 4), sink);
  router.flush(sink);
  assert.deepStrictEqual(sent.map(([, f]) => f), [1, 2, 3, 4]);
});

test('every fixture capture: every packet of a TCP connection (reassembler numbering) hashes alike', () => {
  const dir = fs.readdirSync(fixture('.')).filter((f) => /\.pcap(ng)?$/.test(f) && !f.startsWith('malformed-') && !f.startsWith('truncated-'));
  let connections = 0, checked = 0;
  for (const file of dir) {
    let parsed;
    try { parsed = parseCapture(fs.readFileSync(fixture(file))); } catch { continue; }
    const hasher = new FlowHasher();
    const byConn = new Map<number, Set<number>>();
    let current: number[] = [];
    // an idle sweep ends other connections while a packet is processed: count the packet's own 'start' and 'data'
    const r = new TcpReassembler((ev) => { if (ev.type === 'start' || (ev.type === 'data' && ev.frame === frame)) current.push(ev.connection); });
    let frame = 0;
    for (const record of parsed.packets) {
      const info = hasher.classify(record.data, record.linkType);
      if (info.kind !== 'flow' || info.protocol !== 6) continue;
      const pkt = decodePacket(record, { depth: 'transport' });
      current = [];
      frame = record.frame;
      r.packet(pkt);
      for (const c of new Set(current)) {
        const s = byConn.get(c) ?? new Set<number>();
        s.add(info.hash);
        byConn.set(c, s);
        checked++;
      }
    }
    for (const [c, hashes] of byConn) assert.strictEqual(hashes.size, 1, `${file}: connection ${c} has ${hashes.size} hashes`);
    connections += byConn.size;
  }
  assert.ok(connections > 50, `connections checked: ${connections}`);
  assert.ok(checked > 500);
});
