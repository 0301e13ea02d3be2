/**
 * What http_trace, `pcap-pipe http` and `pcap-pipe ws` print: the NDJSON objects (`httpEventToJson`) and
 * the human lines (`formatHttpEvent`) for HTTP, WebSocket and TCP events of one connection-tagged stream.
 *
 * Captured text never reaches a terminal unescaped: every header, URL, body and message goes through
 * escapeControl (bodies line by line, so their newlines still break lines).
 */
import { isUtf8 } from 'node:buffer';
import type { HeaderField, HttpRequestEvent, HttpResponseEvent, HttpStreamEvent, HttpUpgradeEvent } from '../http/events';
import { firstHeaderValue } from '../http/head';
import { escapeControl } from '../core/escape';
import type { TimeFormatter } from '../core/time';
import { tcpEventToJson, type ConnectionFields, type TcpEvent } from '../tcp/events';
import type { WsCloseEvent, WsFrameEvent, WsMessageEvent } from '../http/ws-events';
import type { Http2ErrorEvent, Http2GoawayEvent, Http2PushEvent, Http2RequestEvent, Http2ResponseEvent, Http2RstEvent, Http2StreamEvent } from '../http2/events';
import { WS_OPCODE } from '../http/ws-events';

/** Anything the printers take: HTTP/WebSocket events and TCP events. */
export type HttpTraceEvent = HttpStreamEvent | Http2StreamEvent | TcpEvent;

/** Default --max-body: decoded body bytes kept and printed per message. */
export const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

export interface HttpJsonOptions {
  /** Include message bodies (`body`). WebSocket payloads (`data`) are always included. */
  bodies: boolean;
  /** Bytes of a body or payload included at most; the rest is cut and flagged. */
  maxBody: number;
  /** Include the TCP events (all but `data`). Default false. */
  tcp?: boolean;
}

const TCP_TYPES: ReadonlySet<string> = new Set([
  'start', 'data', 'gap', 'end', 'reset', 'retransmit', 'syn-retry', 'out-of-order', 'port-reuse',
  'zero-window', 'keep-alive', 'evicted', 'overlap-conflict',
]);

export function isTcpTraceEvent(ev: HttpTraceEvent): ev is TcpEvent {
  return TCP_TYPES.has(ev.type);
}

// ------------------------------------------------------------------------------------------------
// Payloads as JSON strings

/** Length of the longest prefix of `buf` that does not end inside a UTF-8 sequence (a cut may split one). */
function utf8Boundary(buf: Buffer): number {
  let i = buf.length;
  // Step back over at most 3 continuation bytes to the lead byte of the last sequence.
  let back = 0;
  while (back < 3 && i - back - 1 >= 0 && (buf[i - back - 1]! & 0xc0) === 0x80) back++;
  const leadAt = i - back - 1;
  if (leadAt < 0) return i;
  const lead = buf[leadAt]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > back + 1 ? leadAt : i;
}

export interface JsonPayload {
  /** The text, or base64 when the bytes are not valid UTF-8. */
  value: string;
  base64: boolean;
  truncated: boolean;
}

/** A payload as a JSON string: UTF-8 text when valid, else base64; at most `max` bytes. */
export function jsonPayload(buf: Buffer, max: number, alreadyTruncated = false): JsonPayload {
  let bytes = buf;
  let truncated = alreadyTruncated;
  if (bytes.length > max) {
    bytes = bytes.subarray(0, max);
    truncated = true;
  }
  if (truncated) {
    const cut = bytes.subarray(0, utf8Boundary(bytes));
    if (isUtf8(cut)) return { value: cut.toString('utf8'), base64: false, truncated };
  } else if (isUtf8(bytes)) {
    return { value: bytes.toString('utf8'), base64: false, truncated };
  }
  return { value: bytes.toString('base64'), base64: true, truncated };
}

// ------------------------------------------------------------------------------------------------
// NDJSON

