/**
 * TCP reassembly: decoded packets in, connection events (lib/tcp/events.ts) out, through a sink callback.
 *
 * One `Connection` per 4-tuple (IPv4 or IPv6), two `HalfStream`s per connection (client-to-server and
 * server-to-client). Each half stream delivers its bytes in sequence order, exactly once:
 *
 *  - A segment at the next expected byte is delivered at once, as a view of the packet payload (no copy).
 *  - A segment beyond it is buffered (copied, so no capture chunk stays pinned) until the hole fills.
 *  - Bytes already delivered or already buffered are not taken again: the first copy wins, and a later
 *    copy carrying different bytes is reported as `overlap-conflict`.
 *  - A hole is given up on — skipped with a `gap` event carrying its length — when the receiver ACKs past
 *    it (the sender will never resend what was acknowledged, so the capture lost it; this is also when
 *    tshark's Follow TCP Stream reports "bytes missing"), when more than `gapSkipBytes` wait behind it,
 *    when a memory limit is hit, and when the connection ends or the input ends.
 *  - Bytes cut off by the snaplen are never invented: the captured prefix is delivered and the rest is
 *    a `gap` with reason 'snaplen'.
 *
 * Sequence numbers are only ever compared as signed 32-bit differences from the next expected one, so
 * wraparound past 2^32 needs no special case; stream offsets are plain numbers (exact to 2^53 bytes).
 * SYN and FIN each consume one sequence number; data carried on a SYN is stream byte 0.
 *
 * Who is the client: the sender of the SYN. When the SYN was not seen: the receiver of the SYN-ACK;
 * when neither was seen (joined mid-stream), the side with the higher port (servers listen on the lower,
 * usually well-known, port), and with equal ports the sender of the first packet seen.
 *
 * When a connection starts: the handshake completes with the client's first ACK after the SYN-ACK (the
 * ACK number is not checked: a capture oddity should not hide a connection), or earlier when payload
 * flows after the SYN-ACK, or when the server answers a SYN with anything but a SYN-ACK or RST (the
 * SYN-ACK was not captured: `midStream` is then true). A connection whose first packet is neither SYN
 * nor SYN-ACK starts at once with `midStream` true. Data seen before the start (data on a SYN) is held
 * and delivered right after `start`.
 *
 * Connection numbers follow tshark's tcp.stream: counted in order of first packet, and a pure SYN whose
 * sequence number differs from the one known for its sender opens a new connection (`port-reuse`).
 *
 * The analysis events (`retransmit`, `out-of-order`, `keep-alive`, `zero-window`) follow tshark's
 * tcp_analyze_sequence_number() rules (packet-tcp.c, Wireshark 4.0), so the frames they flag agree
 * with tshark's tcp.analysis.* fields; they are observations and do not change what is delivered.
 *
 * Time is capture time only (never the wall clock), so replaying a file gives what a live run gave.
 */
import type { DecodedPacket, TcpLayer } from '../layers/packet';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../layers/packet';
import { formatTimestamp, type PacketRecord } from '../core/record';
import { analysisEvents, analyzeSegment, type EventStamp } from './analysis';
import { Connection, HandshakeState, type HalfStream, type Segment } from './connection';
import type { TcpConnectionStats, TcpEndReason, TcpEvent, TcpGapReason, TcpStartEvent } from './events';
import type { ReassemblerShard } from './sharded';
import { ConnectionTable } from './table';

/** Named limits. All sizes in bytes, all times in seconds of capture time. */
export interface TcpLimits {
  /** Live connections kept; beyond this the least recently active one is evicted (`evicted` + `end`). */
  maxConnections: number;
  /** Out-of-order bytes buffered per connection (both directions); beyond this holes are skipped. */
  maxBufferedBytesPerConnection: number;
  /** Out-of-order bytes buffered over all connections; beyond this holes are skipped, current connection first. */
  maxBufferedBytesTotal: number;
  /** Bytes waiting behind one hole in one direction before the hole is declared lost (`gap`). */
  gapSkipBytes: number;
  /** A connection with no packet for this long ends with reason 'idle'. */
  idleTimeout: number;
  /** A connection closed (FIN delivered) in one direction only ends after this long without a packet. */
  halfClosedTimeout: number;
  /** A closed connection (FIN both ways, or RST) is remembered this long, so late packets keep its number. */
  closedLinger: number;
}

