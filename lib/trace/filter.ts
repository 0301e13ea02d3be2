/**
 * http_trace's request selection: `--method`, `--host`, `--url`, `--user-agent` (each repeatable, OR-ed
 * within one option, AND-ed across options) and their `--*-ignore` counterparts (any match hides).
 *
 * A hidden request also hides its response, and an upgrade (and the WebSocket traffic after it) follows
 * the request that asked for it. A response can complete before its request does (a `100 Continue` is
 * sent while the client waits to send the body): it is held until the request decides, bounded by
 * MAX_HELD_EVENTS per connection. TCP events are not selected here (they pass).
 */
import type { HeaderField, HttpRequestEvent } from '../http/events';
import type { HttpTraceEvent } from './output';
import { firstHeaderValue } from '../http/head';

export interface HttpFilterSpec {
  method: RegExp[];
  host: RegExp[];
  url: RegExp[];
  userAgent: RegExp[];
  methodIgnore: RegExp[];
  hostIgnore: RegExp[];
  urlIgnore: RegExp[];
  userAgentIgnore: RegExp[];
}

export function emptyFilterSpec(): HttpFilterSpec {
  return { method: [], host: [], url: [], userAgent: [], methodIgnore: [], hostIgnore: [], urlIgnore: [], userAgentIgnore: [] };
}

/** Events held per connection while a request is undecided; beyond this they are shown undecided. */
export const MAX_HELD_EVENTS = 64;

function header(headers: readonly HeaderField[], name: string): string {
  return firstHeaderValue(headers, name) ?? '';
}

function any(res: readonly RegExp[], s: string): boolean {
  for (const re of res) if (re.test(s)) return true;
  return false;
}

/** The Host of a request: the Host header, else the authority of an absolute-form URL (proxy requests). */
function requestHost(ev: HttpRequestEvent): string {
  const h = header(ev.headers, 'host');
  if (h !== '') return h;
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(ev.url);
  return m ? m[1]! : '';
}

interface ConnectionDecisions {
  decided: Map<number, boolean>;
  held: Map<number, HttpTraceEvent[]>;
  heldCount: number;
  /** Decision of the latest request seen or answered: upgrades, errors and WebSocket events follow it. */
  lastShown: boolean;
}

export class HttpRequestFilter {
  readonly spec: HttpFilterSpec;
  /** True when any option was given (else everything is shown, with no state kept). */
  readonly active: boolean;
  private readonly connections = new Map<number, ConnectionDecisions>();

  constructor(spec: HttpFilterSpec) {
    this.spec = spec;
    this.active = Object.values(spec).some((list: RegExp[]) => list.length > 0);
  }

  /** Whether a request is selected. */
  matches(ev: HttpRequestEvent): boolean {
    const s = this.spec;
    const host = requestHost(ev);
    const ua = header(ev.headers, 'user-agent');
    if (s.method.length > 0 && !any(s.method, ev.method)) return false;
    if (s.host.length > 0 && !any(s.host, host)) return false;
    if (s.url.length > 0 && !any(s.url, ev.url)) return false;
    if (s.userAgent.length > 0 && !any(s.userAgent, ua)) return false;
    if (any(s.methodIgnore, ev.method) || any(s.hostIgnore, host) || any(s.urlIgnore, ev.url) || any(s.userAgentIgnore, ua)) return false;
    return true;
  }

  /** Takes one event; appends to `out` the events to show now, in order. */
  push(ev: HttpTraceEvent, out: HttpTraceEvent[]): void {
    if (!this.active) {
      out.push(ev);
      return;
    }
    switch (ev.type) {
      case 'request': {
        const conn = this.conn(ev.connection);
        const shown = this.matches(ev);
        conn.decided.set(ev.index, shown);
        conn.lastShown = shown;
        if (shown) out.push(ev);
        const held = conn.held.get(ev.index);
        if (held) {
          conn.held.delete(ev.index);
          conn.heldCount -= held.length;
          if (shown) out.push(...held);
        }
        return;
      }
      case 'response': {
        const conn = this.conn(ev.connection);
        const index = ev.request?.index;
        if (index === undefined) {
          if (conn.lastShown) out.push(ev);
          return;
        }
        const decision = conn.decided.get(index);
        if (decision === undefined && conn.heldCount < MAX_HELD_EVENTS) {
          const list = conn.held.get(index) ?? [];
          list.push(ev);
          conn.held.set(index, list);
          conn.heldCount++;
          return;
        }
        conn.lastShown = decision ?? false;
        if (decision) out.push(ev);
        // Interim responses come before the final one: keep the decision until then.
        if (!ev.interim) conn.decided.delete(index);
        return;
      }
      case 'end': {
        this.connections.delete(ev.connection);
        out.push(ev);
        return;
      }
      default:
        break;
    }
    if (ev.type === 'body' || ev.type === 'http-upgrade' || ev.type === 'http-error' || ev.type.startsWith('ws-') || ev.type.startsWith('h2-')) {
      const conn = this.connections.get(ev.connection);
      if (conn ? conn.lastShown : false) out.push(ev);
      return;
    }
    out.push(ev); // TCP events
  }

  private conn(id: number): ConnectionDecisions {
    let c = this.connections.get(id);
    if (!c) {
      c = { decided: new Map(), held: new Map(), heldCount: 0, lastShown: false };
      this.connections.set(id, c);
    }
    return c;
  }
}
