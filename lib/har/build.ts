/**
 * HTTP events of a capture → HAR 1.2 entries (lib/har/types.ts). One entry per exchange (request and its
 * final response; a request the capture never saw answered gets status 0 and `_error`), built as the events
 * arrive, so a long live capture holds only the exchanges still open.
 *
 * Input: what streams/http.ts emits (HTTP and WebSocket events with their connection, and the TCP events
 * passed through). The TCP `start` gives the handshake (the first exchange's `connect`) and `end` closes a
 * connection's open exchanges; without TCP events everything still works, without `connect`, and the open
 * exchanges come out at finish().
 *
 * Timings, all from capture time (milliseconds, -1 where a phase does not apply):
 *
 *   SYN ─connect─► handshake done ─blocked─► request first byte ─send─► request last byte
 *       ─wait─► response first byte ─receive─► response last byte
 *
 * `connect` (and `blocked`: the ready connection idle until the client used it) only on a connection's
 * first exchange when its handshake was captured; later exchanges start at their request's first byte.
 * `startedDateTime` is the first phase's start, and `time` the sum of the phases, so startedDateTime + time
 * is the response's last byte. When a response starts before its request is complete (an early error
 * response, 100-continue), `wait` is 0 and `receive` counts from the request's last byte.
 */
import { isUtf8 } from 'node:buffer';
import type { HeaderField, HttpRequestEvent, HttpResponseEvent, HttpStreamEvent } from '../http/events';
import type { HttpTraceEvent } from '../trace/output';
import type { ConnectionFields as HttpConnectionFields, TcpEndEvent, TcpStartEvent } from '../tcp/events';
import type { WsMessageEvent } from '../http/ws-events';
import {
  addressOf, allHeaders, firstHeader, isoTime, multipartBoundary, parseCookieHeader, parseMultipart,
  parseSetCookie, parseUrlEncoded, portOf, queryString, requestUrl,
} from './fields';
import type {
  HarContent, HarCookie, HarEntry, HarNameValue, HarPostData, HarRequest, HarResponse, HarTimings,
  HarWebSocketMessage,
} from './types';

export interface HarBuildOptions {
  /**
   * Body bytes written per message (content.text, postData.text) and per WebSocket message; longer ones
   * are cut there and the entry's comment says what was cut. The http() stage must keep at least as much
   * (its parser's maxBody). 0 writes no bodies (sizes are still exact).
   */
  maxBody: number;
  /** WebSocket messages written per upgraded connection; later ones are counted in the comment. */
  maxWebSocketMessages: number;
}

export const DEFAULT_HAR_BUILD_OPTIONS: Readonly<HarBuildOptions> = {
  maxBody: 16 * 1024 * 1024,
  maxWebSocketMessages: 10_000,
};

/** What the builder left out, for the log's comment. */
export interface HarBuildCounts {
  entries: number;
  /** Responses with no request to pair them with (the capture started after the request). */
  unpairedResponses: number;
  /** Messages whose body was cut at maxBody. */
  cutBodies: number;
  /** WebSocket messages left out past maxWebSocketMessages. */
  droppedWebSocketMessages: number;
}

/** A request turned into its HAR form at once (its body buffer is not kept), waiting for its response. */
interface OpenExchange {
  request: HarRequest;
  /** Capture seconds of the request's first and last byte. */
  requestStart: number;
  requestSent: number;
  requestFrames: [number, number];
  index: number;
  comments: string[];
}

/** An upgraded connection's exchange, held until the connection ends to collect its WebSocket messages. */
interface HeldEntry {
  entry: HarEntry;
  messages: HarWebSocketMessage[];
  dropped: number;
  cut: number;
}

interface ConnectionState {
  fields: HttpConnectionFields;
  /** Capture seconds of the SYN and of the handshake's end, when the handshake was captured. */
  synAt?: number;
  handshakeDoneAt?: number;
  /** The first exchange took the handshake into its timings. */
  connectUsed: boolean;
  open: Map<number, OpenExchange>;
  held?: HeldEntry;
  reset: boolean;
  /** The HTTP on this connection was decrypted from TLS (a decryptable tls-connection event): https URLs. */
  tls: boolean;
}

