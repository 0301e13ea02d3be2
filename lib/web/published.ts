/**
 * Published events back into what the web view's model takes: `pcap-pipe serve --from redis://...` reads
 * the NDJSON events sensors published (`--publish`, docs/schema/published-event.schema.json) and turns
 * each into the parser event (lib/http, lib/tcp) the model would have got from a local capture. Pure: no
 * I/O, no clock.
 *
 * What the JSON keeps and what it does not:
 *  - `connection` numbers are per sensor (each numbers its own from 0), so here every (sensor, connection)
 *    gets a number of its own; a sensor that starts again numbers from 0 again, which is noticed when a
 *    connection's request index goes back (a new request #1 on a connection that had #3) and gets a new
 *    number. At most `maxConnections` are remembered (the oldest forgotten first; their later events start
 *    a new number, so a response may then show as a row of its own).
 *  - A request or response event carries `ts`, the time the message was complete; the parser's `startTs`
 *    (its first byte) is not published, so rows are timed by `ts`.
 *  - Bodies are there only when the sensor published with `--bodies` (text, or base64 with `bodyEncoding`);
 *    WebSocket payloads always (`data`, `dataEncoding`).
 *  - Events the view does not show (grep matches, TLS connections, HTTP/2 control events, parser errors)
 *    and events that are not what a publisher writes (a field of the wrong type) are counted, not thrown:
 *    the stream's contents come from other machines.
 */
import type { HeaderField, HttpRequestEvent, HttpResponseEvent, HttpTiming, HttpUpgradeEvent } from '../http/events.js';
import type { WsCloseEvent, WsMessageEvent } from '../http/ws-events.js';
import type { ConnectionFields, TcpEvent, TcpSide } from '../tcp/events.js';
import type { WebModelEvent } from './types.js';

type Json = Record<string, unknown>;

/** (sensor, connection) pairs remembered by default. */
export const DEFAULT_MAX_PUBLISHED_CONNECTIONS = 100_000;

export interface PublishedAdapterCounts {
  /** Events turned into model events. */
  adapted: number;
  /** Events of kinds the view does not show. */
  skipped: number;
  /** Events missing a field the view needs, or with one of the wrong type. */
  malformed: number;
}

/** One adapted event and who saw it. */
export interface AdaptedEvent {
  sensor: string;
  event: WebModelEvent;
}

type BodyInfo = Pick<HttpRequestEvent, 'bodyLength' | 'decodedLength' | 'startTs' | 'startFrame' | 'body' | 'bodyTruncated' | 'contentEncoding' | 'decodeError' | 'missingBytes' | 'trailers' | 'incomplete'>;

interface ConnectionSlot {
  id: number;
  /** Highest request index seen on it. */
  lastIndex: number;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const TS = /^-?\d+(\.\d+)?$/;

function isHeaders(v: unknown): v is HeaderField[] {
  return Array.isArray(v) && v.every((h) => Array.isArray(h) && h.length === 2 && isStr(h[0]) && isStr(h[1]));
}

function isTiming(v: unknown): v is HttpTiming {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Json;
  return isNum(t.firstByte) && isNum(t.complete) && isNum(t.transfer)
    && ['requestStart', 'requestSent', 'wait', 'total'].every((k) => t[k] === undefined || isNum(t[k]));
}

/** A payload as published: UTF-8 text, or base64 when `encoding` says so. */
function payload(value: unknown, encoding: unknown): Buffer | undefined {
  if (!isStr(value)) return undefined;
  return Buffer.from(value, encoding === 'base64' ? 'base64' : 'utf8');
}

/** The sides' names a published `from` may hold. */
function side(v: unknown): TcpSide | undefined {
  return v === 'client' || v === 'server' ? v : undefined;
}

const TCP_SHOWN: ReadonlySet<string> = new Set(['start', 'end', 'reset', 'retransmit', 'syn-retry', 'gap']);
const SKIPPED: ReadonlySet<string> = new Set([
  'data', 'out-of-order', 'port-reuse', 'zero-window', 'keep-alive', 'evicted', 'overlap-conflict',
  'http-error', 'ws-error', 'ws-frame', 'h2-error', 'h2-push', 'h2-rst', 'h2-goaway', 'body', 'tls-connection', 'tls-error',
]);

export class PublishedEventAdapter {
  readonly counts: PublishedAdapterCounts = { adapted: 0, skipped: 0, malformed: 0 };
  /** `sensor \0 connection` → the view's connection number (Map order: oldest first). */
  private readonly connections = new Map<string, ConnectionSlot>();
  private nextId = 0;

