/**
 * HTTP/1.x or HTTP/2 on one TCP connection, decided from what the capture shows, on any port:
 *
 *   - ALPN "h2" from the TLS stage (`useAlpn`): HTTP/2, the client starts with the preface;
 *   - the client's first 24 octets are the HTTP/2 connection preface (h2c with prior knowledge, or h2
 *     after TLS when no ALPN was seen): HTTP/2;
 *   - a capture joined mid-connection whose first bytes are a run of HTTP/2 frames: HTTP/2 (mid-stream);
 *   - anything else: HTTP/1.x, which hands the connection to HTTP/2 after `Upgrade: h2c` and its 101.
 *
 * Until the client's first bytes decide, what either side sent is held (bounded). The chosen parser's
 * events come out unchanged: HTTP/1.x events (lib/http/events.ts) or HTTP/2 events (lib/http2/events.ts).
 */
import type { CaptureAt, HttpParserEvent } from '../http/events.js';
import { HttpConnectionParser, type HttpParserOptions } from '../http/parser.js';
import type { TcpSide } from '../tcp/events.js';
import { Http2ConnectionParser, looksLikeHttp2Frames, matchClientPreface, type Http2ParserOptions } from './connection.js';
import type { Http2Event } from './events.js';

/** Everything an AutoHttpConnectionParser emits. */
export type AnyHttpEvent = HttpParserEvent | Http2Event;

export interface AutoHttpOptions {
  http1?: Partial<HttpParserOptions>;
  http2?: Partial<Omit<Http2ParserOptions, 'start' | 'upgradeRequest'>>;
  /** The TCP layer joined this connection mid-stream (its start event's `midStream`). */
  midStream?: boolean;
  /** Bytes held per side while undecided; past it the connection is taken as HTTP/1.x. */
  maxSniffBytes?: number;
}

const DEFAULT_MAX_SNIFF_BYTES = 64 * 1024;

type Held = Array<[TcpSide, Buffer | number, CaptureAt]>;

export class AutoHttpConnectionParser {
  private readonly _emit: (ev: AnyHttpEvent) => void;
  private readonly _opts: AutoHttpOptions;
  private _h1: HttpConnectionParser | undefined;
  private _h2: Http2ConnectionParser | undefined;
  /** Undecided: the input so far, in order (bytes, or gap lengths). */
  private _held: Held = [];
  private _heldBytes = 0;
  private _clientFirst: Buffer = Buffer.alloc(0);
  private _ended = false;

  constructor(emit: (ev: AnyHttpEvent) => void, opts: AutoHttpOptions = {}) {
    this._emit = emit;
    this._opts = opts;
  }

  /** 'http/1.x', 'h2' or undefined while undecided. */
  get protocol(): 'http/1.x' | 'h2' | undefined {
    if (this._h2) return 'h2';
    return this._h1 ? 'http/1.x' : undefined;
  }

  /** True once an HTTP/1.1 connection was upgraded to h2c. */
  get upgradedToHttp2(): boolean {
    return this._h1 !== undefined && this._h2 !== undefined;
  }

  /** Input bytes held by the parsers and while undecided (bounded by their named limits). */
  get bufferedBytes(): number {
    return this._heldBytes + (this._h1?.bufferedBytes ?? 0) + (this._h2?.bufferedBytes ?? 0);
  }

  /** The TLS stage negotiated this ALPN protocol: "h2" decides HTTP/2 before any byte is seen. */
  useAlpn(protocol: string | undefined): void {
    if (protocol === 'h2' && this.protocol === undefined) this.startHttp2('preface');
  }

  data(from: TcpSide, bytes: Buffer, at: CaptureAt): void {
    if (this._ended || bytes.length === 0) return;
    const target = this.current();
    if (target) {
      target.data(from, bytes, at);
      return;
    }
    this._held.push([from, Buffer.from(bytes), at]);
    this._heldBytes += bytes.length;
    if (from === 'client' && this._clientFirst.length < 24) {
      this._clientFirst = Buffer.concat([this._clientFirst, bytes.subarray(0, 24 - this._clientFirst.length)]);
    }
    this.decide(from, bytes);
  }

  gap(from: TcpSide, length: number, at: CaptureAt): void {
    if (this._ended) return;
    const target = this.current();
    if (target) {
      target.gap(from, length, at);
      return;
    }
    this._held.push([from, length, at]);
    // A hole before anything decided: the preface cannot be seen any more; HTTP/1.x hunts, HTTP/2 would too.
    if (from === 'client' && this._clientFirst.length === 0) this.startHttp1();
  }

  end(at: CaptureAt): void {
    if (this._ended) return;
    if (this.protocol === undefined) this.startHttp1();
    this.current()!.end(at);
    this._ended = true;
  }

  reset(at: CaptureAt): void {
    this.end(at);
  }

  /** The parser that now takes the bytes: HTTP/2 once there is one (also after an h2c upgrade). */
  private current(): HttpConnectionParser | Http2ConnectionParser | undefined {
    return this._h2 ?? this._h1;
  }

  private decide(from: TcpSide, bytes: Buffer): void {
    if (this._opts.midStream) {
      // The first bytes of either side: frames, or (most likely) HTTP/1.x.
      if (looksLikeHttp2Frames(bytes)) this.startHttp2('midstream');
      else this.startHttp1();
      return;
    }
    if (this._clientFirst.length > 0) {
      const preface = matchClientPreface(this._clientFirst);
      if (preface === 'yes') this.startHttp2('preface');
      else if (preface === 'no') this.startHttp1();
      return;
    }
    // Only the server has spoken: an HTTP/2 server may send its SETTINGS before the client's preface
    // arrives. Hold, within bounds.
    if (this._heldBytes > (this._opts.maxSniffBytes ?? DEFAULT_MAX_SNIFF_BYTES)) this.startHttp1();
    void from;
  }

  private startHttp2(start: 'preface' | 'midstream'): void {
    this._h2 = new Http2ConnectionParser(this._emit, { ...this._opts.http2, start });
    this.release();
  }

  private startHttp1(): void {
    this._h1 = new HttpConnectionParser((ev) => this._emit(ev), {
      ...this._opts.http1,
      onSwitch: (info) => {
        if (info.protocol.trim().toLowerCase() !== 'h2c') return undefined;
        this._h2 = new Http2ConnectionParser(this._emit, {
          ...this._opts.http2,
          start: 'upgrade',
          ...(info.request ? { upgradeRequest: info.request } : {}),
        });
        return this._h2;
      },
    });
    this.release();
  }

  /** The held input, in order, to the parser just chosen. */
  private release(): void {
    const held = this._held;
    this._held = [];
    this._heldBytes = 0;
    for (const [from, item, at] of held) {
      const target = this.current()!;
      if (typeof item === 'number') target.gap(from, item, at);
      else target.data(from, item, at);
    }
  }
}