function base(ev: HttpStreamEvent | Http2StreamEvent): Record<string, unknown> {
  return { type: ev.type, ts: ev.ts, frame: ev.frame, connection: ev.connection, client: ev.client, server: ev.server };
}

function bodyFields(out: Record<string, unknown>, ev: HttpRequestEvent | HttpResponseEvent, opts: HttpJsonOptions): void {
  out.bodyLength = ev.bodyLength;
  out.decodedLength = ev.decodedLength;
  if (ev.contentEncoding) out.contentEncoding = ev.contentEncoding;
  if (opts.bodies && ev.bodyLength > 0) {
    const p = jsonPayload(ev.body ?? Buffer.alloc(0), opts.maxBody, ev.bodyTruncated === true);
    out.body = p.value;
    if (p.base64) out.bodyEncoding = 'base64';
    if (p.truncated) out.bodyTruncated = true;
  }
  if (ev.trailers) out.trailers = ev.trailers;
  if (ev.missingBytes !== undefined) out.missingBytes = ev.missingBytes;
  if (ev.decodeError !== undefined) out.decodeError = ev.decodeError;
  if (ev.decodeLimitExceeded) out.decodeLimitExceeded = true;
  if (ev.incomplete) out.incomplete = true;
}

function wsData(out: Record<string, unknown>, data: Buffer, opts: HttpJsonOptions): void {
  const p = jsonPayload(data, opts.maxBody);
  out.data = p.value;
  if (p.base64) out.dataEncoding = 'base64';
  if (p.truncated) out.dataTruncated = true;
}

/** HTTP/2 fields of a request: protocol, stream, pseudo-headers not in `headers`, push origin, gRPC. */
function http2RequestFields(out: Record<string, unknown>, ev: Http2RequestEvent): void {
  out.protocol = ev.protocol;
  out.streamId = ev.streamId;
  if (ev.authority !== undefined) out.authority = ev.authority;
  if (ev.scheme !== undefined) out.scheme = ev.scheme;
  if (ev.connectProtocol !== undefined) out.connectProtocol = ev.connectProtocol;
  if (ev.headersIncomplete !== undefined) out.headersIncomplete = ev.headersIncomplete;
  if (ev.grpc) out.grpc = ev.grpc;
}

function http2ResponseFields(out: Record<string, unknown>, ev: Http2ResponseEvent): void {
  out.protocol = ev.protocol;
  out.streamId = ev.streamId;
  if (ev.headersIncomplete !== undefined) out.headersIncomplete = ev.headersIncomplete;
  if (ev.reset) out.reset = ev.reset;
  if (ev.grpc) out.grpc = ev.grpc;
}

/**
 * The NDJSON object of an event, or null for events that are not printed: `body` pieces (a message's
 * body rides on its request/response event) and TCP events unless `opts.tcp` (TCP `data` never).
 */
