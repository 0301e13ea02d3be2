/**
 * What the live web view's model (lib/web/model.ts) takes and gives: its limits, the rows and details the
 * page shows, snapshots and batched updates. Plain data, JSON-ready.
 */
import type { HeaderField, HttpResponseEvent, HttpStreamEvent } from '../http/events.js';
import type { TcpEvent } from '../tcp/events.js';

export interface WebModelLimits {
  /** Exchanges (table rows) kept; older rows drop off and are counted. Live: a window; a file: FILE_MAX_ROWS. */
  maxRows: number;
  /** Newest exchanges whose headers and bodies stay in memory; older ones go to the DetailStore, if any. */
  maxDetailRows: number;
  /** Bytes of each request/response body kept for the detail view (the rest is cut, flagged). */
  maxBodyBytes: number;
  /** Body bytes kept over all rows; past it the oldest rows lose their bodies (headers stay). */
  maxTotalBodyBytes: number;
  /** WebSocket messages kept (over all connections). */
  maxWsMessages: number;
  /** Bytes of each WebSocket message kept for display. */
  maxWsPreviewBytes: number;
  /** WebSocket connections listed. */
  maxWsConnections: number;
  /** TCP events of interest (reset, retransmit, syn-retry, gap) kept. */
  maxTcpEvents: number;
  /** Seconds of capture time in the requests/s and response-time series. */
  maxSeriesSeconds: number;
  /** Connections whose TCP trouble is remembered to flag their later exchanges. */
  maxFlaggedConnections: number;
}

export const DEFAULT_WEB_MODEL_LIMITS: Readonly<WebModelLimits> = {
  maxRows: 2000,
  maxDetailRows: 2000,
  maxBodyBytes: 256 * 1024,
  maxTotalBodyBytes: 64 * 1024 * 1024,
  maxWsMessages: 2000,
  maxWsPreviewBytes: 4096,
  maxWsConnections: 200,
  maxTcpEvents: 1000,
  maxSeriesSeconds: 600,
  maxFlaggedConnections: 10000,
};

/**
 * Table rows kept when the input is a file (the whole file stays reachable in the page). A row is a small
 * summary — about 0.5 KB of heap with its strings — so this bounds the rows at roughly 500 MB.
 */
export const FILE_MAX_ROWS = 1_000_000;

/** Most rows one rowRange() answer carries. */
export const MAX_ROW_RANGE = 1000;

/** Most changed rows one update carries; past it the update says `rowsTruncated` and pages re-ask. */
export const MAX_UPDATE_ROWS = 500;

/** Where the headers and bodies of exchanges that left memory go (streams/web.ts: a temp file). */
export interface DetailStore {
  /** Keeps the detail of exchange `id` (replacing an earlier one); false when the store is full. */
  put(id: number, detail: ExchangeDetail): boolean;
  get(id: number): ExchangeDetail | undefined;
}

/** An HTTP or WebSocket parser event as streams/http.ts emits it. */
export type WebHttpEvent = HttpStreamEvent;

/** What the model accepts from the event stream. */
export type WebModelEvent = TcpEvent | WebHttpEvent;

/** TCP trouble shown on the page. */
export type TcpFlag = 'reset' | 'retransmit' | 'syn-retry' | 'gap';

/** One table row: a request and its response (either may be missing), without headers and bodies. */
export interface ExchangeRow {
  id: number;
  connection: number;
  client: string;
  server: string;
  /** Capture time (epoch seconds) of the request's first byte, or of the response when no request was seen. */
  time: number;
  method: string | null;
  url: string | null;
  /** Host header of the request, else the server address. */
  host: string;
  status: number | null;
  reason: string | null;
  /** Body bytes on the wire (after de-chunking, before content decoding). */
  requestBytes: number | null;
  responseBytes: number | null;
  /** Response body after content decoding. */
  responseDecodedBytes: number | null;
  contentType: string | null;
  /** Seconds from the request's first byte to the response's last (or first-byte-to-complete). */
  responseTime: number | null;
  /** 'pending': request seen, no response yet; 'incomplete': a message was cut off by the connection's end. */
  state: 'pending' | 'complete' | 'incomplete';
  /** The exchange switched the connection to WebSocket. */
  websocket: boolean;
  tcp: TcpFlag[];
  /** Who saw it, when the view is fed from sensors (`pcap-pipe serve --from redis://...`); absent otherwise. */
  sensor?: string;
}

