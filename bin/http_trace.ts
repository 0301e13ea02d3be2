#!/usr/bin/env node
/**
 * http_trace: node_pcap's HTTP tracer rebuilt on pcap-pipe. Live (-i DEV) or from a capture (-r FILE,
 * `-` for stdin): TCP reassembly → HTTP/1.x → WebSocket, one line per request, response and WebSocket
 * message (or NDJSON with --json), selected with repeatable regex filters.
 *
 * The pieces are exported for the other front ends: `pcap-pipe http` / `pcap-pipe ws` (bin/cmd-http.ts,
 * bin/cmd-ws.ts) share the options and the printer, and a web view can take `httpTracePipeline()` (a
 * Readable of selected HttpTraceEvent objects) and `openTraceSource()` and print nothing at all.
 */
import * as fs from 'node:fs';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeError, intOption, openReportedCapture, parseArgs, printUsage, runCommand, safeStdout, UsageError, unsupportedLinkTypes, type ParsedArgs } from './cli';
import { colorFor } from './cmd-grep';
import { serveUntilInterrupted } from './cmd-serve';
import { HttpRequestFilter, emptyFilterSpec, type HttpFilterSpec } from '../lib/http/filter';
import { DEFAULT_MAX_BODY, formatHttpEvent, httpEventToJson, isTcpTraceEvent, type HttpTraceEvent } from '../lib/http/json';
import type { TcpLimits } from '../lib/tcp/reassembler';
import { capture, type CaptureStream } from '../streams/capture';
import { decode } from '../streams/decode';
import { filter } from '../streams/filter';
import { harTee, type HarTee } from '../streams/har';
import { http } from '../streams/http';
import { tcp } from '../streams/tcp';
import { tlsSummary, type SecretsSource, type TlsStream } from '../streams/tls';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';
import { jsonText } from '../lib/core/json-line';

const NAME = 'http_trace';

/** The selection and display options' help, shared by http_trace and `pcap-pipe http`. */
export const DISPLAY_OPTIONS_HELP = `${KEYLOG_USAGE}
  --method RE        show only requests whose method matches RE (repeatable: any of them)
  --host RE          ... whose Host matches RE
  --url RE           ... whose URL matches RE (case-sensitive; the others ignore case)
  --user-agent RE    ... whose User-Agent matches RE
  --method-ignore RE, --host-ignore RE, --url-ignore RE, --user-agent-ignore RE
                     hide the requests that match (repeatable); a hidden request hides its response
                     and the WebSocket traffic after it
  --headers          print the header fields
  --show-header RE   print the header fields whose name matches RE
  --bodies           print bodies (decoded: de-chunked, decompressed): text as text, JSON pretty-printed,
                     binary as "[N bytes binary]"; with --json: "body" (base64 + bodyEncoding when not UTF-8)
  --max-body BYTES   body bytes kept and printed per message (default ${DEFAULT_MAX_BODY}); longer is cut
  --tcp-verbose      also print TCP events: start, end, reset, retransmit, syn-retry, gap, out-of-order, ...
  --har FILE         also write the selected exchanges to FILE as HAR 1.2 (timings from the capture, bodies
                     up to --max-body, WebSocket messages); complete and valid also after Ctrl-C
  --no-color         no colours (they are only used on a terminal anyway)`;