export function httpEventToJson(ev: HttpTraceEvent, opts: HttpJsonOptions): Record<string, unknown> | null {
  if (isTcpTraceEvent(ev)) return opts.tcp && ev.type !== 'data' ? tcpEventToJson(ev) : null;
  const out = base(ev);
  switch (ev.type) {
    case 'request':
      out.index = ev.index;
      out.method = ev.method;
      out.url = ev.url;
      out.version = ev.version;
      out.headers = ev.headers;
      bodyFields(out, ev, opts);
      if ('protocol' in ev) http2RequestFields(out, ev);
      return out;
    case 'response':
      if (ev.request) out.index = ev.request.index;
      out.status = ev.status;
      out.reason = ev.reason;
      out.version = ev.version;
      out.headers = ev.headers;
      if (ev.request) out.request = { method: ev.request.method, url: ev.request.url };
      if (ev.interim) out.interim = true;
      bodyFields(out, ev, opts);
      if ('protocol' in ev) http2ResponseFields(out, ev);
      out.timing = ev.timing;
      return out;
    case 'http-upgrade':
      out.from = ev.from;
      out.protocol = ev.protocol;
      out.websocket = ev.websocket;
      if (ev.reason !== undefined) out.reason = ev.reason;
      if (ev.decodedAs !== undefined) out.decodedAs = ev.decodedAs;
      if (ev.extensions !== undefined) out.extensions = ev.extensions;
      return out;
    case 'http-error':
    case 'ws-error':
      out.from = ev.from;
      out.code = ev.code;
      out.message = ev.message;
      if (ev.type === 'ws-error') out.fatal = ev.fatal;
      return out;
    case 'h2-error':
      out.from = ev.from;
      out.protocol = ev.protocol;
      out.streamId = ev.streamId;
      out.code = ev.code;
      out.message = ev.message;
      return out;
    case 'h2-push':
      out.from = ev.from;
      out.protocol = ev.protocol;
      out.streamId = ev.streamId;
      out.promisedStreamId = ev.promisedStreamId;
      out.index = ev.index;
      out.method = ev.method;
      out.url = ev.url;
      if (ev.authority !== undefined) out.authority = ev.authority;
      out.headers = ev.headers;
      return out;
    case 'h2-rst':
      out.from = ev.from;
      out.protocol = ev.protocol;
      out.streamId = ev.streamId;
      out.errorCode = ev.errorCode;
      out.error = ev.error;
      return out;
    case 'h2-goaway':
      out.from = ev.from;
      out.protocol = ev.protocol;
      out.lastStreamId = ev.lastStreamId;
      out.errorCode = ev.errorCode;
      out.error = ev.error;
      if (ev.debug !== undefined) out.debug = ev.debug;
      return out;
    case 'ws-frame':
      out.from = ev.from;
      out.opcode = ev.opcode;
      out.fin = ev.fin;
      out.rsv1 = ev.rsv1;
      out.rsv2 = ev.rsv2;
      out.rsv3 = ev.rsv3;
      out.masked = ev.masked;
      out.length = ev.length;
      wsData(out, ev.data, opts);
      return out;
    case 'ws-message':
      out.from = ev.from;
      out.opcode = ev.opcode;
      out.length = ev.length;
      out.compressed = ev.compressed;
      out.frames = ev.frames;
      wsData(out, ev.data, opts);
      return out;
    case 'ws-close':
      out.from = ev.from;
      if (ev.code !== undefined) out.closeCode = ev.code;
      out.closeReason = ev.reason;
      return out;
    case 'body':
      return null;
  }
}

// ------------------------------------------------------------------------------------------------
// Human lines

export interface HttpFormatOptions {
  /** How times are printed (tcpdump's -t letters); default: local time of day, timeOfDay(). */
  time?: TimeFormatter;
  /** ANSI colours (only on a terminal, not with --no-color). */
  color: boolean;
  /** Print every header field under its request/response. */
  headers: boolean;
  /** Print the header fields whose name matches (case-insensitive); with `headers`, restricts them. */
  showHeader?: RegExp;
  /** Print bodies (text as text, JSON pretty-printed, binary summarised) and WebSocket payloads. */
  bodies: boolean;
  /** Body (and WebSocket message) bytes printed at most. */
  maxBody: number;
  /** Print TCP events (all but `data`). */
  tcp: boolean;
  /** Print only WebSocket traffic (the upgrade and what follows). */
  websocketOnly?: boolean;
}

const ANSI = { reset: '\x1b[0m', dim: '\x1b[2m', bold: '\x1b[1m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', blue: '\x1b[34m', magenta: '\x1b[35m', cyan: '\x1b[36m' } as const;
type Colour = Exclude<keyof typeof ANSI, 'reset'>;

function paint(opts: HttpFormatOptions, colour: Colour, s: string): string {
  return opts.color ? `${ANSI[colour]}${s}${ANSI.reset}` : s;
}

