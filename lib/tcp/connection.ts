/**
 * The state of one TCP connection, as the reassembler (lib/tcp/reassembler.ts) keeps it: a `Connection`
 * per 4-tuple with two `HalfStream`s (client-to-server, server-to-client), each holding its reassembly
 * state and its tshark-style analysis state (lib/tcp/analysis.ts). Plain data with small helpers.
 */
import type { TcpDirection, TcpDirectionStats, TcpSide } from './events';

/** a > b in sequence space. */
export function seqGt(a: number, b: number): boolean { return ((a - b) | 0) > 0; }
export function seqLt(a: number, b: number): boolean { return ((a - b) | 0) < 0; }
export function seqLe(a: number, b: number): boolean { return ((a - b) | 0) <= 0; }

/** Bytes buffered beyond a hole: [pos, end) of the stream, of which the first data.length were captured. */
export interface Segment {
  pos: number;
  end: number;
  data: Buffer;
  /** True once `data` is a private copy (segments left in the buffer after a packet are copied). */
  owned: boolean;
}

export const enum HandshakeState { SynSent, SynReceived, Established, Closed }

/** One direction of a connection: reassembly state plus tshark-style analysis state. */
/**
 * Bytes of the last delivered segment kept to compare retransmissions with: a whole segment of any real
 * link (jumbo frames, loopback's 64 KiB); of a longer delivery only its tail is compared.
 */
export const LAST_DATA_MAX = 65536;
/** The smallest copy; it grows (doubling) when a longer segment is delivered. */
const LAST_DATA_MIN = 64;
/** Below this a copy is taken from Node's Buffer pool (Buffer.poolSize / 2: what allocUnsafe pools). */
const LAST_DATA_POOLED = 4096;

export class HalfStream {
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
  /**
   * A copy of the last data delivered (its last LAST_DATA_MAX bytes), to check retransmitted bytes against:
   * `lastData` is reused from segment to segment and holds `lastDataLength` bytes from stream position
   * `lastDataPos`. A copy, not a view: a view would keep the whole read chunk it points into reachable for
   * as long as the connection is quiet, and with many connections that is most of the file's chunks.
   */
  lastData: Buffer | null = null;
  lastDataLength = 0;
  lastDataPos = 0;
  /**
   * The last delivered data as a view, not copied yet: the reassembler copies it into `lastData` (settle())
   * only once a delivery comes from another buffer (the next read chunk), so that a chunk is never pinned
   * past the next one, and a connection that delivers several segments from one chunk, or ends before its
   * chunk does, is not copied at every segment (a memcpy of every payload byte: 4 % of http_trace's CPU).
   */
  lastView: Buffer | null = null;
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

  /** Keeps a copy of the tail of `data`, delivered at stream position `pos` (see lastData). */
  rememberDelivered(data: Buffer, pos: number): void {
    const n = data.length < LAST_DATA_MAX ? data.length : LAST_DATA_MAX;
    let copy = this.lastData;
    if (copy === null || copy.length < n) {
      // grown by doubling from the first delivery's size: a quiet connection that sent one small request
      // holds that much, not LAST_DATA_MAX (with 65,536 connections a 2 KiB floor per direction was 256 MiB)
      const size = Math.min(LAST_DATA_MAX, Math.max(n, LAST_DATA_MIN, copy === null ? 0 : copy.length * 2));
      // small copies come from Node's shared pool (no ArrayBuffer of their own), larger ones stand alone
      copy = this.lastData = size < LAST_DATA_POOLED ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(size);
    }
    data.copy(copy, 0, data.length - n);
    this.lastDataLength = n;
    this.lastDataPos = pos + data.length - n;
  }

  /** Remembers the tail of `data`, delivered at stream position `pos`, as a view (see lastView). */
  viewDelivered(data: Buffer, pos: number): void {
    const n = data.length < LAST_DATA_MAX ? data.length : LAST_DATA_MAX;
    this.lastView = n === data.length ? data : data.subarray(data.length - n);
    this.lastDataLength = n;
    this.lastDataPos = pos + data.length - n;
  }

  /** Copies a pending view into lastData (the bytes stay the same; the view's buffer is let go). */
  settle(): void {
    const view = this.lastView;
    if (view === null) return;
    this.lastView = null;
    this.rememberDelivered(view, this.lastDataPos);
  }

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

export class Connection {
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
  /**
   * The reassembler's `position` at the last packet (sharded runs: the global packet index), so a worker
   * can say where in the one-thread LRU order its idle and end-of-input releases fall (lib/shard).
   */
  lastPosition = 0;
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

/** "ip:port", IPv6 as "[addr]:port". */
export function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
