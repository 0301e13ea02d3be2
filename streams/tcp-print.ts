/** `tcpPrinter()`: TCP events in (single or arrays), one text line (or NDJSON object) per event out. */
import { LineTransform, type Typed } from './batch';
import { jsonText } from '../lib/core/json-line';
import { isTcpEvent, tcpEventToJson, type TcpEvent } from '../lib/tcp/events';
import { formatTcpEvent } from '../lib/tcp/print';

export interface TcpPrintOptions {
  /** NDJSON (tcpEventToJson) instead of text lines. */
  json?: boolean;
  /** Print data events (default true). */
  data?: boolean;
}

export class TcpEventPrinter extends LineTransform<TcpEvent> {
  private readonly json: boolean;
  private readonly data: boolean;

  constructor(opts: TcpPrintOptions = {}) {
    super();
    this.json = opts.json ?? false;
    this.data = opts.data ?? true;
  }

  /** Chunks that are not TCP events (other protocols' packets) are not printed. */
  protected override handle(ev: TcpEvent): void {
    if (!isTcpEvent(ev) || (!this.data && ev.type === 'data')) return;
    this.out.push((this.json ? jsonText(tcpEventToJson(ev)) : formatTcpEvent(ev)) + '\n');
  }
}

export function tcpPrinter(opts: TcpPrintOptions = {}): Typed<TcpEventPrinter> {
  return new TcpEventPrinter(opts) as Typed<TcpEventPrinter>;
}