/** Local time of day with microseconds, like tcpdump: "13:04:05.123456". */
export function timeOfDay(ts: string): string {
  const dot = ts.indexOf('.');
  const sec = Number(dot < 0 ? ts : ts.slice(0, dot));
  const frac = dot < 0 ? '000000' : ts.slice(dot + 1, dot + 7).padEnd(6, '0');
  const d = new Date(sec * 1000);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${frac}`;
}

/** "512 B", "1.5 kB", "2.3 MB". */
export function formatSize(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** Seconds as "850 µs", "12.3 ms", "1.42 s". */
export function formatDuration(s: number): string {
  if (s < 0.001) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(1)} ms`;
  return `${s.toFixed(2)} s`;
}

function arrow(ev: HttpTraceEvent, from: 'client' | 'server' | undefined): string {
  return from === 'server' ? `${ev.client} ← ${ev.server}` : `${ev.client} → ${ev.server}`;
}

/** The time at the start of a line, with its trailing space ("" with -t). */
function timeText(ts: string, opts: HttpFormatOptions): string {
  const t = opts.time === undefined ? timeOfDay(ts) : opts.time.formatText(ts);
  return t === '' ? '' : `${paint(opts, 'dim', t)} `;
}

function head(ev: HttpStreamEvent | Http2StreamEvent, opts: HttpFormatOptions): string {
  return `${timeText(ev.ts, opts)}${arrow(ev, ev.from)}`;
}

function statusColour(status: number): Colour {
  if (status < 200) return 'cyan';
  if (status < 300) return 'green';
  if (status < 400) return 'blue';
  if (status < 500) return 'yellow';
  return 'red';
}

function headerLines(headers: readonly HeaderField[], opts: HttpFormatOptions): string[] {
  if (!opts.headers && !opts.showHeader) return [];
  const out: string[] = [];
  for (const [name, value] of headers) {
    if (opts.showHeader && !opts.showHeader.test(name)) continue;
    out.push(`    ${paint(opts, 'dim', escapeControl(name) + ':')} ${escapeControl(value)}`);
  }
  return out;
}

/** Control characters other than tab, CR and LF: a payload with them is not printed as text. */
function looksBinary(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text);
}

/**
 * A payload as indented lines: JSON pretty-printed, other UTF-8 text as text (escaped, line by line),
 * anything else "[N bytes binary]".
 */
export function payloadLines(data: Buffer, maxBody: number, truncatedAlready = false, indent = '    '): string[] {
  if (data.length === 0) return [];
  const cutAt = data.length > maxBody ? utf8Boundary(data.subarray(0, maxBody)) : data.length;
  const truncated = truncatedAlready || cutAt < data.length;
  const shown = data.subarray(0, cutAt);
  if (!isUtf8(shown)) return [`${indent}[${data.length} bytes binary${truncated ? ', cut' : ''}]`];
  let text = shown.toString('utf8');
  if (looksBinary(text)) return [`${indent}[${data.length} bytes binary${truncated ? ', cut' : ''}]`];
  const trimmed = text.trim();
  if (!truncated && (trimmed.startsWith('{') || trimmed.startsWith('['))) {
    try {
      text = JSON.stringify(JSON.parse(trimmed), null, 2);
    } catch { /* not JSON: as text */ }
  }
  const lines = text.replace(/\r?\n$/, '').split(/\r?\n/).map((l) => indent + escapeControl(l));
  if (truncated) lines.push(`${indent}[... cut at ${formatSize(cutAt)}]`);
  return lines;
}

function sizes(ev: HttpRequestEvent | HttpResponseEvent): string {
  let s = formatSize(ev.bodyLength);
  if (ev.contentEncoding && ev.contentEncoding.length > 0) s += ` ${ev.contentEncoding.join(',')} → ${formatSize(ev.decodedLength)}`;
  if (ev.incomplete) s += ' (incomplete)';
  if (ev.missingBytes) s += ` (${ev.missingBytes} B missing)`;
  return s;
}

