/**
 * A stage chain as data: which stages, in which order, with which options — a plain object that survives
 * structured cloning (RegExps travel, functions and class instances do not), so one description builds
 * the chain of a command on one thread (streams/trace.ts) and the same chain inside each worker of a
 * sharded run (`--workers N`, streams/shard-worker.ts). A command says once what it runs; the worker
 * does not know any command.
 *
 *   { stages: [{ stage: 'decode' }, { stage: 'tcp' }, { stage: 'http', maxBody: 0 }, ...], printer: { printer: 'tcp', ... } }
 *
 * What cannot travel is given where the chain is built, as ChainHooks: the tls() stage wired to the
 * capture reader's pcapng secrets, the functions that count packets and events for the closing counts.
 * Stage modules are required when a chain uses them (start-up: see the top of streams/trace.ts).
 */
import type { Duplex } from 'node:stream';
import type { HttpFilterSpec } from '../lib/trace/filter';
import type { HttpTraceEvent } from '../lib/trace/output';
import type { Packet } from '../lib/layers/decode';
import type { TcpLimits } from '../lib/tcp/reassembler';
import type { TimeStyle } from '../lib/core/time';
import type { TlsStream } from './tls';

/** One stage of a chain. */
export type StageSpec =
  /** decode({ depth: 'transport' }): records → packets (IP fragments reassembled unless `defragment` is false). */
  | { stage: 'decode'; defragment?: boolean }
  /** tcp(): packets → TCP events. */
  | { stage: 'tcp'; limits?: Partial<TcpLimits> }
  /** tls(): decrypts TLS connections with `keyLogFiles` (and, on one thread, the reader's pcapng secrets: ChainHooks.tls). */
  | { stage: 'tls'; keyLogFiles: string[] }
  /**
   * http(): TCP events → HTTP and WebSocket events; `maxBody` decoded body bytes kept per message;
   * `tcpData: false`: TCP data events are not passed on (see HttpStreamOptions).
   */
  | { stage: 'http'; maxBody: number; tcpData?: boolean }
  /** httpTraceSelect(): the selection of http_trace / pcap-pipe http|ws. */
  | { stage: 'http-trace-select'; filter?: HttpFilterSpec; tcpEvents: boolean; websocketOnly: boolean; batches: boolean }
  /**
   * grep({ output: 'verdicts' }) with the matcher compileMatcher(pattern, { hex, ignoreCase, word }) makes
   * (a Matcher holds functions: the pattern travels, and each thread compiles it).
   */
  | {
    stage: 'grep'; pattern: string; hex: boolean; ignoreCase: boolean; word: boolean; invert: boolean; stream: boolean;
    after: number; lookBehind?: number;
  }
  /**
   * A user's stage: `require(module)[exportName ?? 'default'](options)` must return an object-mode
   * Transform (a BatchTransform runs synchronously in a worker; any other Transform is driven as a stream).
   */
  | { stage: 'module'; module: string; exportName?: string; options?: unknown };

/** How the end of a chain is printed (each printer knows where connection numbers sit in its lines). */
export type PrinterSpec =
  | {
    printer: 'http-trace'; json: boolean; headers: boolean; showHeader?: RegExp; bodies: boolean; maxBody: number;
    tcpVerbose: boolean; color: boolean; websocketOnly?: boolean; timeStyle?: TimeStyle;
  }
  | { printer: 'tcp'; json: boolean; data: boolean; timeStyle?: TimeStyle }
  /** grep's verdicts as `pcap-pipe grep` prints them (GrepSink.verdictText), per-packet mode. */
  | {
    printer: 'grep'; json: boolean; color: boolean; hexdump: boolean; layout: 'normal' | 'byline' | 'single'; timeStyle?: TimeStyle;
    stream: boolean; invert: boolean;
  }
  /**
   * No printing: the chain's output objects themselves (shard(), streams/shard-stage.ts), serialised with
   * v8.serialize (plain data: events, Buffers; not functions), their connection numbers made global.
   */
  | { printer: 'objects' }
  /** `pcap-pipe follow` to stdout: followSink() on one thread, FollowItems (streams/follow-items.ts) in a worker. */
  | { printer: 'follow'; mode: 'ascii' | 'hex' | 'raw' };

export interface ChainSpec {
  stages: StageSpec[];
  printer?: PrinterSpec;
}

/** What a chain needs that is not data: built by whoever builds the chain. */
export interface ChainHooks {
  /** The tls stage to use for a 'tls' spec (one thread: wired to the reader's secrets). */
  tls?: TlsStream;
  /** Sees every decoded packet (a tap right after decode: the closing counts). */
  onPacket?: (p: Packet) => void;
  /** Sees every event before the selection (the closing counts). */
  onEvent?: (ev: HttpTraceEvent) => void;
}