  constructor(readonly maxConnections: number = DEFAULT_MAX_PUBLISHED_CONNECTIONS) {
    if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new RangeError(`maxConnections must be a whole number >= 1, got ${maxConnections}`);
  }

  /** Connections remembered now. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * The model event for one published event (as parsed from the entry's `event` field), or null when the
   * view does not show it or it is malformed (both counted). `sensor`: the entry's sensor field (the
   * event's own `sensor` member when empty).
   */
  adapt(sensorField: string, ev: Json): AdaptedEvent | null {
    const sensor = sensorField !== '' ? sensorField : isStr(ev.sensor) ? ev.sensor : '';
    const type = ev.type;
    if (!isStr(type)) return this.skip(ev.match !== undefined); // grep matches have no type
    if (SKIPPED.has(type)) return this.skip(true);
    if (!isStr(ev.ts) || !TS.test(ev.ts) || !isInt(ev.frame) || !isInt(ev.connection) || !isStr(ev.client) || !isStr(ev.server)) return this.bad();
    const base = { ts: ev.ts, frame: ev.frame, client: ev.client, server: ev.server };
    let event: WebModelEvent | null;
    switch (type) {
      case 'request': event = this.request(sensor, ev, base); break;
      case 'response': event = this.response(sensor, ev, base); break;
      case 'http-upgrade': event = this.upgrade(sensor, ev, base); break;
      case 'ws-message': event = this.wsMessage(sensor, ev, base); break;
      case 'ws-close': event = this.wsClose(sensor, ev, base); break;
      default:
        if (!TCP_SHOWN.has(type)) return this.skip(false);
        event = this.tcp(sensor, type, ev, base);
    }
    if (event === null) return this.bad();
    this.counts.adapted++;
    if (event.type === 'end') this.connections.delete(this.key(sensor, ev.connection));
    return { sensor, event };
  }

  /** Counted as skipped (a kind the view does not show) or, for what no publisher writes, malformed. */
  private skip(known: boolean): null {
    if (known) this.counts.skipped++;
    else this.counts.malformed++;
    return null;
  }

  private bad(): null {
    this.counts.malformed++;
    return null;
  }

  private key(sensor: string, connection: number): string {
    return `${sensor}\0${connection}`;
  }

  /** The view's number for a sensor's connection; `requestIndex` notices a sensor that started again. */
  private connectionId(sensor: string, connection: number, requestIndex?: number): number {
    const key = this.key(sensor, connection);
    let slot = this.connections.get(key);
    if (slot !== undefined && requestIndex !== undefined && requestIndex <= slot.lastIndex) slot = undefined;
    if (slot === undefined) {
      slot = { id: this.nextId++, lastIndex: 0 };
      this.connections.delete(key);
      this.connections.set(key, slot);
      while (this.connections.size > this.maxConnections) this.connections.delete(this.connections.keys().next().value as string);
    }
    if (requestIndex !== undefined) slot.lastIndex = requestIndex;
    return slot.id;
  }

  private bodyInfo(ev: Json, base: { ts: string; frame: number }): BodyInfo | null {
    if (!isInt(ev.bodyLength) || !isInt(ev.decodedLength)) return null;
    const out: BodyInfo = { bodyLength: ev.bodyLength, decodedLength: ev.decodedLength, startTs: base.ts, startFrame: base.frame };
    const body = payload(ev.body, ev.bodyEncoding);
    if (body !== undefined) out.body = body;
    if (ev.bodyTruncated === true) out.bodyTruncated = true;
    if (Array.isArray(ev.contentEncoding) && ev.contentEncoding.every(isStr)) out.contentEncoding = ev.contentEncoding;
    if (isStr(ev.decodeError)) out.decodeError = ev.decodeError;
    if (isInt(ev.missingBytes)) out.missingBytes = ev.missingBytes;
    if (isHeaders(ev.trailers)) out.trailers = ev.trailers;
    if (ev.incomplete === true) out.incomplete = true;
    return out;
  }

  private request(sensor: string, ev: Json, base: Omit<ConnectionFields, 'connection'> & { ts: string; frame: number }): WebModelEvent | null {
    if (!isInt(ev.index) || !isStr(ev.method) || !isStr(ev.url) || !isStr(ev.version) || !isHeaders(ev.headers)) return null;
    const body = this.bodyInfo(ev, base);
    if (body === null) return null;
    const out: HttpRequestEvent & ConnectionFields = {
      type: 'request', ...base, from: 'client', connection: this.connectionId(sensor, ev.connection as number, ev.index),
      index: ev.index, method: ev.method, url: ev.url, version: ev.version, headers: ev.headers, ...body,
    };
    return out;
  }

