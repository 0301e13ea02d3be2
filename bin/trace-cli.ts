/**
 * What the HTTP trace commands share (http_trace, `pcap-pipe http`, `pcap-pipe ws`, and the web view of
 * http_trace --web and `pcap-pipe serve`): the display and selection flags, opening the packet source,
 * running the trace to stdout, watching kernel drops, serving the web view until Ctrl-C. A helper module,
 * not a command: the commands import it, never each other.
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { COLOR_USAGE, describeError, intOption, openReportedCapture, progressFor, safeStdout, UsageError, unsupportedLinkTypes, untilInterrupted, type ParsedArgs } from './cli';
import { emptyFilterSpec, type HttpFilterSpec } from '../lib/trace/filter';
import { countLetterFlag, tcpdumpTimeHelp, tcpdumpTimeStyle, TimeFormatter } from '../lib/core/time';
import { DEFAULT_MAX_BODY } from '../lib/trace/output';
// Live capture, the BPF filter stage and the HAR writer are required where used (-i, a filter
// expression, --har): a trace of a file without them loads ~8 modules fewer at start-up.
import type { CaptureStream } from '../streams/capture';
import { colorFor } from '../streams/colour';
import type { ColourWhen } from '../lib/core/colour';
import type { HarTee } from '../streams/har';
import type { HttpTracePrintOptions } from '../streams/http-trace';
import { buildPrinter, type PrinterSpec, type StageSpec } from '../streams/chain-spec';
import { chain, chainOf, httpTraceChain } from '../streams/trace';
// The web view (and the ws package under it) is loaded only by --web / serve: ~0.1 s of CPU at start-up.
import type { WebViewOptions } from '../streams/web';
import { tlsSummary, type SecretsSource } from '../streams/tls';
import type { CaptureReader } from '../streams/read';
import type { Progress } from '../streams/progress';
import type { TraceCounts } from '../lib/trace/summary';
import type { HttpTraceEvent } from '../lib/trace/output';
import type { Packet } from '../lib/layers/decode';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';

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
${COLOR_USAGE}
  --summary          closing counts on stderr (requests, responses, exchanges, unanswered requests,
                     connections, WebSocket upgrades, parse errors, TCP gaps and missing bytes, packets not
                     decoded), counted before the selection; printed anyway when stderr is a terminal
  -q                 no progress line and no closing counts on a terminal (not even with --summary)
${tcpdumpTimeHelp(21, 'line')}`;

/** The flags shared by http_trace and `pcap-pipe http` (display and selection). */
export const DISPLAY_BOOLEANS = ['headers', 'bodies', 'tcp-verbose', 'json', 't', 'q', 'summary'];
export const DISPLAY_STRINGS = ['show-header', 'max-body', 'har'];
/** Repeatable flags shared the same way (--keylog FILE). */
export const KEY_OPTIONS = ['keylog'];
export const FILTER_OPTIONS = ['method', 'host', 'url', 'user-agent', 'method-ignore', 'host-ignore', 'url-ignore', 'user-agent-ignore'];

/**
 * What to select and how to print it. `color`: the --color flag (undefined: none given; the environment
 * and whether stdout is a terminal decide, see lib/core/colour.ts).
 */
export interface HttpTraceOptions extends Omit<HttpTracePrintOptions, 'color'> {
  color: ColourWhen | undefined;
  filter: HttpFilterSpec;
  /** TLS key log files (--keylog, SSLKEYLOGFILE): TLS connections are decrypted before HTTP parsing. */
  keyLogFiles?: string[];
  /** Also write the selected exchanges to this file as HAR 1.2 (--har). */
  har?: string;
  /** Flow-sharded worker threads (--workers N; 0 or absent: the one-thread pipeline). */
  workers?: number;
  /** -q: no progress line while a file is read, no closing counts. */
  quiet?: boolean;
  /** The closing counts on stderr (lib/trace/summary.ts): true (--summary), 'auto' (when stderr is a terminal), or none. */
  summary?: boolean | 'auto';
}

export { MAX_WORKERS, WORKERS_HELP, workersOption } from './workers-cli';
import { runShardedChain } from './workers-cli';

