/**
 * `http()`: TCP connection events in, HTTP/1.x, HTTP/2 and WebSocket events out (object mode), a thin
 * wrapper over lib/http2/auto.ts (which picks lib/http/parser.ts or lib/http2/connection.ts per connection,
 * on any port: preface, `Upgrade: h2c`, ALPN "h2" from a `tls-connection` event of the tls() stage). One
 * parser per TCP connection: made on `start`, fed `data` / `gap`, told about `reset` and `end` (then
 * dropped). Each parser event gets the connection's number and endpoints.
 *
 * The TCP events themselves pass through unchanged (unless `tcpEvents: false`), in order with the HTTP
 * events they caused, so one stream carries TCP + HTTP + WebSocket events. Arrays (batch mode) come out
 * as arrays; chunks that are not TCP events pass through in place.
 *
 * The whole chain from packet records (decode → tcp → http) is httpEvents() in streams/trace.ts.
 */
import { BatchTransform, type Typed } from './batch';
import { DEFAULT_HTTP_OPTIONS, type HttpParserOptions } from '../lib/http/parser';
import type { CaptureAt } from '../lib/http/events';
import { AutoHttpConnectionParser, type AnyHttpEvent } from '../lib/http2/auto';
import { DEFAULT_HTTP2_OPTIONS, type Http2ParserOptions } from '../lib/http2/connection';
import type { Http2StreamEvent } from '../lib/http2/events';
import type { ConnectionFields as HttpConnectionFields } from '../lib/tcp/events';
import type { HttpStreamEvent } from '../lib/http/events';
import { isTcpEvent, type TcpEvent } from '../lib/tcp/events';

export { DEFAULT_HTTP_OPTIONS, DEFAULT_HTTP2_OPTIONS };
export type { HttpParserOptions, Http2ParserOptions, HttpConnectionFields, HttpStreamEvent, Http2StreamEvent };

/** What an http() stream emits: its own events and, unless dropped, the TCP events. */
export type HttpStreamOutput = HttpStreamEvent | Http2StreamEvent | TcpEvent;

export interface HttpStreamOptions {
  /** Parser options and limits (maxBody, maxHeaderBytes, maxDecodedLength, bodyEvents, ...; see DEFAULT_HTTP_OPTIONS). */
  parser?: Partial<HttpParserOptions>;
  /** HTTP/2 parser limits (maxHeaderBlockBytes, maxStreams, hpack, ...; see DEFAULT_HTTP2_OPTIONS); maxBody etc. follow `parser`. */
  http2?: Partial<Omit<Http2ParserOptions, 'start' | 'upgradeRequest'>>;
  /** Pass the TCP events through (default true). False: only HTTP/WebSocket events (and foreign chunks). */
  tcpEvents?: boolean;
  /**
   * With tcpEvents, pass the TCP `data` events too (default true). False: the other TCP events pass and
   * `data` does not (http_trace's selection drops it anyway: one object fewer per segment downstream).
   */
  tcpData?: boolean;
  /** Objects buffered on the readable side (default 256). */
  highWaterMark?: number;
}

interface ConnectionState {
  parser: AutoHttpConnectionParser;
  fields: HttpConnectionFields;
}

const HTTP_EVENT_TYPES: ReadonlySet<string> = new Set([
  'request', 'response', 'body', 'http-upgrade', 'http-error', 'ws-frame', 'ws-message', 'ws-close', 'ws-error',
  'h2-push', 'h2-rst', 'h2-goaway', 'h2-error',
]);

/** True for the events an http() stream adds (not its pass-through TCP events). */
export function isHttpStreamEvent(x: unknown): x is HttpStreamEvent | Http2StreamEvent {
  return typeof x === 'object' && x !== null && HTTP_EVENT_TYPES.has((x as { type?: unknown }).type as string)
    && typeof (x as { connection?: unknown }).connection === 'number';
}

export class HttpStream extends BatchTransform<unknown, HttpStreamOutput> {
  private readonly parserOptions: Partial<HttpParserOptions>;
  private readonly http2Options: Partial<Http2ParserOptions>;
  private readonly passTcp: boolean;
  private readonly passTcpData: boolean;
  private readonly connections = new Map<number, ConnectionState>();
  /** Capture position of the last TCP event: where connections still open at the end are closed. */
  private lastAt: CaptureAt = { ts: '0.000000000', tsSec: 0, tsNsec: 0, frame: 0 };