/** Rounds milliseconds to microseconds: capture clocks say no more, and the JSON stays short. */
function ms(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}

function seconds(ts: string): number {
  return Number(ts);
}

function nameValues(headers: readonly HeaderField[]): HarNameValue[] {
  return headers.map(([name, value]) => ({ name, value }));
}

/** A body as HAR text: UTF-8 when it is, else base64; cut at `max` bytes (not inside a UTF-8 sequence). */
function bodyText(body: Buffer, max: number): { text: string; base64: boolean; cut: boolean } {
  let bytes = body;
  let cut = false;
  if (bytes.length > max) {
    bytes = bytes.subarray(0, max);
    cut = true;
    // step back off a UTF-8 sequence the cut split, so valid text stays text
    let back = 0;
    while (back < 3 && bytes.length - back - 1 >= 0 && (bytes[bytes.length - back - 1]! & 0xc0) === 0x80) back++;
    const lead = bytes[bytes.length - back - 1];
    if (lead !== undefined && lead >= 0xc0) {
      const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
      if (need > back + 1 && isUtf8(bytes.subarray(0, bytes.length - back - 1))) bytes = bytes.subarray(0, bytes.length - back - 1);
    }
  }
  if (isUtf8(bytes)) return { text: bytes.toString('utf8'), base64: false, cut };
  return { text: bytes.toString('base64'), base64: true, cut };
}

export class HarBuilder {
  private readonly opts: HarBuildOptions;
  private readonly connections = new Map<number, ConnectionState>();
  private readonly counts: HarBuildCounts = { entries: 0, unpairedResponses: 0, cutBodies: 0, droppedWebSocketMessages: 0 };

  constructor(private readonly emit: (entry: HarEntry) => void, opts: Partial<HarBuildOptions> = {}) {
    this.opts = { ...DEFAULT_HAR_BUILD_OPTIONS, ...opts };
  }

  /** What was written and left out so far. */
  get summary(): Readonly<HarBuildCounts> {
    return this.counts;
  }

  /** Takes one event of an http() stream (other chunks are ignored). */
  push(ev: HttpTraceEvent): void {
    // streams/tls.ts announces each TLS connection before the HTTP decrypted from it
    if ((ev as { type: string }).type === 'tls-connection') {
      if ((ev as { decryptable?: boolean }).decryptable === true) this.connection(ev as unknown as HttpConnectionFields).tls = true;
      return;
    }
    switch (ev.type) {
      case 'start': this.onStart(ev); break;
      case 'end': this.onEnd(ev); break;
      case 'reset': this.connection(ev).reset = true; break;
      case 'request': this.onRequest(ev as HttpRequestEvent & HttpConnectionFields); break;
      case 'response': this.onResponse(ev as HttpResponseEvent & HttpConnectionFields); break;
      case 'ws-message': this.onWsMessage(ev as WsMessageEvent & HttpConnectionFields); break;
      default: break;
    }
  }

  /** The end of input: every open exchange and held entry comes out. */
  finish(): void {
    for (const conn of this.connections.values()) this.close(conn, undefined);
    this.connections.clear();
  }

  private connection(f: HttpConnectionFields): ConnectionState {
    let conn = this.connections.get(f.connection);
    if (conn === undefined) {
      conn = { fields: { connection: f.connection, client: f.client, server: f.server }, connectUsed: false, open: new Map(), reset: false, tls: false };
      this.connections.set(f.connection, conn);
    }
    return conn;
  }

  private onStart(ev: TcpStartEvent): void {
    const old = this.connections.get(ev.connection);
    if (old) this.close(old, undefined);
    this.connections.delete(ev.connection);
    const conn = this.connection(ev);
    if (!ev.midStream && ev.handshakeRtt !== undefined) {
      conn.handshakeDoneAt = ev.tsSec + ev.tsNsec / 1e9;
      conn.synAt = conn.handshakeDoneAt - ev.handshakeRtt;
    }
  }

  private onEnd(ev: TcpEndEvent): void {
    const conn = this.connections.get(ev.connection);
    if (conn === undefined) return;
    this.close(conn, ev.tsSec + ev.tsNsec / 1e9);
    this.connections.delete(ev.connection);
  }

