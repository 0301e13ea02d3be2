/** Grep matches as reports: the match record, its JSON form and its text forms (escaped, highlighted). */
import { escapeControl } from '../core/escape';
import type { TimeFormatter } from '../core/time';
import type { TcpDirection } from '../tcp/events';
import type { ByteRange } from './pattern';

/** One match, in per-packet or stream mode. */
export interface GrepMatch {
  /** Frame whose arrival completed the match (per-packet: the matching frame). */
  frame: number;
  /** Capture time of that frame (formatTimestamp). */
  ts: string;
  tsSec: number;
  tsNsec: number;
  /** "client > server" (stream mode) or "src > dst" of the packet (per-packet mode). */
  connection: string;
  /** Stream mode: the TCP connection number (tshark's tcp.stream); per-packet mode: undefined. */
  stream?: number;
  /** Stream mode: which way the matched bytes flowed. */
  direction?: TcpDirection;
  /** Offset of the first matched byte: in the payload (per packet) or in the direction's stream. */
  offset: number;
  /** The matched bytes (a private copy). */
  bytes: Buffer;
  /** Up to contextBytes bytes before and after the match that were available (private copies). */
  before: Buffer;
  after: Buffer;
  /** The frames that carry the matched bytes, ascending (per-packet: just `frame`). */
  frames: number[];
}

/** Plain JSON for a match: texts as latin1 strings (JSON escapes control characters), bytes also in hex. */
export function grepMatchToJson(m: GrepMatch): Record<string, unknown> {
  const o: Record<string, unknown> = {
    frame: m.frame, ts: m.ts, connection: m.connection,
  };
  if (m.stream !== undefined) o.stream = m.stream;
  if (m.direction !== undefined) o.direction = m.direction;
  o.offset = m.offset;
  o.length = m.bytes.length;
  o.match = m.bytes.toString('latin1');
  o.hex = m.bytes.toString('hex');
  o.context = { before: m.before.toString('latin1'), after: m.after.toString('latin1') };
  o.frames = m.frames;
  return o;
}

// ------------------------------------------------------------------------------------------ text

/** Terminal highlighting for matched bytes (bold red), used only when output is a colour terminal. */
export const HIGHLIGHT_ON = '\x1b[1;31m';
export const HIGHLIGHT_OFF = '\x1b[0m';

function escapedLatin1(buf: Buffer, start: number, end: number): string {
  return escapeControl(buf.toString('latin1', start, end));
}

/**
 * How a payload is laid out (ngrep's -W): 'normal' one output line per payload line, CR shown as \x0d;
 * 'byline' the same with a CR before a LF left out (the lines read as lines); 'single' the whole payload
 * on one line (LF shown as \x0a).
 */
export type PayloadLayout = 'normal' | 'byline' | 'single';

/**
 * A payload as text: one output line per payload line (split at LF), each indented and escaped
 * (control characters as \xHH, so captured bytes never drive the terminal), with the matched ranges
 * highlighted when `color`. An empty payload gives "". `layout`: see PayloadLayout.
 */
export function formatPayload(payload: Buffer, ranges: readonly ByteRange[], color: boolean, indent = '  ', layout: PayloadLayout = 'normal'): string {
  const lines: string[] = [];
  let ri = 0;
  let lineStart = 0;
  while (lineStart < payload.length) {
    let lineEnd = layout === 'single' ? -1 : payload.indexOf(0x0a, lineStart);
    const next = lineEnd < 0 ? payload.length : lineEnd + 1;
    if (lineEnd < 0) lineEnd = payload.length;
    else if (layout === 'byline' && lineEnd > lineStart && payload[lineEnd - 1] === 0x0d) lineEnd--; // CR LF: a line end
    let text = '';
    let pos = lineStart;
    while (pos < lineEnd) {
      while (ri < ranges.length && (ranges[ri] as ByteRange).end <= pos) ri++;
      const r = ranges[ri];
      if (!color || r === undefined || r.start >= lineEnd) { text += escapedLatin1(payload, pos, lineEnd); break; }
      if (r.start > pos) { text += escapedLatin1(payload, pos, r.start); pos = r.start; }
      const stop = Math.min(r.end, lineEnd);
      text += HIGHLIGHT_ON + escapedLatin1(payload, pos, stop) + HIGHLIGHT_OFF;
      pos = stop;
    }
    lines.push(indent + text);
    lineStart = next;
  }
  return lines.join('\n');
}

/** One stream-mode match as two lines: where it is, then the match in its context (escaped). */
export function formatStreamMatch(m: GrepMatch, color: boolean, time?: TimeFormatter): string {
  const ts = time === undefined ? m.ts : time.formatText(m.ts);
  const where = `${ts === '' ? '' : `${ts} `}stream ${m.stream ?? '-'} ${escapeControl(m.connection)}${m.direction ? ` ${m.direction}` : ''}` +
    ` offset ${m.offset} length ${m.bytes.length} frames ${m.frames.join(',')}`;
  const body = escapeControl(m.before.toString('latin1')) + (color ? HIGHLIGHT_ON : '[') +
    escapeControl(m.bytes.toString('latin1')) + (color ? HIGHLIGHT_OFF : ']') + escapeControl(m.after.toString('latin1'));
  return `${where}\n  ${body}`;
}
