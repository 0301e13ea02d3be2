/**
 * Stream-mode grep: the TCP reassembler's byte streams matched per connection direction with a bounded
 * look-behind, packets released in capture order with their verdicts (see lib/grep/grep.ts).
 */
import type { Packet } from '../layers/decode';
import { formatTimestamp } from '../core/record';
import { TcpReassembler, type TcpLimits } from '../tcp/reassembler';
import type { TcpDataEvent, TcpDirection, TcpEvent } from '../tcp/events';
import { GrepPatternError } from '../core/errors';
import { DEFAULT_CONTEXT_BYTES, DEFAULT_LOOK_BEHIND_BYTES, DEFAULT_MAX_HELD_PACKETS, DEFAULT_MAX_HOLD_SECONDS } from './limits';
import { searcher, type ByteRange, type Matcher } from './pattern';
import { conversationKey, packetPayload } from './payload';
import type { GrepMatch } from './report';
import { AfterContext, PacketGrep, contextAround, type GrepOptions, type PacketVerdict } from './packet-grep';
import { endpoint } from '../tcp/connection';

const EMPTY = Buffer.alloc(0);

export interface StreamGrepOptions extends GrepOptions {
  /** Bytes of look-behind per connection direction (default DEFAULT_LOOK_BEHIND_BYTES). */
  lookBehind?: number;
  /** Packets held for ordered release before the oldest is forced out (default DEFAULT_MAX_HELD_PACKETS). */
  maxHeldPackets?: number;
  /** Capture-time seconds a packet may be held (default DEFAULT_MAX_HOLD_SECONDS). */
  maxHoldSeconds?: number;
  /** Limits of the TCP reassembler. */
  tcpLimits?: Partial<TcpLimits>;
}

/** Directions of ended connections remembered, so their late packets (retransmissions) settle at once. */
export const MAX_ENDED_DIRECTIONS = 8192;

/** A packet waiting for its verdict, in capture order. */
interface Held {
  /**
   * The verdict until the packet is released; null after: the consumer has it, and the look-behind of a
   * quiet connection (its carriers) must not keep the packet, and the read chunk its bytes point into,
   * alive. What the carriers still need of it is kept below.
   */
  verdict: PacketVerdict | null;
  /** Selected (by a match or as after-context); kept after release. */
  selected: boolean;
  frame: number;
  tsSec: number;
  tsNsec: number;
  /** conversationKey() of the packet when -A is on (else ''). */
  conversation: string;
  /** Still waiting: a later segment may complete a match that its bytes start. */
  pending: boolean;
  /** Already handed to `release` (a match found later cannot select it any more). */
  released: boolean;
  /** Capture time, ns relative to the first packet's second (for maxHoldSeconds). */
  time: number;
}

/** A TCP segment with payload whose bytes may still be part of a match. */
interface Hold {
  held: Held;
  seq: number;
  length: number;
  /** Stream offset of its first byte, once the direction's anchor is known; -1 before. */
  offset: number;
}

/** A run of look-behind bytes [start, end) (stream offsets) and the packet that carried it. */
interface Carrier {
  start: number;
  end: number;
  held: Held | null;
  frame: number;
}

/** What a match report is stamped with: the packet (or event) that completed it. */
interface Stamp {
  frame: number;
  ts: string;
  tsSec: number;
  tsNsec: number;
}

/** Matching state of one direction of one connection. */
class DirectionState {
  /** Sequence number of stream offset 0 (from the SYN, corrected by every in-order delivery); -1 unknown. */
  anchor = -1;
  /** The look-behind: the last bytes of the stream (a private copy), starting at stream offset tailOffset. */
  tail: Buffer = EMPTY;
  tailOffset = 0;
  carriers: Carrier[] = [];
  /** No new match may start before this stream offset (matches do not overlap). */
  reportedEnd = 0;
  /** Segments whose bytes may still be part of a match, in arrival order. */
  holds: Hold[] = [];
  /** The connection as the reassembler names it (set by its first data event). */
  stream = -1;
  client = '';
  server = '';
  direction: TcpDirection = 'client-to-server';
  ended = false;
  constructor(readonly key: string) {}

  /** Stream offset of a sequence number: relative to the window's end, so wraparound needs no case. */
  offsetOfSeq(seq: number): number {
    const refOffset = this.tailOffset + this.tail.length;
    const refSeq = (this.anchor + refOffset) >>> 0;
    return refOffset + ((seq - refSeq) | 0);
  }