export const USAGE = `usage: http_trace [-i DEV | -r FILE] [-f FILTER] [-b MB] [--method RE] [--host RE] [--url RE]
                  [--user-agent RE] [--method-ignore RE] [--host-ignore RE] [--url-ignore RE]
                  [--user-agent-ignore RE] [--headers] [--show-header RE] [--bodies] [--max-body BYTES]
                  [--tcp-verbose] [--har FILE] [--no-color] [--json] [--web [PORT]] [--keylog FILE]
  Prints HTTP/1.x requests and responses (and WebSocket messages after an upgrade) seen on the network
  or in a capture: time, client → server, #N (request number on its connection), method and URL;
  status, body size, content type and response time (wait: server think time).
  -i DEV             capture live on DEV (default: the first up, non-loopback interface); Ctrl-C stops
  -r FILE            read a capture file (pcap or pcapng) instead; "-" reads stdin
  -f FILTER          tcpdump filter expression (default: "tcp")
  -b MB              kernel capture buffer in MiB (live)
${DISPLAY_OPTIONS_HELP}
  --web [PORT]       show the traffic live in a web page instead (http://127.0.0.1:PORT/; default: any
                     free port, printed); serves until Ctrl-C
  --json             NDJSON, one object per event (request, response, http-upgrade, ws-frame, ws-message,
                     ws-close, http-error, ws-error; TCP events with --tcp-verbose)`;

/** The flags shared by http_trace and `pcap-pipe http` (display and selection). */
export const DISPLAY_BOOLEANS = ['headers', 'bodies', 'tcp-verbose', 'color', 'json'];
export const DISPLAY_STRINGS = ['show-header', 'max-body', 'har'];
/** Repeatable flags shared the same way (--keylog FILE). */
export const KEY_OPTIONS = ['keylog'];
export const FILTER_OPTIONS = ['method', 'host', 'url', 'user-agent', 'method-ignore', 'host-ignore', 'url-ignore', 'user-agent-ignore'];

/** What to select and how to print it. */
export interface HttpTraceOptions {
  json: boolean;
  headers: boolean;
  showHeader?: RegExp;
  bodies: boolean;
  maxBody: number;
  tcpVerbose: boolean;
  /** Colours wanted (--no-color turns them off; they are also off when stdout is not a terminal). */
  color: boolean;
  filter: HttpFilterSpec;
  /** Print only WebSocket traffic (pcap-pipe ws). */
  websocketOnly?: boolean;
  /** TLS key log files (--keylog, SSLKEYLOGFILE): TLS connections are decrypted before HTTP parsing. */
  keyLogFiles?: string[];
  /** Also write the selected exchanges to this file as HAR 1.2 (--har). */
  har?: string;
}

function regex(source: string, flags: string, option: string, usage: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (e) {
    throw new UsageError(`--${option}: invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message}`, usage);
  }
}

/** The display and selection options from parsed arguments. */
export function traceOptionsFrom(args: ParsedArgs, usage: string): HttpTraceOptions {
  const spec = emptyFilterSpec();
  const list = (option: string, flags: string): RegExp[] => (args[option] as string[]).map((s) => regex(s, flags, option, usage));
  spec.method = list('method', 'i');
  spec.host = list('host', 'i');
  spec.url = list('url', '');
  spec.userAgent = list('user-agent', 'i');
  spec.methodIgnore = list('method-ignore', 'i');
  spec.hostIgnore = list('host-ignore', 'i');
  spec.urlIgnore = list('url-ignore', '');
  spec.userAgentIgnore = list('user-agent-ignore', 'i');
  const showHeader = typeof args['show-header'] === 'string' ? regex(args['show-header'], 'i', 'show-header', usage) : undefined;
  return {
    json: Boolean(args.json),
    headers: Boolean(args.headers),
    showHeader,
    bodies: Boolean(args.bodies),
    maxBody: intOption(args, 'max-body', usage, 0) ?? DEFAULT_MAX_BODY,
    tcpVerbose: Boolean(args['tcp-verbose']),
    color: args.color !== false,
    filter: spec,
    keyLogFiles: keyLogFiles(args),
    ...(typeof args.har === 'string' ? { har: args.har } : {}),
  };
}

export interface HttpTracePipelineOptions {
  /** Selection (default: everything). */
  filter?: HttpFilterSpec;
  /** Keep the TCP events (all but `data`) in the output. */
  tcpEvents?: boolean;
  /** Only WebSocket events and the upgrades (pcap-pipe ws). */
  websocketOnly?: boolean;
  /** Decoded body bytes kept on request/response events (0: none; lengths are still counted). */
  maxBody?: number;
  tcpLimits?: Partial<TcpLimits>;
  /** A tls() stage to decrypt TLS connections between TCP and HTTP. */
  tls?: TlsStream;
}

