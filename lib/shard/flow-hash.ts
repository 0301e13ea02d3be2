/**
 * The symmetric flow hash that shards packets over workers (`--workers N`, `shard()`), computed straight
 * from a record's bytes with no decode: the link header (Ethernet with any number of 802.1Q / 802.1ad /
 * 0x9100 tags, Linux SLL and SLL2, BSD NULL/LOOP, raw IP), then IPv4 or IPv6 (walking IPv6 extension
 * headers), then the TCP/UDP/SCTP ports.
 *
 * Symmetric: the two endpoints (address, port) are put in order before hashing, so both directions of a
 * connection give the same value — the ordering the TCP reassembler uses for its connection key.
 *
 * What the key holds, and why:
 *   - addresses, IP protocol and ports: the reassembler's connection is (addresses, ports), so every packet
 *     of one connection lands on one worker;
 *   - VLAN tags only with `vlan: true`. The reassembler's key has no VLAN (the same 4-tuple seen on two
 *     VLANs is one connection to it: a trunk capture of routed traffic shows every segment twice), so the
 *     commands leave the tags out: a key finer than the reassembler's would split what one thread joins,
 *     and `--workers N` must print what one thread prints. Users sharding their own per-flow stages where
 *     VLANs separate tenants turn it on;
 *   - IP fragments: only the first fragment (offset 0) carries the ports. It is classified 'first-fragment'
 *     with the full key, later ones 'fragment' with no ports; every fragment also gets `fragmentKey`
 *     (addresses, protocol, IP id) so a router (lib/shard/router.ts) can send the rest of the datagram
 *     where its first fragment went. `addressHash` (addresses and protocol only) is the fallback for
 *     fragments whose first fragment was never seen;
 *   - packets that are not IP (ARP, STP, LLDP, unknown link types, truncated headers): 'other', hash 0,
 *     so they all go to one fixed worker.
 */
import { LinkType } from '../core/record';
import { EtherType } from '../layers/ethernet';
import { IpProto } from '../layers/ipv6';

/** What a packet is, for routing. */
export type FlowClass = 'flow' | 'first-fragment' | 'fragment' | 'other';

export interface FlowHashOptions {
  /** Put the VLAN tags into the key (default false: see the module comment). */
  vlan?: boolean;
}

/** The classification of one packet; one object reused by each FlowHasher call. */
export interface FlowInfo {
  kind: FlowClass;
  /** Symmetric hash of the flow (unsigned 32 bits); 0 for 'other'; for 'fragment' the address hash. */
  hash: number;
  /** Symmetric hash of addresses + protocol (+ VLANs), without ports. */
  addressHash: number;
  /** IP protocol (6 TCP, 17 UDP, ...); -1 when not IP. */
  protocol: number;
  /** For fragments: addresses, protocol and IP id in one string (both kinds); '' otherwise. */
  fragmentKey: string;
}

const PORTED: ReadonlySet<number> = new Set([IpProto.TCP, IpProto.UDP, 132, 33, 136]); // + SCTP, DCCP, UDP-Lite
// IPv6 extension headers walked to reach the transport header (Fragment is handled on its own, AH has
// its own length unit).
const IPV6_EXT: ReadonlySet<number> = new Set([IpProto.HOPOPTS, IpProto.ROUTING, IpProto.DSTOPTS, IpProto.MOBILITY, IpProto.HIP, IpProto.SHIM6]);

