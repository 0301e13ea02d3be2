/**
 * `tlsPrinter()`: the events of a tls() stage in (single or arrays), one text line (or NDJSON object) per
 * TLS connection out, and a line per problem found after decryption had started (a connection that was
 * never decrypted has its reason on its own line already). Other chunks are not printed.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { jsonText } from '../lib/core/json-line';
import type { TlsConnectionEvent, TlsErrorEvent } from '../lib/tls/events';
import { formatTlsConnection, formatTlsError } from '../lib/tls/print';

export interface TlsPrintOptions {
  /** NDJSON: every tls-connection and tls-error event. */
  json?: boolean;
}

export class TlsEventPrinter extends Transform {
  private readonly json: boolean;
  /** Connections reported not decryptable: their error is already on their line. */
  private readonly undecrypted = new Set<number>();

  constructor(opts: TlsPrintOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false });
    this.json = opts.json ?? false;
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    let out = '';
    for (const ev of Array.isArray(chunk) ? chunk : [chunk]) {
      const type = (ev as { type?: string }).type;
      if (type === 'tls-connection') {
        const c = ev as TlsConnectionEvent;
        if (!c.decryptable) this.undecrypted.add(c.connection);
        out += (this.json ? jsonText(c) : formatTlsConnection(c)) + '\n';
      } else if (type === 'tls-error') {
        const e = ev as TlsErrorEvent;
        if (this.json) out += jsonText(e) + '\n';
        else if (!this.undecrypted.has(e.connection)) out += formatTlsError(e) + '\n';
      }
    }
    if (out) this.push(out);
    done();
  }
}

export function tlsPrinter(opts: TlsPrintOptions = {}): TlsEventPrinter {
  return new TlsEventPrinter(opts);
}