/** Keeps the selected events, one event per chunk out. */
class TraceSelect extends Transform {
  private readonly selection: HttpRequestFilter;
  private readonly out: HttpTraceEvent[] = [];

  constructor(private readonly opts: HttpTracePipelineOptions) {
    super({ objectMode: true, highWaterMark: 256 });
    this.selection = new HttpRequestFilter(opts.filter ?? emptyFilterSpec());
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    if (Array.isArray(chunk)) for (const ev of chunk) this.select(ev as HttpTraceEvent);
    else this.select(chunk as HttpTraceEvent);
    for (const ev of this.out) this.push(ev);
    this.out.length = 0;
    done();
  }

  private select(ev: HttpTraceEvent): void {
    if (typeof ev !== 'object' || ev === null || typeof ev.type !== 'string') return;
    if (ev.type === 'body' || ev.type === 'data') return;
    // tls-connection / tls-error: the command prints a summary of them at the end (stderr).
    if ((ev.type as string).startsWith('tls-')) return;
    const before = this.out.length;
    this.selection.push(ev, this.out);
    // Drop what this output does not want (after the filter saw it: it needs `end` to forget connections).
    for (let i = this.out.length - 1; i >= before; i--) {
      const e = this.out[i]!;
      const tcpEvent = isTcpTraceEvent(e);
      if ((tcpEvent && !this.opts.tcpEvents) || (this.opts.websocketOnly && !tcpEvent && !e.type.startsWith('ws-') && e.type !== 'http-upgrade')) {
        this.out.splice(i, 1);
      }
    }
  }
}

/**
 * PacketRecord source (single records or arrays) → decode → TCP → HTTP/WebSocket → selection: a Readable
 * of HttpTraceEvent objects, one per chunk. Errors of any stage destroy the returned stream.
 */
export function httpTracePipeline(source: Readable, opts: HttpTracePipelineOptions = {}): Readable {
  const stages: (Readable | Transform)[] = [
    source,
    decode({ depth: 'transport', defragment: true }),
    tcp({ limits: opts.tcpLimits }),
    ...(opts.tls !== undefined ? [opts.tls] : []),
    http({ parser: { bodyEvents: false, maxBody: opts.maxBody ?? 0 } }),
    new TraceSelect(opts),
  ];
  const last = stages[stages.length - 1] as Transform;
  for (let i = 0; i < stages.length - 1; i++) {
    stages[i]!.on('error', (e: Error) => last.destroy(e));
    stages[i]!.pipe(stages[i + 1] as Transform);
  }
  return last;
}

/** HttpTraceEvent objects in, text lines (or NDJSON) out. */
export class TracePrinter extends Transform {
  constructor(private readonly opts: HttpTraceOptions, private readonly colour: boolean) {
    super({ writableObjectMode: true, readableObjectMode: false });
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    let text = '';
    for (const ev of Array.isArray(chunk) ? chunk : [chunk]) {
      const line = this.format(ev as HttpTraceEvent);
      if (line !== null) text += line + '\n';
    }
    if (text) this.push(text);
    done();
  }

  private format(ev: HttpTraceEvent): string | null {
    const o = this.opts;
    if (o.json) {
      const obj = httpEventToJson(ev, { bodies: o.bodies, maxBody: o.maxBody, tcp: o.tcpVerbose });
      return obj === null ? null : jsonText(obj);
    }
    return formatHttpEvent(ev, {
      color: this.colour, headers: o.headers, showHeader: o.showHeader, bodies: o.bodies, maxBody: o.maxBody,
      tcp: o.tcpVerbose, websocketOnly: o.websocketOnly,
    });
  }
}

