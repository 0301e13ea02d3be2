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
import { formatTimestamp } from '../core/record';
import type {
  TcpConnectionStats, TcpDirection, TcpDirectionStats, TcpEndReason, TcpEvent, TcpGapReason,
  TcpRetransmitKind, TcpSide,
} from './events';

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
/**
 * Slots of the direct-mapped cache in front of the connection table for IPv4 4-tuples (a power of two).
 * A hit skips building the key string and hashing it in the Map, the largest cost per packet.
 */
const V4_CACHE_SLOTS = 4096;
/** Idle sweeps run at most once per this many nanoseconds of capture time. */
const SWEEP_INTERVAL_NS = 1e9;
/** tshark: out-of-order if within the handshake RTT (or 3 ms when unknown) of the highest segment. */
const OOO_DEFAULT_THRESHOLD_NS = 3e6;
/** tshark: fast retransmission if within 20 ms of the duplicate ACKs. */
const FAST_RETRANSMIT_WINDOW_NS = 20e6;

// tshark analysis flags (a subset of packet-tcp.c's TCP_A_*)
const A_RETRANSMISSION = 0x1;
const A_FAST_RETRANSMISSION = 0x2;
const A_SPURIOUS_RETRANSMISSION = 0x4;
const A_OUT_OF_ORDER = 0x8;
const A_ZERO_WINDOW = 0x10;
const A_ZERO_WINDOW_PROBE = 0x20;
const A_KEEP_ALIVE = 0x40;
const A_DUPLICATE_ACK = 0x80;
const A_LOST_PACKET = 0x100;
const A_ANY_RETRANSMISSION = A_RETRANSMISSION | A_FAST_RETRANSMISSION | A_SPURIOUS_RETRANSMISSION;

/** a > b in sequence space. */
function seqGt(a: number, b: number): boolean { return ((a - b) | 0) > 0; }
function seqLt(a: number, b: number): boolean { return ((a - b) | 0) < 0; }
function seqLe(a: number, b: number): boolean { return ((a - b) | 0) <= 0; }

/** Bytes buffered beyond a hole: [pos, end) of the stream, of which the first data.length were captured. */
interface Segment {
  pos: number;
  end: number;
  data: Buffer;
  /** True once `data` is a private copy (segments left in the buffer after a packet are copied). */
  owned: boolean;
}

const enum HandshakeState { SynSent, SynReceived, Established, Closed }

/** One direction of a connection: reassembly state plus tshark-style analysis state. */
class HalfStream {
  readonly direction: TcpDirection;
  readonly from: TcpSide;
  // --- reassembly
  /** True once we know where this stream starts (nextSeq is meaningful). */
  anchored = false;
  /** Sequence number of the next byte to deliver (u32). */
  nextSeq = 0;
  /** Stream position of nextSeq: bytes delivered + bytes skipped as gaps. */
  offset = 0;
  /** Sequence number of the SYN sent in this direction, -1 if none seen. */
  isn = -1;
  /** Stream position of the FIN, -1 if not seen. */
  finPos = -1;
  /** Everything up to the FIN was delivered or skipped. */
  finished = false;
  /** Out-of-order segments, sorted by pos, disjoint. */
  segments: Segment[] = [];
  /** Captured bytes held in `segments` plus per-segment overhead. */
  bufferedBytes = 0;
  /** The last data delivered (a view), to check retransmitted bytes against. */
  lastData: Buffer | null = null;
  lastDataPos = 0;
  // --- tshark analysis (tcp_analyze_seq_info); 0 means "unset" for anNext and lastAck, as in tshark
  baseSeqSet = false;
  baseSeq = 0;
  anNext = 0;
  anNextTime = 0;
  lastAck = 0;
  lastAckTime = 0;
  window = -1;
  dupAckNum = 0;
  lastSegmentFlags = 0;
  synRetries = 0;
  readonly stats: TcpDirectionStats = { bytes: 0, packets: 0, retransmissions: 0, gapBytes: 0 };

  constructor(direction: TcpDirection, from: TcpSide) {
    this.direction = direction;
    this.from = from;
  }

  anchor(seq: number): void {
    this.anchored = true;
    this.nextSeq = seq >>> 0;
  }

  /** Stream position of a sequence number (signed distance from the next expected byte). */
  positionOf(seq: number): number {
    return this.offset + ((seq - this.nextSeq) | 0);
  }
}