/** " stream 5" and, for gRPC, " grpc Service/Method" — what HTTP/2 adds to a request line. */
function http2RequestText(ev: Http2RequestEvent, opts: HttpFormatOptions): string {
  let s = paint(opts, 'dim', ` stream ${ev.streamId}`);
  if (ev.grpc?.service !== undefined) s += ` ${paint(opts, 'cyan', `grpc ${escapeControl(ev.grpc.service)}/${escapeControl(ev.grpc.method ?? '')}`)}`;
  if (ev.grpc && ev.grpc.stats.messages > 0) s += ` ${ev.grpc.stats.messages} msg`;
  if (ev.headersIncomplete) s += ` (${ev.headersIncomplete} header fields unknown)`;
  return s;
}

function http2ResponseText(ev: Http2ResponseEvent, opts: HttpFormatOptions): string {
  let s = paint(opts, 'dim', ` stream ${ev.streamId}`);
  const g = ev.grpc;
  if (g) {
    const status = g.status === undefined ? 'grpc-status ?' : `grpc-status ${g.status} ${g.statusName}`;
    s += ` ${paint(opts, g.status === 0 ? 'green' : 'red', status)}`;
    if (g.message !== undefined && g.message !== '' && g.message !== g.statusName) s += ` ${JSON.stringify(escapeControl(g.message))}`;
    if (g.stats.messages > 0) s += ` ${g.stats.messages} msg`;
  }
  if (ev.reset) s += ` ${paint(opts, 'red', `reset by ${ev.reset.from}: ${ev.reset.error}`)}`;
  return s;
}

function formatRequest(ev: HttpRequestEvent & ConnectionFields, opts: HttpFormatOptions): string[] {
  let line = `${head(ev, opts)} ${paint(opts, 'bold', `#${ev.index}`)} ${paint(opts, 'green', escapeControl(ev.method))} ${escapeControl(ev.url)}`;
  if (ev.version !== 'HTTP/1.1') line += ` ${escapeControl(ev.version)}`;
  if ('protocol' in ev) line += http2RequestText(ev as unknown as Http2RequestEvent, opts);
  if (ev.bodyLength > 0 || ev.incomplete) line += ` ${sizes(ev)}`;
  const lines = [line, ...headerLines(ev.headers, opts)];
  if (opts.bodies && ev.body) lines.push(...payloadLines(ev.body, opts.maxBody, ev.bodyTruncated === true));
  return lines;
}

function formatResponse(ev: HttpResponseEvent & ConnectionFields, opts: HttpFormatOptions): string[] {
  const index = ev.request ? `#${ev.request.index}` : '#?';
  let line = `${head(ev, opts)} ${paint(opts, 'bold', index)} ${paint(opts, statusColour(ev.status), String(ev.status))} ${escapeControl(ev.reason)}`;
  if ('protocol' in ev) line = `${line.trimEnd()} ${escapeControl(ev.version)}${http2ResponseText(ev as unknown as Http2ResponseEvent, opts)}`;
  if (ev.interim) line += ' (interim)';
  else if (ev.status !== 101 || ev.bodyLength > 0) {
    line += ` ${sizes(ev)}`;
    const type = firstHeaderValue(ev.headers, 'content-type');
    if (type !== undefined) line += ` ${escapeControl(type.split(';')[0]!.trim())}`;
  }
  const t = ev.timing;
  line += ` ${paint(opts, 'magenta', formatDuration(t.total ?? t.transfer))}`;
  if (t.wait !== undefined) line += paint(opts, 'dim', ` (wait ${formatDuration(t.wait)})`);
  const lines = [line, ...headerLines(ev.headers, opts)];
  if (opts.bodies && ev.body) lines.push(...payloadLines(ev.body, opts.maxBody, ev.bodyTruncated === true));
  return lines;
}

