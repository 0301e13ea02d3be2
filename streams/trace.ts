/**
 * The pipeline builder. Every chain of stages pcap-pipe puts together, for the commands and for users, is
 * composed here with `stream.pipeline`, so the chain lives and dies as one: an error in any stage, or any
 * stage destroyed (a consumer that throws or stops reading, EPIPE, Ctrl-C), destroys every other stage,
 * the source and its file included, and the error reaches whoever reads the end of the chain.
 *
 *   source ─▶ decode() ─▶ tcp() ─▶ http() ─▶ httpTraceSelect()      httpTracePipeline()
 *   source ─▶ decode() ─▶ tcp()                                      tcpEvents()
 *   source ─▶ decode() ─▶ grep() ─▶ GrepSink ─▶ text / pcap          runGrep()
 *
 * The commands (bin/) only parse flags, call these, and pipe the end into a printer and stdout.
 */
import { pipeline as pipelineCallback, type Duplex, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PacketRecord } from '../lib/core/record';
import type { PcapFileHeader } from '../lib/formats/pcap';
import type { GrepMatch, Matcher } from '../lib/grep/grep';
import type { PacketPrefilter } from '../lib/grep/prefilter';
import type { HttpTraceEvent } from '../lib/trace/output';
import type { TcpLimits } from '../lib/tcp/reassembler';
import type { Packet } from '../lib/layers/decode';
import type { GrepSink, GrepTextOutput } from './grep-print';
import type { HttpStreamOptions, HttpStreamOutput } from './http';
import type { HttpTraceSelectOptions } from './http-trace';
import type { CaptureReader } from './read';
import type { TcpStreamOptions, TcpStreamOutput } from './tcp';
import type { TlsStream } from './tls';
import type { Item, ReadableOf, Rebatch, StageOf, TypedReadable } from './typed';
import type { writePcap } from './write';

import { decode } from './decode';
import { buildStages, type ChainHooks, type StageSpec } from './chain-spec';
// Every command loads this module for chain(); the stages are required where a pipeline needs them
// (streams/chain-spec.ts), not here, so that grep does not load TCP/HTTP/HTTP2 (~30 modules) nor tcp the grep
// ones: start-up is a fresh process per command (measured on a 20-packet file: grep 103 -> 68 modules
// loaded, tcp 103 -> 54).

/**
 * `source → stages...` composed with stream.pipeline; returns the last stage (the source when there are
 * none) to be read, piped on, or handed to another pipeline. Destroying it destroys the whole chain; an
 * error anywhere destroys every stage with that error, so the reader of the end sees it. The chunk types
 * follow the stages (and stay arrays when the source is batched).
 */
export function chain<A>(source: ReadableOf<A>): TypedReadable<A>;
export function chain<A, B>(source: ReadableOf<A>, s1: StageOf<B>): TypedReadable<Rebatch<A, Item<B>>>;
export function chain<A, B, C>(source: ReadableOf<A>, s1: StageOf<B>, s2: StageOf<C>): TypedReadable<Rebatch<A, Item<C>>>;
export function chain<A, B, C, D>(source: ReadableOf<A>, s1: StageOf<B>, s2: StageOf<C>, s3: StageOf<D>): TypedReadable<Rebatch<A, Item<D>>>;
export function chain<A, B, C, D, E>(source: ReadableOf<A>, s1: StageOf<B>, s2: StageOf<C>, s3: StageOf<D>, s4: StageOf<E>): TypedReadable<Rebatch<A, Item<E>>>;
export function chain(source: Readable, ...stages: Duplex[]): Readable;
export function chain(source: Readable, ...stages: Duplex[]): Readable {
  if (stages.length === 0) return source;
  const streams = [source, ...stages] as [Readable, ...Duplex[]];
  // The callback has nothing to do: on failure pipeline has already destroyed every stage with the
  // error, the last one included, so whoever reads the end gets it as that stream's 'error'.
  pipelineCallback(streams, () => undefined);
  return stages[stages.length - 1] as Duplex;
}

export interface HttpEventsOptions extends HttpStreamOptions {
  /** TCP reassembler options. */
  tcp?: TcpStreamOptions;
  /** Reassemble IP fragments before TCP (default true). */
  defragment?: boolean;
}