  private onRequest(ev: HttpRequestEvent & HttpConnectionFields): void {
    const conn = this.connection(ev);
    const comments: string[] = [];
    const request = this.harRequest(ev, conn, comments);
    const exchange: OpenExchange = {
      request,
      requestStart: seconds(ev.startTs),
      requestSent: seconds(ev.ts),
      requestFrames: [ev.startFrame, ev.frame],
      index: ev.index,
      comments,
    };
    // a request the parser could not number (index 0) must not replace another: key it past the numbered ones
    const key = ev.index > 0 ? ev.index : -(conn.open.size + 1);
    conn.open.set(key, exchange);
  }

  private onResponse(ev: HttpResponseEvent & HttpConnectionFields): void {
    if (ev.interim) return; // 1xx before the final response: part of the wait
    const conn = this.connection(ev);
    let exchange = ev.request !== undefined ? conn.open.get(ev.request.index) : undefined;
    if (exchange !== undefined) conn.open.delete(ev.request!.index);
    else if (ev.request !== undefined) exchange = this.requestFromResponse(ev, conn);
    if (exchange === undefined) {
      this.counts.unpairedResponses++;
      return;
    }
    const comments = exchange.comments;
    const response = this.harResponse(ev, comments);
    const firstByte = ev.timing.firstByte;
    const complete = ev.timing.complete;
    const entry = this.entry(conn, exchange, response, firstByte, complete, comments);
    entry._pcap!.responseFrames = [ev.startFrame, ev.frame];
    if (ev.status === 101) {
      // the connection goes on as WebSocket (or something opaque): its messages join this entry
      if (conn.held) this.releaseHeld(conn.held);
      conn.held = { entry, messages: [], dropped: 0, cut: 0 };
      return;
    }
    this.output(entry);
  }

  /** The response names a request whose event this builder did not get (still incomplete, or not selected). */
  private requestFromResponse(ev: HttpResponseEvent & HttpConnectionFields, conn: ConnectionState): OpenExchange {
    const r = ev.request!;
    const url = requestUrl(r.url, undefined, conn.fields.server, conn.tls ? 'https' : 'http');
    const start = ev.timing.requestStart ?? ev.timing.firstByte;
    return {
      request: {
        method: r.method, url, httpVersion: ev.version, cookies: [], headers: [], queryString: queryString(url),
        headersSize: -1, bodySize: -1,
      },
      requestStart: start,
      requestSent: ev.timing.requestSent ?? start,
      requestFrames: [0, 0],
      index: r.index,
      comments: ['request headers not available: the request was not complete when its response ended'],
    };
  }

  private onWsMessage(ev: WsMessageEvent & HttpConnectionFields): void {
    const held = this.connections.get(ev.connection)?.held;
    if (held === undefined) return;
    if (held.messages.length >= this.opts.maxWebSocketMessages) {
      held.dropped++;
      this.counts.droppedWebSocketMessages++;
      return;
    }
    const max = this.opts.maxBody;
    let data = ev.data;
    if (data.length > max) {
      data = data.subarray(0, max);
      held.cut++;
    }
    held.messages.push({
      type: ev.from === 'client' ? 'send' : 'receive',
      time: seconds(ev.ts),
      opcode: ev.opcode,
      data: ev.opcode === 1 ? data.toString('utf8') : data.toString('base64'),
    });
  }

  /** The connection is over (at `endAt`, or the input ended): open exchanges and the held entry come out. */
  private close(conn: ConnectionState, endAt: number | undefined): void {
    if (conn.held) {
      this.releaseHeld(conn.held);
      conn.held = undefined;
    }
    const open = [...conn.open.values()].sort((a, b) => a.requestStart - b.requestStart);
    conn.open.clear();
    for (const exchange of open) {
      const why = conn.reset ? 'connection reset before a response' : endAt !== undefined ? 'connection closed before a response' : 'no response in the capture';
      const response: HarResponse = {
        status: 0, statusText: '', httpVersion: '', cookies: [], headers: [],
        content: { size: 0, mimeType: 'x-unknown' }, redirectURL: '', headersSize: -1, bodySize: -1,
      };
      // without a response the client waited until the connection ended (when it did)
      const waitedUntil = Math.max(exchange.requestSent, endAt ?? exchange.requestSent);
      const entry = this.entry(conn, exchange, response, waitedUntil, waitedUntil, exchange.comments);
      entry._error = why;
      this.output(entry);
    }
  }