function formatUpgrade(ev: HttpUpgradeEvent & ConnectionFields, opts: HttpFormatOptions): string {
  const what = ev.websocket
    ? `websocket${ev.extensions ? ` (${escapeControl(ev.extensions)})` : ''}`
    : ev.decodedAs !== undefined
      ? escapeControl(ev.protocol)
      : `${escapeControl(ev.protocol)} (not decoded${ev.reason ? `: ${escapeControl(ev.reason)}` : ''})`;
  return `${timeText(ev.ts, opts)}${ev.client} ↔ ${ev.server} ${paint(opts, 'cyan', 'upgraded to')} ${what}`;
}

const OPCODE_NAMES: Record<number, string> = {
  [WS_OPCODE.continuation]: 'continuation', [WS_OPCODE.text]: 'text', [WS_OPCODE.binary]: 'binary',
  [WS_OPCODE.close]: 'close', [WS_OPCODE.ping]: 'ping', [WS_OPCODE.pong]: 'pong',
};

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `opcode-${opcode}`;
}

function formatWsMessage(ev: WsMessageEvent & ConnectionFields, opts: HttpFormatOptions): string[] {
  const kind = opcodeName(ev.opcode);
  const line = `${head(ev, opts)} ${paint(opts, 'cyan', `ws ${kind}`)} ${formatSize(ev.length)}${ev.compressed ? ' (deflated)' : ''}${ev.frames > 1 ? ` in ${ev.frames} frames` : ''}`;
  if (ev.opcode === WS_OPCODE.text) {
    const body = payloadLines(ev.data, opts.maxBody);
    // A one-line text message goes on the same line; longer (pretty-printed JSON) below it.
    if (body.length === 1) return [`${line}: ${body[0]!.trimStart()}`];
    return [line, ...body];
  }
  return [`${line} [${ev.length} bytes binary]`];
}

function formatWsControl(ev: WsFrameEvent & ConnectionFields, opts: HttpFormatOptions): string[] {
  let line = `${head(ev, opts)} ${paint(opts, 'cyan', `ws ${opcodeName(ev.opcode)}`)} ${formatSize(ev.length)}`;
  if (ev.length > 0 && isUtf8(ev.data) && !looksBinary(ev.data.toString('utf8'))) line += `: ${escapeControl(ev.data.toString('utf8'))}`;
  return [line];
}

function formatWsClose(ev: WsCloseEvent & ConnectionFields, opts: HttpFormatOptions): string {
  const code = ev.code === undefined ? '(no code)' : String(ev.code);
  return `${head(ev, opts)} ${paint(opts, 'cyan', 'ws close')} ${code}${ev.reason ? ` ${JSON.stringify(escapeControl(ev.reason))}` : ''}`;
}

function formatTcp(ev: TcpEvent, opts: HttpFormatOptions): string {
  const where = `${timeText(ev.ts, opts)}${arrow(ev, 'from' in ev ? ev.from : undefined)} ${paint(opts, 'yellow', `tcp ${ev.type}`)}`;
  switch (ev.type) {
    case 'start': return `${where} #${ev.connection}${ev.midStream ? ' (joined mid-stream)' : ''}`;
    case 'end': {
      const s = ev.stats;
      return `${where} #${ev.connection} ${ev.reason} → ${formatSize(s.clientToServer.bytes)} ← ${formatSize(s.serverToClient.bytes)} in ${formatDuration(s.duration)}`
        + (s.clientToServer.retransmissions + s.serverToClient.retransmissions > 0 ? `, ${s.clientToServer.retransmissions + s.serverToClient.retransmissions} retransmissions` : '')
        + (s.clientToServer.gapBytes + s.serverToClient.gapBytes > 0 ? `, ${s.clientToServer.gapBytes + s.serverToClient.gapBytes} B missing` : '');
    }
    case 'reset': return `${where} by ${ev.from}`;
    case 'retransmit': return `${where} ${ev.kind} seq=${ev.seq} len=${ev.length}`;
    case 'syn-retry': return `${where} attempt ${ev.attempt} seq=${ev.seq}`;
    case 'gap': return `${where} ${ev.length} B ${ev.reason} at offset ${ev.offset}`;
    case 'out-of-order': return `${where} seq=${ev.seq} len=${ev.length}`;
    case 'port-reuse': return `${where} previous #${ev.previous}`;
    case 'keep-alive': return `${where} seq=${ev.seq}`;
    case 'evicted': return `${where} ${ev.limit}`;
    case 'overlap-conflict': return `${where} offset ${ev.offset} len=${ev.length}`;
    case 'zero-window':
    case 'data':
      return where;
  }
}