  constructor(opts: HttpStreamOptions = {}) {
    super({ highWaterMark: opts.highWaterMark });
    this.parserOptions = opts.parser ?? {};
    // The body limits are the same for both protocols; the HTTP/2 ones of their own come on top.
    const p = this.parserOptions;
    this.http2Options = {
      ...(p.maxBody !== undefined ? { maxBody: p.maxBody } : {}),
      ...(p.maxEncodedBody !== undefined ? { maxEncodedBody: p.maxEncodedBody } : {}),
      ...(p.maxDecodedLength !== undefined ? { maxDecodedLength: p.maxDecodedLength } : {}),
      ...(p.decodeContent !== undefined ? { decodeContent: p.decodeContent } : {}),
      ...(p.bodyEvents !== undefined ? { bodyEvents: p.bodyEvents } : {}),
      ...opts.http2,
    };
    this.passTcp = opts.tcpEvents ?? true;
    this.passTcpData = this.passTcp && (opts.tcpData ?? true);
  }

  /** Connections with a live parser. */
  get openConnections(): number {
    return this.connections.size;
  }

  protected override finish(): void {
    // tcp() ends every connection at the end of input; this only matters when fed by something else.
    for (const [id, conn] of this.connections) {
      conn.parser.end(this.lastAt);
      this.connections.delete(id);
    }
  }

  protected override handle(item: unknown): void {
    if (!isTcpEvent(item)) {
      this.out.push(item as HttpStreamOutput);
      // tls(): ALPN "h2" decides HTTP/2 for the connection's decrypted bytes that follow. Only when it is
      // decryptable: otherwise the TLS records themselves follow (no key), and parsing them as HTTP/2 printed
      // H2_BAD_PREFACE and H2_DESYNC for every TLS 1.2 h2 connection without a key (its ALPN is in the clear).
      const tls = item as { type?: unknown; connection?: unknown; alpn?: unknown; decryptable?: unknown };
      if (tls.type === 'tls-connection' && tls.decryptable === true && typeof tls.connection === 'number' && typeof tls.alpn === 'string') {
        this.connections.get(tls.connection)?.parser.useAlpn(tls.alpn);
      }
      return;
    }
    // The TCP event goes first: a consumer sees `start` before the connection's HTTP events and the
    // data event before what it completed.
    if (this.passTcpData || (this.passTcp && item.type !== 'data')) this.out.push(item);
    this.feed(item);
  }

  private feed(ev: TcpEvent): void {
    this.lastAt = ev;
    if (ev.type === 'start') {
      this.connections.set(ev.connection, this.newConnection(ev));
      return;
    }
    const conn = this.connections.get(ev.connection);
    if (conn === undefined) return;
    switch (ev.type) {
      case 'data': conn.parser.data(ev.from, ev.bytes, ev); break;
      case 'gap': conn.parser.gap(ev.from, ev.length, ev); break;
      case 'reset': conn.parser.reset(ev); break;
      case 'end':
        conn.parser.end(ev);
        this.connections.delete(ev.connection);
        break;
      default: break;
    }
  }

  private newConnection(ev: TcpEvent): ConnectionState {
    const fields: HttpConnectionFields = { connection: ev.connection, client: ev.client, server: ev.server };
    const parser = new AutoHttpConnectionParser((e: AnyHttpEvent) => {
      // Fields added in place: the event is fresh from the parser, and a spread per event costs.
      const out = e as HttpStreamEvent | Http2StreamEvent;
      out.connection = fields.connection;
      out.client = fields.client;
      out.server = fields.server;
      this.out.push(out);
    }, { http1: this.parserOptions, http2: this.http2Options, midStream: ev.type === 'start' && ev.midStream });
    return { parser, fields };
  }
}

export function http(opts: HttpStreamOptions = {}): Typed<HttpStream> {
  return new HttpStream(opts) as Typed<HttpStream>;
}
