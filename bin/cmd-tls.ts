/** `pcap-pipe tls [--json] [--keylog FILE]... [--no-defragment] [FILE]`: the TLS connections of a capture. */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openReportedCapture, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { formatTlsConnection, formatTlsError } from '../lib/tls/print';
import { jsonText } from '../lib/core/json-line';
import type { TlsConnectionEvent, TlsErrorEvent } from '../lib/tls/events';

export const USAGE = `usage: pcap-pipe tls [--json] [--keylog FILE]... [--no-defragment] [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and prints one line per TLS connection: version,
  cipher suite, SNI, ALPN, the server certificate (subject, issuer, validity: visible in TLS 1.2, and in
  TLS 1.3 when decrypted), the JA4 client fingerprint, and whether it can be decrypted with the keys
  given (or why not). Problems after decryption started (bad MAC, gap) get a line of their own.
  --json           NDJSON: the tls-connection and tls-error events
${KEYLOG_USAGE}
  --no-defragment  do not reassemble IP fragments first`;

class TlsPrinter extends Transform {
  /** Connections reported not decryptable: their error is already on their line. */
  private readonly undecrypted = new Set<number>();

  constructor(private readonly json: boolean) {
    super({ writableObjectMode: true, readableObjectMode: false });
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

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json', 'defragment'], repeatable: ['keylog'], default: { defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const file = args._.length ? String(args._[0]) : undefined;
  const input = openReportedCapture(file, { command: 'pcap-pipe tls', verb: 'used' }, { batch: true });
  await pipeline(
    input.reader,
    decode({ depth: 'transport', defragment: Boolean(args.defragment) }),
    tcp(),
    tlsStage(keyLogFiles(args), input.reader),
    new TlsPrinter(Boolean(args.json)),
    safeStdout(),
  );
  return input.damaged ? 1 : 0;
}