export interface MessageDetail {
  headers: HeaderField[];
  /** Body in base64 (decoded content), absent when there was none or it was dropped. */
  body?: string;
  bodyLength: number;
  decodedLength: number;
  /** Only the first maxBodyBytes are in `body`. */
  bodyTruncated?: boolean;
  /** The body was dropped to stay under maxTotalBodyBytes. */
  bodyDropped?: boolean;
  contentEncoding?: string[];
  decodeError?: string;
  version: string;
  trailers?: HeaderField[];
}

export interface ExchangeDetail {
  id: number;
  row: ExchangeRow;
  /** The headers and bodies of this exchange were not kept (it left memory and there was no room to spill it). */
  detailDropped?: boolean;
  request?: MessageDetail & { method: string; url: string };
  response?: MessageDetail & { status: number; reason: string; timing: HttpResponseEvent['timing'] };
}

export interface WsConnectionInfo {
  connection: number;
  client: string;
  server: string;
  /** URL of the upgrade request, when seen. */
  url: string | null;
  messages: number;
  closed: boolean;
}

export interface WsMessageRow {
  id: number;
  connection: number;
  time: number;
  from: 'client' | 'server';
  kind: 'text' | 'binary' | 'close';
  length: number;
  /** text: the text (cut to maxWsPreviewBytes); binary: base64 of the first bytes; close: "code reason". */
  preview: string;
  truncated: boolean;
  compressed: boolean;
}

export interface TcpEventRow {
  id: number;
  time: number;
  type: TcpFlag;
  connection: number;
  client: string;
  server: string;
  /** A few words: who, which kind, how many bytes. */
  info: string;
}

/** One second of capture time. */
export interface SeriesPoint {
  /** Whole epoch second. */
  t: number;
  requests: number;
  responses: number;
  /** Sum and maximum of the response times (seconds) of responses completed in this second. */
  responseTimeSum: number;
  responseTimeMax: number;
  packets: number;
  bytes: number;
}

export interface Counters {
  packets: number;
  bytes: number;
  /** Over the last second of wall-clock time (tick). */
  packetsPerSecond: number;
  bytesPerSecond: number;
  requestsPerSecond: number;
  connections: number;
  openConnections: number;
  requests: number;
  responses: number;
  /** Packets the kernel (or libpcap's ring) dropped: from live capture stats or pcapng drop counts; null = unknown. */
  kernelDrops: number | null;
  /** Packets the interface dropped (live capture only). */
  ifDrops: number | null;
}

/** How much fell off each capped list (totals since the start). */
export interface DroppedCounts {
  rows: number;
  /** Exchanges whose headers and bodies left memory with no room in a store (their rows may have dropped since). */
  details: number;
  bodies: number;
  wsMessages: number;
  tcpEvents: number;
  seriesPoints: number;
}

export interface WebSnapshot {
  limits: WebModelLimits;
  /** The newest kept rows (all of them unless snapshot() was given a tail length). */
  rows: ExchangeRow[];
  /** Rows ever created (rows dropped = rowsTotal - rowsKept). */
  rowsTotal: number;
  /** Rows in the table now; their ids are firstRowId .. firstRowId + rowsKept - 1. */
  rowsKept: number;
  firstRowId: number;
  wsConnections: WsConnectionInfo[];
  wsMessages: WsMessageRow[];
  tcpEvents: TcpEventRow[];
  series: SeriesPoint[];
  counters: Counters;
  dropped: DroppedCounts;
  ended: boolean;
  /** The rows carry a `sensor` (the page shows the Sensor column). */
  sensors: boolean;
}

export interface WebUpdate {
  /** New rows and rows that changed (a response arrived), in id order; the newest MAX_UPDATE_ROWS at most. */
  rows: ExchangeRow[];
  /** More rows changed than `rows` carries: a page re-asks for what it shows. */
  rowsTruncated: boolean;
  rowsTotal: number;
  rowsKept: number;
  firstRowId: number;
  wsConnections: WsConnectionInfo[];
  wsMessages: WsMessageRow[];
  tcpEvents: TcpEventRow[];
  /** New and changed seconds. */
  series: SeriesPoint[];
  counters: Counters;
  dropped: DroppedCounts;
  ended: boolean;
}

/** An answer to rowRange(): rows `from` .. `from + rows.length - 1` of the (filtered) table of `total` rows. */
export interface RowRange {
  filter: string;
  from: number;
  total: number;
  rows: ExchangeRow[];
  rowsKept: number;
  firstRowId: number;
}

/** What the packet counters need of a PacketRecord. */
export interface PacketLike {
  tsSec: number;
  len: number;
  options?: { dropCount?: bigint };
}

/** Live capture counters (streams/capture.ts stats()). */
export interface CaptureCounters {
  dropped: number;
  ifDropped?: number;
}
