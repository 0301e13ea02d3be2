/**
 * tshark-style TCP analysis: which segments are retransmissions (plain, fast, spurious), out of order,
 * keep-alives or zero-window, following tcp_analyze_sequence_number() of Wireshark 4.0 (packet-tcp.c), so
 * the frames flagged agree with tshark's tcp.analysis.* fields. Observations only: nothing here changes
 * what the reassembler delivers. The state lives in each HalfStream's analysis fields.
 */
import type { TcpLayer } from '../layers/packet';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../layers/packet';
import { seqGt, seqLe, seqLt, type Connection, type HalfStream } from './connection';
import type { TcpEvent, TcpRetransmitKind } from './events';

/** The fields every event caused by one packet has (made once per packet that needs them). */
export interface EventStamp {
  ts: string;
  tsSec: number;
  tsNsec: number;
  frame: number;
  connection: number;
  client: string;
  server: string;
}

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

/**
 * tcp_analyze_sequence_number() of Wireshark 4.0 (packet-tcp.c), the parts behind the events we emit:
 * zero window, keep-alive, duplicate ACKs (needed for fast retransmission), and the
 * retransmission / fast retransmission / spurious retransmission / out-of-order classification.
 */
export function analyzeSegment(conn: Connection, fwd: HalfStream, rev: HalfStream, tcp: TcpLayer, seq: number,
  seglen: number, now: number): number {
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

  return ta;
}

/** The events for the analysis flags of one segment (`stamp`: the fields every event of this packet has). */
export function analysisEvents(sink: (ev: TcpEvent) => void, stamp: EventStamp, fwd: HalfStream, tcp: TcpLayer, seq: number,
  seglen: number, ta: number): void {
  if (ta & A_ANY_RETRANSMISSION) {
    fwd.stats.retransmissions++;
    if ((tcp.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      fwd.synRetries++;
      sink({ type: 'syn-retry', ...stamp, from: fwd.from, seq, attempt: fwd.synRetries });
    } else {
      const kind: TcpRetransmitKind = (ta & A_SPURIOUS_RETRANSMISSION) ? 'spurious-retransmission'
        : (ta & A_FAST_RETRANSMISSION) ? 'fast-retransmission' : 'retransmission';
      sink({ type: 'retransmit', ...stamp, direction: fwd.direction, from: fwd.from, kind, seq, length: seglen });
    }
  }
  if (ta & A_OUT_OF_ORDER) {
    sink({ type: 'out-of-order', ...stamp, direction: fwd.direction, from: fwd.from, seq, length: seglen });
  }
  if (ta & A_ZERO_WINDOW) sink({ type: 'zero-window', ...stamp, direction: fwd.direction, from: fwd.from });
  if (ta & A_KEEP_ALIVE) sink({ type: 'keep-alive', ...stamp, direction: fwd.direction, from: fwd.from, seq });
}
