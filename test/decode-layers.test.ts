/**
 * `packet.layers` is kept packed while decoding (six layers fit) and becomes an array when read: these
 * frames nest 802.3/SNAP headers 1 to 12 deep, so the list crosses the packed limit at every position,
 * and the result must be the plain outermost-first list, also for ICMP-quoted packets, and stay the same
 * array once read.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { decodePacket } from '../lib/layers/decode';
import type { PacketRecord } from '../lib/core/record';

function record(data: Buffer): PacketRecord {
  return { frame: 1, linkType: 1, tsSec: 0, tsNsec: 0, caplen: data.length, len: data.length, interfaceId: 0, data };
}

/** An LLC/SNAP header with OUI 0 carrying `pid` (an EtherType, or an 802.3 length for another LLC). */
function snap(pid: number): Buffer {
  return Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0, pid >> 8, pid & 0xff]);
}

const IPV4_UDP = Buffer.from('4500001c00010000401100000a0000010a000002' + '3039303900080000', 'hex');

test('layers: nested 802.3/SNAP stacks of every depth list every layer, outermost first', () => {
  for (let depth = 1; depth <= 12; depth++) {
    const parts: Buffer[] = [Buffer.alloc(12), Buffer.from([0x05, 0xdc])]; // 802.3 length 1500
    for (let i = 0; i < depth; i++) parts.push(snap(i === depth - 1 ? 0x0800 : 0x05dc));
    parts.push(IPV4_UDP);
    const pkt = decodePacket(record(Buffer.concat(parts)));
    const expected = ['eth', ...Array<string>(depth).fill('llc'), 'ipv4', 'udp'];
    assert.deepStrictEqual(pkt.layers, expected, `depth ${depth}`);
    assert.deepStrictEqual(pkt.errors, [], `depth ${depth}`);
    assert.strictEqual(pkt.layers, pkt.layers, 'the same array on every read');
  }
});

test('layers: transport depth stops the list at the transport header; ICMP quoted packets have their own', () => {
  const eth = Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x00])]);
  const quoted = Buffer.from('450000300001000040110000c0000201c0000202' + '003500350014abcd', 'hex');
  const icmp = Buffer.concat([Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), quoted]);
  const ip = Buffer.from('45000000000100004001000008080808c0000201', 'hex');
  ip.writeUInt16BE(20 + icmp.length, 2);
  const pkt = decodePacket(record(Buffer.concat([eth, ip, icmp])));
  assert.deepStrictEqual(pkt.layers, ['eth', 'ipv4', 'icmp']);
  assert.deepStrictEqual(pkt.icmp?.quoted?.layers, ['ipv4', 'udp']);
  const udp = Buffer.concat([eth, IPV4_UDP]);
  assert.deepStrictEqual(decodePacket(record(udp), { depth: 'network' }).layers, ['eth', 'ipv4']);
  assert.deepStrictEqual(decodePacket(record(udp), { depth: 'link' }).layers, ['eth']);
});
