/**
 * The live web view: a small HTTP server that serves its own page (web/ at the package root) and
 * nothing else, plus a WebSocket endpoint (`/ws`) that sends the page the model (lib/web/model.ts):
 * a snapshot of the recent history when a page connects, then batched updates every ~200 ms.
 *
 * This page shows other people's traffic, so: it binds 127.0.0.1 unless told otherwise, the WebSocket
 * only accepts pages from its own origin (the `Origin` header; a foreign page — or a DNS-rebinding one,
 * whose Origin names the attacker's host — is refused with 403), the assets are read once at start
 * from a fixed list (no path ever reaches the file system), and the page gets a strict CSP.
 *
 *   const view = await startWebView(readCaptureFile('x.pcap'), { port: 0 });
 *   console.log(view.url);  // http://127.0.0.1:PORT/
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebSocket, WebSocketServer } from 'ws';
import type { PacketRecord } from '../lib/core/record';
import { FILE_MAX_ROWS, MAX_ROW_RANGE, WebModel, type CaptureCounters, type WebModelEvent, type WebModelLimits } from '../lib/web/model';
import { BatchTransform, forEachItem } from './batch';
import { TempFileDetailStore } from './web-spill';
import { pcapPipeVersion } from './har';
import { HarTap, WebHarStore, harQuery } from './web-har';
import { buildStages, type StageSpec } from './chain-spec';
import type { SecretsSource, TlsStream } from './tls';
import type { Batchable } from './typed';

export const DEFAULT_WEB_HOST = '127.0.0.1';
/** How often changes are sent to the pages. */
export const DEFAULT_UPDATE_INTERVAL_MS = 200;
/** A page that has this much unsent data is skipped until it catches up, then resynchronised. */
export const MAX_CLIENT_BACKLOG_BYTES = 8 * 1024 * 1024;
/** Rows sent with the snapshot (the newest); the page asks for the others as it scrolls. */
export const SNAPSHOT_TAIL_ROWS = 200;
/** Longest filter text a page may send. */
const MAX_FILTER_CHARS = 500;
/** Messages from the page are tiny requests ({type:'detail', id}, {type:'rows', from, count, filter}). */
const MAX_PAGE_MESSAGE_BYTES = 4096;
/** Pages connected at once. */
export const MAX_PAGES = 32;
export const WS_PATH = '/ws';

/** The page's files: URL path → file under web/ and its content type. Nothing else is served. */
const ASSETS: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
  '/waterfall.js': ['waterfall.js', 'text/javascript; charset=utf-8'],
};

/** `/body/ID/request` or `/body/ID/response`: one captured body, raw (see serveBody). */
const BODY_PATH = /^\/body\/(\d{1,15})\/(request|response)$/;
/** The HAR of the selected exchanges (see serveHar). */
const HAR_PATH = '/har';

/**
 * A captured body is someone else's content: an SVG or HTML body opened in a tab of this origin could
 * run its scripts with the page's rights (read every exchange over the WebSocket). Served with
 * `sandbox` it gets an opaque origin and no scripts, forms, popups or plugins; only its own images
 * and inline styles render.
 */
const BODY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Content types a body is served inline as (everything else is a download of application/octet-stream). */
const INLINE_BODY_TYPE = /^(image\/(png|gif|jpeg|webp|avif|bmp|x-icon|vnd\.microsoft\.icon|svg\+xml)|text\/plain|application\/json)$/;

/** True for the loopback addresses a server may bind without exposing the page to the network. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * The directory of the page's files: web/ at the package root, found by walking up from this file
 * (it runs from dist/streams/ after tsc, and web/ is plain files that tsc does not copy).
 */
export function findWebAssets(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, 'web');
    if (fs.existsSync(path.join(candidate, 'index.html')) && fs.existsSync(path.join(dir, 'package.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`web view assets (web/index.html) not found above ${from}`);
    dir = parent;
  }
}

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [urlPath, [file, type]] of Object.entries(ASSETS)) {
    const full = path.join(dir, file);
    if (fs.existsSync(full)) out.set(urlPath, { body: fs.readFileSync(full), type });
  }
  return out;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Origins a page of this server can have: the bound address (every local address when bound to all) and localhost. */
export function allowedOrigins(host: string, port: number): Set<string> {
  const hosts = new Set<string>([host]);
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  const unspecified = host === '0.0.0.0' || host === '::';
  if (loopback || unspecified) for (const h of ['127.0.0.1', '::1', 'localhost']) hosts.add(h);
  if (unspecified) {
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) hosts.add(a.address.replace(/%.*$/, ''));
    const name = os.hostname();
    if (name) hosts.add(name);
  }
  const out = new Set<string>();
  for (const h of hosts) out.add(`http://${hostForUrl(h)}:${port}`);
  return out;
}