/* eslint-disable @typescript-eslint/no-var-requires */
const load = {
  decode: (): typeof import('./decode') => require('./decode') as typeof import('./decode'),
  tap: (): typeof import('./tap') => require('./tap') as typeof import('./tap'),
  tcp: (): typeof import('./tcp') => require('./tcp') as typeof import('./tcp'),
  tls: (): typeof import('./tls') => require('./tls') as typeof import('./tls'),
  http: (): typeof import('./http') => require('./http') as typeof import('./http'),
  httpTrace: (): typeof import('./http-trace') => require('./http-trace') as typeof import('./http-trace'),
  tcpPrint: (): typeof import('./tcp-print') => require('./tcp-print') as typeof import('./tcp-print'),
  time: (): typeof import('../lib/core/time') => require('../lib/core/time') as typeof import('../lib/core/time'),
};
/* eslint-enable @typescript-eslint/no-var-requires */

/** A user's stage from its module (see StageSpec 'module'). */
export function moduleStage(spec: Extract<StageSpec, { stage: 'module' }>): Duplex {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mod = require(spec.module) as Record<string, unknown>;
  const name = spec.exportName ?? 'default';
  const make = mod[name];
  if (typeof make !== 'function') throw new TypeError(`stage module ${spec.module}: no function exported as ${JSON.stringify(name)}`);
  const stage = (make as (options: unknown) => unknown)(spec.options);
  if (typeof stage !== 'object' || stage === null || typeof (stage as Duplex).write !== 'function' || typeof (stage as Duplex).read !== 'function') {
    throw new TypeError(`stage module ${spec.module}: ${name}() did not return a Transform`);
  }
  return stage as Duplex;
}

/** The stage for one spec. */
export function buildStage(spec: StageSpec, hooks: ChainHooks = {}): Duplex {
  switch (spec.stage) {
    case 'decode': return load.decode().decode({ depth: 'transport', defragment: spec.defragment ?? true });
    case 'tcp': return load.tcp().tcp({ limits: spec.limits });
    case 'tls': return hooks.tls ?? load.tls().tls({ keyLogFiles: spec.keyLogFiles });
    case 'http': return load.http().http({ parser: { bodyEvents: false, maxBody: spec.maxBody }, ...(spec.tcpData !== undefined ? { tcpData: spec.tcpData } : {}) });
    case 'http-trace-select': return load.httpTrace().httpTraceSelect({
      ...(spec.filter !== undefined ? { filter: spec.filter } : {}), tcpEvents: spec.tcpEvents, websocketOnly: spec.websocketOnly, batches: spec.batches,
      ...(hooks.onEvent !== undefined ? { onEvent: hooks.onEvent } : {}),
    });
    case 'grep': {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { compileMatcher } = require('../lib/grep/grep') as typeof import('../lib/grep/grep');
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      return (require('./grep') as typeof import('./grep')).grep(compileMatcher(spec.pattern, { hex: spec.hex, ignoreCase: spec.ignoreCase, word: spec.word }), {
        stream: spec.stream, invert: spec.invert, after: spec.after, lookBehind: spec.lookBehind, output: 'verdicts',
      });
    }
    case 'module': return moduleStage(spec);
  }
}

/** The stages of a chain (without its printer), with a tap after decode when `hooks.onPacket` is given. */
export function buildStages(specs: readonly StageSpec[], hooks: ChainHooks = {}): Duplex[] {
  const out: Duplex[] = [];
  for (const s of specs) {
    out.push(buildStage(s, hooks));
    if (s.stage === 'decode' && hooks.onPacket !== undefined) out.push(load.tap().tap(hooks.onPacket));
  }
  return out;
}

/** The printer for a spec: events in, text lines out. */
export function buildPrinter(spec: PrinterSpec): Duplex {
  const time = (spec.printer === 'http-trace' || spec.printer === 'tcp' || spec.printer === 'grep') && spec.timeStyle !== undefined ? new (load.time().TimeFormatter)(spec.timeStyle) : undefined;
  switch (spec.printer) {
    case 'http-trace': return load.httpTrace().httpTracePrinter({
      json: spec.json, headers: spec.headers, showHeader: spec.showHeader, bodies: spec.bodies, maxBody: spec.maxBody,
      tcpVerbose: spec.tcpVerbose, color: spec.color, websocketOnly: spec.websocketOnly, ...(time !== undefined ? { time } : {}),
    });
    case 'tcp': return load.tcpPrint().tcpPrinter({ json: spec.json, data: spec.data, ...(time !== undefined ? { time } : {}) });
    case 'follow': throw new TypeError('follow prints through followSink() on one thread (a Writable, not a printer stage)');
    case 'grep': throw new TypeError('grep prints through GrepSink on one thread (runGrep)');
    case 'objects': throw new TypeError('objects are not printed');
  }
}

/** The 'tls' stage of a chain, if any. */
export function tlsSpecOf(chain: ChainSpec): Extract<StageSpec, { stage: 'tls' }> | undefined {
  return chain.stages.find((s): s is Extract<StageSpec, { stage: 'tls' }> => s.stage === 'tls');
}