class Connection {
  readonly id: number;
  readonly key: string;
  /** True when the client is the first endpoint of the key (the key orders the endpoints). */
  readonly clientFirst: boolean;
  readonly client: string;
  readonly server: string;
  readonly c2s = new HalfStream('client-to-server', 'client');
  readonly s2c = new HalfStream('server-to-client', 'server');
  state: HandshakeState;
  started = false;
  ended = false;
  sawSyn = false;
  sawSynAck = false;
  /** Time (ns, relative) of the most recent SYN without ACK, -1 if none (tshark's ts_mru_syn). */
  synTime = -1;
  /** Handshake RTT in ns; 0 = unknown (tshark's ts_first_rtt). */
  firstRtt = 0;
  firstTime: number;
  lastTime: number;
  /** Capture clock at the last packet: the LRU order. */
  lastTouch: number;
  bufferedBytes = 0;
  /** True while the connection table maps `key` to this connection (the IPv4 cache checks it). */
  inTable = false;
  /** IPv4 only: the key's parts as numbers (lower address, higher address, ports), for the IPv4 cache. */
  v4Lo = 0;
  v4Hi = 0;
  v4Ports = 0;
  // intrusive LRU list, least recently active first
  prev: Connection | null = null;
  next: Connection | null = null;

  constructor(id: number, key: string, clientIp: string, clientPort: number, serverIp: string, serverPort: number,
    clientFirst: boolean, state: HandshakeState, now: number, clock: number) {
    this.id = id;
    this.key = key;
    this.clientFirst = clientFirst;
    this.client = endpoint(clientIp, clientPort);
    this.server = endpoint(serverIp, serverPort);
    this.state = state;
    this.firstTime = now;
    this.lastTime = now;
    this.lastTouch = clock;
  }

  /** FIN delivered in exactly one direction. */
  halfClosed(): boolean {
    return this.c2s.finished !== this.s2c.finished;
  }
}

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

