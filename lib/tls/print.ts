/** One text line per TLS event (pcap-pipe tls). Captured strings (SNI, ALPN, certificate names) are escaped. */
import { escapeControl } from '../core/escape';
import type { TlsConnectionEvent, TlsErrorEvent } from './events';

function text(s: string | undefined): string {
  return s === undefined ? '-' : escapeControl(s);
}

/** One line for a connection: who, version, cipher, SNI, ALPN, JA4, certificate, decrypted or why not. */
export function formatTlsConnection(ev: TlsConnectionEvent): string {
  const cert = ev.certificates[0];
  const alpn = ev.alpn !== undefined ? text(ev.alpn)
    : ev.alpnOffered.length > 0 ? `(offered ${text(ev.alpnOffered.join(','))})` : '-';
  const parts = [
    `${ev.ts} #${ev.connection} ${ev.client} > ${ev.server}`,
    ev.version ?? '-', ev.cipherSuite ?? '-', `sni=${text(ev.sni)}`, `alpn=${alpn}`, `ja4=${ev.ja4 ?? '-'}`,
  ];
  if (ev.resumed) parts.push('resumed');
  if (ev.helloRetryRequest) parts.push('hello-retry');
  if (cert !== undefined) parts.push(`cert="${text(cert.subject)}" issuer="${text(cert.issuer)}" valid=${cert.validFrom}..${cert.validTo}`);
  parts.push(ev.decryptable ? 'decrypted' : `not-decrypted(${ev.reason ?? 'no application data'})`);
  return parts.join(' ');
}

/** One line for a problem: its stable code, the side, what happened (never a secret). */
export function formatTlsError(ev: TlsErrorEvent): string {
  return `${ev.ts} #${ev.connection} ${ev.client} > ${ev.server} tls-error ${ev.code}${ev.from ? ` ${ev.from}` : ''}: ${escapeControl(ev.message)}`;
}