  setAnchor(anchor: number): void {
    if (anchor === this.anchor) return;
    this.anchor = anchor;
    for (const h of this.holds) h.offset = this.offsetOfSeq(h.seq);
  }

  /** Forgets the window (a gap, a new connection on the same 4-tuple, the end). */
  dropWindow(nextOffset: number): void {
    this.tail = EMPTY;
    this.carriers = [];
    this.tailOffset = nextOffset;
    this.reportedEnd = nextOffset;
  }
}

export interface StreamGrepSinks {
  /** Every packet, in capture order, once its verdict is final. */
  release: (v: PacketVerdict) => void;
  /** Every match, as soon as it is found (stream matches and per-packet matches of non-TCP packets). */
  match?: (m: GrepMatch) => void;
}

/**
 * Stream-mode grep over reassembled TCP; UDP, ICMP, other protocols and IP fragments are matched per
 * packet. Feed packets in capture order with `packet()`, then call `flush()`.
 */
export class StreamGrep {
  readonly matcher: Matcher;
  private readonly sinks: StreamGrepSinks;
  /** Its TCP reassembler (a sharded run's worker sets the whole capture's clock on it: lib/tcp/sharded.ts). */
  readonly reassembler: TcpReassembler;
  private readonly perPacket: PacketGrep;
  private readonly lookBehind: number;
  private readonly contextBytes: number;
  private readonly maxHeld: number;
  private readonly maxHoldNs: number;
  private readonly afterContext: AfterContext;
  private readonly directions = new Map<string, DirectionState>();
  /** Keys of ended directions, oldest first (bounded by MAX_ENDED_DIRECTIONS). */
  private readonly ended: string[] = [];
  /** Packets in capture order; `head` is the first not yet released. */
  private queue: Held[] = [];
  private head = 0;
  private baseSec = NaN;
  /** The TCP packet being fed to the reassembler: in-order deliveries are views of its payload. */
  private current: { held: Held; payload: Buffer; dir: DirectionState } | null = null;
  readonly stats = {
    packets: 0, selected: 0, matches: 0,
    /** Packets released unselected by a bound (maxHeldPackets, maxHoldSeconds) while still pending. */
    forced: 0,
    /** Frames a match needed after they had been forced out: listed in the match, not selected. */
    late: 0,
  };

  constructor(matcher: Matcher, sinks: StreamGrepSinks, opts: StreamGrepOptions = {}) {
    if (opts.invert) throw new GrepPatternError('invert (-v) cannot be used in stream mode');
    this.matcher = matcher;
    this.sinks = sinks;
    this.contextBytes = opts.contextBytes ?? DEFAULT_CONTEXT_BYTES;
    // a fixed-length pattern needs only its length - 1 bytes of look-behind (plus the reported context):
    // less copying, and packets are released sooner
    const needed = matcher.maxLength === undefined ? Infinity : Math.max(matcher.maxLength - 1, this.contextBytes, 1);
    this.lookBehind = Math.min(Math.max(1, opts.lookBehind ?? DEFAULT_LOOK_BEHIND_BYTES), needed);
    this.maxHeld = Math.max(1, opts.maxHeldPackets ?? DEFAULT_MAX_HELD_PACKETS);
    this.maxHoldNs = (opts.maxHoldSeconds ?? DEFAULT_MAX_HOLD_SECONDS) * 1e9;
    this.afterContext = new AfterContext(opts.after ?? 0);
    this.perPacket = new PacketGrep(matcher, { contextBytes: this.contextBytes });
    this.reassembler = new TcpReassembler((ev) => this.event(ev), opts.tcpLimits);
  }

  /** Look-behind bytes held over all directions (memory stays flat: at most lookBehind per direction). */
  bufferedBytes(): number {
    let n = 0;
    for (const d of this.directions.values()) n += d.tail.length;
    return n;
  }

  /** Packets waiting for their verdict. */
  get heldPackets(): number { return this.queue.length - this.head; }