/** Where the packets come from. */
export interface TraceSource {
  source: Readable;
  /** Live capture (for drop statistics and stopping), when -i. */
  live?: CaptureStream;
  /** Stops the input (Ctrl-C). */
  stop(): void;
  /** Set when a capture file was damaged (the complete packets were used). */
  failed(): boolean;
  /** After the run: why some packets could not be decoded at all (an unsupported link type), if so. */
  undecodable?(): string | undefined;
  /** The capture file reader: its pcapng Decryption Secrets Blocks feed TLS decryption. */
  secrets?: SecretsSource;
}

export interface TraceSourceOptions {
  /** Live device (-i); undefined with `file`. */
  device?: string;
  /** Capture file, or '-' for stdin; undefined: live. */
  file?: string;
  /** tcpdump filter expression (default "tcp" live, none on files). */
  bpf?: string;
  /** Kernel buffer in bytes (live). */
  bufferSize?: number;
  name: string;
}

/** Opens the packet source: a live capture or a capture file (with an optional BPF filter). */
export function openTraceSource(opts: TraceSourceOptions): TraceSource {
  if (opts.file !== undefined) {
    if (opts.file !== '-' && !fs.existsSync(opts.file)) throw new Error(`${opts.file}: no such file`);
    const input = openReportedCapture(opts.file, { command: opts.name, verb: 'used' }, { batch: true });
    const reader = input.reader;
    let source: Readable = reader;
    if (opts.bpf !== undefined) {
      const f = filter(opts.bpf);
      reader.on('error', (e) => f.destroy(e));
      source = reader.pipe(f);
    }
    return { source, stop: () => { reader.destroy(); }, failed: () => input.damaged, undecodable: () => unsupportedLinkTypes(reader), secrets: reader };
  }
  const live = capture({ device: opts.device, filter: opts.bpf ?? 'tcp', immediate: true, batch: true, bufferSize: opts.bufferSize });
  return { source: live, live, stop: () => live.stop(), failed: () => false };
}

/** Warns on stderr when the kernel drops packets (checked every second while capturing, and at the end). */
export function watchDrops(live: CaptureStream, name: string, intervalMs = 1000): () => void {
  let reported = 0;
  const check = (): void => {
    let dropped: number;
    try {
      const s = live.stats();
      dropped = s.dropped + (s.ifDropped ?? 0);
    } catch {
      return;
    }
    if (dropped > reported) {
      process.stderr.write(`${name}: warning: the kernel dropped ${dropped - reported} packets (${dropped} so far); some requests may be missing or incomplete (a larger -b may help)\n`);
      reported = dropped;
    }
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    check();
  };
}

/** Runs a trace from a source to stdout; returns the exit code. */
export async function runTrace(src: TraceSource, opts: HttpTraceOptions, name: string, out: Writable = safeStdout()): Promise<number> {
  const onSignal = (): void => src.stop();
  const stopWatching = src.live ? watchDrops(src.live, name) : undefined;
  // --har: the HAR needs the TCP events (handshake, connection end) and the bodies, printed or not
  let tee: HarTee | undefined;
  try {
    if (opts.har !== undefined) tee = harTee(opts.har, { maxBody: opts.maxBody, passTcp: opts.tcpVerbose, comment: `${name}: ${src.live ? `live on ${src.live.device}` : 'capture file'}` });
  } catch (e) {
    process.stderr.write(`${name}: --har: ${describeError(e)}\n`);
    src.stop();
    return 1;
  }
  // Ctrl-C stops the input, so the trace (and the HAR) end properly
  const stoppable = src.live !== undefined || tee !== undefined;
  if (stoppable) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  // TLS: with a key log, or a capture file (a pcapng may carry its secrets in Decryption Secrets Blocks).
  const tlsStream = (opts.keyLogFiles ?? []).length > 0 || src.secrets !== undefined
    ? tlsStage(opts.keyLogFiles ?? [], src.secrets) : undefined;
  try {
    const events = httpTracePipeline(src.source, {
      filter: opts.filter,
      tcpEvents: opts.tcpVerbose || tee !== undefined,
      websocketOnly: opts.websocketOnly,
      maxBody: opts.bodies || tee !== undefined ? opts.maxBody : 0,
      ...(tlsStream !== undefined ? { tls: tlsStream } : {}),
    });
    const colour = opts.color && colorFor(out);
    if (tee) await pipeline(events, tee, new TracePrinter(opts, colour), out);
    else await pipeline(events, new TracePrinter(opts, colour), out);
    const summary = tlsStream !== undefined && (opts.keyLogFiles ?? []).length + tlsStream.keyLog.size > 0 ? tlsSummary(tlsStream.stats) : undefined;
    if (summary !== undefined) process.stderr.write(`${name}: ${summary} (pcap-pipe tls tells why)\n`);
  } finally {
    stopWatching?.();
    if (stoppable) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    src.live?.close();
  }
  const undecodable = src.undecodable?.();
  if (undecodable !== undefined) process.stderr.write(`${name}: ${undecodable}\n`);
  return src.failed() || undecodable !== undefined ? 1 : 0;
}

