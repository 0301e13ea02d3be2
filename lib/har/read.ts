/**
 * A HAR document (ours, or one a browser saved) → the HTTP events pcap-pipe's printers, filters and web view
 * take (request, response, http-upgrade, ws-message), so `pcap-pipe har2ndjson` and `http --from-har` show a
 * browser's trace with the same tools as a capture.
 *
 * What a HAR does not hold is not made up: frames are 0, body sizes fall back to the content's length, and a
 * client address that is not in the HAR is 0.0.0.0 with the entry's `connection` as port. Entries that are
 * not HAR (no request method or URL) are skipped and reported; anything else readable is used.
 *
 * Times come from startedDateTime and the timings: request first byte = start + blocked + dns + connect,
 * last byte = + send, response first byte = + wait, last byte = + receive (ssl lies inside connect).
 */
import { isUtf8 } from 'node:buffer';
import { CaptureError } from '../core/errors';
import { formatTimestamp } from '../core/record';
import type { HeaderField, HttpRequestEvent, HttpResponseEvent, HttpStreamEvent, HttpTiming, HttpUpgradeEvent } from '../http/events';
import type { ConnectionFields as HttpConnectionFields } from '../tcp/events';
import type { WsMessageEvent } from '../http/ws-events';
import { firstHeader } from './fields';

/** A HAR entry that could not be used, by its position in log.entries. */
export interface HarSkippedEntry {
  entry: number;
  reason: string;
}

export interface HarReadResult {
  /** In capture-time order (a connection's request before its response, its messages after both). */
  events: HttpStreamEvent[];
  skipped: HarSkippedEntry[];
  /** log.creator.name and version, when present. */
  creator?: string;
}

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function str(x: unknown, fallback = ''): string {
  return typeof x === 'string' ? x : fallback;
}

function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** A phase's duration in seconds: -1 / absent / negative count as 0. */
function phase(timings: Json, name: string): number {
  const v = num(timings[name]);
  return v !== undefined && v > 0 ? v / 1000 : 0;
}

function headerFields(x: unknown): HeaderField[] {
  if (!Array.isArray(x)) return [];
  const out: HeaderField[] = [];
  for (const h of x) if (isObject(h) && typeof h.name === 'string') out.push([h.name, str(h.value)]);
  return out;
}

/** "http/1.1", "HTTP/1.1", "h2", "HTTP/2.0", "" → the start-line form our events use. */
function httpVersion(v: unknown): string {
  const s = str(v).trim().toUpperCase();
  if (s === 'H2' || s === 'HTTP/2.0') return 'HTTP/2';
  if (s === 'H3' || s === 'HTTP/3.0') return 'HTTP/3';
  return /^HTTP\/\d(\.\d)?$/.test(s) ? s : s === '' ? 'HTTP/1.1' : s;
}

/** A capture position for a time in seconds (frame 0: not from a capture). */
function at(seconds: number): { ts: string; tsSec: number; tsNsec: number } {
  const sec = Math.floor(seconds);
  const nsec = Math.min(999_999_999, Math.max(0, Math.round((seconds - sec) * 1e9)));
  return { ts: formatTimestamp(sec, nsec), tsSec: sec, tsNsec: nsec };
}

/** The URL's parts: the request target (path and query as written) and the authority. */
function splitUrl(url: string): { target: string; authority: string; scheme: string } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(url);
  if (!m) return { target: url, authority: '', scheme: '' };
  const target = m[3]!;
  return { scheme: m[1]!.toLowerCase(), authority: m[2]!, target: target === '' ? '/' : target.startsWith('/') ? target : `/${target}` };
}