  packet(pkt: Packet): void {
    this.stats.packets++;
    const rec = pkt.record;
    if (this.baseSec !== this.baseSec) this.baseSec = rec.tsSec;
    const time = (rec.tsSec - this.baseSec) * 1e9 + rec.tsNsec;
    const held: Held = {
      verdict: { packet: pkt, selected: false, afterContext: false, matches: [] }, selected: false, pending: false, released: false, time,
      frame: rec.frame, tsSec: rec.tsSec, tsNsec: rec.tsNsec, conversation: this.afterContext.enabled ? conversationKey(pkt) : '',
    };
    this.queue.push(held);
    const tcp = pkt.tcp;
    const ip = pkt.ipv4 ?? pkt.ipv6;
    if (tcp === undefined || ip === undefined || isFragment(pkt)) {
      this.matchAlone(held);
    } else {
      const payload = tcp.payload;
      const dir = this.direction(`${endpoint(ip.src, tcp.srcPort)}>${endpoint(ip.dst, tcp.dstPort)}`);
      if ((tcp.flags & TCP_SYN) !== 0 && (dir.anchor === -1 || dir.ended)) {
        // offset 0 is the byte after the SYN (a new connection on an ended 4-tuple starts afresh)
        if (dir.ended) { dir.ended = false; dir.stream = -1; dir.dropWindow(0); }
        dir.setAnchor((tcp.seq + 1) >>> 0);
      }
      if (payload.length > 0) {
        held.pending = true;
        dir.holds.push({ held, seq: tcp.seq, length: payload.length, offset: dir.anchor === -1 ? -1 : dir.offsetOfSeq(tcp.seq) });
        if (this.afterContext.enabled && this.afterContext.take(held.conversation)) this.select(held, true);
      }
      this.current = { held, payload, dir };
      this.reassembler.packet(pkt);
      this.current = null;
      this.settle(dir);
    }
    this.releaseReady(time);
  }

  /** End of input: every connection ends (matches waiting for a next byte are decided), all is released. */
  flush(): void {
    this.reassembler.flush();
    for (const dir of this.directions.values()) this.finishDirection(dir, null);
    this.directions.clear();
    this.ended.length = 0;
    for (let i = this.head; i < this.queue.length; i++) (this.queue[i] as Held).pending = false;
    this.releaseReady(Infinity);
  }

  // ---------------------------------------------------------------- packets

  private matchAlone(held: Held): void {
    const verdict = held.verdict as PacketVerdict; // not released yet: it came in just now
    const pkt = verdict.packet;
    const v = this.perPacket.packet(pkt);
    if (v.selected) {
      verdict.matches = v.matches;
      if (v.matchesOmitted !== undefined) verdict.matchesOmitted = v.matchesOmitted;
      this.select(held, false);
      for (const m of v.matches) this.emitMatch(m);
      if (this.afterContext.enabled) this.afterContext.matched(conversationKey(pkt));
    } else if (this.afterContext.enabled && packetPayload(pkt).length > 0 && this.afterContext.take(conversationKey(pkt))) {
      this.select(held, true);
    }
  }

  private emitMatch(m: GrepMatch): void {
    this.stats.matches++;
    this.sinks.match?.(m);
  }

  private select(held: Held, afterContext: boolean): void {
    if (held.selected) return;
    if (held.released || held.verdict === null) { this.stats.late++; return; }
    held.selected = true;
    held.verdict.selected = true;
    held.verdict.afterContext = afterContext;
    this.stats.selected++;
  }

  private direction(key: string): DirectionState {
    let d = this.directions.get(key);
    if (d === undefined) {
      d = new DirectionState(key);
      this.directions.set(key, d);
    }
    return d;
  }

