/**
 * The events the TCP reassembler (lib/tcp/reassembler.ts) emits. One discriminated union, `TcpEvent`,
 * keyed by `type`; every event carries the capture time and frame of the packet that caused it and
 * the connection it belongs to.
 *
 * Lifecycle of one connection, as a consumer (HTTP, WebSocket, follow) sees it:
 *   start → (data | gap)* → end
 * with `reset` just before `end` when a RST closed it, and `evicted` just before `end` when the
 * connection table was full. Every `start` is followed by exactly one `end`; `data` and `gap`
 * events only occur between them. A connection whose handshake never completes (an unanswered SYN)
 * gets no `start` and no `end` — only `syn-retry` events, and `reset` if it was refused.
 * Analysis events (`retransmit`, `out-of-order`, `zero-window`, `keep-alive`, `syn-retry`,
 * `port-reuse`, `overlap-conflict`) are observations about single packets and may come at any time.
 */

/** Which way bytes flow. The client is the sender of the SYN (see TcpReassembler for the heuristic). */
export type TcpDirection = 'client-to-server' | 'server-to-client';
/**
 * Which side of the connection sent the bytes (as the reassembler assigned the roles). The one
 * definition: TCP events, HTTP and WebSocket events all use it for `from`.
 */
export type TcpSide = 'client' | 'server';

export type TcpEventType =
  | 'start' | 'data' | 'gap' | 'end' | 'reset' | 'retransmit' | 'syn-retry' | 'out-of-order'
  | 'port-reuse' | 'zero-window' | 'keep-alive' | 'evicted' | 'overlap-conflict';

/**
 * The connection an event belongs to. The one definition: TCP events have these fields, and the HTTP
 * stage adds them to every HTTP/WebSocket parser event (HttpStreamEvent).
 */
export interface ConnectionFields {
  /** Connection number: connections counted from 0 in order of their first packet, like tshark's tcp.stream. */
  connection: number;
  /** "ip:port" of the client; IPv6 as "[addr]:port". */
  client: string;
  server: string;
}

/** Fields every event has. */
export interface TcpEventBase extends ConnectionFields {
  type: TcpEventType;
  /** Capture time, seconds with 9 decimals (formatTimestamp), of the packet that caused the event. */
  ts: string;
  tsSec: number;
  tsNsec: number;
  /** Frame number of that packet (for end-of-input flushes: the last frame seen). */
  frame: number;
}

/** Fields of events about one direction of a connection. */
export interface TcpDirectional {
  direction: TcpDirection;
  /** The side that sent the bytes / the segment. */
  from: TcpSide;
}

/** The handshake completed, or the connection was joined mid-stream. */
export interface TcpStartEvent extends TcpEventBase {
  type: 'start';
  /**
   * True when the capture did not show where the streams begin: neither the SYN nor the SYN-ACK was
   * seen (or the first packet the server sent was not a SYN-ACK). Stream offsets then count from the
   * first byte seen.
   */
  midStream: boolean;
  /**
   * Seconds from the (last) SYN to the ACK that completed the handshake (as `end`'s stats.handshakeRtt);
   * absent when the handshake was not seen. The SYN was sent at this event's time minus handshakeRtt.
   */
  handshakeRtt?: number;
}

/** Reassembled bytes, in sequence order, each byte exactly once. */
export interface TcpDataEvent extends TcpEventBase, TcpDirectional {
  type: 'data';
  /** Position of bytes[0] in this direction's stream (0 = first byte after the SYN, or first byte seen). */
  offset: number;
  /** A view of the packet payload when delivered in order (zero-copy), or a private copy when it was buffered. */
  bytes: Buffer;
}

/** Why bytes of the stream are missing. */
export type TcpGapReason =
  /** Never captured (loss in the capture path, or a capture that started mid-stream); tshark's "bytes missing". */
  | 'missing'
  /** Sent in a captured packet, but cut off by the snaplen. */
  | 'snaplen';

/** Bytes of the stream that will never be delivered: the stream skips over them. */
export interface TcpGapEvent extends TcpEventBase, TcpDirectional {
  type: 'gap';
  /** Position of the first missing byte. */
  offset: number;
  /** Number of missing bytes. */
  length: number;
  reason: TcpGapReason;
}

export type TcpEndReason =
  | 'fin' // FIN seen and delivered in both directions
  | 'reset' // a RST (a `reset` event came just before)
  | 'idle' // no packet for idleTimeout, or halfClosedTimeout after a FIN in one direction
  | 'evicted' // the connection table was full (an `evicted` event came just before)
  | 'port-reuse' // a SYN with a new ISN opened a new connection on the same 4-tuple
  | 'end-of-input'; // flush(): the capture ended

