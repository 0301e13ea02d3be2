/**
 * IPv4 and IPv6 fragment reassembly (RFC 791, RFC 8200 §4.5), as an optional stage after decoding.
 *
 * Fragments are held per datagram (IPv4: src, dst, protocol, id; IPv6: src, dst, id) until every byte
 * from 0 to the end given by the last fragment is present; then a new frame is built (the first
 * fragment's link and IP headers, lengths fixed, the IPv6 Fragment header removed, the payload in place)
 * and decoded like any packet. Overlapping bytes: the fragment that arrived first wins.
 *
 * Memory is bounded by count as well as bytes (datagrams held, fragments per datagram, fragments in total,
 * bytes held including a per-fragment overhead, datagram size), and time is capture time: a datagram not
 * complete `timeoutSeconds` after its first fragment is given up, and its fragments are handed back with a
 * failure naming the limit, so nothing disappears silently. A held fragment's bytes are copied out of the
 * reader's chunk, so what is held is exactly what is counted (a view would pin the whole chunk).
 */
import type { PacketRecord } from '../core/record';
import { decodePacket, type DecodeOptions, type Packet } from './decode';
import { Failure } from '../core/failure';
import { IPv4Header } from './ipv4';
import { IPv6Header } from './ipv6';

export interface DefragOptions {
  /** Datagrams being reassembled at once; the oldest is given up beyond this. Default 1024. */
  maxDatagrams?: number;
  /** Fragment bytes held in total; the oldest datagrams are given up beyond this. Default 32 MiB. */
  maxBytes?: number;
  /**
   * Fragments held for one datagram; beyond this the datagram is given up. Default 1024 (a 64 KiB
   * datagram needs 45 fragments at MTU 1500; tiny or duplicated fragments are the attack).
   */
  maxFragmentsPerDatagram?: number;
  /** Fragments held in total; the oldest datagrams are given up beyond this. Default 16384. */
  maxFragments?: number;
  /** Capture-time seconds a datagram may take to complete. Default 30 (Linux ipfrag_time). */
  timeoutSeconds?: number;
  /** Passed to decodePacket for reassembled frames. */
  decode?: DecodeOptions;
}

export const DEFRAG_DEFAULTS = { maxDatagrams: 1024, maxBytes: 32 * 1024 * 1024, maxFragmentsPerDatagram: 1024, maxFragments: 16384, timeoutSeconds: 30 } as const;
/**
 * Bytes a held fragment costs beyond its frame: its decoded Packet, the Fragment entry and the Map
 * slot (measured: ~0.6 KB per fragment with 8-byte payloads in test/limits.test.ts). Counted against
 * maxBytes so that many tiny fragments reach the byte limit too.
 */
export const FRAGMENT_OVERHEAD_BYTES = 640;
/** An IP datagram cannot be larger than this (16-bit lengths; IPv6 jumbograms are never fragmented). */
export const MAX_DATAGRAM_PAYLOAD = 65535;

interface Fragment {
  pkt: Packet;
  /** Payload offset in the datagram, bytes. */
  offset: number;
  /** The fragment's payload (a view), complete (not cut by the snaplen). */
  data: Buffer;
  more: boolean;
}

interface Datagram {
  key: string;
  fragments: Fragment[];
  firstSeen: number;
  /** Payload length once the last fragment (MF = 0) is seen; -1 before. */
  total: number;
  bytes: number;
}

export interface DefragStats {
  reassembled: number;
  timedOut: number;
  evicted: number;
  /** Fragments that could not be used (cut by the snaplen, beyond 65535, inconsistent). */
  rejected: number;
  pending: number;
  /** Fragments held now, and the bytes counted for them (frames + FRAGMENT_OVERHEAD_BYTES each). */
  heldFragments: number;
  heldBytes: number;
}

export class Defragmenter {
  private readonly datagrams = new Map<string, Datagram>();
  private heldBytes = 0;
  private heldFragments = 0;
  private readonly maxDatagrams: number;
  private readonly maxFragmentsPerDatagram: number;
  private readonly maxFragments: number;
  private readonly maxBytes: number;
  private readonly timeout: number;
  private readonly decodeOptions: DecodeOptions | undefined;
  readonly stats: DefragStats = { reassembled: 0, timedOut: 0, evicted: 0, rejected: 0, pending: 0, heldFragments: 0, heldBytes: 0 };

  constructor(opts: DefragOptions = {}) {
    this.maxDatagrams = opts.maxDatagrams ?? DEFRAG_DEFAULTS.maxDatagrams;
    this.maxBytes = opts.maxBytes ?? DEFRAG_DEFAULTS.maxBytes;
    this.maxFragmentsPerDatagram = opts.maxFragmentsPerDatagram ?? DEFRAG_DEFAULTS.maxFragmentsPerDatagram;
    this.maxFragments = opts.maxFragments ?? DEFRAG_DEFAULTS.maxFragments;
    this.timeout = opts.timeoutSeconds ?? DEFRAG_DEFAULTS.timeoutSeconds;
    this.decodeOptions = opts.decode;
  }