/**
 * PacketRecords (single or arrays: readCapture's / capture()'s batch mode) → decode → tcp → http: TCP,
 * HTTP and WebSocket events.
 *
 *   for await (const ev of httpEvents(readCaptureFile('x.pcap'))) if (ev.type === 'request') console.log(ev.url);
 */
export function httpEvents<A extends PacketRecord | PacketRecord[]>(source: ReadableOf<A>, opts: HttpEventsOptions = {}): TypedReadable<Rebatch<A, HttpStreamOutput>> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return chain(source, decode({ depth: 'transport', defragment: opts.defragment ?? true }), (require('./tcp') as typeof import('./tcp')).tcp(opts.tcp), (require('./http') as typeof import('./http')).http(opts));
}

export interface TcpEventsOptions extends TcpStreamOptions {
  /** Reassemble IP fragments before TCP (default true). */
  defragment?: boolean;
}

/** The stages of tcpEvents() as data (streams/chain-spec.ts): what `pcap-pipe tcp` runs on one thread or in workers. */
export function tcpEventsChain(opts: Pick<TcpEventsOptions, 'defragment' | 'limits'> = {}): StageSpec[] {
  return [{ stage: 'decode', defragment: opts.defragment ?? true }, { stage: 'tcp', ...(opts.limits !== undefined ? { limits: opts.limits } : {}) }];
}

/** PacketRecords (single or arrays) → decode → tcp: TCP connection events. */
export function tcpEvents<A extends PacketRecord | PacketRecord[]>(source: ReadableOf<A>, opts: TcpEventsOptions = {}): TypedReadable<Rebatch<A, TcpStreamOutput>> {
  if (opts.highWaterMark !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return chain(source, decode({ depth: 'transport', defragment: opts.defragment ?? true }), (require('./tcp') as typeof import('./tcp')).tcp(opts));
  }
  return chainOf(source, tcpEventsChain(opts)) as TypedReadable<Rebatch<A, TcpStreamOutput>>;
}

/** `source → stages` from a chain description (streams/chain-spec.ts), composed as chain() does. */
export function chainOf(source: Readable, stages: readonly StageSpec[], hooks: ChainHooks = {}): Readable {
  return chain(source, ...buildStages(stages, hooks));
}

export interface HttpTracePipelineOptions extends HttpTraceSelectOptions {
  /** Decoded body bytes kept on request/response events (0: none; lengths are still counted). */
  maxBody?: number;
  tcpLimits?: Partial<TcpLimits>;
  /** A tls() stage to decrypt TLS connections between TCP and HTTP. */
  tls?: TlsStream;
  /** Sees every decoded packet (a stage is added only when given): the closing counts. */
  onPacket?: (p: Packet) => void;
}

/**
 * PacketRecords (single or arrays) → decode → TCP → HTTP/WebSocket → selection: the selected
 * HttpTraceEvent objects, one per chunk (what http_trace prints and its web view shows).
 */
export function httpTracePipeline(source: ReadableOf<PacketRecord | PacketRecord[]>, opts: HttpTracePipelineOptions = {}): TypedReadable<HttpTraceEvent> {
  const hooks: ChainHooks = {
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    ...(opts.onPacket !== undefined ? { onPacket: opts.onPacket } : {}),
    ...(opts.onEvent !== undefined ? { onEvent: opts.onEvent } : {}),
  };
  return chainOf(source as Readable, httpTraceChain({ ...opts, tls: opts.tls !== undefined ? [] : undefined }), hooks) as TypedReadable<HttpTraceEvent>;
}

export interface HttpTraceChainOptions extends Omit<HttpTracePipelineOptions, 'tls' | 'onPacket' | 'onEvent'> {
  /** A tls stage between TCP and HTTP, with these key log files (undefined: no tls stage). */
  tls?: string[];
}

/**
 * The stages of httpTracePipeline() as data (streams/chain-spec.ts): decode → TCP → (tls) → HTTP/WebSocket
 * → selection. What http_trace and `pcap-pipe http|ws` run, on one thread or in each worker of --workers.
 */