export interface WebServerOptions {
  /** TCP port (0: any free port). Default 0. */
  port?: number;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Milliseconds between updates. Default 200. */
  updateIntervalMs?: number;
  /** Live capture counters (kernel drops), read every update. */
  stats?: () => CaptureCounters;
  /** Directory of the page's files (default: findWebAssets()). */
  assetsDir?: string;
  /** Shown in the page's title bar: what is being watched. */
  title?: string;
  /** The HAR entries served at /har (the waterfall and the "Download HAR" button); none without. */
  har?: WebHarStore;
}

/** Serves the page and keeps every connected page up to date with `model`. */
export class WebViewServer {
  readonly model: WebModel;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly assets: Map<string, Asset>;
  private readonly opts: WebServerOptions;
  private readonly sockets = new Set<Socket>();
  /** Pages whose backlog grew too large: they get a fresh snapshot once it drains. */
  private readonly stale = new Set<WebSocket>();
  private origins = new Set<string>();
  /** `host:port` values a request to this server may carry (its origins without the scheme). */
  private hosts = new Set<string>();
  /** Pages whose detail requests are not read while their backlog drains (see pageConnected). */
  private readonly paused = new Set<WebSocket>();
  private _address = '';
  private timer: NodeJS.Timeout | undefined;
  private _url = '';

  constructor(model: WebModel, opts: WebServerOptions = {}) {
    this.model = model;
    this.opts = opts;
    this.assets = loadAssets(opts.assetsDir ?? findWebAssets());
    if (!this.assets.has('/')) throw new Error('web view assets: index.html missing');
    this.server = http.createServer((req, res) => this.serveAsset(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAGE_MESSAGE_BYTES, perMessageDeflate: false });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.wss.on('connection', (ws: WebSocket) => this.pageConnected(ws));
  }

  /** The page's URL (after listen). */
  get url(): string {
    return this._url;
  }

  /** The address and port actually bound, e.g. "0.0.0.0:8080" or "[::1]:5000" (after listen). */
  get address(): string {
    return this._address;
  }

  /** Bytes queued toward all pages (the sum of their WebSocket backlogs). */
  get backlogBytes(): number {
    let n = 0;
    for (const ws of this.wss.clients) n += ws.bufferedAmount;
    return n;
  }

  /** Pages connected now. */
  get pages(): number {
    return this.wss.clients.size;
  }

  async listen(): Promise<string> {
    const host = this.opts.host ?? DEFAULT_WEB_HOST;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const port = (this.server.address() as AddressInfo).port;
    this.origins = allowedOrigins(host, port);
    this.hosts = new Set([...this.origins].map((o) => o.slice('http://'.length)));
    this._address = `${hostForUrl(host)}:${port}`;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    this._url = `http://${hostForUrl(shown)}:${port}/`;
    this.timer = setInterval(() => this.sendUpdates(), this.opts.updateIntervalMs ?? DEFAULT_UPDATE_INTERVAL_MS);
    return this._url;
  }