  /** True when `pkt` is an IP fragment this stage would hold. */
  static isFragment(pkt: Packet): boolean {
    if (pkt.ipv4) return pkt.ipv4.moreFragments || pkt.ipv4.fragmentOffset > 0;
    const f = pkt.ipv6?.fragment;
    return f !== undefined && (f.moreFragments || f.offset > 0);
  }

  /**
   * True when push(pkt) would return [pkt] and change nothing: no datagram is pending (so none can time
   * out) and pkt is not a fragment. The decode stage then skips push() and its array per packet.
   */
  passesThrough(pkt: Packet): boolean {
    return this.datagrams.size === 0 && !Defragmenter.isFragment(pkt);
  }

  /**
   * Feeds one decoded packet. Returns the packets to pass on, in order: the packet itself when it is not
   * a fragment; nothing while a datagram is incomplete; the reassembled packet when it completes; and
   * the fragments of datagrams given up (timeout, limits), each with a 'defrag' failure.
   */
  push(pkt: Packet): Packet[] {
    const out: Packet[] = [];
    const now = pkt.record.tsSec + pkt.record.tsNsec / 1e9;
    this.expire(now, out);
    if (!Defragmenter.isFragment(pkt)) { out.push(pkt); return out; }
    const frag = this.toFragment(pkt);
    if (frag === undefined) { this.stats.rejected++; out.push(pkt); return out; }
    const key = this.keyOf(pkt);
    let d = this.datagrams.get(key);
    if (d === undefined) {
      d = { key, fragments: [], firstSeen: now, total: -1, bytes: 0 };
      this.datagrams.set(key, d);
    }
    if (d.fragments.length >= this.maxFragmentsPerDatagram) {
      const why = `reassembly limit reached: more than ${this.maxFragmentsPerDatagram} fragments for one datagram (maxFragmentsPerDatagram)`;
      this.stats.evicted++;
      this.giveUp(d, out, 'truncated', why);
      pkt.errors.push(new Failure('defrag', 'truncated', 0, why));
      out.push(pkt);
      this.stats.pending = this.datagrams.size;
      return out;
    }
    const held = this.hold(frag);
    d.fragments.push(held);
    const cost = held.pkt.record.data.length + FRAGMENT_OVERHEAD_BYTES;
    d.bytes += cost;
    this.heldBytes += cost;
    this.heldFragments++;
    if (!frag.more) {
      const end = frag.offset + frag.data.length;
      if (d.total >= 0 && d.total !== end) { this.giveUp(d, out, 'malformed', `two different datagram ends (${d.total}, ${end})`); return out; }
      d.total = end;
    }
    if (d.total >= 0 && this.complete(d)) {
      this.remove(d);
      out.push(this.rebuild(d));
      this.stats.reassembled++;
    }
    this.enforceLimits(out);
    this.stats.pending = this.datagrams.size;
    return out;
  }

  /** Gives up every pending datagram (end of input): returns their fragments with failures. */
  flush(): Packet[] {
    const out: Packet[] = [];
    for (const d of [...this.datagrams.values()]) this.giveUp(d, out, 'truncated', 'datagram incomplete at end of input');
    this.stats.pending = 0;
    return out;
  }

  /**
   * The fragment with its frame copied out of the reader's chunk, re-decoded over the copy (lazy
   * fields of the decoded packet may still read the frame).
   */
  private hold(frag: Fragment): Fragment {
    const rec = frag.pkt.record;
    const copy = Buffer.from(rec.data);
    const start = frag.data.byteOffset - rec.data.byteOffset;
    const errors = frag.pkt.errors;
    const pkt = decodePacket({ ...rec, data: copy }, this.decodeOptions);
    for (const e of errors) if (!pkt.errors.includes(e)) pkt.errors.push(e);
    return { pkt, offset: frag.offset, data: copy.subarray(start, start + frag.data.length), more: frag.more };
  }

  private keyOf(pkt: Packet): string {
    if (pkt.ipv4) return `4|${pkt.record.linkType}|${pkt.ipv4.src}|${pkt.ipv4.dst}|${pkt.ipv4.protocol}|${pkt.ipv4.id}`;
    const ip = pkt.ipv6 as IPv6Header;
    return `6|${pkt.record.linkType}|${ip.src}|${ip.dst}|${ip.fragment?.id}`;
  }

