/**
 * HTTP Archive (HAR) 1.2 as pcap-pipe writes and reads it (http://www.softwareishard.com/blog/har-12-spec/,
 * the format Chrome/Firefox DevTools, Charles, Fiddler, Insomnia and k6 exchange).
 *
 * Our own types rather than @types/har-format: they carry the extension fields we write (names starting
 * with "_", as the spec allows), the public API needs no third-party type package, and postData may hold
 * both `text` and `params` for a form, as Chrome's and Firefox's exports do (the spec calls them mutually
 * exclusive; replaying tools such as Playwright's routeFromHAR match on `text`).
 */

export interface HarNameValue {
  name: string;
  value: string;
  comment?: string;
}

export interface HarCookie {
  name: string;
  value: string;
  path?: string;
  domain?: string;
  /** ISO 8601. */
  expires?: string;
  httpOnly?: boolean;
  secure?: boolean;
  comment?: string;
}

export interface HarPostParam {
  name: string;
  value?: string;
  fileName?: string;
  contentType?: string;
  comment?: string;
}

export interface HarPostData {
  mimeType: string;
  /** The body as text; not in HAR 1.2 when the body is binary (then see `_encoding`). */
  text?: string;
  /** Fields of an application/x-www-form-urlencoded or multipart/form-data body. */
  params?: HarPostParam[];
  /** Extension: "base64" when `text` holds a binary body in base64 (HAR 1.2 has no field for it). */
  _encoding?: 'base64';
  comment?: string;
}

export interface HarRequest {
  method: string;
  url: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  queryString: HarNameValue[];
  postData?: HarPostData;
  /** Start line and header fields on the wire, including the empty line; -1 when unknown. */
  headersSize: number;
  /** Body bytes as transferred (de-chunked, still content-coded); -1 when unknown. */
  bodySize: number;
  comment?: string;
}

export interface HarContent {
  /** Length of the (decoded) content. */
  size: number;
  /** Bytes saved by the content coding: size - bodySize. */
  compression?: number;
  mimeType: string;
  /** The content: text, or base64 when `encoding` says so. Absent when bodies were not kept. */
  text?: string;
  encoding?: 'base64';
  comment?: string;
}

export interface HarResponse {
  /** 0 when the capture holds no response to the request. */
  status: number;
  statusText: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  content: HarContent;
  redirectURL: string;
  headersSize: number;
  bodySize: number;
  comment?: string;
}

/** Durations in milliseconds; -1 where a phase does not apply. time = the sum of those that apply. */
export interface HarTimings {
  blocked?: number;
  dns?: number;
  connect?: number;
  send: number;
  wait: number;
  receive: number;
  ssl?: number;
  comment?: string;
}

/** One WebSocket message (the DevTools extension field `_webSocketMessages`). */
export interface HarWebSocketMessage {
  type: 'send' | 'receive';
  /** Capture time, seconds since the epoch (with fractions). */
  time: number;
  /** 1 text, 2 binary. */
  opcode: number;
  /** Text messages as text; binary messages in base64. */
  data: string;
}

/** Where an entry came from in the capture (our extension field `_pcap`). */
export interface HarPcapSource {
  /** Connection number, like tshark's tcp.stream. */
  connection: number;
  /** "ip:port" of the client and the server; IPv6 as "[addr]:port". */
  client: string;
  server: string;
  /** 1-based number of the request on its connection. */
  index: number;
  /** Frame numbers of the request's first and last bytes. */
  requestFrames: [number, number];
  /** Frame numbers of the response's first and last bytes, when a response was seen. */
  responseFrames?: [number, number];
}

export interface HarEntry {
  pageref?: string;
  /** Start of the exchange (of its connection's handshake, on the first exchange), ISO 8601 in UTC, ms precision. */
  startedDateTime: string;
  /** Milliseconds: the sum of the timings that apply. */
  time: number;
  request: HarRequest;
  response: HarResponse;
  cache: Record<string, never>;
  timings: HarTimings;
  serverIPAddress?: string;
  /** The client's port: exchanges on one TCP connection share it. */
  connection?: string;
  comment?: string;
  _webSocketMessages?: HarWebSocketMessage[];
  _pcap?: HarPcapSource;
  /** Why the exchange is incomplete (DevTools writes `_error` for failed requests). */
  _error?: string;
}

export interface HarCreator {
  name: string;
  version: string;
  comment?: string;
}

/** A page (we write none: a capture has no page loads; browsers' HARs do). */
export interface HarPage {
  startedDateTime: string;
  id: string;
  title: string;
  pageTimings: { onContentLoad?: number; onLoad?: number; comment?: string };
  comment?: string;
  [extension: `_${string}`]: unknown;
}

export interface HarLog {
  log: {
    version: '1.2';
    creator: HarCreator;
    browser?: HarCreator;
    pages?: HarPage[];
    entries: HarEntry[];
    comment?: string;
  };
}
