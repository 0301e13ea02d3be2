/**
 * The live web view's model: what the page shows, kept on the server, bounded, and turned into small
 * batched updates. Pure: no streams, no sockets, no clocks of its own (callers pass `now`).
 *
 * Inputs, in capture order:
 *   packet(rec)   every captured packet (counters, the per-second series, pcapng drop counts)
 *   event(ev)     TCP events and HTTP/WebSocket parser events with `connection`, `client`, `server`
 *                 (what streams/http.ts emits); TCP `data` events are ignored
 *   tick(now)     wall-clock milliseconds, a few times a second: rates over the last second
 * Outputs:
 *   snapshot()    the recent history, for a page that connects late (the newest rows only, when asked)
 *   takeUpdate()  what changed since the last call (null when nothing did), for every connected page
 *   rowRange()    any stretch of the table, optionally filtered: the page scrolls through every kept row
 *   detail(id)    headers and bodies of one exchange, sent only to the page that asked
 *
 * The parts: the table (rows.ts), the WebSocket panel (websockets.ts), the bounded logs, series and rates
 * (recent.ts); this file feeds them and keeps the exchanges' details.
 *
 * Everything kept has a named limit (WebModelLimits); what falls off is counted and shown on the page.
 * Two tiers: the table rows (small summaries: maxRows of them — the live window, or a whole file with
 * FILE_MAX_ROWS) and the headers and bodies behind them (maxDetailRows newest in memory; older ones go to a
 * DetailStore when the caller gives one — streams/web.ts spills them to a temp file — else they are dropped
 * and counted).
 */
import type { HttpRequestEvent, HttpResponseEvent } from '../http/events.js';
import { firstHeaderValue } from '../http/head.js';
import type { ConnectionFields, TcpEvent } from '../tcp/events.js';
import type { WsCloseEvent, WsMessageEvent } from '../http/ws-events.js';
import {
  DEFAULT_WEB_MODEL_LIMITS, MAX_UPDATE_ROWS, type CaptureCounters, type Counters, type DetailStore, type DroppedCounts,
  type ExchangeDetail, type ExchangeRow, type MessageDetail, type PacketLike, type RowRange, type TcpEventRow,
  type TcpFlag, type WebHttpEvent, type WebModelEvent, type WebModelLimits, type WebSnapshot, type WebUpdate,
} from './types.js';
import { RowTable, copyRow } from './rows.js';
import { RateMeter, RecentLog, Series } from './recent.js';
import { WebSocketPanel } from './websockets.js';
import { ownString, StringPool } from './strings.js';

export * from './types.js';
export * from './row-filter.js';

/**
 * A parser event as the detail view keeps it: every field but `body`, which is usually a view into the
 * reader's 512 KiB chunk — kept, it would pin that whole chunk for as long as the exchange stays in memory
 * (2,000 exchanges could hold 1 GB of chunks). `bodyBytes` is that body's length; the kept copy of the body
 * itself, cut at maxBodyBytes, is requestBody/responseBody.
 */
type KeptMessage<E extends HttpRequestEvent | HttpResponseEvent> = Omit<E, 'body'> & { bodyBytes: number };

function keptMessage<E extends HttpRequestEvent | HttpResponseEvent>(ev: E): KeptMessage<E> {
  const { body, ...rest } = ev;
  return { ...rest, bodyBytes: body?.length ?? 0 };
}

/** The flags of a row on a connection without TCP trouble: one array for all of them (never changed). */
const NO_FLAGS = Object.freeze([]) as unknown as TcpFlag[];

/** Kept per exchange for the detail view. */
interface ExchangeRecord {
  row: ExchangeRow;
  request?: KeptMessage<HttpRequestEvent>;
  response?: KeptMessage<HttpResponseEvent>;
  requestBody?: Buffer;
  responseBody?: Buffer;
  bodiesDropped: boolean;
}