export const DEFAULT_TCP_LIMITS: Readonly<TcpLimits> = Object.freeze({
  maxConnections: 65_536,
  maxBufferedBytesPerConnection: 4 * 1024 * 1024,
  maxBufferedBytesTotal: 128 * 1024 * 1024,
  gapSkipBytes: 1024 * 1024,
  idleTimeout: 300,
  halfClosedTimeout: 60,
  closedLinger: 60,
});

/** What a buffered segment costs besides its bytes (object, array slot): counted against the limits. */
const SEGMENT_OVERHEAD_BYTES = 64;
/** Idle sweeps run at most once per this many nanoseconds of capture time. */
const SWEEP_INTERVAL_NS = 1e9;

/** Running totals, for tests and monitoring. */
export interface TcpReassemblerStats {
  liveConnections: number;
  connectionsSeen: number;
  bufferedBytes: number;
  evictions: number;
  /** Segments ignored because they were IP fragments (reassemble them first: lib/layers/defrag.ts). */
  fragmentsIgnored: number;
}

export class TcpReassembler {
  readonly limits: Readonly<TcpLimits>;
  private readonly sink: (ev: TcpEvent) => void;
  private readonly table = new ConnectionTable();
  private nextId = 0;
  private totalBuffered = 0;
  private evictions = 0;
  // time: nanoseconds relative to the first packet's whole second, exact to ~104 days
  private baseSec = NaN;
  private clock = -Infinity;
  private lastSweep = -Infinity;
  // the packet being processed: stamps every event
  private frame = 0;
  private tsSec = 0;
  private tsNsec = 0;
  private tsText: string | null = null;
  private shard: ReassemblerShard | null = null; // sharded runs: the clock and the sweeps come from there
  // HalfStreams whose lastView points into `viewBuffer` (the buffer of the latest delivery)
  private views: HalfStream[] = [];
  private viewBuffer: ArrayBufferLike | null = null;

  constructor(sink: (ev: TcpEvent) => void, limits: Partial<TcpLimits> = {}) {
    this.sink = sink;
    this.limits = Object.freeze({ ...DEFAULT_TCP_LIMITS, ...limits });
  }

  stats(): TcpReassemblerStats {
    return {
      liveConnections: this.table.size, connectionsSeen: this.nextId, bufferedBytes: this.totalBuffered,
      evictions: this.evictions, fragmentsIgnored: this.table.fragmentsIgnored,
    };
  }