const WS_TYPES: ReadonlySet<string> = new Set(['ws-frame', 'ws-message', 'ws-close', 'ws-error']);

/** True for WebSocket events and the upgrades that start them. */
export function isWebSocketEvent(ev: HttpTraceEvent): boolean {
  return WS_TYPES.has(ev.type) || (ev.type === 'http-upgrade' && (ev as HttpUpgradeEvent).websocket);
}

/**
 * The human lines of an event (joined with "\n", no trailing newline), or null when it prints nothing:
 * `body` pieces, WebSocket data frames (their message is printed), close frames (the `ws-close` is), TCP
 * events without `opts.tcp` (and TCP `data` always).
 */
export function formatHttpEvent(ev: HttpTraceEvent, opts: HttpFormatOptions): string | null {
  if (isTcpTraceEvent(ev)) return opts.tcp && ev.type !== 'data' ? formatTcp(ev, opts) : null;
  if (opts.websocketOnly && !isWebSocketEvent(ev)) return null;
  switch (ev.type) {
    case 'request': return formatRequest(ev, opts).join('\n');
    case 'response': return formatResponse(ev, opts).join('\n');
    case 'http-upgrade': return formatUpgrade(ev, opts);
    case 'http-error':
    case 'ws-error':
      return `${head(ev, opts)} ${paint(opts, 'red', `! ${ev.code}`)} ${escapeControl(ev.message)}`;
    case 'ws-message': return formatWsMessage(ev, opts).join('\n');
    case 'ws-frame': return ev.opcode === WS_OPCODE.ping || ev.opcode === WS_OPCODE.pong ? formatWsControl(ev, opts).join('\n') : null;
    case 'ws-close': return formatWsClose(ev, opts);
    case 'h2-error': return `${head(ev, opts)} ${paint(opts, 'red', `! ${ev.code}`)}${ev.streamId > 0 ? ` stream ${ev.streamId}` : ''} ${escapeControl(ev.message)}`;
    case 'h2-push': return formatPush(ev, opts);
    case 'h2-rst': return formatRst(ev, opts);
    case 'h2-goaway': return formatGoaway(ev, opts);
    case 'body': return null;
  }
}

function formatPush(ev: Http2PushEvent & ConnectionFields, opts: HttpFormatOptions): string {
  return `${head(ev, opts)} ${paint(opts, 'bold', `#${ev.index}`)} ${paint(opts, 'cyan', 'push')} ${paint(opts, 'green', escapeControl(ev.method))} ${escapeControl(ev.url)} HTTP/2${paint(opts, 'dim', ` stream ${ev.promisedStreamId} promised on ${ev.streamId}`)}`;
}

function formatRst(ev: Http2RstEvent & ConnectionFields, opts: HttpFormatOptions): string {
  return `${head(ev, opts)} ${paint(opts, 'yellow', 'h2 RST_STREAM')} stream ${ev.streamId} ${ev.error}`;
}

function formatGoaway(ev: Http2GoawayEvent & ConnectionFields, opts: HttpFormatOptions): string {
  const debug = ev.debug !== undefined && ev.debug !== '' ? ` ${JSON.stringify(escapeControl(ev.debug))}` : '';
  return `${head(ev, opts)} ${paint(opts, 'yellow', 'h2 GOAWAY')} ${ev.error} last stream ${ev.lastStreamId}${debug}`;
}