function seconds(ts: string): number {
  return Number(ts);
}

function keepBody(body: Buffer | undefined, max: number): Buffer | undefined {
  if (body === undefined || body.length === 0) return undefined;
  // A copy: the parser's buffer may be larger than what is kept, and must not be pinned.
  return Buffer.from(body.subarray(0, Math.min(body.length, max)));
}

export class WebModel {
  readonly limits: WebModelLimits;
  private readonly store: DetailStore | undefined;

  /** The table: every kept row (maxRows), and its filtered views. */
  private readonly rows = new RowTable();
  /** The rows' shared strings (methods, hosts, content types, reasons), one copy each (strings.ts). */
  private readonly pool = new StringPool();
  private nextTcpId = 1;
  /** The newest maxDetailRows exchanges with their headers and bodies, in creation order (Map order = age). */
  private readonly exchanges = new Map<number, ExchangeRecord>();
  /** `connection:index` → exchange waiting for its response. */
  private readonly awaiting = new Map<string, ExchangeRecord>();
  private bodyBytes = 0;
  /** TCP trouble per connection still open, to flag exchanges that come later on it. */
  private readonly flagged = new Map<number, Set<TcpFlag>>();
  private readonly ws: WebSocketPanel;
  private readonly tcpEvents: RecentLog<TcpEventRow>;
  private readonly series: Series;
  private readonly counters: Counters = {
    packets: 0, bytes: 0, packetsPerSecond: 0, bytesPerSecond: 0, requestsPerSecond: 0,
    connections: 0, openConnections: 0, requests: 0, responses: 0, kernelDrops: null, ifDrops: null,
  };
  /** What fell off here; the logs and the series count their own. */
  private readonly dropped: Pick<DroppedCounts, 'rows' | 'details' | 'bodies'> = { rows: 0, details: 0, bodies: 0 };
  private readonly rates = new RateMeter();
  private ended = false;
  /** Rows came with a sensor (event(ev, sensor)). */
  private sensors = false;

  // What changed since the last takeUpdate().
  private readonly changedRows = new Set<number>();
  private countersChanged = false;
  private pcapngDrops = 0n;

  /** `store` takes the headers and bodies of exchanges that leave memory (without it they are dropped). */
  constructor(limits: Partial<WebModelLimits> = {}, store?: DetailStore) {
    this.limits = { ...DEFAULT_WEB_MODEL_LIMITS, ...limits };
    this.store = store;
    this.ws = new WebSocketPanel(this.limits);
    this.tcpEvents = new RecentLog(this.limits.maxTcpEvents);
    this.series = new Series(this.limits.maxSeriesSeconds);
  }

  /** Bytes of bodies held right now (bounded by maxTotalBodyBytes). */
  get heldBodyBytes(): number {
    return this.bodyBytes;
  }

  /** Rows in the table now. */
  get rowCount(): number {
    return this.rows.count;
  }

  /** Exchanges whose headers and bodies are in memory now (bounded by maxDetailRows). */
  get detailCount(): number {
    return this.exchanges.size;
  }

  /**
   * Rows `from` .. `from + count - 1` of the table, or of the rows matching `filter` (the page's filter box
   * syntax, see parseRowFilter); at most MAX_ROW_RANGE. `total` is how many rows the (filtered) table has.
   */
  rowRange(from: number, count: number, filter = ''): RowRange {
    return this.rows.range(from, count, filter);
  }

  packet(rec: PacketLike): void {
    this.counters.packets++;
    this.counters.bytes += rec.len;
    const point = this.series.point(rec.tsSec);
    point.packets++;
    point.bytes += rec.len;
    const drops = rec.options?.dropCount;
    if (drops !== undefined && drops > 0n) {
      this.pcapngDrops += drops;
      this.counters.kernelDrops = Number(this.pcapngDrops);
    }
    this.countersChanged = true;
  }

