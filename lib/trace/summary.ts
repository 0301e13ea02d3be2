/**
 * The closing counts of an HTTP trace (http_trace, `pcap-pipe http`), like tshark's and tcpdump's: what was
 * in the capture, counted over every event before the display filters (--host, --url, ...) select, so the
 * numbers say what the capture held, and can be checked against tshark's (`http.request`, `http.response`,
 * `tcp.stream`). Printed on stderr at the end (streams stay untouched: stdout is the same with or without).
 *
 *   http_trace: 17 requests, 17 responses (17 exchanges, 0 unanswered), 1 connection, 0 WebSocket upgrades,
 *   0 parse errors, 0 TCP gaps (0 bytes missing), 0 packets not decoded
 */
import type { HttpTraceEvent } from './output';

export interface TraceCounts {
  /** Packets decoded, and those whose decoding failed somewhere (a malformed or unsupported layer). */
  packets: number;
  decodeFailures: number;
  /** TCP connections seen (a `start`: with a handshake, mid-stream, or a port reused). */
  connections: number;
  /** HTTP requests (HTTP/1.x and HTTP/2). */
  requests: number;
  /** Final responses (101 included), and interim 1xx ones (100 Continue, 103 Early Hints). */
  responses: number;
  interimResponses: number;
  /** Final responses answering a request seen in the capture. */
  exchanges: number;
  /** Upgrades (101, CONNECT), and those decoded as WebSocket. */
  upgrades: number;
  websocketUpgrades: number;
  /** http-error, h2-error and ws-error events: what the parsers could not make sense of. */
  parseErrors: number;
  /** Holes in TCP streams (capture loss, a capture started mid-stream) and their bytes. */
  gaps: number;
  missingBytes: number;
}

export function emptyTraceCounts(): TraceCounts {
  return {
    packets: 0, decodeFailures: 0, connections: 0, requests: 0, responses: 0, interimResponses: 0, exchanges: 0,
    upgrades: 0, websocketUpgrades: 0, parseErrors: 0, gaps: 0, missingBytes: 0,
  };
}

/** Requests without a final response seen. */
export function unanswered(c: TraceCounts): number {
  return Math.max(0, c.requests - c.exchanges);
}

/** Counts one packet after decoding: `failed` when its decoding stopped at an error. */
export function countPacket(c: TraceCounts, failed: boolean): void {
  c.packets++;
  if (failed) c.decodeFailures++;
}

/** Counts one event of the trace (before selection). */
export function countEvent(c: TraceCounts, ev: HttpTraceEvent): void {
  switch (ev.type) {
    case 'start': c.connections++; break;
    case 'gap': c.gaps++; c.missingBytes += ev.length; break;
    case 'request': c.requests++; break;
    case 'response':
      if (ev.interim) c.interimResponses++;
      else {
        c.responses++;
        if (ev.request !== undefined) c.exchanges++;
      }
      break;
    case 'http-upgrade':
      c.upgrades++;
      if (ev.websocket) c.websocketUpgrades++;
      break;
    case 'http-error': case 'h2-error': case 'ws-error': c.parseErrors++; break;
    default: break;
  }
}

function n(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The summary, one line (the terminal wraps it): "NAME: 17 requests, 17 responses (...), ...". */
export function formatTraceSummary(name: string, c: TraceCounts): string {
  const responses = `${n(c.responses, 'response')}${c.interimResponses > 0 ? ` (+${c.interimResponses} interim)` : ''}`;
  return `${name}: ${n(c.requests, 'request')}, ${responses}, ${n(c.exchanges, 'exchange')}, ${unanswered(c)} unanswered; ` +
    `${n(c.connections, 'connection')}, ${n(c.websocketUpgrades, 'WebSocket upgrade')}` +
    `${c.upgrades > c.websocketUpgrades ? ` (+${c.upgrades - c.websocketUpgrades} other upgrade${c.upgrades - c.websocketUpgrades === 1 ? '' : 's'})` : ''}; ` +
    `${n(c.parseErrors, 'parse error')}, ${n(c.gaps, 'TCP gap')} (${n(c.missingBytes, 'byte')} missing), ` +
    `${n(c.decodeFailures, 'packet')} of ${c.packets} not decoded`;
}