export interface TcpDirectionStats {
  /** Payload bytes delivered in `data` events. */
  bytes: number;
  /** Packets seen in this direction (all, including pure ACKs and retransmissions). */
  packets: number;
  /** Packets flagged `retransmit` (includes SYN retries). */
  retransmissions: number;
  /** Bytes reported in `gap` events. */
  gapBytes: number;
}

export interface TcpConnectionStats {
  clientToServer: TcpDirectionStats;
  serverToClient: TcpDirectionStats;
  /** Seconds from the (last) SYN to the client's first pure ACK (tshark's tcp.analysis.initial_rtt), or null. */
  handshakeRtt: number | null;
  /** Seconds from the first to the last packet of the connection. */
  duration: number;
}

export interface TcpEndEvent extends TcpEventBase {
  type: 'end';
  reason: TcpEndReason;
  stats: TcpConnectionStats;
}

/** A RST, in any state (including a refused SYN). */
export interface TcpResetEvent extends TcpEventBase {
  type: 'reset';
  /** Who sent the RST. */
  from: TcpSide;
  direction: TcpDirection;
}

export type TcpRetransmitKind = 'retransmission' | 'fast-retransmission' | 'spurious-retransmission';

/** A segment that does not advance the sequence number (tshark's tcp.analysis.retransmission family). */
export interface TcpRetransmitEvent extends TcpEventBase, TcpDirectional {
  type: 'retransmit';
  kind: TcpRetransmitKind;
  /** Raw sequence number and payload length (tcp.len) of the segment. */
  seq: number;
  length: number;
}

/** A repeated SYN with the same initial sequence number. */
export interface TcpSynRetryEvent extends TcpEventBase {
  type: 'syn-retry';
  from: TcpSide;
  seq: number;
  /** 1 for the first repetition, 2 for the second, ... */
  attempt: number;
}

/** A segment below the highest sequence seen that arrived soon after it (tshark's tcp.analysis.out_of_order). */
export interface TcpOutOfOrderEvent extends TcpEventBase, TcpDirectional {
  type: 'out-of-order';
  seq: number;
  length: number;
}

/** A SYN with a new ISN on a 4-tuple already in use: a new connection (this event carries the new number). */
export interface TcpPortReuseEvent extends TcpEventBase {
  type: 'port-reuse';
  /** The connection number the 4-tuple had before. */
  previous: number;
  seq: number;
}

/** The sender advertises a zero receive window (tshark's tcp.analysis.zero_window). */
export interface TcpZeroWindowEvent extends TcpEventBase, TcpDirectional {
  type: 'zero-window';
}

/** A keep-alive probe: 0 or 1 byte one below the next sequence number (tshark's tcp.analysis.keep_alive). */
export interface TcpKeepAliveEvent extends TcpEventBase, TcpDirectional {
  type: 'keep-alive';
  seq: number;
}

/** The connection was dropped from the table to make room (LRU). An `end` with reason 'evicted' follows. */
export interface TcpEvictedEvent extends TcpEventBase {
  type: 'evicted';
  limit: 'maxConnections';
}

/** A retransmission carried different bytes than the copy already taken (the first copy wins). */
export interface TcpOverlapConflictEvent extends TcpEventBase, TcpDirectional {
  type: 'overlap-conflict';
  /** Stream offset of the first byte compared. */
  offset: number;
  /** Number of overlapping bytes compared. */
  length: number;
}

export type TcpEvent =
  | TcpStartEvent | TcpDataEvent | TcpGapEvent | TcpEndEvent | TcpResetEvent | TcpRetransmitEvent
  | TcpSynRetryEvent | TcpOutOfOrderEvent | TcpPortReuseEvent | TcpZeroWindowEvent | TcpKeepAliveEvent
  | TcpEvictedEvent | TcpOverlapConflictEvent;

const TCP_EVENT_TYPES: ReadonlySet<string> = new Set<TcpEventType>([
  'start', 'data', 'gap', 'end', 'reset', 'retransmit', 'syn-retry', 'out-of-order', 'port-reuse',
  'zero-window', 'keep-alive', 'evicted', 'overlap-conflict',
]);

/** True for objects emitted by the reassembler (used by downstream Transforms that pass other chunks through). */
export function isTcpEvent(x: unknown): x is TcpEvent {
  return typeof x === 'object' && x !== null && TCP_EVENT_TYPES.has((x as { type?: unknown }).type as string)
    && typeof (x as { connection?: unknown }).connection === 'number' && 'client' in x;
}

/** JSON-friendly copy of an event: `bytes` becomes base64 under `data`, with `length`. */
export function tcpEventToJson(ev: TcpEvent): Record<string, unknown> {
  if (ev.type !== 'data') return { ...ev };
  const { bytes, ...rest } = ev;
  return { ...rest, length: bytes.length, data: bytes.toString('base64') };
}