  /** Live capture counters replace what pcapng drop counts said. */
  setCaptureCounters(stats: CaptureCounters): void {
    if (stats.dropped !== this.counters.kernelDrops || (stats.ifDropped ?? null) !== this.counters.ifDrops) {
      this.counters.kernelDrops = stats.dropped;
      this.counters.ifDrops = stats.ifDropped ?? null;
      this.countersChanged = true;
    }
  }

  /**
   * One event. `sensor`: who saw it, when events come from several sensors (their `connection` numbers must
   * then be made unique across sensors by the caller, as lib/web/published.ts does); exchange rows carry it.
   */
  event(ev: WebModelEvent, sensor?: string): void {
    if (sensor !== undefined) this.sensors = true;
    switch (ev.type) {
      case 'data': return; // bytes are not kept: the parsers already did their work
      case 'start':
        this.counters.connections++;
        this.counters.openConnections++;
        this.countersChanged = true;
        return;
      case 'end':
        this.counters.openConnections = Math.max(0, this.counters.openConnections - 1);
        this.countersChanged = true;
        this.flagged.delete(ev.connection);
        this.ws.close(ev.connection);
        return;
      case 'reset':
        this.tcpTrouble(ev, 'reset', `by ${ev.from}`);
        return;
      case 'retransmit':
        this.tcpTrouble(ev, 'retransmit', `${ev.from} ${ev.kind} ${ev.length} B`);
        return;
      case 'syn-retry':
        this.tcpTrouble(ev, 'syn-retry', `attempt ${ev.attempt}`);
        return;
      case 'gap':
        this.tcpTrouble(ev, 'gap', `${ev.from} ${ev.length} B ${ev.reason}`);
        return;
      case 'request':
        this.request(ev as HttpRequestEvent & ConnectionFields, sensor);
        return;
      case 'response':
        this.response(ev as HttpResponseEvent & ConnectionFields, sensor);
        return;
      case 'http-upgrade':
        if (ev.websocket) this.openWs(ev);
        return;
      case 'ws-message':
        this.ws.message(ev as WsMessageEvent & ConnectionFields);
        return;
      case 'ws-close':
        this.ws.closeFrame(ev as WsCloseEvent & ConnectionFields);
        return;
      default:
        return; // other TCP analysis events, body pieces, frames, parser errors: not shown
    }
  }

  /** The input ended (the capture file or stdin is done); the page says so. */
  end(): void {
    this.ended = true;
    this.countersChanged = true;
  }

  /** Wall-clock tick: rates over the last second. */
  tick(now: number): void {
    if (this.rates.tick(now, this.counters)) this.countersChanged = true;
  }

  /** The state for a page that connects now; `tailRows` limits the rows to the newest ones. */
  snapshot(tailRows = Infinity): WebSnapshot {
    return {
      limits: { ...this.limits },
      rows: this.rows.tail(tailRows),
      rowsTotal: this.rows.total,
      rowsKept: this.rows.count,
      firstRowId: this.rows.firstId,
      wsConnections: this.ws.all(),
      wsMessages: this.ws.messages.all(),
      tcpEvents: this.tcpEvents.all(),
      series: this.series.all(),
      counters: { ...this.counters },
      dropped: this.droppedCounts(),
      ended: this.ended,
      sensors: this.sensors,
    };
  }

  private droppedCounts(): DroppedCounts {
    return { ...this.dropped, wsMessages: this.ws.messages.dropped, tcpEvents: this.tcpEvents.dropped, seriesPoints: this.series.dropped };
  }