  /** Releases, in order, every packet no longer pending; forces out the oldest beyond the bounds. */
  private releaseReady(now: number): void {
    const q = this.queue;
    while (this.head < q.length) {
      const h = q[this.head] as Held;
      if (h.pending) {
        const tooMany = q.length - this.head > this.maxHeld;
        const tooOld = now - h.time > this.maxHoldNs;
        if (!tooMany && !tooOld) break;
        h.pending = false;
        this.stats.forced++;
      }
      h.released = true;
      q[this.head++] = undefined as unknown as Held; // let the packet go
      const v = h.verdict as PacketVerdict;
      h.verdict = null;
      this.sinks.release(v);
    }
    if (this.head >= 1024 && this.head * 2 >= q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  // ---------------------------------------------------------------- reassembler events

  private event(ev: TcpEvent): void {
    switch (ev.type) {
      case 'data': this.data(ev); return;
      case 'gap': {
        const dir = this.directions.get(keyOf(ev.client, ev.server, ev.direction));
        if (dir === undefined) return;
        this.finishWindow(dir, ev);
        dir.dropWindow(ev.offset + ev.length);
        this.settle(dir);
        return;
      }
      case 'end':
        for (const d of ['client-to-server', 'server-to-client'] as const) {
          const key = keyOf(ev.client, ev.server, d);
          const dir = this.directions.get(key);
          if (dir !== undefined && (dir.stream === ev.connection || dir.stream === -1)) this.endDirection(dir, ev);
        }
        return;
      default:
    }
  }

  private data(ev: TcpDataEvent): void {
    const dir = this.direction(keyOf(ev.client, ev.server, ev.direction));
    if (dir.stream !== ev.connection) {
      if (dir.stream !== -1) { dir.dropWindow(ev.offset); dir.anchor = -1; } // the 4-tuple was reused
      dir.stream = ev.connection;
      dir.client = ev.client;
      dir.server = ev.server;
      dir.direction = ev.direction;
      dir.ended = false;
    }
    const bytes = ev.bytes;
    const cur = this.current;
    if (dir.tail.length > 0 && ev.offset !== dir.tailOffset + dir.tail.length) {
      this.finishWindow(dir, ev); // not contiguous (the reassembler reports gaps first; be safe)
      dir.dropWindow(ev.offset);
    }
    if (dir.tail.length === 0 && dir.tailOffset !== ev.offset) dir.dropWindow(ev.offset);
    // a view of the current packet's payload: that packet carries these bytes, and fixes the anchor
    const isView = cur !== null && cur.dir === dir && bytes.buffer === cur.payload.buffer
      && bytes.byteOffset >= cur.payload.byteOffset && bytes.byteOffset + bytes.length <= cur.payload.byteOffset + cur.payload.length;
    if (isView) {
      const tcp = (cur.held.verdict as PacketVerdict).packet.tcp as Packet['tcp'] & object; // the current packet: not released
      dir.setAnchor((tcp.seq + (bytes.byteOffset - cur.payload.byteOffset) - ev.offset) >>> 0);
      dir.carriers.push({ start: ev.offset, end: ev.offset + bytes.length, held: cur.held, frame: ev.frame });
    } else {
      for (const c of this.carriersOfCopy(dir, ev)) dir.carriers.push(c);
    }
    this.search(dir, bytes, ev, false);
  }

  /** Bytes delivered from the reassembler's buffer came from held segments: the first copy wins. */
  private carriersOfCopy(dir: DirectionState, ev: TcpDataEvent): Carrier[] {
    const end = ev.offset + ev.bytes.length;
    const out: Carrier[] = [];
    let pos = ev.offset;
    while (pos < end) {
      let best: Hold | null = null;
      let nextStart = end;
      for (const h of dir.holds) {
        if (h.offset === -1) continue;
        if (h.offset <= pos && h.offset + h.length > pos) { if (best === null) best = h; } // earliest arrival
        else if (h.offset > pos && h.offset < nextStart) nextStart = h.offset;
      }
      if (best === null) {
        out.push({ start: pos, end: nextStart, held: null, frame: ev.frame }); // unknown carrier: the event's
        pos = nextStart;
      } else {
        const stop = Math.min(end, best.offset + best.length);
        out.push({ start: pos, end: stop, held: best.held, frame: best.held.frame });
        pos = stop;
      }
    }
    return out;
  }

  /**
   * Searches look-behind + new bytes for matches that end in the new bytes, then keeps the last
   * `lookBehind` bytes. With `final` no more bytes follow, so a match may end at the very end.
   */
  private search(dir: DirectionState, bytes: Buffer, stamp: Stamp, final: boolean): void {
    const window = dir.tail.length === 0 ? bytes : bytes.length === 0 ? dir.tail : Buffer.concat([dir.tail, bytes]);
    const base = dir.tailOffset;
    const oldEnd = dir.tail.length;
    let from = Math.max(0, dir.reportedEnd - base);
    const find = searcher(this.matcher, window);
    while (from < window.length) {
      const m = find(from);
      if (m === null) break;
      if (m.end === m.start) { from = m.start + 1; continue; } // empty matches say nothing in a stream
      if (m.end <= oldEnd && !final) { from = m.end; continue; } // in the old bytes: decided before
      if (m.end === window.length && this.matcher.needsRightContext && !final) break; // needs the next byte
      this.report(dir, window, base, m, stamp);
      from = m.end;
    }
    const keep = Math.min(window.length, this.lookBehind);
    // a private copy: the window may be a view of a capture chunk, which must not stay pinned
    dir.tail = keep === 0 ? EMPTY : keep === dir.tail.length && window === dir.tail ? dir.tail : Buffer.from(window.subarray(window.length - keep));
    dir.tailOffset = base + window.length - keep;
    if (dir.carriers.length > 0 && (dir.carriers[0] as Carrier).end <= dir.tailOffset) {
      dir.carriers = dir.carriers.filter((c) => c.end > dir.tailOffset);
    }
  }

  private report(dir: DirectionState, window: Buffer, base: number, r: ByteRange, stamp: Stamp): void {
    const start = base + r.start;
    const end = base + r.end;
    const frames: number[] = [];
    let owner: Held | null = null;
    for (const c of dir.carriers) {
      if (c.end <= start || c.start >= end) continue;
      if (!frames.includes(c.frame)) frames.push(c.frame);
      if (c.held !== null) { this.select(c.held, false); owner = c.held; }
    }
    frames.sort((a, b) => a - b);
    dir.reportedEnd = end;
    const { before, after } = contextAround(window, r, this.contextBytes);
    this.emitMatch({
      frame: stamp.frame, ts: stamp.ts, tsSec: stamp.tsSec, tsNsec: stamp.tsNsec,
      connection: `${dir.client} > ${dir.server}`, stream: dir.stream, direction: dir.direction,
      offset: start, bytes: Buffer.from(window.subarray(r.start, r.end)), before, after, frames,
    });
    if (this.afterContext.enabled && owner !== null) this.afterContext.matched(owner.conversation);
  }

  /** A match that waited for the byte after it is decided now: no more bytes follow the window. */
  private finishWindow(dir: DirectionState, stamp: Stamp | null): void {
    if (!this.matcher.needsRightContext || dir.tail.length === 0) return;
    const last = dir.carriers[dir.carriers.length - 1];
    const s = stamp ?? (last?.held ? stampOf(last.held) : null);
    if (s !== null) this.search(dir, EMPTY, s, true);
  }

  private finishDirection(dir: DirectionState, stamp: Stamp | null): void {
    this.finishWindow(dir, stamp);
    for (const h of dir.holds) h.held.pending = false;
    dir.holds = [];
  }

  /** The connection ended: decide its packets, and remember the direction briefly for late packets. */
  private endDirection(dir: DirectionState, stamp: Stamp): void {
    this.finishDirection(dir, stamp);
    dir.dropWindow(dir.tailOffset + dir.tail.length);
    dir.ended = true;
    this.ended.push(dir.key);
    while (this.ended.length > MAX_ENDED_DIRECTIONS) {
      const key = this.ended.shift() as string;
      const d = this.directions.get(key);
      if (d !== undefined && d.ended) {
        this.finishDirection(d, null);
        this.directions.delete(key);
      }
    }
  }

  /** Holds whose bytes have all left the look-behind can no longer be part of a match. */
  private settle(dir: DirectionState): void {
    if (dir.anchor === -1 || dir.holds.length === 0) return;
    const limit = dir.tailOffset;
    let kept = 0;
    for (const h of dir.holds) {
      if (h.offset !== -1 && h.offset + h.length <= limit) h.held.pending = false;
      else dir.holds[kept++] = h;
    }
    dir.holds.length = kept;
  }
}

const TCP_SYN = 0x002;

function keyOf(client: string, server: string, direction: TcpDirection): string {
  return direction === 'client-to-server' ? `${client}>${server}` : `${server}>${client}`;
}

function stampOf(h: Held): Stamp {
  return { frame: h.frame, ts: formatTimestamp(h.tsSec, h.tsNsec), tsSec: h.tsSec, tsNsec: h.tsNsec };
}

/** Any IP fragment (first or later): the reassembler ignores them, so they are matched per packet. */
function isFragment(pkt: Packet): boolean {
  if (pkt.ipv4 !== undefined) return pkt.ipv4.moreFragments || pkt.ipv4.fragmentOffset !== 0;
  const f = pkt.ipv6?.fragment;
  return f !== undefined && (f.moreFragments || f.offset !== 0);
}