  private releaseHeld(held: HeldEntry): void {
    const { entry } = held;
    if (held.messages.length > 0 || held.dropped > 0) entry._webSocketMessages = held.messages;
    const notes: string[] = [];
    if (held.cut > 0) notes.push(`${held.cut} WebSocket messages cut to ${this.opts.maxBody} bytes (maxBody)`);
    if (held.dropped > 0) notes.push(`${held.dropped} WebSocket messages left out past ${this.opts.maxWebSocketMessages} (maxWebSocketMessages)`);
    if (notes.length > 0) entry.comment = entry.comment ? `${entry.comment}; ${notes.join('; ')}` : notes.join('; ');
    this.output(entry);
  }

  private output(entry: HarEntry): void {
    this.counts.entries++;
    this.emit(entry);
  }

  // ----------------------------------------------------------------------------------------------
  // Entry parts

  private entry(conn: ConnectionState, ex: OpenExchange, response: HarResponse, firstByte: number, complete: number,
    comments: string[]): HarEntry {
    const timings: HarTimings = { blocked: -1, dns: -1, connect: -1, send: 0, wait: 0, receive: 0, ssl: -1 };
    let started = ex.requestStart;
    if (!conn.connectUsed && conn.synAt !== undefined && conn.handshakeDoneAt !== undefined && ex.requestStart >= conn.synAt) {
      conn.connectUsed = true;
      timings.connect = ms(conn.handshakeDoneAt - conn.synAt);
      timings.blocked = ms(Math.max(0, ex.requestStart - conn.handshakeDoneAt));
      started = conn.synAt;
    }
    conn.connectUsed = true; // only the connection's first exchange can carry its handshake
    const sent = Math.max(ex.requestSent, ex.requestStart);
    timings.send = ms(sent - ex.requestStart);
    if (firstByte >= sent) {
      timings.wait = ms(firstByte - sent);
      timings.receive = ms(Math.max(0, complete - firstByte));
    } else {
      comments.push(`the response began ${ms(sent - firstByte)} ms before the request was complete`);
      timings.wait = 0;
      timings.receive = ms(Math.max(0, complete - sent));
    }
    let time = timings.send + timings.wait + timings.receive;
    if (timings.connect! >= 0) time += timings.connect! + timings.blocked!;
    const fields = conn.fields;
    const clientPort = portOf(fields.client);
    const entry: HarEntry = {
      startedDateTime: isoTime(started),
      time: Math.round(time * 1e3) / 1e3,
      request: ex.request,
      response,
      cache: {},
      timings,
      serverIPAddress: addressOf(fields.server),
      ...(clientPort !== undefined ? { connection: String(clientPort) } : {}),
      _pcap: {
        connection: fields.connection, client: fields.client, server: fields.server, index: ex.index,
        requestFrames: ex.requestFrames,
      },
    };
    if (comments.length > 0) entry.comment = comments.join('; ');
    return entry;
  }

  private harRequest(ev: HttpRequestEvent, conn: ConnectionState, comments: string[]): HarRequest {
    const host = firstHeader(ev.headers, 'host');
    const url = requestUrl(ev.url, host, conn.fields.server, conn.tls ? 'https' : 'http');
    const cookies: HarCookie[] = [];
    for (const value of allHeaders(ev.headers, 'cookie')) cookies.push(...parseCookieHeader(value));
    const request: HarRequest = {
      method: ev.method,
      url,
      httpVersion: ev.version,
      cookies,
      headers: nameValues(ev.headers),
      queryString: queryString(url),
      headersSize: ev.headerBytes ?? -1,
      bodySize: ev.bodyLength,
    };
    if (ev.bodyLength > 0) request.postData = this.postData(ev, comments);
    this.messageNotes(ev, 'request', comments);
    return request;
  }