/** `--web [PORT]` / `--web=PORT`: the port is optional, which minimist cannot express; take it out first. */
function takeWebOption(argv: string[]): { argv: string[]; web: number | undefined } {
  const rest: string[] = [];
  let web: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = /^--web=(.*)$/.exec(a);
    if (a !== '--web' && !eq) { rest.push(a); continue; }
    const value = eq ? eq[1] as string : /^\d+$/.test(argv[i + 1] ?? '') ? argv[++i] as string : '0';
    web = Number(value);
    if (!/^\d+$/.test(value) || web > 65535) throw new UsageError(`--web takes a port number 0..65535, got ${JSON.stringify(value)}`, USAGE);
  }
  return { argv: rest, web };
}

export async function main(argvIn: string[]): Promise<number> {
  const { argv, web } = takeWebOption(argvIn);
  const args = parseArgs(argv, {
    boolean: DISPLAY_BOOLEANS,
    string: ['i', 'r', 'f', 'b', ...DISPLAY_STRINGS],
    repeatable: [...FILTER_OPTIONS, ...KEY_OPTIONS],
    default: { color: true },
  }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(String(args._[0]))} (a filter goes after -f, a file after -r)`, USAGE);
  if (args.i !== undefined && args.r !== undefined) throw new UsageError('-i (live) and -r (file) exclude each other', USAGE);
  const opts = traceOptionsFrom(args, USAGE);
  const mb = intOption(args, 'b', USAGE, 1);
  let src: TraceSource;
  try {
    src = openTraceSource({
      device: args.i as string | undefined,
      file: args.r as string | undefined,
      bpf: args.f as string | undefined,
      bufferSize: mb !== undefined ? mb * 1024 * 1024 : undefined,
      name: NAME,
    });
  } catch (e) {
    process.stderr.write(`${NAME}: ${describeError(e)}\n`);
    return 1;
  }
  if (src.live) process.stderr.write(`${NAME}: listening on ${src.live.device} (filter: ${(args.f as string | undefined) ?? 'tcp'})\n`);
  if (web !== undefined) {
    // The page has its own filter box; the display options are for the terminal.
    const live = src.live;
    const tlsStream = opts.keyLogFiles !== undefined && opts.keyLogFiles.length > 0 || src.secrets !== undefined ? tlsStage(opts.keyLogFiles ?? [], src.secrets) : undefined;
    const ok = await serveUntilInterrupted(src.source, { port: web, title: (args.r as string | undefined) ?? live?.device, stats: live ? () => live.stats() : undefined, input: live ? 'live' : 'file', ...(tlsStream !== undefined ? { tls: tlsStream } : {}) }, NAME);
    src.stop();
    return ok && !src.failed() ? 0 : 1;
  }
  return runTrace(src, opts, NAME);
}

if (require.main === module) runCommand(NAME, main);