  /** Everything that changed since the last call, or null. Clears the change sets. */
  takeUpdate(): WebUpdate | null {
    const nothing = this.changedRows.size === 0 && !this.ws.hasChanged && !this.ws.messages.hasNew
      && !this.tcpEvents.hasNew && !this.series.hasChanged && !this.countersChanged;
    if (nothing) return null;
    const rows: ExchangeRow[] = [];
    const changed = [...this.changedRows].sort((a, b) => a - b);
    const rowsTruncated = changed.length > MAX_UPDATE_ROWS;
    for (const id of rowsTruncated ? changed.slice(-MAX_UPDATE_ROWS) : changed) {
      const row = this.rows.byId(id);
      if (row) rows.push(copyRow(row));
    }
    const update: WebUpdate = {
      rows,
      rowsTruncated,
      rowsTotal: this.rows.total,
      rowsKept: this.rows.count,
      firstRowId: this.rows.firstId,
      wsConnections: this.ws.takeChanged(),
      wsMessages: this.ws.messages.takeNew(),
      tcpEvents: this.tcpEvents.takeNew(),
      series: this.series.takeChanged(),
      counters: { ...this.counters },
      dropped: this.droppedCounts(),
      ended: this.ended,
    };
    this.changedRows.clear();
    this.countersChanged = false;
    return update;
  }

  /**
   * The kept body of one side of an exchange and its declared Content-Type, for the server's raw body
   * route; undefined when the exchange dropped off or that body was not kept.
   */
  body(id: number, side: 'request' | 'response'): { data: Buffer; contentType: string | undefined } | undefined {
    const message = this.detail(id)?.[side];
    if (!message || message.body === undefined) return undefined;
    return { data: Buffer.from(message.body, 'base64'), contentType: firstHeaderValue(message.headers, 'content-type') };
  }

  /**
   * Headers and bodies of one exchange, or undefined when its row dropped off (or never existed). An
   * exchange that left memory comes from the DetailStore, or says `detailDropped`.
   */
  detail(id: number): ExchangeDetail | undefined {
    const x = this.exchanges.get(id);
    if (x) return this.detailOf(x);
    const row = this.rows.byId(id);
    if (!row) return undefined;
    const stored = this.store?.get(id);
    return stored ? { ...stored, row: copyRow(row) } : { id, row: copyRow(row), detailDropped: true };
  }