  /**
   * Feed one decoded packet. Packets without a TCP layer are ignored. Never throws on odd input.
   * Steps: find the connection (key and cache), advance the capture clock (and sweep idle connections),
   * open a new connection on port reuse or a new 4-tuple, then process the segment.
   */
  packet(pkt: DecodedPacket): void {
    const tcp = pkt.tcp;
    if (tcp === undefined) return;
    const table = this.table;
    if (!table.find(pkt, tcp)) return;
    let conn = table.found;
    const srcFirst = table.foundSrcFirst;
    const now = this.advanceClock(pkt.record);
    if (conn !== undefined && (tcp.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) conn = this.checkPortReuse(conn, pkt, tcp, srcFirst, now);
    if (conn === undefined) conn = this.open(pkt, srcFirst, now);
    else table.touch(conn, this.clock);
    if (this.shard !== null) conn.lastPosition = this.shard.position;
    conn.lastTime = now;
    this.process(conn, tcp, srcFirst === conn.clientFirst, now);
  }

  /** End of input: deliver what is buffered (skipping holes as gaps) and end every connection. */
  flush(): void {
    for (let c = this.table.oldest; c !== null; c = c.next) { this.shard?.onRelease(c.lastPosition); this.release(c, 'end-of-input'); }
    this.table.clear();
    this.totalBuffered = 0;
    this.settleViews();
  }

  /** Copies every pending lastView (see HalfStream.lastView): nothing here refers to `viewBuffer` after it. */
  private settleViews(): void {
    for (const h of this.views) h.settle();
    this.views = [];
    this.viewBuffer = null;
  }

  // ---------------------------------------------------------------- clock

  shardedBy(shard: ReassemblerShard): void { this.shard = shard; } // a sharded run's worker (lib/tcp/sharded.ts)
  /** Sharded runs: stamps what follows with that packet, and sweeps if told (a packet's, or another worker's sweep; the flush). */
  stampAt(frame: number, tsSec: number, tsNsec: number, sweep: boolean): void {
    if (this.shard !== null) ({ baseSec: this.baseSec, clock: this.clock } = this.shard);
    if (this.baseSec !== this.baseSec) this.baseSec = tsSec; // (a packet that was not TCP to the reading thread)
    this.frame = frame; this.tsSec = tsSec; this.tsNsec = tsNsec; this.tsText = null;
    if (sweep) this.sweep();
  }

  /** Takes the packet's capture time as the current time; returns it (ns since the first packet's second). */
  private advanceClock(rec: PacketRecord): number {
    const shard = this.shard;
    if (shard !== null) {
      const sweep = shard.sweepAtPosition === shard.position;
      if (sweep) shard.sweepAtPosition = -1;
      this.stampAt(rec.frame, rec.tsSec, rec.tsNsec, sweep);
      return (rec.tsSec - this.baseSec) * 1e9 + rec.tsNsec;
    }
    if (this.baseSec !== this.baseSec) this.baseSec = rec.tsSec;
    const now = (rec.tsSec - this.baseSec) * 1e9 + rec.tsNsec;
    if (now > this.clock) this.clock = now;
    this.frame = rec.frame;
    this.tsSec = rec.tsSec;
    this.tsNsec = rec.tsNsec;
    this.tsText = null;
    if (this.clock - this.lastSweep >= SWEEP_INTERVAL_NS) this.sweep();
    return now;
  }

  // ---------------------------------------------------------------- connections

  /**
   * A pure SYN on a known 4-tuple with a new ISN is a new connection, never a "retry" (tshark does the
   * same): the old one ends with 'port-reuse' and a new one takes its key.
   */
  private checkPortReuse(conn: Connection, pkt: DecodedPacket, tcp: TcpLayer, srcFirst: boolean, now: number): Connection {
    const sender = srcFirst === conn.clientFirst ? conn.c2s : conn.s2c;
    if (!sender.baseSeqSet || tcp.seq === sender.baseSeq) return conn;
    this.release(conn, 'port-reuse');
    this.table.remove(conn);
    const reused = this.open(pkt, srcFirst, now);
    this.sink({ type: 'port-reuse', ...this.stamp(reused), previous: conn.id, seq: tcp.seq });
    return reused;
  }

  /** A new connection for the key the table just looked up (evicting the oldest when the table is full). */
  private open(pkt: DecodedPacket, srcFirst: boolean, now: number): Connection {
    const conn = this.create(this.table.foundKey, pkt, srcFirst, now);
    this.table.cacheFound(conn);
    return conn;
  }

  private create(key: string, pkt: DecodedPacket, srcFirst: boolean, now: number): Connection {
    if (this.table.size >= this.limits.maxConnections) this.evictOldest();
    const tcp = pkt.tcp as TcpLayer;
    const ip = (pkt.ipv4 ?? pkt.ipv6) as { src: string; dst: string };
    const srcIp = ip.src, dstIp = ip.dst, srcPort = tcp.srcPort, dstPort = tcp.dstPort;
    const flags = tcp.flags;
    const synOnly = (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    const synAck = (flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
    // client: SYN sender; SYN-ACK receiver; else the higher port; equal ports: the first sender
    const srcIsClient = synOnly || (!synAck && srcPort >= dstPort);
    const state = synOnly ? HandshakeState.SynSent : synAck ? HandshakeState.SynReceived : HandshakeState.Established;
    const conn = srcIsClient
      ? new Connection(this.nextId++, key, srcIp, srcPort, dstIp, dstPort, srcFirst, state, now, this.clock)
      : new Connection(this.nextId++, key, dstIp, dstPort, srcIp, srcPort, !srcFirst, state, now, this.clock);
    this.shard?.onCreate(conn.id);
    this.table.add(conn);
    if (state === HandshakeState.Established && (flags & TCP_RST) === 0) this.start(conn, true);
    return conn;
  }

  private evictOldest(): void {
    const victim = this.table.oldest;
    if (victim === null) return;
    if (victim.started && !victim.ended) {
      this.evictions++;
      this.sink({ type: 'evicted', ...this.stamp(victim), limit: 'maxConnections' });
    }
    this.release(victim, 'evicted');
    this.table.remove(victim);
  }

  /** Close a connection for good: deliver buffered data past its holes, then `end` (if it started). */
  private release(conn: Connection, reason: TcpEndReason): void {
    if (conn.started && !conn.ended) {
      this.drainAll(conn, conn.c2s);
      this.drainAll(conn, conn.s2c);
      this.end(conn, reason);
    } else {
      this.dropBuffered(conn, conn.c2s);
      this.dropBuffered(conn, conn.s2c);
    }
    conn.ended = true;
    conn.state = HandshakeState.Closed;
  }

  /** Ends idle connections and forgets closed ones, oldest activity first. */
  private sweep(): void {
    this.lastSweep = this.clock;
    const { idleTimeout, halfClosedTimeout, closedLinger } = this.limits;
    const shortest = Math.min(idleTimeout, halfClosedTimeout, closedLinger) * 1e9;
    let c = this.table.oldest;
    while (c !== null) {
      const idle = this.clock - c.lastTouch;
      if (idle < shortest) break; // the list is ordered by lastTouch: the rest is younger
      const next = c.next;
      const limit = c.ended ? closedLinger : c.started && c.halfClosed() ? halfClosedTimeout : idleTimeout;
      if (idle >= limit * 1e9) {
        this.shard?.onRelease(c.lastPosition);
        this.release(c, 'idle');
        this.table.remove(c);
      }
      c = next;
    }
    this.shard?.onSweepEnd();
  }

  // ---------------------------------------------------------------- one packet

  private process(conn: Connection, tcp: TcpLayer, fromClient: boolean, now: number): void {
    const fwd = fromClient ? conn.c2s : conn.s2c;
    const rev = fromClient ? conn.s2c : conn.c2s;
    const flags = tcp.flags;
    const seq = tcp.seq >>> 0;
    const seglen = tcp.payloadLength;
    fwd.stats.packets++;

    const ta = analyzeSegment(conn, fwd, rev, tcp, seq, seglen, now);
    if (ta !== 0) analysisEvents(this.sink, this.stamp(conn), fwd, tcp, seq, seglen, ta);

    if (flags & TCP_RST) {
      this.sink({ type: 'reset', ...this.stamp(conn), from: fwd.from, direction: fwd.direction });
      if (conn.state !== HandshakeState.Closed) this.release(conn, 'reset');
      return;
    }
    if (conn.state === HandshakeState.Closed) return; // late packets of a closed connection: analysis only

    if (flags & TCP_SYN) this.handshake(conn, fwd, rev, tcp, seq, fromClient);
    else if (!conn.started) {
      // the handshake is over once the client ACKs the SYN-ACK or payload flows after it; a server that
      // answers a SYN with anything but a SYN-ACK means the SYN-ACK was not captured
      if (conn.state === HandshakeState.SynSent) this.start(conn, true);
      else if ((fromClient && (flags & TCP_ACK)) || seglen > 0) this.start(conn, false);
    }

    const dataSeq = (flags & TCP_SYN) ? (seq + 1) >>> 0 : seq;
    if (seglen > 0 || (flags & TCP_FIN)) {
      if (!fwd.anchored) fwd.anchor(dataSeq);
      if (seglen > 0) {
        const captured = tcp.payload.length > seglen ? tcp.payload.subarray(0, seglen) : tcp.payload;
        this.insert(conn, fwd, dataSeq, captured, seglen);
      }
      if ((flags & TCP_FIN) && fwd.finPos < 0) fwd.finPos = fwd.positionOf((dataSeq + seglen) >>> 0);
    } else if (!fwd.anchored && !(flags & TCP_SYN)) {
      fwd.anchor(seq);
    }
    if ((flags & TCP_ACK) && conn.started) this.ackReceived(conn, rev, tcp.ack >>> 0);
    this.checkFinished(conn, fwd);
    this.checkFinished(conn, rev);
    if (conn.c2s.finished && conn.s2c.finished && conn.started && !conn.ended) {
      this.end(conn, 'fin');
      conn.ended = true;
      conn.state = HandshakeState.Closed;
    }
  }

  private handshake(conn: Connection, fwd: HalfStream, rev: HalfStream, tcp: TcpLayer, seq: number,
    fromClient: boolean): void {
    if (tcp.flags & TCP_ACK) {
      // SYN-ACK: fixes both initial sequence numbers (a client sending a SYN-ACK is ignored here)
      if (fromClient || conn.sawSynAck) return;
      conn.sawSynAck = true;
      if (!fwd.anchored) { fwd.isn = seq; fwd.anchor(seq + 1); }
      if (!rev.anchored) rev.anchor(tcp.ack);
      if (conn.state === HandshakeState.SynSent) conn.state = HandshakeState.SynReceived;
      return;
    }
    if (fwd.isn === -1) fwd.isn = seq;
    if (fromClient) conn.sawSyn = true;
    if (!fwd.anchored) fwd.anchor(seq + 1);
  }

  private start(conn: Connection, midStream: boolean): void {
    conn.started = true;
    conn.state = HandshakeState.Established;
    const ev: TcpStartEvent = { type: 'start', ...this.stamp(conn), midStream: midStream || !conn.sawSynAck };
    // the packet that completes the handshake has just set firstRtt (analyzeSegment runs before this)
    if (conn.firstRtt > 0) ev.handshakeRtt = conn.firstRtt / 1e9;
    this.sink(ev);
    // data held before the start (data on a SYN) goes out now
    this.drain(conn, conn.c2s);
    this.drain(conn, conn.s2c);
  }

  private end(conn: Connection, reason: TcpEndReason): void {
    conn.ended = true;
    const stats: TcpConnectionStats = {
      clientToServer: { ...conn.c2s.stats },
      serverToClient: { ...conn.s2c.stats },
      handshakeRtt: conn.firstRtt > 0 ? conn.firstRtt / 1e9 : null,
      duration: (conn.lastTime - conn.firstTime) / 1e9,
    };
    this.sink({ type: 'end', ...this.stamp(conn), reason, stats });
  }

  private checkFinished(conn: Connection, h: HalfStream): void {
    if (!h.finished && h.finPos >= 0 && h.offset >= h.finPos && conn.started) h.finished = true;
  }

  // ---------------------------------------------------------------- reassembly

  /** Take bytes [seq, seq+length) of a direction, of which `data` (a prefix) was captured. */
  private insert(conn: Connection, h: HalfStream, seq: number, data: Buffer, length: number): void {
    let pos = h.positionOf(seq);
    let end = pos + length;
    if (h.finPos >= 0 && end > h.finPos) end = Math.max(pos, h.finPos); // nothing exists past the FIN
    if (end <= h.offset) { // all old: a retransmission
      this.compareDelivered(conn, h, pos, data);
      return;
    }
    if (pos < h.offset) { // partly old: keep the new tail
      this.compareDelivered(conn, h, pos, data);
      const skip = h.offset - pos;
      data = skip >= data.length ? data.subarray(data.length) : data.subarray(skip);
      pos = h.offset;
    }
    if (data.length > end - pos) data = data.subarray(0, end - pos);
    if (pos === h.offset && h.segments.length === 0 && conn.started) {
      this.deliver(conn, h, pos, data, end - pos); // the common case: in order, zero-copy
      return;
    }
    this.bufferSegment(conn, h, pos, end, data);
    if (conn.started) this.drain(conn, h);
    this.ownBuffered(h);
    this.enforceLimits(conn, h);
  }

  private deliver(conn: Connection, h: HalfStream, pos: number, data: Buffer, length: number): void {
    if (data.length > 0) {
      const ts = this.tsText ?? (this.tsText = formatTimestamp(this.tsSec, this.tsNsec));
      this.sink({
        type: 'data', ts, tsSec: this.tsSec, tsNsec: this.tsNsec, frame: this.frame, connection: conn.id,
        client: conn.client, server: conn.server, direction: h.direction, from: h.from, offset: pos, bytes: data,
      });
      h.stats.bytes += data.length;
      if (data.buffer !== this.viewBuffer) {
        this.settleViews();
        this.viewBuffer = data.buffer;
      }
      if (h.lastView === null) this.views.push(h);
      h.viewDelivered(data, pos);
    }
    if (length > data.length) this.gap(conn, h, pos + data.length, length - data.length, 'snaplen');
    // pos is always h.offset here: callers deliver only what is next in order
    h.offset = pos + length;
    h.nextSeq = (h.nextSeq + length) >>> 0;
  }

  private gap(conn: Connection, h: HalfStream, offset: number, length: number, reason: TcpGapReason): void {
    h.stats.gapBytes += length;
    this.sink({ type: 'gap', ...this.stamp(conn), direction: h.direction, from: h.from, offset, length, reason });
  }

  /** Adds the parts of [pos, end) not yet buffered (the first copy wins), flagging conflicting bytes. */
  private bufferSegment(conn: Connection, h: HalfStream, pos: number, end: number, data: Buffer): void {
    const segs = h.segments;
    // first segment that ends after pos
    let lo = 0, hi = segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (segs[mid].end <= pos) lo = mid + 1; else hi = mid;
    }
    let i = lo;
    let cursor = pos;
    const pieces: Segment[] = [];
    while (i < segs.length && segs[i].pos < end) {
      const s = segs[i];
      if (s.pos > cursor) pieces.push(this.piece(pos, data, cursor, s.pos));
      this.compareBytes(conn, h, pos, data, s.pos, s.data, Math.max(cursor, s.pos), Math.min(end, s.end));
      if (s.end > cursor) cursor = s.end;
      i++;
    }
    if (cursor < end) pieces.push(this.piece(pos, data, cursor, end));
    if (pieces.length === 0) return;
    // pieces fit, in order, between segs[lo-1] and the first segment at or after their end
    let at = lo;
    for (const p of pieces) {
      while (at < segs.length && segs[at].pos < p.pos) at++;
      segs.splice(at, 0, p);
      at++;
      const cost = p.data.length + SEGMENT_OVERHEAD_BYTES;
      h.bufferedBytes += cost;
      conn.bufferedBytes += cost;
      this.totalBuffered += cost;
    }
  }

  /** The part [from, to) of a segment that starts at `pos` with captured bytes `data`. */
  private piece(pos: number, data: Buffer, from: number, to: number): Segment {
    const capturedEnd = pos + data.length;
    const view = from >= capturedEnd ? data.subarray(data.length) : data.subarray(from - pos, Math.min(to, capturedEnd) - pos);
    return { pos: from, end: to, data: view, owned: false };
  }

  /** Delivers buffered segments that are now in order. */
  private drain(conn: Connection, h: HalfStream): void {
    if (!conn.started) return;
    const segs = h.segments;
    let n = 0;
    while (n < segs.length && segs[n].pos <= h.offset) {
      const s = segs[n++];
      this.unaccount(conn, h, s);
      if (s.end <= h.offset) continue;
      const skip = h.offset - s.pos;
      const data = skip === 0 ? s.data : s.data.subarray(Math.min(skip, s.data.length));
      this.deliver(conn, h, h.offset, data, s.end - h.offset);
    }
    if (n > 0) segs.splice(0, n);
    this.checkFinished(conn, h);
  }

  /** Skips the hole before the first buffered segment (a `gap`), then delivers what follows it. */
  private skipHole(conn: Connection, h: HalfStream): boolean {
    if (h.segments.length === 0) return false;
    const first = h.segments[0];
    if (first.pos > h.offset) this.skipTo(conn, h, first.pos);
    this.drain(conn, h);
    return true;
  }

  private skipTo(conn: Connection, h: HalfStream, pos: number): void {
    const length = pos - h.offset;
    this.gap(conn, h, h.offset, length, 'missing');
    h.nextSeq = (h.nextSeq + length) >>> 0;
    h.offset = pos;
  }

  /** Connection end: everything buffered goes out, holes become gaps, and a missing tail up to the FIN too. */
  private drainAll(conn: Connection, h: HalfStream): void {
    while (this.skipHole(conn, h)) { /* each call removes at least one segment */ }
    if (h.finPos > h.offset) this.skipTo(conn, h, h.finPos);
    this.checkFinished(conn, h);
  }

  private dropBuffered(conn: Connection, h: HalfStream): void {
    for (const s of h.segments) this.unaccount(conn, h, s);
    h.segments.length = 0;
  }

  private unaccount(conn: Connection, h: HalfStream, s: Segment): void {
    const cost = s.data.length + SEGMENT_OVERHEAD_BYTES;
    h.bufferedBytes -= cost;
    conn.bufferedBytes -= cost;
    this.totalBuffered -= cost;
  }

  /** Segments that stay buffered are copied, so they do not pin the capture chunk they came in. */
  private ownBuffered(h: HalfStream): void {
    for (const s of h.segments) {
      if (!s.owned) {
        s.data = Buffer.from(s.data);
        s.owned = true;
      }
    }
  }

  /** The receiver acknowledged up to `ack`: holes below it will never be filled. */
  private ackReceived(conn: Connection, h: HalfStream, ack: number): void {
    if (!h.anchored || h.finished) return;
    const d = (ack - h.nextSeq) | 0;
    if (d <= 0) return;
    const ackPos = h.offset + d;
    while (h.segments.length > 0 && h.segments[0].pos < ackPos) this.skipHole(conn, h);
    // the FIN itself was acknowledged (ack = FIN + 1) but the bytes before it were never seen
    if (h.segments.length === 0 && h.finPos >= 0 && h.offset < h.finPos && ackPos > h.finPos) {
      this.skipTo(conn, h, h.finPos);
    }
  }

  private enforceLimits(conn: Connection, h: HalfStream): void {
    const { gapSkipBytes, maxBufferedBytesPerConnection, maxBufferedBytesTotal } = this.limits;
    if (!conn.started) {
      // only data carried on SYNs is ever held before the start; drop it rather than exceed a limit
      if (conn.bufferedBytes > maxBufferedBytesPerConnection || this.totalBuffered > maxBufferedBytesTotal) {
        this.dropBuffered(conn, conn.c2s);
        this.dropBuffered(conn, conn.s2c);
      }
      return;
    }
    while (h.bufferedBytes > gapSkipBytes && this.skipHole(conn, h)) { /* skip holes until under the bound */ }
    while (conn.bufferedBytes > maxBufferedBytesPerConnection) {
      const other = h === conn.c2s ? conn.s2c : conn.c2s;
      if (!this.skipHole(conn, h.bufferedBytes >= other.bufferedBytes ? h : other)) break;
    }
    // over the global bound: this connection gives way first, then the least recently active ones
    let victim: Connection | null = conn;
    while (this.totalBuffered > maxBufferedBytesTotal && victim !== null) {
      if (victim.bufferedBytes > 0 && victim.started) {
        if (!this.skipHole(victim, victim.c2s.bufferedBytes >= victim.s2c.bufferedBytes ? victim.c2s : victim.s2c)) {
          victim = victim === conn ? this.table.oldest : victim.next;
        }
      } else {
        victim = victim === conn ? this.table.oldest : victim.next;
      }
    }
  }

  /** A retransmission overlapping bytes already delivered: flag it if the bytes differ from the last delivery. */
  private compareDelivered(conn: Connection, h: HalfStream, pos: number, data: Buffer): void {
    const last = h.lastView ?? h.lastData;
    if (last === null || h.lastDataLength === 0) return;
    this.compareBytes(conn, h, pos, data, h.lastDataPos, last.subarray(0, h.lastDataLength), pos, pos + data.length);
  }

  /** Compares the captured bytes of two copies over [from, to); emits `overlap-conflict` if they differ. */
  private compareBytes(conn: Connection, h: HalfStream, aPos: number, a: Buffer, bPos: number, b: Buffer,
    from: number, to: number): void {
    const lo = Math.max(from, aPos, bPos);
    const hi = Math.min(to, aPos + a.length, bPos + b.length);
    if (hi <= lo) return;
    if (a.compare(b, lo - bPos, hi - bPos, lo - aPos, hi - aPos) !== 0) {
      this.sink({
        type: 'overlap-conflict', ...this.stamp(conn), direction: h.direction, from: h.from, offset: lo, length: hi - lo,
      });
    }
  }

  // ---------------------------------------------------------------- helpers

  /** The common fields of an event caused by the current packet. */
  private stamp(conn: Connection): EventStamp {
    const ts = this.tsText ?? (this.tsText = formatTimestamp(this.tsSec, this.tsNsec));
    return { ts, tsSec: this.tsSec, tsNsec: this.tsNsec, frame: this.frame, connection: conn.id, client: conn.client, server: conn.server };
  }
}
