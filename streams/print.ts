/**
 * `print()`: Packet in (object mode; arrays too), text out: one summary line per packet, or NDJSON with
 * `json`. Every line ends with "\n" and is already escaped for the terminal (lib/layers/print.ts).
 */
import { LineTransform, type Typed } from './batch';
import { jsonText } from '../lib/core/json-line';
import type { Packet } from '../lib/layers/decode';
import { formatPacketLine, packetToJson, type LineOptions } from '../lib/layers/print';

export interface PrintStreamOptions extends LineOptions {
  /** NDJSON, one object per packet (see packetToJson). */
  json?: boolean;
  /** Print at most this many packets (tcpdump -c); later packets are dropped. */
  count?: number;
  /** Called once when `count` packets were printed (e.g. to stop reading the input). */
  onCount?: () => void;
}

export class PrintStream extends LineTransform<Packet> {
  private printed = 0;

  constructor(private readonly opts: PrintStreamOptions = {}) {
    super();
  }

  protected override handle(pkt: Packet): void {
    const limit = this.opts.count;
    if (limit !== undefined && this.printed >= limit) return;
    // jsonText escapes every control character; lines are escaped by formatPacketLine.
    this.out.push((this.opts.json ? jsonText(packetToJson(pkt)) : formatPacketLine(pkt, this.opts)) + '\n');
    if (++this.printed === limit) this.opts.onCount?.();
  }
}

export function print(opts: PrintStreamOptions = {}): Typed<PrintStream> {
  return new PrintStream(opts) as Typed<PrintStream>;
}