export function httpTraceChain(opts: HttpTraceChainOptions = {}): StageSpec[] {
  return [
    { stage: 'decode' },
    { stage: 'tcp', ...(opts.tcpLimits !== undefined ? { limits: opts.tcpLimits } : {}) },
    ...(opts.tls !== undefined ? [{ stage: 'tls', keyLogFiles: opts.tls } as const] : []),
    // TCP `data` events stop at http: the selection drops them (and the closing counts count none)
    { stage: 'http', maxBody: opts.maxBody ?? 0, tcpData: false },
    {
      stage: 'http-trace-select', ...(opts.filter !== undefined ? { filter: opts.filter } : {}), tcpEvents: opts.tcpEvents ?? false,
      websocketOnly: opts.websocketOnly ?? false, batches: opts.batches ?? false,
    },
  ];
}

export interface GrepRunOptions {
  matcher: Matcher;
  invert: boolean;
  stream: boolean;
  after: number;
  maxMatches: number | undefined;
  lookBehind: number | undefined;
  /** Where packet records come from (a file/stdin reader, a filter after it, a live capture). */
  source: Readable;
  /** The file reader, when reading a capture (its header is copied to pcap output). */
  reader?: CaptureReader;
  /** Text/JSON output (undefined: none). */
  text?: GrepTextOutput;
  /** pcap output of the selected packets (stdout or a file). */
  pcap?: Writable;
  /** Called when -n COUNT was reached: stop the source (the pipeline then ends and flushes). */
  stop: () => void;
}

export interface GrepRunResult {
  selected: number;
  matches: number;
}

/**
 * One grep: source → decode → grep → GrepSink, and the selected records → writePcap → `pcap` when asked.
 * Resolves when every output is flushed; rejects (with every stage destroyed) when any part fails.
 */
export async function runGrep(opts: GrepRunOptions): Promise<GrepRunResult> {
  // Required here (see the top of this file): only grep loads them.
  /* eslint-disable @typescript-eslint/no-var-requires */
  const { grep } = require('./grep') as typeof import('./grep');
  const { GrepSink: Sink } = require('./grep-print') as { GrepSink: typeof GrepSink };
  const { PacketPrefilter: Prefilter } = require('../lib/grep/prefilter') as { PacketPrefilter: typeof PacketPrefilter };
  /* eslint-enable @typescript-eslint/no-var-requires */
  let pcapWriter: ReturnType<typeof writePcap> | undefined;
  let pcapDone: Promise<void> | undefined;
  if (opts.pcap !== undefined) {
    const reader = opts.reader;
    // only with pcap output (-O, -w)
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    pcapWriter = (require('./write') as { writePcap: typeof writePcap }).writePcap({
      // an empty result is still a valid capture, with the input's link type and snaplen
      configure: () => {
        const h: PcapFileHeader | null | undefined = reader?.pcapHeader;
        return h ? { sourceHeader: h } : {};
      },
    });
    pcapDone = pipeline(pcapWriter, opts.pcap);
    pcapDone.catch(() => undefined); // awaited below once the grep chain is done; failures surface there
  }
  // The fast path: packets grep would certainly not select are left out by the reader, unbuilt. Only
  // when the reader feeds grep directly (no filter stage between) and each packet is judged alone.
  if (opts.reader !== undefined && opts.source === opts.reader && !opts.stream && !(opts.after !== undefined && opts.after > 0)) {
    opts.reader.setSkipper(new Prefilter(opts.matcher, { invert: opts.invert }));
  }
  const g = grep(opts.matcher, {
    stream: opts.stream, invert: opts.invert, after: opts.after, maxMatches: opts.maxMatches,
    lookBehind: opts.lookBehind, output: 'verdicts',
  });
  const sink = new Sink({ text: opts.text, pcap: pcapWriter, stream: opts.stream, invert: opts.invert });
  g.on('match', (m: GrepMatch) => sink.match(m));
  g.on('limit', () => opts.stop());
  try {
    await pipeline(opts.source, decode({ depth: 'transport' }), g, sink);
  } catch (e) {
    pcapWriter?.destroy();
    throw e;
  }
  await pcapDone;
  return { selected: g.selected, matches: g.matches };
}