  private toFragment(pkt: Packet): Fragment | undefined {
    const data = pkt.record.data;
    let offset: number, start: number, end: number, more: boolean;
    if (pkt.ipv4) {
      const ip = pkt.ipv4;
      offset = ip.fragmentOffset; start = ip.payloadOffset; end = ip.impliedEnd; more = ip.moreFragments;
    } else {
      const ip = pkt.ipv6 as IPv6Header;
      const f = ip.fragment as { offset: number; moreFragments: boolean };
      // The fragmentable part starts right after the Fragment header.
      const fh = ip.extensions.find((e) => e.type === 44);
      if (fh === undefined) return undefined;
      offset = f.offset; start = fh.offset + fh.length; end = ip.impliedEnd; more = f.moreFragments;
    }
    if (end > data.length || end < start) return undefined; // cut by the snaplen: cannot complete a datagram
    if (offset + (end - start) > MAX_DATAGRAM_PAYLOAD) return undefined;
    if (more && (end - start) % 8 !== 0) return undefined; // RFC: non-last fragments carry multiples of 8
    return { pkt, offset, data: data.subarray(start, end), more };
  }

  private complete(d: Datagram): boolean {
    const sorted = [...d.fragments].sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const f of sorted) {
      if (f.offset > covered) return false;
      covered = Math.max(covered, f.offset + f.data.length);
    }
    return covered >= d.total && sorted[0].offset === 0;
  }

  private rebuild(d: Datagram): Packet {
    const first = d.fragments.find((f) => f.offset === 0) as Fragment;
    const last = d.fragments[d.fragments.length - 1];
    const src = first.pkt.record.data;
    const payload = Buffer.alloc(d.total);
    // Copy latest first so the earliest arrival wins where fragments overlap.
    for (let i = d.fragments.length - 1; i >= 0; i--) {
      const f = d.fragments[i];
      f.data.copy(payload, f.offset, 0, Math.min(f.data.length, d.total - f.offset));
    }
    let head: Buffer;
    if (first.pkt.ipv4) {
      const ip = first.pkt.ipv4 as IPv4Header;
      head = Buffer.from(src.subarray(0, ip.off + ip.headerLength));
      const h = ip.off;
      head.writeUInt16BE(ip.headerLength + d.total, h + 2);
      head.writeUInt16BE(head.readUInt16BE(h + 6) & 0x4000, h + 6); // keep DF, clear MF and offset
      head.writeUInt16BE(0, h + 10);
      head.writeUInt16BE(ipv4Checksum(head, h, ip.headerLength), h + 10);
    } else {
      const ip = first.pkt.ipv6 as IPv6Header;
      const fhIndex = ip.extensions.findIndex((e) => e.type === 44);
      const fh = ip.extensions[fhIndex];
      head = Buffer.concat([src.subarray(0, fh.offset)]);
      // The header before the Fragment header now names what the Fragment header named.
      const nextAfterFragment = src[fh.offset];
      if (fhIndex === 0) head[ip.off + 6] = nextAfterFragment;
      else head[ip.extensions[fhIndex - 1].offset] = nextAfterFragment;
      head.writeUInt16BE(fh.offset - (ip.off + 40) + d.total, ip.off + 4);
    }
    const data = Buffer.concat([head, payload]);
    const rec0 = last.pkt.record;
    const rec: PacketRecord = { ...rec0, data, caplen: data.length, len: data.length };
    delete rec.fcsLength;
    const pkt = decodePacket(rec, this.decodeOptions);
    pkt.reassembledFrom = d.fragments.map((f) => f.pkt.record.frame);
    return pkt;
  }

  private remove(d: Datagram): void {
    this.datagrams.delete(d.key);
    this.heldBytes -= d.bytes;
    this.heldFragments -= d.fragments.length;
    this.stats.heldBytes = this.heldBytes;
    this.stats.heldFragments = this.heldFragments;
  }

  private giveUp(d: Datagram, out: Packet[], kind: 'truncated' | 'malformed', why: string): void {
    this.remove(d);
    for (const f of d.fragments) {
      f.pkt.errors.push(new Failure('defrag', kind, 0, why));
      out.push(f.pkt);
    }
  }

  private expire(now: number, out: Packet[]): void {
    // Map iteration order is insertion order, i.e. by first fragment's arrival.
    for (const d of this.datagrams.values()) {
      if (now - d.firstSeen <= this.timeout) break;
      this.stats.timedOut++;
      this.giveUp(d, out, 'truncated', `datagram incomplete after ${this.timeout} s`);
    }
  }

  private enforceLimits(out: Packet[]): void {
    for (;;) {
      const over = this.datagrams.size > this.maxDatagrams ? `more than ${this.maxDatagrams} datagrams pending (maxDatagrams)`
        : this.heldFragments > this.maxFragments ? `more than ${this.maxFragments} fragments held (maxFragments)`
          : this.heldBytes > this.maxBytes ? `more than ${this.maxBytes} bytes held (maxBytes)` : null;
      if (over === null || this.datagrams.size === 0) break;
      const oldest = this.datagrams.values().next().value as Datagram;
      this.stats.evicted++;
      this.giveUp(oldest, out, 'truncated', `reassembly limit reached: ${over}`);
    }
    this.stats.heldBytes = this.heldBytes;
    this.stats.heldFragments = this.heldFragments;
  }
}

function ipv4Checksum(buf: Buffer, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (buf[off + i] << 8) | buf[off + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