/** "ip:port", IPv6 as "[addr]:port". */
export function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

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
  private readonly table = new Map<string, Connection>();
  /** IPv4 connections by a hash of their 4-tuple; an entry is trusted only while it is `inTable`. */
  /** Scratch: the current packet's IPv4 source and destination (see ipv4Numbers). */
  private readonly v4Addresses = new Uint32Array(2);
  private readonly v4Cache: Array<Connection | null> = new Array<Connection | null>(V4_CACHE_SLOTS).fill(null);
  private lruHead: Connection | null = null;
  private lruTail: Connection | null = null;
  private nextId = 0;
  private totalBuffered = 0;
  private evictions = 0;
  private fragmentsIgnored = 0;
  // time: nanoseconds relative to the first packet's whole second, exact to ~104 days
  private baseSec = NaN;
  private clock = -Infinity;
  private lastSweep = -Infinity;
  // the packet being processed: stamps every event
  private frame = 0;
  private tsSec = 0;
  private tsNsec = 0;
  private tsText: string | null = null;

  constructor(sink: (ev: TcpEvent) => void, limits: Partial<TcpLimits> = {}) {
    this.sink = sink;
    this.limits = Object.freeze({ ...DEFAULT_TCP_LIMITS, ...limits });
  }

  stats(): TcpReassemblerStats {
    return {
      liveConnections: this.table.size, connectionsSeen: this.nextId, bufferedBytes: this.totalBuffered,
      evictions: this.evictions, fragmentsIgnored: this.fragmentsIgnored,
    };
  }

  /** Feed one decoded packet. Packets without a TCP layer are ignored. Never throws on odd input. */
  packet(pkt: DecodedPacket): void {
    const tcp = pkt.tcp;
    if (tcp === undefined) return;
    const srcPort = tcp.srcPort, dstPort = tcp.dstPort;
    // The connection key orders the two endpoints, so both directions find the same entry; `srcFirst`
    // says which one sent this packet. IPv4 keys are 6 UTF-16 units (addresses and ports as numbers),
    // built without formatting the addresses as text: cheap to build and to hash.
    let key: string, srcFirst: boolean;
    let conn: Connection | undefined;
    let v4Slot = -1, v4Lo = 0, v4Hi = 0, v4Ports = 0;
    const v4 = pkt.ipv4;
    if (v4 !== undefined) {
      // a fragment carries part of a segment only: the defragmenter must rebuild it first
      if (v4.moreFragments || v4.fragmentOffset !== 0) { this.fragmentsIgnored++; return; }
      ipv4Numbers(pkt, v4, this.v4Addresses);
      const a = this.v4Addresses[0]!, b = this.v4Addresses[1]!;
      srcFirst = a < b || (a === b && srcPort <= dstPort);
      v4Lo = (srcFirst ? a : b) | 0;
      v4Hi = (srcFirst ? b : a) | 0;
      v4Ports = srcFirst ? ((srcPort << 16) | dstPort) : ((dstPort << 16) | srcPort);
      v4Slot = v4CacheSlot(v4Lo, v4Hi, v4Ports);
      const cached = this.v4Cache[v4Slot]!;
      if (cached !== null && cached.inTable && cached.v4Lo === v4Lo && cached.v4Hi === v4Hi && cached.v4Ports === v4Ports) {
        conn = cached;
        key = cached.key;
      } else {
        key = String.fromCharCode(v4Lo >>> 16, v4Lo & 0xffff, v4Hi >>> 16, v4Hi & 0xffff, v4Ports >>> 16, v4Ports & 0xffff);
        conn = this.table.get(key);
        if (conn !== undefined) this.v4Cache[v4Slot] = conn;
      }
    } else if (pkt.ipv6 !== undefined) {
      const frag = pkt.ipv6.fragment;
      if (frag !== undefined && (frag.moreFragments || frag.offset !== 0)) { this.fragmentsIgnored++; return; }
      const srcIp = pkt.ipv6.src, dstIp = pkt.ipv6.dst;
      srcFirst = srcIp < dstIp || (srcIp === dstIp && srcPort <= dstPort);
      key = srcFirst ? `${srcIp}/${srcPort}/${dstIp}/${dstPort}` : `${dstIp}/${dstPort}/${srcIp}/${srcPort}`;
      conn = this.table.get(key);
    } else {
      return;
    }
    const rec = pkt.record;
    if (this.baseSec !== this.baseSec) this.baseSec = rec.tsSec;
    const now = (rec.tsSec - this.baseSec) * 1e9 + rec.tsNsec;
    if (now > this.clock) this.clock = now;
    this.frame = rec.frame;
    this.tsSec = rec.tsSec;
    this.tsNsec = rec.tsNsec;
    this.tsText = null;
    if (this.clock - this.lastSweep >= SWEEP_INTERVAL_NS) this.sweep();

    const flags = tcp.flags;
    if (conn !== undefined && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      const sender = srcFirst === conn.clientFirst ? conn.c2s : conn.s2c;
      if (sender.baseSeqSet && tcp.seq !== sender.baseSeq) {
        // a new ISN on a known 4-tuple: a new connection, never a "retry" (tshark does the same)
        const previous = conn;
        this.release(previous, 'port-reuse');
        this.remove(previous);
        conn = this.create(key, pkt, srcFirst, now);
        if (v4Slot >= 0) this.cacheV4(conn, v4Slot, v4Lo, v4Hi, v4Ports);
        this.sink({ type: 'port-reuse', ...this.stamp(conn), previous: previous.id, seq: tcp.seq });
      }
    }
    if (conn === undefined) {
      conn = this.create(key, pkt, srcFirst, now);
      if (v4Slot >= 0) this.cacheV4(conn, v4Slot, v4Lo, v4Hi, v4Ports);
    } else if (this.lruTail !== conn) this.touch(conn);
    else conn.lastTouch = this.clock;
    conn.lastTime = now;
    this.process(conn, tcp, srcFirst === conn.clientFirst, now);
  }

  /** End of input: deliver what is buffered (skipping holes as gaps) and end every connection. */
  flush(): void {
    for (let c = this.lruHead; c !== null; c = c.next) this.release(c, 'end-of-input');
    for (const c of this.table.values()) c.inTable = false;
    this.table.clear();
    this.v4Cache.fill(null);
    this.lruHead = this.lruTail = null;
    this.totalBuffered = 0;
  }

  // ---------------------------------------------------------------- connections

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
    this.table.set(key, conn);
    conn.inTable = true;
    this.lruAppend(conn);
    if (state === HandshakeState.Established && (flags & TCP_RST) === 0) this.start(conn, true);
    return conn;
  }

  private remove(conn: Connection): void {
    if (this.table.get(conn.key) === conn) this.table.delete(conn.key);
    conn.inTable = false;
    this.lruUnlink(conn);
  }

  private evictOldest(): void {
    const victim = this.lruHead;
    if (victim === null) return;
    if (victim.started && !victim.ended) {
      this.evictions++;
      this.sink({ type: 'evicted', ...this.stamp(victim), limit: 'maxConnections' });
    }
    this.release(victim, 'evicted');
    this.remove(victim);
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
    let c = this.lruHead;
    while (c !== null) {
      const idle = this.clock - c.lastTouch;
      if (idle < shortest) break; // the list is ordered by lastTouch: the rest is younger
      const next = c.next;
      const limit = c.ended ? closedLinger : c.started && c.halfClosed() ? halfClosedTimeout : idleTimeout;
      if (idle >= limit * 1e9) {
        this.release(c, 'idle');
        this.remove(c);
      }
      c = next;
    }
  }

  // ---------------------------------------------------------------- one packet

  private process(conn: Connection, tcp: TcpLayer, fromClient: boolean, now: number): void {
    const fwd = fromClient ? conn.c2s : conn.s2c;
    const rev = fromClient ? conn.s2c : conn.c2s;
    const flags = tcp.flags;
    const seq = tcp.seq >>> 0;
    const seglen = tcp.payloadLength;
    fwd.stats.packets++;

    this.analyze(conn, fwd, rev, tcp, seq, seglen, now);

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
    this.sink({ type: 'start', ...this.stamp(conn), midStream: midStream || !conn.sawSynAck });
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
      h.lastData = data;
      h.lastDataPos = pos;
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
          victim = victim === conn ? this.lruHead : victim.next;
        }
      } else {
        victim = victim === conn ? this.lruHead : victim.next;
      }
    }
  }

  /** A retransmission overlapping bytes already delivered: flag it if the bytes differ from the last delivery. */
  private compareDelivered(conn: Connection, h: HalfStream, pos: number, data: Buffer): void {
    const last = h.lastData;
    if (last === null) return;
    this.compareBytes(conn, h, pos, data, h.lastDataPos, last, pos, pos + data.length);
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

  // ---------------------------------------------------------------- tshark-style analysis

  /**
   * tcp_analyze_sequence_number() of Wireshark 4.0 (packet-tcp.c), the parts behind the events we emit:
   * zero window, keep-alive, duplicate ACKs (needed for fast retransmission), and the
   * retransmission / fast retransmission / spurious retransmission / out-of-order classification.
   */
  private analyze(conn: Connection, fwd: HalfStream, rev: HalfStream, tcp: TcpLayer, seq: number, seglen: number,
    now: number): void {
    const flags = tcp.flags;
    const ack = tcp.ack >>> 0;
    const win = tcp.window;
    const synFinRst = flags & (TCP_SYN | TCP_FIN | TCP_RST);
    if (!fwd.baseSeqSet) {
      fwd.baseSeq = (flags & TCP_SYN) ? seq : (seq - 1) >>> 0;
      fwd.baseSeqSet = true;
    }
    if (!rev.baseSeqSet && (flags & TCP_ACK)) {
      rev.baseSeq = (ack - 1) >>> 0;
      rev.baseSeqSet = true;
    }
    let ta = 0;
    checks: {
      if (seglen === 1 && seq === fwd.anNext && rev.window === 0) { ta |= A_ZERO_WINDOW_PROBE; break checks; }
      if (win === 0 && synFinRst === 0) ta |= A_ZERO_WINDOW;
      if (fwd.anNext !== 0 && seqGt(seq, fwd.anNext) && !(flags & TCP_RST)) ta |= A_LOST_PACKET;
      if (seglen <= 1 && seq === ((fwd.anNext - 1) >>> 0) && synFinRst === 0) ta |= A_KEEP_ALIVE;
      const repeatsAck = seglen === 0 && seq === fwd.anNext && ack === fwd.lastAck && synFinRst === 0;
      if (repeatsAck && win !== 0 && win === fwd.window && (rev.lastSegmentFlags & A_KEEP_ALIVE)) break checks;
      if (repeatsAck && win === 0 && fwd.window === 0 && (rev.lastSegmentFlags & A_ZERO_WINDOW_PROBE)) break checks;
      if (repeatsAck && win !== 0 && win === fwd.window) {
        fwd.dupAckNum = fwd.dupAckNum === -1 ? 1 : fwd.dupAckNum + 1;
        ta |= A_DUPLICATE_ACK;
      }
    }
    if (ack !== fwd.lastAck) fwd.dupAckNum = 0;

    if ((seglen > 0 || (flags & (TCP_SYN | TCP_FIN))) && !(ta & A_KEEP_ALIVE)) {
      let notAdvanced = fwd.anNext !== 0 && seqLt(seq, fwd.anNext);
      if (seglen > 1 && ((fwd.anNext - 1) >>> 0) === seq) notAdvanced = false;
      const oooThreshold = conn.firstRtt !== 0 ? conn.firstRtt : OOO_DEFAULT_THRESHOLD_NS;
      const sinceDupAcks = now - rev.lastAckTime;
      const sinceHighest = now - fwd.anNextTime;
      const synOrFin = (flags & (TCP_SYN | TCP_FIN)) ? 1 : 0;
      if (seglen > 0 && rev.lastAck !== 0 && seqLe((seq + seglen) >>> 0, rev.lastAck)) {
        ta |= A_SPURIOUS_RETRANSMISSION;
      } else if (notAdvanced && rev.dupAckNum >= 2 && rev.lastAck === seq
        && sinceDupAcks >= 0 && sinceDupAcks < FAST_RETRANSMIT_WINDOW_NS) {
        ta |= A_FAST_RETRANSMISSION;
      } else if (notAdvanced && sinceHighest >= 0 && sinceHighest < oooThreshold
        && fwd.anNext !== ((seq + seglen + synOrFin) >>> 0)) {
        ta |= A_OUT_OF_ORDER;
      } else if (notAdvanced) {
        ta |= A_RETRANSMISSION;
      }
    }

    const nextSeq = (seq + seglen + ((flags & (TCP_SYN | TCP_FIN)) ? 1 : 0)) >>> 0;
    if ((seqGt(nextSeq, fwd.anNext) || fwd.anNext === 0) && !(ta & A_ZERO_WINDOW_PROBE)) {
      fwd.anNext = nextSeq;
      fwd.anNextTime = now;
    }
    fwd.window = win;
    fwd.lastAck = ack;
    fwd.lastAckTime = now;
    fwd.lastSegmentFlags = ta;

    // handshake RTT, as tshark's tcp.analysis.initial_rtt: last SYN to the first pure ACK
    if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) conn.synTime = now;
    else if ((flags & (TCP_SYN | TCP_ACK)) === TCP_ACK && conn.synTime >= 0 && conn.firstRtt === 0) {
      conn.firstRtt = now - conn.synTime;
    }

    if (ta !== 0) this.analysisEvents(conn, fwd, tcp, seq, seglen, ta);
  }

  private analysisEvents(conn: Connection, fwd: HalfStream, tcp: TcpLayer, seq: number, seglen: number, ta: number): void {
    if (ta & A_ANY_RETRANSMISSION) {
      fwd.stats.retransmissions++;
      if ((tcp.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
        fwd.synRetries++;
        this.sink({ type: 'syn-retry', ...this.stamp(conn), from: fwd.from, seq, attempt: fwd.synRetries });
      } else {
        const kind: TcpRetransmitKind = (ta & A_SPURIOUS_RETRANSMISSION) ? 'spurious-retransmission'
          : (ta & A_FAST_RETRANSMISSION) ? 'fast-retransmission' : 'retransmission';
        this.sink({ type: 'retransmit', ...this.stamp(conn), direction: fwd.direction, from: fwd.from, kind, seq, length: seglen });
      }
    }
    if (ta & A_OUT_OF_ORDER) {
      this.sink({ type: 'out-of-order', ...this.stamp(conn), direction: fwd.direction, from: fwd.from, seq, length: seglen });
    }
    if (ta & A_ZERO_WINDOW) this.sink({ type: 'zero-window', ...this.stamp(conn), direction: fwd.direction, from: fwd.from });
    if (ta & A_KEEP_ALIVE) this.sink({ type: 'keep-alive', ...this.stamp(conn), direction: fwd.direction, from: fwd.from, seq });
  }

  // ---------------------------------------------------------------- helpers

  /** The common fields of an event caused by the current packet. */
  private stamp(conn: Connection): { ts: string; tsSec: number; tsNsec: number; frame: number; connection: number; client: string; server: string } {
    const ts = this.tsText ?? (this.tsText = formatTimestamp(this.tsSec, this.tsNsec));
    return { ts, tsSec: this.tsSec, tsNsec: this.tsNsec, frame: this.frame, connection: conn.id, client: conn.client, server: conn.server };
  }

  /** Remembers an IPv4 connection in its cache slot (see V4_CACHE_SLOTS). */
  private cacheV4(conn: Connection, slot: number, lo: number, hi: number, ports: number): void {
    conn.v4Lo = lo;
    conn.v4Hi = hi;
    conn.v4Ports = ports;
    if (conn.inTable) this.v4Cache[slot] = conn;
  }

  private touch(conn: Connection): void {
    conn.lastTouch = this.clock;
    if (this.lruTail === conn) return;
    this.lruUnlink(conn);
    this.lruAppend(conn);
  }

  private lruAppend(conn: Connection): void {
    conn.prev = this.lruTail;
    conn.next = null;
    if (this.lruTail !== null) this.lruTail.next = conn; else this.lruHead = conn;
    this.lruTail = conn;
  }

  private lruUnlink(conn: Connection): void {
    if (conn.prev !== null) conn.prev.next = conn.next; else if (this.lruHead === conn) this.lruHead = conn.next;
    if (conn.next !== null) conn.next.prev = conn.prev; else if (this.lruTail === conn) this.lruTail = conn.prev;
    conn.prev = conn.next = null;
  }
}