function regex(source: string, flags: string, option: string, usage: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (e) {
    throw new UsageError(`--${option}: invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message}`, usage);
  }
}

/** The display and selection options from parsed arguments. */
export function traceOptionsFrom(args: ParsedArgs, usage: string, argv: readonly string[] = []): HttpTraceOptions {
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
    color: args.color as ColourWhen | undefined,
    time: new TimeFormatter(tcpdumpTimeStyle(countLetterFlag(argv, 't'))),
    filter: spec,
    keyLogFiles: keyLogFiles(args),
    quiet: Boolean(args.q),
    summary: args.summary ? true : 'auto',
    ...(typeof args.har === 'string' ? { har: args.har } : {}),
  };
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
  /** The capture file reader and its path ('-': stdin), for the progress line. */
  reader?: CaptureReader;
  file?: string;
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

/** Longest a captured packet waits in a kernel ring block before the trace sees it (live), ms. */
export const LIVE_TIMEOUT_MS = 100;
/** Kernel ring of a live trace unless -b says otherwise: seconds of traffic while a busy machine lets us wait. */
export const LIVE_BUFFER_BYTES = 32 * 1024 * 1024;

/** Opens the packet source: a live capture or a capture file (with an optional BPF filter). */
export function openTraceSource(opts: TraceSourceOptions): TraceSource {
  if (opts.file !== undefined) {
    const input = openReportedCapture(opts.file, { command: opts.name, verb: 'used' }, { batch: true });
    const reader = input.reader;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const source: Readable = opts.bpf === undefined ? reader : chain(reader, (require('../streams/filter') as typeof import('../streams/filter')).filter(opts.bpf));
    return { source, stop: () => { reader.destroy(); }, failed: () => input.damaged, undecodable: () => unsupportedLinkTypes(reader), secrets: reader, reader, file: opts.file };
  }
  // Not immediate mode: libpcap's immediate mode uses a ring of fixed, snaplen-sized slots (a few hundred
  // packets in 32 MiB) and wakes us per packet; measured on loopback at 30k packets/s: 5.6 us CPU per packet
  // and 15 % dropped. Ring blocks retired every LIVE_TIMEOUT_MS (or when full) hold packets packed, come in
  // batches of hundreds, and a line is printed at most that much later.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { capture } = require('../streams/capture') as typeof import('../streams/capture');
  const live = capture({ device: opts.device, filter: opts.bpf ?? 'tcp', immediate: false, timeout: LIVE_TIMEOUT_MS, batch: true, bufferSize: opts.bufferSize ?? LIVE_BUFFER_BYTES });
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

/**
 * The tls() stage of a trace: with a key log, or a capture file (its pcapng secrets); none otherwise.
 * `skipWithoutSecrets`: the stage passes everything on untouched when the file turns out to be a classic
 * pcap and no key log is given (nothing to decrypt; ~5 % of http_trace's CPU): for the printed trace and
 * --har, which show nothing of TLS connections they cannot decrypt. Not for the web view (it lists them).
 */
export function traceTlsStage(opts: Pick<HttpTraceOptions, 'keyLogFiles'>, src: TraceSource, skipWithoutSecrets = false): ReturnType<typeof tlsStage> | undefined {
  const files = opts.keyLogFiles ?? [];
  return files.length > 0 || src.secrets !== undefined ? tlsStage(files, src.secrets, skipWithoutSecrets) : undefined;
}

/** The progress line while a trace reads a capture file (none for a live capture); see progressFor. */
function traceProgress(src: TraceSource, opts: HttpTraceOptions, out: Writable): Progress | undefined {
  const reader = src.reader;
  return reader !== undefined ? progressFor(() => [reader], [src.file], opts.quiet === true, out === process.stdout) : undefined;
}

/**
 * lib/trace/summary when the closing counts are printed: never with -q; with --summary; else on a
 * terminal's stderr (as tshark and tcpdump end). Required only then: one module fewer at start-up otherwise.
 */
function closingCounts(opts: HttpTraceOptions): typeof import('../lib/trace/summary') | undefined {
  if (opts.quiet === true || !(opts.summary === true || (opts.summary === 'auto' && process.stderr.isTTY === true))) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require('../lib/trace/summary') as typeof import('../lib/trace/summary');
}

/** The TLS connections a trace could not decrypt, one line on stderr: only when keys were given at all. */
function reportUndecrypted(name: string, keys: number, stats: Parameters<typeof tlsSummary>[0]): void {
  const summary = keys > 0 ? tlsSummary(stats) : undefined;
  if (summary !== undefined) process.stderr.write(`${name}: ${summary} (pcap-pipe tls tells why)\n`);
}

/** After a trace: the line for link types nothing was decoded of; status 1 for that or a damaged input. */
function traceExitStatus(src: TraceSource, name: string): number {
  const undecodable = src.undecodable?.();
  if (undecodable !== undefined) process.stderr.write(`${name}: ${undecodable}\n`);
  return src.failed() || undecodable !== undefined ? 1 : 0;
}

/**
 * The stages of a trace (http_trace, `pcap-pipe http|ws`) as data: one description for the one-thread run
 * and for each worker of --workers. `har`: a HAR tap follows (it needs the TCP events and the bodies, and
 * takes one event at a time). The tls stage is there with a key log or a capture file (pcapng secrets).
 */
function traceChain(opts: HttpTraceOptions, src: TraceSource, har: boolean): StageSpec[] {
  const files = opts.keyLogFiles ?? [];
  return httpTraceChain({
    filter: opts.filter,
    tcpEvents: opts.tcpVerbose || har,
    websocketOnly: opts.websocketOnly,
    // the printer takes whole batches (one string each); the HAR tap takes one event at a time
    batches: !har,
    maxBody: opts.bodies || har ? opts.maxBody : 0,
    ...(files.length > 0 || src.secrets !== undefined ? { tls: files } : {}),
  });
}

/** The printer of a trace as data (the colour decided here, from `out`). */
function tracePrinter(opts: HttpTraceOptions, out: Writable): Extract<PrinterSpec, { printer: 'http-trace' }> {
  return {
    printer: 'http-trace', json: opts.json, headers: opts.headers, ...(opts.showHeader !== undefined ? { showHeader: opts.showHeader } : {}),
    bodies: opts.bodies, maxBody: opts.maxBody, tcpVerbose: opts.tcpVerbose, color: !opts.json && colorFor(out, opts.color),
    ...(opts.websocketOnly !== undefined ? { websocketOnly: opts.websocketOnly } : {}),
    ...(opts.time !== undefined ? { timeStyle: opts.time.style } : {}),
  };
}

/** Runs a trace from a source to stdout; returns the exit code. */
export async function runTrace(src: TraceSource, opts: HttpTraceOptions, name: string, out: Writable = safeStdout()): Promise<number> {
  if (opts.workers !== undefined && opts.workers > 0) return runShardedTrace(src, opts, name, opts.workers, out);
  const onSignal = (): void => src.stop();
  const stopWatching = src.live ? watchDrops(src.live, name) : undefined;
  // --har: the HAR needs the TCP events (handshake, connection end) and the bodies, printed or not
  let tee: HarTee | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    if (opts.har !== undefined) tee = (require('../streams/har') as typeof import('../streams/har')).harTee(opts.har, { maxBody: opts.maxBody, passTcp: opts.tcpVerbose, comment: `${name}: ${src.live ? `live on ${src.live.device}` : 'capture file'}` });
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
  const tlsStream = traceTlsStage(opts, src, true);
  const progress = traceProgress(src, opts, out);
  const closing = closingCounts(opts);
  const counts: TraceCounts | undefined = closing?.emptyTraceCounts();
  try {
    // the chain as data, the same as each worker of --workers builds (streams/chain-spec.ts)
    const events = chainOf(src.source, traceChain(opts, src, tee !== undefined), {
      ...(tlsStream !== undefined ? { tls: tlsStream } : {}),
      ...(closing !== undefined && counts !== undefined ? { onEvent: (ev: HttpTraceEvent) => closing.countEvent(counts, ev), onPacket: (p: Packet) => closing.countPacket(counts, p.errors.length > 0) } : {}),
    });
    const printer = buildPrinter(tracePrinter(opts, out));
    if (tee) await pipeline(events, tee, printer, out);
    else await pipeline(events, printer, out);
    progress?.stop();
    if (closing !== undefined && counts !== undefined) process.stderr.write(`${closing.formatTraceSummary(name, counts)}\n`);
    if (tlsStream !== undefined) reportUndecrypted(name, (opts.keyLogFiles ?? []).length + tlsStream.keyLog.size, tlsStream.stats);
  } finally {
    progress?.stop();
    stopWatching?.();
    if (stoppable) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    src.live?.close();
  }
  return traceExitStatus(src, name);
}

/**
 * runTrace on worker threads (streams/shard.ts): the same stages per worker, the lines merged back in the
 * one-thread order. The tls stage is there when it would be on one thread (a key log, or a capture file).
 */
async function runShardedTrace(src: TraceSource, opts: HttpTraceOptions, name: string, workers: number, out: Writable): Promise<number> {
  const files = opts.keyLogFiles ?? [];
  // the closing counts as runTrace has them (summed over the workers); the progress line as runTrace's, or
  // from the workers' reading when they read the file themselves (runShardedChain)
  const closing = closingCounts(opts);
  const progress = src.reader === undefined ? traceProgress(src, opts, out) : undefined;
  let result: Awaited<ReturnType<typeof runShardedChain>>;
  try {
    result = await runShardedChain({
      workers, source: src.source, out, ...(src.secrets !== undefined ? { secrets: src.secrets } : {}),
      chain: { stages: traceChain(opts, src, false), printer: tracePrinter(opts, out) },
      counts: closing !== undefined,
      ...(src.file !== undefined ? { file: src.file } : {}),
      ...(src.reader !== undefined ? { progress: { reader: src.reader, quiet: opts.quiet === true, stdoutUsed: out === process.stdout } } : {}),
      report: { command: name, verb: 'used' },
    });
  } finally {
    progress?.stop();
  }
  if (closing !== undefined && result.counts !== undefined) process.stderr.write(`${closing.formatTraceSummary(name, result.counts)}\n`);
  if (result.tls !== undefined) reportUndecrypted(name, files.length + result.tls.keys, result.tls.stats);
  const input = result.input;
  return traceExitStatus(input === undefined ? src : { ...src, failed: () => input.damaged !== undefined, undecodable: () => unsupportedLinkTypes(input) }, name);
}

/**
 * Starts the web view on `source`, prints the URL, and serves until Ctrl-C (also after the input ended, so
 * the page can still be looked at). Returns false when the source failed. Shared with `http_trace --web`.
 * `damaged`: the input was reported damaged already (its one line said how many packets were used), so
 * the end of the input needs no second line.
 */
export async function serveUntilInterrupted(source: Readable, opts: WebViewOptions, name: string, damaged: () => boolean = () => false): Promise<boolean> {
  let ok = true;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { DEFAULT_WEB_HOST, isLoopbackHost, startWebView } = require('../streams/web') as typeof import('../streams/web');
  const view = await startWebView(source, opts);
  const address = view.server.address;
  process.stdout.write(`${name}: open ${view.url}  (listening on ${address}; Ctrl-C to stop)\n`);
  if (!isLoopbackHost(opts.host ?? DEFAULT_WEB_HOST)) {
    process.stderr.write(`${name}: WARNING: listening on ${address}, not a loopback address: anyone who can reach ` +
      `this machine can load this page, which shows captured traffic (bodies included); only the Origin check ` +
      `guards its WebSocket. Use --host 127.0.0.1 unless that is what you want.\n`);
  }
  view.done.then(
    () => { if (!damaged()) process.stderr.write(`${name}: input ended after ${view.model.snapshot().counters.packets} packets; still serving ${view.url}\n`); },
    (e: unknown) => {
      ok = false;
      process.stderr.write(`${name}: ${describeError(e)}; still serving ${view.url}\n`);
    },
  );
  await untilInterrupted();
  await view.close();
  return ok;
}
