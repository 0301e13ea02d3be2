/**
 * The reassembler's connection table: connections by key, a direct-mapped cache in front of it for IPv4
 * 4-tuples, and the LRU list (least recently active first) that idle sweeps and eviction walk.
 *
 * `find` is the per-packet lookup, the largest fixed cost per packet: it leaves its answer in the
 * table's `found*` fields (no result object per packet).
 */
import type { DecodedPacket, TcpLayer } from '../layers/packet';
import type { Connection } from './connection';

/**
 * Slots of the direct-mapped cache in front of the connection table for IPv4 4-tuples (a power of two).
 * A hit skips building the key string and hashing it in the Map, the largest cost per packet.
 */
const V4_CACHE_SLOTS = 4096;

/**
 * The IPv4 source and destination addresses of the packet as unsigned numbers, into `out` (no result
 * object per packet), read from the frame bytes when the header object tells where it is (checked against
 * its total length and protocol fields), else parsed from the dotted text.
 */
function ipv4Numbers(pkt: DecodedPacket, ip: NonNullable<DecodedPacket['ipv4']>, out: Uint32Array): void {
  const off = (ip as { off?: unknown }).off;
  const data = pkt.record.data;
  if (typeof off === 'number' && off + 20 <= data.length && (data[off] >> 4) === 4
    && ((data[off + 2] << 8) | data[off + 3]) === ip.totalLength && data[off + 9] === ip.protocol) {
    out[0] = (data[off + 12] << 24) | (data[off + 13] << 16) | (data[off + 14] << 8) | data[off + 15];
    out[1] = (data[off + 16] << 24) | (data[off + 17] << 16) | (data[off + 18] << 8) | data[off + 19];
    return;
  }
  out[0] = dottedToNumber(ip.src);
  out[1] = dottedToNumber(ip.dst);
}

function dottedToNumber(text: string): number {
  let n = 0;
  for (const part of text.split('.')) n = n * 256 + (Number(part) & 0xff);
  return n >>> 0;
}

/** The IPv4 cache slot of a 4-tuple (addresses and ports as int32, in key order): a multiplicative hash. */
function v4CacheSlot(lo: number, hi: number, ports: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1) ^ Math.imul(ports, 0x85ebca6b), 0xc2b2ae35);
  h ^= h >>> 15;
  return h & (V4_CACHE_SLOTS - 1);
}

export class ConnectionTable {
  private readonly map = new Map<string, Connection>();
  /** IPv4 connections by a hash of their 4-tuple; an entry is trusted only while it is `inTable`. */
  private readonly v4Cache: Array<Connection | null> = new Array<Connection | null>(V4_CACHE_SLOTS).fill(null);
  /** Scratch: the current packet's IPv4 source and destination (see ipv4Numbers). */
  private readonly v4Addresses = new Uint32Array(2);
  /** Least recently active connection (the LRU list's head) and most recently active one. */
  oldest: Connection | null = null;
  newest: Connection | null = null;
  /** How many fragments `find` turned away (reassemble them first: lib/layers/defrag.ts). */
  fragmentsIgnored = 0;

  // what the last `find` saw
  /** The key: orders the two endpoints, so both directions find the same entry. */
  foundKey = '';
  /** True when the packet's source is the key's first endpoint. */
  foundSrcFirst = false;
  /** The connection of the key, if the table has one. */
  found: Connection | undefined = undefined;
  /** IPv4: the cache slot and the key's parts as numbers (-1: not IPv4). */
  private v4Slot = -1;
  private v4Lo = 0;
  private v4Hi = 0;
  private v4Ports = 0;

  get size(): number {
    return this.map.size;
  }