  private postData(ev: HttpRequestEvent, comments: string[]): HarPostData {
    const mimeType = firstHeader(ev.headers, 'content-type') ?? '';
    const postData: HarPostData = { mimeType };
    const body = ev.body;
    if (body === undefined || this.opts.maxBody === 0) {
      comments.push(`request body of ${ev.decodedLength} bytes not kept`);
      return postData;
    }
    const { text, base64, cut } = bodyText(body, this.opts.maxBody);
    postData.text = text;
    if (base64) postData._encoding = 'base64';
    const whole = !cut && ev.bodyTruncated !== true && ev.incomplete !== true && ev.missingBytes === undefined;
    if (!whole) {
      this.counts.cutBodies++;
      comments.push(`request body cut: ${base64 ? 'base64 of ' : ''}${Math.min(body.length, this.opts.maxBody)} of ${ev.decodedLength} bytes kept (maxBody ${this.opts.maxBody})`);
    }
    if (/^\s*application\/x-www-form-urlencoded\s*(;|$)/i.test(mimeType) && !base64) {
      postData.params = parseUrlEncoded(text);
    } else {
      const boundary = multipartBoundary(mimeType);
      if (boundary !== undefined) postData.params = parseMultipart(cut ? body.subarray(0, this.opts.maxBody) : body, boundary);
    }
    return postData;
  }

  private harResponse(ev: HttpResponseEvent, comments: string[]): HarResponse {
    const receivedAt = ev.timing.complete;
    const cookies: HarCookie[] = [];
    for (const value of allHeaders(ev.headers, 'set-cookie')) {
      const cookie = parseSetCookie(value, receivedAt);
      if (cookie) cookies.push(cookie);
    }
    const content: HarContent = { size: ev.decodedLength, mimeType: firstHeader(ev.headers, 'content-type') ?? 'x-unknown' };
    if (ev.contentEncoding !== undefined && ev.decodeError === undefined) content.compression = ev.decodedLength - ev.bodyLength;
    if (ev.bodyLength > 0) this.content(ev, content, comments);
    this.messageNotes(ev, 'response', comments);
    return {
      status: ev.status,
      statusText: ev.reason,
      httpVersion: ev.version,
      cookies,
      headers: nameValues(ev.headers),
      content,
      redirectURL: firstHeader(ev.headers, 'location') ?? '',
      headersSize: ev.headerBytes ?? -1,
      bodySize: ev.bodyLength,
    };
  }

  private content(ev: HttpResponseEvent, content: HarContent, comments: string[]): void {
    const body = ev.body;
    if (ev.decodeError !== undefined) content.comment = `content not decoded: ${ev.decodeError}`;
    if (body === undefined || this.opts.maxBody === 0) {
      if (ev.decodeError === undefined) comments.push(`response body of ${ev.decodedLength} bytes not kept`);
      return;
    }
    const { text, base64, cut } = bodyText(body, this.opts.maxBody);
    content.text = text;
    if (base64) content.encoding = 'base64';
    if (cut || ev.bodyTruncated === true || ev.decodeLimitExceeded === true) {
      this.counts.cutBodies++;
      const kept = Math.min(body.length, this.opts.maxBody);
      content.comment = `content cut: ${kept} of ${ev.decodedLength} bytes kept (maxBody ${this.opts.maxBody})`;
    }
  }

  /** What the capture lacked of a message, said in the entry's comment. */
  private messageNotes(ev: HttpRequestEvent | HttpResponseEvent, what: string, comments: string[]): void {
    if (ev.missingBytes !== undefined) comments.push(`${what}: ${ev.missingBytes} body bytes missing from the capture`);
    if (ev.incomplete) comments.push(`${what} incomplete: the connection ended inside it`);
  }
}

/** The entries of a whole list of events (a capture read at once): convenience for tests and small files. */
export function harEntries(events: Iterable<HttpTraceEvent | HttpStreamEvent>, opts: Partial<HarBuildOptions> = {}): HarEntry[] {
  const entries: HarEntry[] = [];
  const builder = new HarBuilder((e) => entries.push(e), opts);
  for (const ev of events) builder.push(ev);
  builder.finish();
  return entries;
}
