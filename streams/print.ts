/**
 * `print()`: Packet in (object mode; arrays too), text out: one summary line per packet, or NDJSON with
 * `json`. Every line ends with "\n" and is already escaped for the terminal (lib/layers/print.ts).
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Packet } from '../lib/layers/decode';
import { formatPacketLine, packetToJson, type LineOptions } from '../lib/layers/print';
import { jsonText } from '../lib/core/json-line';

export interface PrintStreamOptions extends LineOptions {
  /** NDJSON, one object per packet (see packetToJson). */
  json?: boolean;
}

export class PrintStream extends Transform {
  constructor(private readonly opts: PrintStreamOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false });
  }

  private text(pkt: Packet): string {
    // jsonText escapes every control character; lines are escaped by formatPacketLine.
    return (this.opts.json ? jsonText(packetToJson(pkt)) : formatPacketLine(pkt, this.opts)) + '\n';
  }

  override _transform(chunk: Packet | Packet[], _enc: BufferEncoding, done: TransformCallback): void {
    if (Array.isArray(chunk)) {
      let s = '';
      for (const p of chunk) s += this.text(p);
      if (s) this.push(s);
    } else {
      this.push(this.text(chunk));
    }
    done();
  }
}

export function print(opts: PrintStreamOptions = {}): PrintStream {
  return new PrintStream(opts);
}