  /**
   * Looks up the packet's connection. False (and nothing found) for packets that cannot belong to one:
   * not IP, or an IP fragment (it carries part of a segment only: the defragmenter must rebuild it first).
   * IPv4 keys are 6 UTF-16 units (addresses and ports as numbers), built without formatting the addresses
   * as text: cheap to build and to hash.
   */
  find(pkt: DecodedPacket, tcp: TcpLayer): boolean {
    const srcPort = tcp.srcPort, dstPort = tcp.dstPort;
    const v4 = pkt.ipv4;
    if (v4 !== undefined) {
      if (v4.moreFragments || v4.fragmentOffset !== 0) { this.fragmentsIgnored++; return false; }
      ipv4Numbers(pkt, v4, this.v4Addresses);
      const a = this.v4Addresses[0]!, b = this.v4Addresses[1]!;
      const srcFirst = a < b || (a === b && srcPort <= dstPort);
      const lo = (srcFirst ? a : b) | 0;
      const hi = (srcFirst ? b : a) | 0;
      const ports = srcFirst ? ((srcPort << 16) | dstPort) : ((dstPort << 16) | srcPort);
      const slot = v4CacheSlot(lo, hi, ports);
      this.foundSrcFirst = srcFirst;
      this.v4Slot = slot;
      this.v4Lo = lo;
      this.v4Hi = hi;
      this.v4Ports = ports;
      const cached = this.v4Cache[slot]!;
      if (cached !== null && cached.inTable && cached.v4Lo === lo && cached.v4Hi === hi && cached.v4Ports === ports) {
        this.found = cached;
        this.foundKey = cached.key;
      } else {
        const key = String.fromCharCode(lo >>> 16, lo & 0xffff, hi >>> 16, hi & 0xffff, ports >>> 16, ports & 0xffff);
        const conn = this.map.get(key);
        if (conn !== undefined) this.v4Cache[slot] = conn;
        this.found = conn;
        this.foundKey = key;
      }
      return true;
    }
    const v6 = pkt.ipv6;
    if (v6 === undefined) return false;
    const frag = v6.fragment;
    if (frag !== undefined && (frag.moreFragments || frag.offset !== 0)) { this.fragmentsIgnored++; return false; }
    const srcIp = v6.src, dstIp = v6.dst;
    const srcFirst = srcIp < dstIp || (srcIp === dstIp && srcPort <= dstPort);
    const key = srcFirst ? `${srcIp}/${srcPort}/${dstIp}/${dstPort}` : `${dstIp}/${dstPort}/${srcIp}/${srcPort}`;
    this.foundSrcFirst = srcFirst;
    this.foundKey = key;
    this.found = this.map.get(key);
    this.v4Slot = -1;
    return true;
  }

  /** Adds a connection made for the last `find`'s key, as the most recently active one. */
  add(conn: Connection): void {
    this.map.set(conn.key, conn);
    conn.inTable = true;
    this.append(conn);
  }

  /** Remembers the connection made for the last `find` in its IPv4 cache slot (see V4_CACHE_SLOTS). */
  cacheFound(conn: Connection): void {
    if (this.v4Slot < 0) return;
    conn.v4Lo = this.v4Lo;
    conn.v4Hi = this.v4Hi;
    conn.v4Ports = this.v4Ports;
    if (conn.inTable) this.v4Cache[this.v4Slot] = conn;
  }

  remove(conn: Connection): void {
    if (this.map.get(conn.key) === conn) this.map.delete(conn.key);
    conn.inTable = false;
    this.unlink(conn);
  }

  /** Marks the connection active at `clock`: it moves to the end of the LRU list. */
  touch(conn: Connection, clock: number): void {
    conn.lastTouch = clock;
    if (this.newest === conn) return;
    this.unlink(conn);
    this.append(conn);
  }

  /** Forgets every connection (after the reassembler released them). */
  clear(): void {
    for (const c of this.map.values()) c.inTable = false;
    this.map.clear();
    this.v4Cache.fill(null);
    this.oldest = this.newest = null;
  }

  private append(conn: Connection): void {
    conn.prev = this.newest;
    conn.next = null;
    if (this.newest !== null) this.newest.next = conn; else this.oldest = conn;
    this.newest = conn;
  }

  private unlink(conn: Connection): void {
    if (conn.prev !== null) conn.prev.next = conn.next; else if (this.oldest === conn) this.oldest = conn.next;
    if (conn.next !== null) conn.next.prev = conn.prev; else if (this.newest === conn) this.newest = conn.prev;
    conn.prev = conn.next = null;
  }
}