  private response(sensor: string, ev: Json, base: Omit<ConnectionFields, 'connection'> & { ts: string; frame: number }): WebModelEvent | null {
    if (!isInt(ev.status) || !isStr(ev.reason) || !isStr(ev.version) || !isHeaders(ev.headers) || !isTiming(ev.timing)) return null;
    const body = this.bodyInfo(ev, base);
    if (body === null) return null;
    const out: HttpResponseEvent & ConnectionFields = {
      type: 'response', ...base, from: 'server', connection: this.connectionId(sensor, ev.connection as number),
      status: ev.status, reason: ev.reason, version: ev.version, headers: ev.headers, timing: ev.timing, ...body,
    };
    const req = ev.request as Json | undefined;
    if (isInt(ev.index) && typeof req === 'object' && req !== null && isStr(req.method) && isStr(req.url)) out.request = { method: req.method, url: req.url, index: ev.index };
    if (ev.interim === true) out.interim = true;
    return out;
  }

  private upgrade(sensor: string, ev: Json, base: Omit<ConnectionFields, 'connection'> & { ts: string; frame: number }): WebModelEvent | null {
    const from = side(ev.from);
    if (from === undefined || !isStr(ev.protocol) || typeof ev.websocket !== 'boolean') return null;
    const out: HttpUpgradeEvent & ConnectionFields = { type: 'http-upgrade', ...base, from, connection: this.connectionId(sensor, ev.connection as number), protocol: ev.protocol, websocket: ev.websocket };
    if (isStr(ev.reason)) out.reason = ev.reason;
    if (isStr(ev.decodedAs)) out.decodedAs = ev.decodedAs;
    if (isStr(ev.extensions)) out.extensions = ev.extensions;
    return out;
  }

  private wsMessage(sensor: string, ev: Json, base: Omit<ConnectionFields, 'connection'> & { ts: string; frame: number }): WebModelEvent | null {
    const from = side(ev.from);
    const data = payload(ev.data, ev.dataEncoding);
    if (from === undefined || !isInt(ev.opcode) || !isInt(ev.length) || typeof ev.compressed !== 'boolean' || !isInt(ev.frames) || data === undefined) return null;
    const out: WsMessageEvent & ConnectionFields = {
      type: 'ws-message', ...base, from, connection: this.connectionId(sensor, ev.connection as number),
      opcode: ev.opcode, length: ev.length, data, compressed: ev.compressed, frames: ev.frames,
    };
    return out;
  }

  private wsClose(sensor: string, ev: Json, base: Omit<ConnectionFields, 'connection'> & { ts: string; frame: number }): WebModelEvent | null {
    const from = side(ev.from);
    if (from === undefined || !isStr(ev.closeReason) || (ev.closeCode !== undefined && !isInt(ev.closeCode))) return null;
    const out: WsCloseEvent & ConnectionFields = {
      type: 'ws-close', ...base, from, connection: this.connectionId(sensor, ev.connection as number), reason: ev.closeReason, reasonUtf8Valid: true,
    };
    if (isInt(ev.closeCode)) out.code = ev.closeCode;
    return out;
  }

  /** The TCP events the model shows, with the fields it reads checked (the rest passed as published). */
  private tcp(sensor: string, type: string, ev: Json, base: Omit<ConnectionFields, 'connection'> & { ts: string; frame: number }): WebModelEvent | null {
    const ok = (() => {
      switch (type) {
        case 'start': return typeof ev.midStream === 'boolean';
        case 'end': return isStr(ev.reason) && typeof ev.stats === 'object' && ev.stats !== null;
        case 'reset': return side(ev.from) !== undefined;
        case 'retransmit': return side(ev.from) !== undefined && isStr(ev.kind) && isInt(ev.length);
        case 'syn-retry': return isInt(ev.attempt);
        case 'gap': return side(ev.from) !== undefined && isInt(ev.length) && isStr(ev.reason);
        default: return false;
      }
    })();
    if (!ok) return null;
    const tsSec = isInt(ev.tsSec) ? ev.tsSec : Math.floor(Number(base.ts));
    const tsNsec = isInt(ev.tsNsec) ? ev.tsNsec : 0;
    const { sensor: _sensor, ...rest } = ev;
    // The checks above are the fields lib/web/model.ts reads of these types; the rest is as the sensor's tcp stage made it.
    return { ...rest, ...base, tsSec, tsNsec, connection: this.connectionId(sensor, ev.connection as number) } as unknown as TcpEvent;
  }
}