/** 32-bit mixing step (murmur3's). */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Compares the addresses at a and b (`len` bytes each): <0, 0, >0. */
function compareBytes(b: Uint8Array, a: number, c: number, len: number): number {
  for (let i = 0; i < len; i++) {
    const d = b[a + i]! - b[c + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Classifies records and hashes their flows. Keeps no state between packets; `info` is overwritten by
 * every call (no allocation per packet but the fragment key of fragments).
 */
export class FlowHasher {
  readonly info: FlowInfo = { kind: 'other', hash: 0, addressHash: 0, protocol: -1, fragmentKey: '' };
  private readonly vlanInKey: boolean;
  private vlanHash = 0;
  /** End of the packet being classified in its buffer (the bounds every read checks). */
  private end = 0;

  constructor(opts: FlowHashOptions = {}) {
    this.vlanInKey = opts.vlan === true;
  }

  /** Classifies one packet from its bytes and link type. */
  classify(data: Uint8Array, linkType: number): FlowInfo {
    return this.classifyAt(data, 0, data.length, linkType);
  }

  /**
   * Classifies the packet of `length` bytes at `start` in `data` (a capture file's read chunk: no view per
   * packet, for a worker that walks every record of the file; streams/shard-file.ts).
   */
  classifyAt(data: Uint8Array, start: number, length: number, linkType: number): FlowInfo {
    const info = this.info;
    info.kind = 'other';
    info.hash = 0;
    info.addressHash = 0;
    info.protocol = -1;
    info.fragmentKey = '';
    this.vlanHash = 0;
    const end = this.end = start + length;
    const ip = this.ipOffset(data, start, linkType);
    if (ip < 0 || ip >= end) return info;
    const version = data[ip]! >> 4;
    if (version === 4) this.ipv4(data, ip);
    else if (version === 6) this.ipv6(data, ip);
    return info;
  }

  /** Where the IP header starts (-1: not IP, or truncated before it). */
  private ipOffset(b: Uint8Array, s: number, linkType: number): number {
    const len = this.end - s;
    switch (linkType) {
      case LinkType.ETHERNET: return this.ethernet(b, s);
      case LinkType.LINUX_SLL: return len >= 16 ? this.etherTypeIp((b[s + 14]! << 8) | b[s + 15]!, s + 16) : -1;
      case LinkType.LINUX_SLL2: return len >= 20 ? this.etherTypeIp((b[s]! << 8) | b[s + 1]!, s + 20) : -1;
      case LinkType.NULL:
      case LinkType.LOOP: return len >= 4 ? s + 4 : -1; // the family is checked by the version nibble
      case LinkType.RAW:
      case LinkType.RAW_DLT12:
      case LinkType.RAW_DLT14:
      case LinkType.IPV4:
      case LinkType.IPV6: return s;
      default: return -1;
    }
  }

  private etherTypeIp(type: number, off: number): number {
    return type === EtherType.IPV4 || type === EtherType.IPV6 ? off : -1;
  }

  /** Ethernet II with any stack of VLAN tags (their 12-bit IDs go into vlanHash). */
  private ethernet(b: Uint8Array, s: number): number {
    let off = s + 12;
    let vh = 0;
    while (off + 2 <= this.end) {
      const type = (b[off]! << 8) | b[off + 1]!;
      if (type === EtherType.VLAN || type === EtherType.QINQ || type === EtherType.QINQ_OLD) {
        if (off + 4 > this.end) return -1;
        vh = mix(vh, ((b[off + 2]! << 8) | b[off + 3]!) & 0x0fff);
        off += 4;
        continue;
      }
      if (this.vlanInKey) this.vlanHash = vh;
      return this.etherTypeIp(type, off + 2);
    }
    return -1;
  }

  private ipv4(b: Uint8Array, ip: number): void {
    if (ip + 20 > this.end) return;
    const ihl = (b[ip]! & 0x0f) * 4;
    if (ihl < 20) return;
    const proto = b[ip + 9]!;
    const flagsOffset = (b[ip + 6]! << 8) | b[ip + 7]!;
    const more = (flagsOffset & 0x2000) !== 0;
    const offset = flagsOffset & 0x1fff;
    const first = u32(b, ip + 12) <= u32(b, ip + 16); // srcFirst
    this.finishIp(b, ip + 12, ip + 16, 4, first, proto, ip + ihl, more || offset > 0, offset === 0,
      more || offset > 0 ? `4|${u32(b, ip + 12)}|${u32(b, ip + 16)}|${proto}|${(b[ip + 4]! << 8) | b[ip + 5]!}` : '');
  }

  private ipv6(b: Uint8Array, ip: number): void {
    if (ip + 40 > this.end) return;
    let next = b[ip + 6]!;
    let off = ip + 40;
    let fragmented = false, firstFragment = true, fragId = 0;
    // Walk the extension headers to the transport header (bounded by the packet).
    for (let n = 0; n < 16; n++) {
      if (IPV6_EXT.has(next) || next === IpProto.AH) {
        if (off + 2 > this.end) { next = -1; break; }
        const len = next === IpProto.AH ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8;
        next = b[off]!;
        off += len;
        continue;
      }
      if (next === IpProto.FRAGMENT) {
        if (off + 8 > this.end) { next = -1; break; }
        const fo = (b[off + 2]! << 8) | b[off + 3]!;
        const offset = fo >> 3, more = (fo & 1) !== 0;
        // An atomic fragment (offset 0, no more) is a whole datagram: the reassembler takes it as it is.
        if (more || offset > 0) {
          fragmented = true;
          firstFragment = offset === 0;
          fragId = u32(b, off + 4);
        }
        next = b[off]!;
        off += 8;
        continue;
      }
      break;
    }
    if (next < 0) return;
    const cmp = compareBytes(b, ip + 8, ip + 24, 16);
    const key = fragmented ? `6|${Buffer.from(b.buffer, b.byteOffset + ip + 8, 32).toString('hex')}|${fragId}` : '';
    this.finishIp(b, ip + 8, ip + 24, 16, cmp <= 0, next, off, fragmented, firstFragment, key);
  }

  /**
   * Hashes the ordered address pair and protocol, then the ordered ports when the transport header is
   * there (not for later fragments). Equal addresses order by port, like the reassembler's key.
   */
  private finishIp(b: Uint8Array, src: number, dst: number, alen: number, srcFirstByAddr: boolean, proto: number,
    l4: number, fragmented: boolean, firstFragment: boolean, fragmentKey: string): void {
    const info = this.info;
    info.protocol = proto;
    const hasPorts = PORTED.has(proto) && (!fragmented || firstFragment) && l4 + 4 <= this.end;
    const sp = hasPorts ? (b[l4]! << 8) | b[l4 + 1]! : 0;
    const dp = hasPorts ? (b[l4 + 2]! << 8) | b[l4 + 3]! : 0;
    const sameAddr = compareBytes(b, src, dst, alen) === 0;
    const srcFirst = sameAddr ? sp <= dp : srcFirstByAddr;
    const lo = srcFirst ? src : dst, hi = srcFirst ? dst : src;
    let h = mix(this.vlanHash, proto);
    for (let i = 0; i < alen; i += 4) h = mix(h, u32(b, lo + i));
    for (let i = 0; i < alen; i += 4) h = mix(h, u32(b, hi + i));
    // The address hash must not depend on the ports (equal addresses: any order is the same bytes).
    info.addressHash = finish(h);
    if (hasPorts) h = mix(h, srcFirst ? (sp << 16) | dp : (dp << 16) | sp);
    info.fragmentKey = fragmentKey;
    if (fragmented && !firstFragment) {
      info.kind = 'fragment';
      info.hash = info.addressHash;
      return;
    }
    info.kind = fragmented ? 'first-fragment' : 'flow';
    info.hash = finish(h);
  }
}

/** The flow hash of one packet (unsigned 32 bits; 0 for packets that are not IP). */
export function flowHash(data: Uint8Array, linkType: number, opts: FlowHashOptions = {}): number {
  return new FlowHasher(opts).classify(data, linkType).hash;
}

/** The worker (0..workers-1) a hash picks. */
export function workerOf(hash: number, workers: number): number {
  return workers <= 1 ? 0 : hash % workers;
}