  /** Sends what changed now (also done by the timer). */
  sendUpdates(): void {
    if (this.opts.stats) {
      try {
        this.model.setCaptureCounters(this.opts.stats());
      } catch {
        // a closed capture handle keeps its last counters
      }
    }
    this.model.tick(Date.now());
    const update = this.model.takeUpdate();
    for (const ws of this.wss.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (this.paused.has(ws) && ws.bufferedAmount < MAX_CLIENT_BACKLOG_BYTES / 2) {
        this.paused.delete(ws);
        ws.resume();
      }
      if (this.stale.has(ws)) {
        if (ws.bufferedAmount === 0) {
          this.stale.delete(ws);
          this.sendSnapshot(ws);
        }
        continue;
      }
      if (update === null) continue;
      if (ws.bufferedAmount > MAX_CLIENT_BACKLOG_BYTES) {
        this.stale.add(ws);
        continue;
      }
      ws.send(JSON.stringify({ type: 'update', ...update }));
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private serveAsset(req: http.IncomingMessage, res: http.ServerResponse): void {
    const [urlPath = '', query = ''] = (req.url ?? '').split('?');
    const body = BODY_PATH.exec(urlPath);
    if (body) return this.serveBody(req, res, Number(body[1]), body[2] as 'request' | 'response', query === 'download');
    if (urlPath === HAR_PATH && this.opts.har) return this.serveHar(req, res, this.opts.har, query);
    const asset = this.assets.get(urlPath);
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end('method not allowed\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': asset.body.length, ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  /**
   * The HAR of the exchanges the filter selects (streams/web-har.ts). Captured content, so only for
   * requests naming this server in Host (as serveBody), and as an attachment.
   */
  private serveHar(req: http.IncomingMessage, res: http.ServerResponse, store: WebHarStore, query: string): void {
    const plain = { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS };
    if (!this.hosts.has(req.headers.host ?? '')) {
      res.writeHead(403, plain);
      res.end('forbidden\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', ...plain });
      res.end('method not allowed\n');
      return;
    }
    const q = harQuery(query);
    const text = Buffer.from(store.document(q.filter, q), 'utf8');
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': text.length,
      'Content-Disposition': 'attachment; filename="pcap-pipe.har"',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  /**
   * One captured body, raw: inline (images, plain text, JSON) under BODY_HEADERS' sandbox, anything
   * else (and `?download`) as an attachment. Only for requests naming this server in Host, so a
   * DNS-rebinding page (same origin under the attacker's name) cannot read bodies either.
   */
  private serveBody(req: http.IncomingMessage, res: http.ServerResponse, id: number, side: 'request' | 'response', download: boolean): void {
    const plain = { 'Content-Type': 'text/plain; charset=utf-8', ...BODY_HEADERS };
    if (!this.hosts.has(req.headers.host ?? '')) {
      res.writeHead(403, plain);
      res.end('forbidden\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', ...plain });
      res.end('method not allowed\n');
      return;
    }
    const found = this.model.body(id, side);
    if (!found) {
      res.writeHead(404, plain);
      res.end('not found (the exchange dropped off the history, or its body was not kept)\n');
      return;
    }
    const declared = (found.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const inline = !download && INLINE_BODY_TYPE.test(declared);
    res.writeHead(200, {
      ...BODY_HEADERS,
      'Content-Type': inline ? (declared.startsWith('image/') ? declared : `${declared}; charset=utf-8`) : 'application/octet-stream',
      'Content-Length': found.data.length,
      'Content-Disposition': inline ? 'inline' : `attachment; filename="exchange-${id}-${side}.bin"`,
    });
    res.end(req.method === 'HEAD' ? undefined : found.data);
  }

  private upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if ((req.url ?? '').split('?')[0] !== WS_PATH) return refuse(404, 'Not Found');
    const origin = req.headers.origin;
    if (origin === undefined || !this.origins.has(origin)) return refuse(403, 'Forbidden');
    if (this.wss.clients.size >= MAX_PAGES) return refuse(503, 'Service Unavailable');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private pageConnected(ws: WebSocket): void {
    this.sendSnapshot(ws);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString('utf8'));
      } catch {
        return;
      }
      const m = msg as { type?: unknown; id?: unknown; from?: unknown; count?: unknown; filter?: unknown };
      if (m.type === 'detail' && typeof m.id === 'number') {
        const id = m.id;
        this.reply(ws, () => ({ type: 'detail', id, detail: this.model.detail(id) ?? null }));
      } else if (m.type === 'rows' && typeof m.from === 'number' && typeof m.count === 'number') {
        const filter = typeof m.filter === 'string' ? m.filter.slice(0, MAX_FILTER_CHARS) : '';
        const from = m.from, count = Math.min(m.count, MAX_ROW_RANGE);
        this.reply(ws, () => ({ type: 'rows', ...this.model.rowRange(from, count, filter) }));
      }
    });
    ws.on('close', () => {
      this.stale.delete(ws);
      this.paused.delete(ws);
    });
    ws.on('error', () => ws.terminate());
  }

  /**
   * Answers a page's request (detail, rows) with the same bound as updates: a page that asks and never
   * reads would otherwise grow the server by one reply (up to two bodies, or a page of rows) per
   * request. Past the backlog limit its requests are not read any more (the socket is paused, so TCP
   * pushes back on the page) until the backlog has halved (checked on every update tick); requests
   * already parsed meanwhile are dropped unanswered.
   */
  private reply(ws: WebSocket, build: () => object): void {
    if (ws.bufferedAmount > MAX_CLIENT_BACKLOG_BYTES) {
      this.pauseReading(ws);
      return;
    }
    ws.send(JSON.stringify(build()));
    if (ws.bufferedAmount > MAX_CLIENT_BACKLOG_BYTES) this.pauseReading(ws);
  }

  private pauseReading(ws: WebSocket): void {
    if (this.paused.has(ws)) return;
    this.paused.add(ws);
    ws.pause();
  }

