/** `tcpPrinter()`: TCP events in (single or arrays), one text line (or NDJSON object) per event out. */
import { LineTransform, type Typed } from './batch';
import { jsonText } from '../lib/core/json-line';
import { isTcpEvent, tcpEventToJson, type TcpEvent } from '../lib/tcp/events';
import { formatTcpEvent } from '../lib/tcp/print';
import type { TimeFormatter } from '../lib/core/time';

export interface TcpPrintOptions {
  /** NDJSON (tcpEventToJson) instead of text lines. */
  json?: boolean;
  /** Print data events (default true). */
  data?: boolean;
  /** How text lines print times (tcpdump's -t letters); default epoch seconds with 9 decimals. */
  time?: TimeFormatter;
}

export class TcpEventPrinter extends LineTransform<TcpEvent> {
  private readonly json: boolean;
  private readonly data: boolean;
  private readonly time: TimeFormatter | undefined;

  constructor(opts: TcpPrintOptions = {}) {
    super();
    this.json = opts.json ?? false;
    this.data = opts.data ?? true;
    this.time = opts.time;
  }

  /** Chunks that are not TCP events (other protocols' packets) are not printed. */
  protected override handle(ev: TcpEvent): void {
    if (!isTcpEvent(ev) || (!this.data && ev.type === 'data')) return;
    this.out.push((this.json ? jsonText(tcpEventToJson(ev)) : formatTcpEvent(ev, this.time)) + '\n');
  }
}

export function tcpPrinter(opts: TcpPrintOptions = {}): Typed<TcpEventPrinter> {
  return new TcpEventPrinter(opts) as Typed<TcpEventPrinter>;
}