/** The server endpoint "ip:port": serverIPAddress (or the URL's host) with the URL's port. */
function serverEndpoint(entry: Json, authority: string, scheme: string): string {
  const hostPort = /^(?:[^@]*@)?(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(authority);
  const port = hostPort?.[2] ?? (scheme === 'https' || scheme === 'wss' ? '443' : '80');
  let host = str(entry.serverIPAddress) || (hostPort?.[1] ?? '');
  if (host.startsWith('[')) host = host.slice(1, -1);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Body bytes of a postData: its text (base64 when marked so), or its params form-encoded. */
function postDataBody(postData: unknown): { body?: Buffer; mimeType?: string } {
  if (!isObject(postData)) return {};
  const mimeType = str(postData.mimeType) || undefined;
  if (typeof postData.text === 'string') {
    const base64 = postData._encoding === 'base64' || postData.encoding === 'base64';
    return { body: Buffer.from(postData.text, base64 ? 'base64' : 'utf8'), mimeType };
  }
  if (Array.isArray(postData.params)) {
    const text = postData.params.filter(isObject)
      .map((p) => `${encodeURIComponent(str(p.name))}=${encodeURIComponent(str(p.value))}`).join('&');
    return { body: Buffer.from(text), mimeType };
  }
  return { mimeType };
}

function contentBody(content: unknown): Buffer | undefined {
  if (!isObject(content) || typeof content.text !== 'string') return undefined;
  return Buffer.from(content.text, content.encoding === 'base64' ? 'base64' : 'utf8');
}

function codings(headers: HeaderField[]): string[] | undefined {
  const value = firstHeader(headers, 'content-encoding');
  if (value === undefined) return undefined;
  const list = value.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
  return list.length > 0 ? list : undefined;
}

/** Keeps `events` in time order with a stable tie-break (creation order). */
interface Timed {
  t: number;
  n: number;
  ev: HttpStreamEvent;
}

/** Turns a parsed HAR document into events. Throws a CaptureError ('HAR_INVALID') when it has no log.entries. */
export function harToEvents(doc: unknown): HarReadResult {
  if (!isObject(doc) || !isObject(doc.log) || !Array.isArray(doc.log.entries)) {
    throw new CaptureError('HAR_INVALID', 'not a HAR document: no log.entries');
  }
  const creator = isObject(doc.log.creator) ? `${str(doc.log.creator.name)} ${str(doc.log.creator.version)}`.trim() : undefined;
  const skipped: HarSkippedEntry[] = [];
  const timed: Timed[] = [];
  let n = 0;
  const add = (t: number, ev: HttpStreamEvent): void => { timed.push({ t, n: n++, ev }); };
  /** Connection numbers: ours (_pcap), else one per distinct `connection` id, else one per entry. */
  const byConnectionId = new Map<string, number>();
  const requestCount = new Map<number, number>();
  let nextConnection = 0;
  const entries = doc.log.entries as unknown[];
  const usedNumbers = new Set<number>();
  for (const e of entries) {
    if (isObject(e) && isObject(e._pcap) && typeof e._pcap.connection === 'number') usedNumbers.add(e._pcap.connection);
  }
  const fresh = (): number => {
    while (usedNumbers.has(nextConnection)) nextConnection++;
    usedNumbers.add(nextConnection);
    return nextConnection++;
  };

  entries.forEach((entry, i) => {
    if (!isObject(entry) || !isObject(entry.request) || typeof entry.request.method !== 'string' || typeof entry.request.url !== 'string') {
      skipped.push({ entry: i, reason: 'no request method and URL' });
      return;
    }
    const started = Date.parse(str(entry.startedDateTime));
    if (!Number.isFinite(started)) {
      skipped.push({ entry: i, reason: `startedDateTime ${JSON.stringify(entry.startedDateTime)} is not a date` });
      return;
    }
    const req = entry.request;
    const pcap = isObject(entry._pcap) ? entry._pcap : undefined;
    const { target, authority, scheme } = splitUrl(req.url as string);
    const reqHeaders = headerFields(req.headers);
    // without a Host header (HTTP/2's :authority) the absolute URL carries the host, as a proxy request would
    const url = firstHeader(reqHeaders, 'host') !== undefined ? target : (req.url as string);
    let connection: number;
    if (pcap && typeof pcap.connection === 'number') connection = pcap.connection;
    else if (typeof entry.connection === 'string' && entry.connection !== '') {
      const key = `${entry.connection}|${str(entry.serverIPAddress)}`;
      connection = byConnectionId.get(key) ?? fresh();
      byConnectionId.set(key, connection);
    } else connection = fresh();
    const clientPort = Number(entry.connection);
    const fields: HttpConnectionFields = {
      connection,
      client: pcap && typeof pcap.client === 'string' ? pcap.client : `0.0.0.0:${Number.isInteger(clientPort) && clientPort >= 0 && clientPort <= 65535 ? clientPort : 0}`,
      server: pcap && typeof pcap.server === 'string' ? pcap.server : serverEndpoint(entry, authority, scheme),
    };
    const index = pcap && typeof pcap.index === 'number' ? pcap.index : (requestCount.get(connection) ?? 0) + 1;
    requestCount.set(connection, Math.max(index, requestCount.get(connection) ?? 0));

    const timings = isObject(entry.timings) ? entry.timings : {};
    const requestStart = started / 1000 + phase(timings, 'blocked') + phase(timings, 'dns') + phase(timings, 'connect');
    const requestSent = requestStart + phase(timings, 'send');
    const firstByte = requestSent + phase(timings, 'wait');
    const complete = firstByte + phase(timings, 'receive');
    const version = httpVersion(req.httpVersion);

    const { body: reqBody } = postDataBody(req.postData);
    const reqBodySize = num(req.bodySize);
    const reqLength = reqBodySize !== undefined && reqBodySize >= 0 ? reqBodySize : reqBody?.length ?? 0;
    const request: HttpRequestEvent & HttpConnectionFields = {
      type: 'request', ...at(requestSent), frame: 0, from: 'client', method: req.method as string, url, version,
      headers: reqHeaders, index, bodyLength: reqLength, decodedLength: reqBody?.length ?? reqLength,
      startTs: at(requestStart).ts, startFrame: 0, ...fields,
    };
    const reqHeadersSize = num(req.headersSize);
    if (reqHeadersSize !== undefined && reqHeadersSize >= 0) request.headerBytes = reqHeadersSize;
    if (reqBody !== undefined && reqBody.length > 0) request.body = reqBody;
    add(requestSent, request);

    const res = isObject(entry.response) ? entry.response : undefined;
    const status = res ? num(res.status) ?? 0 : 0;
    if (!res || status <= 0) return; // no response (a failed or aborted request)
    const resHeaders = headerFields(res.headers);
    const body = contentBody(res.content);
    const contentSize = isObject(res.content) ? num(res.content.size) : undefined;
    const decodedLength = contentSize !== undefined && contentSize >= 0 ? contentSize : body?.length ?? 0;
    const resBodySize = num(res.bodySize);
    const timing: HttpTiming = {
      requestStart, requestSent, firstByte, complete,
      wait: firstByte - requestSent, transfer: complete - firstByte, total: complete - requestStart,
    };
    const response: HttpResponseEvent & HttpConnectionFields = {
      type: 'response', ...at(complete), frame: 0, from: 'server', status, reason: str(res.statusText),
      version: httpVersion(res.httpVersion), headers: resHeaders, request: { method: request.method, url, index },
      bodyLength: resBodySize !== undefined && resBodySize >= 0 ? resBodySize : decodedLength, decodedLength,
      startTs: at(firstByte).ts, startFrame: 0, timing, ...fields,
    };
    const resHeadersSize = num(res.headersSize);
    if (resHeadersSize !== undefined && resHeadersSize >= 0) response.headerBytes = resHeadersSize;
    if (body !== undefined && body.length > 0) {
      response.body = body;
      if (body.length < decodedLength) response.bodyTruncated = true;
    }
    const coded = codings(resHeaders);
    if (coded) response.contentEncoding = coded;
    if (status >= 100 && status < 200 && status !== 101) response.interim = true;
    add(complete, response);

    if (status === 101 || Array.isArray(entry._webSocketMessages)) {
      const upgradeTo = firstHeader(resHeaders, 'upgrade') ?? '';
      const websocket = upgradeTo.toLowerCase() === 'websocket' || Array.isArray(entry._webSocketMessages);
      const upgrade: HttpUpgradeEvent & HttpConnectionFields = {
        type: 'http-upgrade', ...at(complete), frame: 0, from: 'server', protocol: upgradeTo || 'websocket', websocket, ...fields,
      };
      add(complete, upgrade);
      if (Array.isArray(entry._webSocketMessages)) {
        for (const m of entry._webSocketMessages) {
          if (!isObject(m) || typeof m.data !== 'string') continue;
          const opcode = num(m.opcode) ?? 1;
          const data = Buffer.from(m.data, opcode === 1 ? 'utf8' : 'base64');
          const time = num(m.time) ?? complete;
          const message: WsMessageEvent & HttpConnectionFields = {
            type: 'ws-message', ...at(time), frame: 0, from: m.type === 'send' ? 'client' : 'server', opcode,
            length: data.length, data, compressed: false, frames: 1, ...fields,
          };
          if (opcode === 1) message.utf8Valid = isUtf8(data);
          add(Math.max(time, complete), message);
        }
      }
    }
  });
  timed.sort((a, b) => a.t - b.t || a.n - b.n);
  return { events: timed.map((x) => x.ev), skipped, ...(creator ? { creator } : {}) };
}

/** Most bytes of a HAR file read (V8 cannot hold a longer string anyway). */
export const MAX_HAR_BYTES = 512 * 1024 * 1024;

/** Parses HAR text; a CaptureError ('HAR_INVALID') when it is not JSON or not a HAR. */
export function parseHar(text: string): HarReadResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CaptureError('HAR_INVALID', `not a HAR document: ${(e as Error).message}`);
  }
  return harToEvents(doc);
}