  private detailOf(x: ExchangeRecord): ExchangeDetail {
    const id = x.row.id;
    const out: ExchangeDetail = { id, row: copyRow(x.row) };
    if (x.request) {
      out.request = { ...this.messageDetail(x.request, x.requestBody, x.bodiesDropped), method: x.request.method, url: x.request.url };
    }
    if (x.response) {
      const r = x.response;
      out.response = { ...this.messageDetail(r, x.responseBody, x.bodiesDropped), status: r.status, reason: r.reason, timing: r.timing };
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP

  private request(ev: HttpRequestEvent & ConnectionFields, sensor: string | undefined): void {
    const time = seconds(ev.startTs);
    const row: ExchangeRow = {
      id: this.rows.newId(),
      connection: ev.connection,
      client: ev.client,
      server: ev.server,
      time,
      method: this.pool.get(ev.method),
      url: ownString(ev.url),
      host: this.pool.get(firstHeaderValue(ev.headers, 'host') ?? ev.server),
      status: null,
      reason: null,
      requestBytes: ev.bodyLength,
      responseBytes: null,
      responseDecodedBytes: null,
      contentType: null,
      responseTime: null,
      state: ev.incomplete ? 'incomplete' : 'pending',
      websocket: false,
      tcp: this.flagsOf(ev.connection),
    };
    if (sensor !== undefined) row.sensor = sensor;
    const x: ExchangeRecord = { row, request: keptMessage(ev), requestBody: keepBody(ev.body, this.limits.maxBodyBytes), bodiesDropped: false };
    this.addExchange(x);
    this.awaiting.set(`${ev.connection}:${ev.index}`, x);
    this.counters.requests++;
    this.countersChanged = true;
    this.series.point(Math.floor(time)).requests++;
  }

  private response(ev: HttpResponseEvent & ConnectionFields, sensor: string | undefined): void {
    if (ev.interim) return; // 100 Continue and friends: the final response follows
    const key = ev.request ? `${ev.connection}:${ev.request.index}` : undefined;
    let x = key === undefined ? undefined : this.awaiting.get(key);
    if (key !== undefined) this.awaiting.delete(key);
    if (x === undefined) {
      const row: ExchangeRow = {
        id: this.rows.newId(),
        connection: ev.connection,
        client: ev.client,
        server: ev.server,
        time: seconds(ev.startTs),
        method: ev.request ? this.pool.get(ev.request.method) : null,
        url: ev.request ? ownString(ev.request.url) : null,
        host: this.pool.get(ev.server),
        status: null, reason: null, requestBytes: null, responseBytes: null, responseDecodedBytes: null,
        contentType: null, responseTime: null, state: 'pending', websocket: false, tcp: this.flagsOf(ev.connection),
      };
      if (sensor !== undefined) row.sensor = sensor;
      x = { row, bodiesDropped: false };
      this.addExchange(x);
    }
    const t = ev.timing;
    const responseTime = t.total ?? t.complete - t.firstByte;
    const row = x.row;
    row.status = ev.status;
    row.reason = this.pool.get(ev.reason);
    row.responseBytes = ev.bodyLength;
    row.responseDecodedBytes = ev.decodedLength;
    const contentType = firstHeaderValue(ev.headers, 'content-type');
    row.contentType = contentType === undefined ? null : this.pool.get(contentType);
    row.responseTime = responseTime;
    row.state = ev.incomplete || x.request?.incomplete ? 'incomplete' : 'complete';
    row.websocket = ev.status === 101;
    x.response = keptMessage(ev);
    x.responseBody = keepBody(ev.body, this.limits.maxBodyBytes);
    if (x.bodiesDropped) x.responseBody = undefined;
    if (this.exchanges.get(row.id) === x) {
      this.bodyBytes += x.responseBody?.length ?? 0;
      this.trimBodies();
    } else if (this.store) {
      this.spill(x); // the request already left memory: the completed exchange goes to the store
    } else {
      x.responseBody = undefined; // counted in dropped.details when it left memory
    }
    this.rows.changed();
    this.changedRows.add(row.id);
    this.counters.responses++;
    this.countersChanged = true;
    const p = this.series.point(Math.floor(t.complete));
    p.responses++;
    p.responseTimeSum += responseTime;
    if (responseTime > p.responseTimeMax) p.responseTimeMax = responseTime;
  }

  private addExchange(x: ExchangeRecord): void {
    this.rows.add(x.row);
    this.exchanges.set(x.row.id, x);
    this.bodyBytes += x.requestBody?.length ?? 0;
    this.changedRows.add(x.row.id);
    while (this.rowCount > this.limits.maxRows) this.dropOldestRow();
    while (this.exchanges.size > this.limits.maxDetailRows) this.evictDetail(this.exchanges.values().next().value as ExchangeRecord);
    this.trimBodies();
  }

  /** The oldest row leaves the table (and its detail, wherever it is). */
  private dropOldestRow(): void {
    const row = this.rows.dropOldest();
    this.dropped.rows++;
    this.changedRows.delete(row.id);
    const x = this.exchanges.get(row.id);
    if (x) this.removeExchange(x);
  }

  private removeExchange(x: ExchangeRecord): void {
    this.exchanges.delete(x.row.id);
    this.bodyBytes -= (x.requestBody?.length ?? 0) + (x.responseBody?.length ?? 0);
    if (x.request) {
      const key = `${x.row.connection}:${x.request.index}`;
      if (this.awaiting.get(key) === x) this.awaiting.delete(key);
    }
  }

  /**
   * An exchange leaves memory but stays in the table: its detail goes to the store. One still waiting for
   * its response stays findable in `awaiting` (bounded by maxDetailRows) and is stored again when it completes.
   */
  private evictDetail(x: ExchangeRecord): void {
    this.exchanges.delete(x.row.id);
    this.bodyBytes -= (x.requestBody?.length ?? 0) + (x.responseBody?.length ?? 0);
    this.spill(x);
    while (this.awaiting.size > this.limits.maxDetailRows) this.awaiting.delete(this.awaiting.keys().next().value as string);
  }

  /** Hands the detail of an exchange that is not in memory to the store; its bodies are then let go. */
  private spill(x: ExchangeRecord): void {
    if (!this.store?.put(x.row.id, this.detailOf(x))) this.dropped.details++;
    x.requestBody = undefined;
    x.responseBody = undefined;
  }

  /** Oldest rows lose their bodies until the total is under the limit (headers and sizes stay). */
  private trimBodies(): void {
    if (this.bodyBytes <= this.limits.maxTotalBodyBytes) return;
    for (const x of this.exchanges.values()) {
      if (this.bodyBytes <= this.limits.maxTotalBodyBytes) break;
      const held = (x.requestBody?.length ?? 0) + (x.responseBody?.length ?? 0);
      if (held === 0) continue;
      x.requestBody = undefined;
      x.responseBody = undefined;
      x.bodiesDropped = true;
      this.bodyBytes -= held;
      this.dropped.bodies++;
    }
  }

  private messageDetail(ev: KeptMessage<HttpRequestEvent> | KeptMessage<HttpResponseEvent>, body: Buffer | undefined, bodyDropped: boolean): MessageDetail {
    const d: MessageDetail = { headers: ev.headers, bodyLength: ev.bodyLength, decodedLength: ev.decodedLength, version: ev.version };
    if (body) d.body = body.toString('base64');
    if (ev.bodyTruncated || ev.bodyBytes > this.limits.maxBodyBytes) d.bodyTruncated = true;
    if (bodyDropped && ev.bodyBytes > 0) d.bodyDropped = true;
    if (ev.contentEncoding) d.contentEncoding = ev.contentEncoding;
    if (ev.decodeError) d.decodeError = ev.decodeError;
    if (ev.trailers) d.trailers = ev.trailers;
    return d;
  }

  // ---------------------------------------------------------------------------------------------
  // WebSocket

  private openWs(ev: WebHttpEvent): void {
    let url: string | null = null;
    for (const x of this.exchanges.values()) {
      // the 101 row of this connection (a connection upgrades once)
      if (x.row.connection === ev.connection && x.row.websocket) url = x.row.url;
    }
    this.ws.open(ev, url);
  }

  // ---------------------------------------------------------------------------------------------
  // TCP

  private tcpTrouble(ev: TcpEvent, flag: TcpFlag, info: string): void {
    const row: TcpEventRow = { id: this.nextTcpId++, time: seconds(ev.ts), type: flag, connection: ev.connection, client: ev.client, server: ev.server, info };
    this.tcpEvents.push(row);
    if (flag === 'syn-retry') return; // no exchange can be on a connection that never opened
    let flags = this.flagged.get(ev.connection);
    if (!flags) {
      flags = new Set();
      this.flagged.set(ev.connection, flags);
      while (this.flagged.size > this.limits.maxFlaggedConnections) this.flagged.delete(this.flagged.keys().next().value as number);
    }
    if (flags.has(flag)) return;
    flags.add(flag);
    // Exchanges of this connection already in the table get the flag too (once per connection and flag).
    for (const x of this.exchanges.values()) {
      if (x.row.connection === ev.connection && !x.row.tcp.includes(flag)) {
        x.row.tcp = [...x.row.tcp, flag]; // a new array: rows without flags share NO_FLAGS
        this.changedRows.add(x.row.id);
        this.rows.changed();
      }
    }
  }

  private flagsOf(connection: number): TcpFlag[] {
    const f = this.flagged.get(connection);
    return f ? [...f] : NO_FLAGS;
  }
}
