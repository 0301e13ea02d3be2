/**
 * The two ends of an HTTP trace (http_trace, `pcap-pipe http`, `pcap-pipe ws`): the selection stage after
 * http(), and the printer that turns the selected events into text lines or NDJSON. The chain between
 * them is httpTracePipeline() in streams/trace.ts.
 */
import type { TimeFormatter } from '../lib/core/time';
import { BatchTransform, LineTransform, type Typed } from './batch';
import { jsonText } from '../lib/core/json-line';
import { HttpRequestFilter, emptyFilterSpec, type HttpFilterSpec } from '../lib/trace/filter';
import { formatHttpEvent, httpEventToJson, isTcpTraceEvent, type HttpTraceEvent } from '../lib/trace/output';

export interface HttpTraceSelectOptions {
  /** Selection (default: everything). */
  filter?: HttpFilterSpec;
  /** Keep the TCP events (all but `data`) in the output. */
  tcpEvents?: boolean;
  /** Only WebSocket events and the upgrades (pcap-pipe ws). */
  websocketOnly?: boolean;
  /**
   * Arrays in, arrays out (for a printer, which writes a whole batch as one string). Default: one event
   * per chunk, for consumers that take one at a time (the web view, the HAR tap).
   */
  batches?: boolean;
  /** Sees every event before the selection (the closing counts of lib/trace/summary.ts). */
  onEvent?: (ev: HttpTraceEvent) => void;
}

/**
 * Keeps the selected events (HttpRequestFilter: a hidden request hides its response and the WebSocket
 * traffic after it), one event per chunk out even when fed arrays. Body pieces and TCP data are dropped.
 */
export class HttpTraceSelect extends BatchTransform<HttpTraceEvent, HttpTraceEvent> {
  private readonly selection: HttpRequestFilter;

  constructor(private readonly opts: HttpTraceSelectOptions = {}) {
    super({ highWaterMark: 256 });
    this.selection = new HttpRequestFilter(opts.filter ?? emptyFilterSpec());
  }

  /** Batches are taken apart (the web view and the HAR tap take one event at a time) unless `batches`. */
  protected override pushBatch(events: HttpTraceEvent[]): void {
    if (this.opts.batches) super.pushBatch(events);
    else this.pushEach(events);
  }

  protected override handle(ev: HttpTraceEvent): void {
    if (typeof ev !== 'object' || ev === null || typeof ev.type !== 'string') return;
    this.opts.onEvent?.(ev);
    if (ev.type === 'body' || ev.type === 'data') return;
    // tls-connection / tls-error: the command prints a summary of them at the end (stderr).
    if ((ev.type as string).startsWith('tls-')) return;
    const out = this.out;
    const before = out.length;
    this.selection.push(ev, out);
    // Drop what this output does not want (after the filter saw it: it needs `end` to forget connections).
    for (let i = out.length - 1; i >= before; i--) {
      const e = out[i]!;
      const tcpEvent = isTcpTraceEvent(e);
      if ((tcpEvent && !this.opts.tcpEvents) || (this.opts.websocketOnly && !tcpEvent && !e.type.startsWith('ws-') && e.type !== 'http-upgrade')) {
        out.splice(i, 1);
      }
    }
  }
}

export function httpTraceSelect(opts: HttpTraceSelectOptions = {}): Typed<HttpTraceSelect> {
  return new HttpTraceSelect(opts) as Typed<HttpTraceSelect>;
}

/** How the printer shows events. */
export interface HttpTracePrintOptions {
  /** NDJSON, one object per event, instead of text lines. */
  json: boolean;
  headers: boolean;
  showHeader?: RegExp;
  bodies: boolean;
  maxBody: number;
  /** Print the TCP events too. */
  tcpVerbose: boolean;
  /** ANSI colours (text lines only). */
  color: boolean;
  /** WebSocket layout (pcap-pipe ws). */
  websocketOnly?: boolean;
  /** How text lines print times (tcpdump's -t letters); default: local time of day. */
  time?: TimeFormatter;
}

/** HttpTraceEvent objects in, text lines (or NDJSON) out. */
export class HttpTracePrinter extends LineTransform<HttpTraceEvent> {
  constructor(private readonly opts: HttpTracePrintOptions) {
    // Output in writes of >= 64 KiB (or what one event-loop turn produced): one write per event cost
    // 110 k write() calls on the 1 M-packet bench capture.
    super(64 * 1024);
  }

  protected override handle(ev: HttpTraceEvent): void {
    const line = this.format(ev);
    if (line !== null) this.out.push(line + '\n');
  }

  private format(ev: HttpTraceEvent): string | null {
    const o = this.opts;
    if (o.json) {
      const obj = httpEventToJson(ev, { bodies: o.bodies, maxBody: o.maxBody, tcp: o.tcpVerbose });
      return obj === null ? null : jsonText(obj);
    }
    return formatHttpEvent(ev, {
      color: o.color, headers: o.headers, showHeader: o.showHeader, bodies: o.bodies, maxBody: o.maxBody,
      tcp: o.tcpVerbose, websocketOnly: o.websocketOnly, ...(o.time !== undefined ? { time: o.time } : {}),
    });
  }
}

export function httpTracePrinter(opts: HttpTracePrintOptions): Typed<HttpTracePrinter> {
  return new HttpTracePrinter(opts) as Typed<HttpTracePrinter>;
}
