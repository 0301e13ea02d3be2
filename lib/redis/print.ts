/**
 * One human line per event read back from a stream (`pcap-pipe consume` without --json): the event is the
 * NDJSON of the command that published it, so this works from the JSON fields, not from the parser's
 * objects. Layout of the local commands (time, client → server, what happened), led by the sensor's name.
 * Every captured string is escaped (escapeControl): a stream's contents come from other machines' traffic.
 */
import { escapeControl } from '../core/escape';
import { formatDuration, formatSize, timeOfDay } from '../trace/output';
import type { StreamEntry } from './entry';

type Json = Record<string, unknown>;

const str = (v: unknown): string => escapeControl(typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Most characters of a message payload or a match context shown. */
export const PREVIEW_CHARS = 120;

function preview(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  const cut = s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s;
  return escapeControl(cut);
}

function when(ev: Json): string {
  return typeof ev.ts === 'string' && /^-?\d+(\.\d+)?$/.test(ev.ts) ? timeOfDay(ev.ts) : '-';
}

function arrow(ev: Json): string {
  if (typeof ev.client !== 'string' || typeof ev.server !== 'string') return typeof ev.connection === 'string' ? str(ev.connection) : '';
  return ev.from === 'server' || ev.type === 'response' ? `${str(ev.client)} ← ${str(ev.server)}` : `${str(ev.client)} → ${str(ev.server)}`;
}

function responseText(ev: Json): string {
  const parts = [`#${str(ev.index)}`, `${str(ev.status)} ${str(ev.reason)}`.trim()];
  const len = num(ev.bodyLength);
  if (len !== undefined) parts.push(formatSize(len));
  const type = Array.isArray(ev.headers) ? (ev.headers as unknown[]).find((h) => Array.isArray(h) && String(h[0]).toLowerCase() === 'content-type') : undefined;
  if (Array.isArray(type)) parts.push(str(String(type[1]).split(';')[0]));
  const total = num((ev.timing as Json | undefined)?.total);
  if (total !== undefined) parts.push(formatDuration(total));
  if (ev.incomplete === true) parts.push('incomplete');
  return parts.join(' ');
}

function tlsText(ev: Json): string {
  const parts = [str(ev.version), ev.sni !== undefined ? `SNI ${str(ev.sni)}` : '', Array.isArray(ev.alpn) ? `ALPN ${(ev.alpn as unknown[]).map(str).join(',')}` : '', str(ev.cipherSuite ?? ev.cipher)];
  parts.push(ev.decryptable === true ? 'decryptable' : ev.reason !== undefined ? `not decryptable: ${str(ev.reason)}` : '');
  return parts.filter((p) => p !== '').join(' ');
}

/** The part after time and addresses, by event type. */
function what(ev: Json): string {
  const type = typeof ev.type === 'string' ? ev.type : undefined;
  switch (type) {
    case 'request':
      return `#${str(ev.index)} ${str(ev.method)} ${str(ev.url)}`;
    case 'response':
      return responseText(ev);
    case 'http-upgrade':
      return `upgrade to ${str(ev.protocol ?? 'websocket')}`;
    case 'ws-message':
      return `ws ${str(ev.from)} ${str(ev.opcode)} ${num(ev.length) ?? 0} B${ev.dataEncoding === 'base64' ? ' (binary)' : `: ${preview(ev.data)}`}`;
    case 'ws-frame':
      return `ws frame ${str(ev.from)} opcode ${str(ev.opcode)} ${num(ev.length) ?? 0} B`;
    case 'ws-close':
      return `ws close ${str(ev.from)} ${str(ev.closeCode)} ${str(ev.closeReason)}`.trimEnd();
    case 'http-error':
    case 'ws-error':
    case 'tls-error':
      return `${type} ${str(ev.code ?? ev.kind)} ${str(ev.message)}`.trimEnd();
    case 'tls-connection':
      return `TLS ${tlsText(ev)}`;
    case undefined:
      // grep matches have no type: frame, the match and what follows it
      if (typeof ev.match === 'string') return `match frame ${str(ev.frame)} "${preview(ev.match)}"${ev.context !== undefined ? ` …${preview((ev.context as Json).after)}` : ''}`;
      return 'event';
    default: {
      // TCP events (start, end, reset, data, ...): their type and their few scalar fields
      const extra = Object.entries(ev)
        .filter(([k, v]) => !['type', 'ts', 'tsSec', 'tsNsec', 'frame', 'connection', 'client', 'server', 'sensor', 'data'].includes(k) && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'))
        .map(([k, v]) => `${escapeControl(k)}=${str(v)}`);
      return [`tcp ${escapeControl(type)}`, ...extra].join(' ');
    }
  }
}

/** "13:24:24.381282 [sensor-a] 127.0.0.1:39604 → 127.0.0.1:43595 #1 GET /" */
export function formatStreamEntry(entry: StreamEntry): string {
  const sensor = `[${escapeControl(entry.sensor || '?')}]`;
  if (entry.event === null) return `- ${sensor} entry ${escapeControl(entry.id)}: ${escapeControl(entry.error ?? 'unreadable')}`;
  const ev = entry.event;
  return [when(ev), sensor, arrow(ev), what(ev)].filter((p) => p !== '').join(' ');
}
