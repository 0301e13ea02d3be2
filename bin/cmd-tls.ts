/** `pcap-pipe tls [--json] [--keylog FILE]... [--no-defragment] [FILE]`: the TLS connections of a capture. */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openReportedCapture, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { KEYLOG_USAGE, tlsStage } from './tls-options';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { escapeControl } from '../lib/core/escape';
import type { TlsConnectionEvent, TlsErrorEvent } from '../lib/tls/events';

export const USAGE = `usage: pcap-pipe tls [--json] [--keylog FILE]... [--no-defragment] [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and prints one line per TLS connection: version,
  cipher suite, SNI, ALPN, the server certificate (subject, issuer, validity: visible in TLS 1.2, and in
  TLS 1.3 when decrypted), the JA4 client fingerprint, and whether it can be decrypted with the keys
  given (or why not). Problems after decryption started (bad MAC, gap) get a line of their own.
  --json           NDJSON: the tls-connection and tls-error events
${KEYLOG_USAGE}
  --no-defragment  do not reassemble IP fragments first`;

function text(s: string | undefined): string {
  return s === undefined ? '-' : escapeControl(s);
}

/** One line for a connection. */
export function formatTlsConnection(ev: TlsConnectionEvent): string {
  const cert = ev.certificates[0];
  const parts = [
    `${ev.ts} #${ev.connection} ${ev.client} > ${ev.server}`,
    ev.version ?? '-', ev.cipherSuite ?? '-',
    `sni=${text(ev.sni)}`,
    `alpn=${ev.alpn !== undefined ? text(ev.alpn) : ev.alpnOffered.length > 0 ? `(offered ${text(ev.alpnOffered.join(','))})` : '-'}`,
    `ja4=${ev.ja4 ?? '-'}`,
  ];
  if (ev.resumed) parts.push('resumed');
  if (ev.helloRetryRequest) parts.push('hello-retry');
  if (cert !== undefined) parts.push(`cert="${text(cert.subject)}" issuer="${text(cert.issuer)}" valid=${cert.validFrom}..${cert.validTo}`);
  parts.push(ev.decryptable ? 'decrypted' : `not-decrypted(${ev.reason ?? 'no application data'})`);
  return parts.join(' ');
}

export function formatTlsError(ev: TlsErrorEvent): string {
  return `${ev.ts} #${ev.connection} ${ev.client} > ${ev.server} tls-error ${ev.code}${ev.from ? ` ${ev.from}` : ''}: ${escapeControl(ev.message)}`;
}

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
        out += (this.json ? JSON.stringify(c) : formatTlsConnection(c)) + '\n';
      } else if (type === 'tls-error') {
        const e = ev as TlsErrorEvent;
        if (this.json) out += JSON.stringify(e) + '\n';
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
    tlsStage(args, input.reader),
    new TlsPrinter(Boolean(args.json)),
    safeStdout(),
  );
  return input.damaged ? 1 : 0;
}