  private sendSnapshot(ws: WebSocket): void {
    ws.send(JSON.stringify({ type: 'snapshot', title: this.opts.title ?? null, har: this.opts.har !== undefined, ...this.model.snapshot(SNAPSHOT_TAIL_ROWS) }));
  }
}

/** Counts every packet record (single or arrays) into the model, passing it on unchanged. */
export class PacketCounter extends BatchTransform<PacketRecord, PacketRecord> {
  constructor(private readonly model: WebModel) {
    super({ highWaterMark: 16 });
  }

  protected override handle(rec: PacketRecord): void {
    this.model.packet(rec);
    this.out.push(rec);
  }
}

/** The end of the chain: TCP and HTTP/WebSocket events (single or arrays) into the model. */
export class WebModelSink extends Writable {
  constructor(private readonly model: WebModel) {
    super({ objectMode: true, highWaterMark: 16 });
  }

  override _write(chunk: Batchable<WebModelEvent>, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    forEachItem(chunk, (ev) => this.model.event(ev));
    done();
  }
}

export interface WebViewOptions extends WebServerOptions {
  /**
   * 'live' (default): the table is a window of the newest maxRows exchanges. 'file': every exchange stays
   * in the table (up to FILE_MAX_ROWS), and the headers and bodies of those that leave memory are spilled
   * to a temp file (streams/web-spill.ts) so that each one can still be opened.
   */
  input?: 'live' | 'file';
  /** Model limits (rows kept, body bytes, ...); they win over what `input` chooses. */
  limits?: Partial<WebModelLimits>;
  /** A tls() stage: TLS connections are decrypted (with its key log) before HTTP parsing. */
  tls?: TlsStream;
  /**
   * Decode, reassemble and parse on this many flow-sharded worker threads (shard(), streams/shard-stage.ts):
   * the events reach the model in the one-thread order. `keyLogFiles` and `secrets` give each worker's tls
   * stage what `tls` has on one thread (key log files; the capture reader's pcapng secrets).
   */
  workers?: { count: number; keyLogFiles: string[]; secrets?: SecretsSource };
}

export interface WebView {
  url: string;
  model: WebModel;
  server: WebViewServer;
  /** Settles when the source ended (or failed); the server keeps running until close(). */
  done: Promise<void>;
  close(): Promise<void>;
}

/**
 * Serves the live view of `source` (a Readable of PacketRecord, single or arrays): packets are counted,
 * decoded, reassembled and parsed (HTTP, WebSocket), and the page follows along. The server stays up
 * after the source ends, so the page can still be looked at; close() stops it.
 */
export async function startWebView(source: Readable, opts: WebViewOptions = {}): Promise<WebView> {
  const file = opts.input === 'file';
  const store = file ? new TempFileDetailStore() : undefined;
  const model = new WebModel({ ...(file ? { maxRows: FILE_MAX_ROWS } : {}), ...opts.limits }, store);
  const har = new WebHarStore({}, { creator: { name: 'pcap-pipe', version: pcapPipeVersion() }, ...(opts.title !== undefined ? { comment: opts.title } : {}) });
  const server = new WebViewServer(model, { har, ...opts });
  let url: string;
  try {
    url = await server.listen();
  } catch (e) {
    store?.close();
    har.close();
    throw e;
  }
  // decode → tcp → (tls) → http as data (streams/chain-spec.ts): run here, or in each worker of opts.workers.
  // Bodies are kept only as far as the page shows them; piecewise body events are not needed.
  const w = opts.workers;
  const stages: StageSpec[] = [
    { stage: 'decode' }, { stage: 'tcp' },
    ...(opts.tls !== undefined || w !== undefined ? [{ stage: 'tls', keyLogFiles: w?.keyLogFiles ?? [] } as const] : []),
    { stage: 'http', maxBody: model.limits.maxBodyBytes },
  ];
  const done = pipeline(
    source,
    new PacketCounter(model),
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    ...(w !== undefined ? [(require('./shard-stage') as typeof import('./shard-stage')).shard({ workers: w.count, stages, ...(w.secrets !== undefined ? { secrets: w.secrets } : {}) })]
      : buildStages(stages, opts.tls !== undefined ? { tls: opts.tls } : {})),
    new HarTap(har, { maxBody: model.limits.maxBodyBytes }),
    new WebModelSink(model),
  ).finally(() => {
    model.end();
    server.sendUpdates();
  });
  // The caller decides what a failed source means; unobserved, it must not crash the process.
  done.catch(() => undefined);
  const close = async (): Promise<void> => {
    await server.close();
    store?.close();
    har.close();
  };
  return { url, model, server, done, close };
}
