/**
 * The head of an HTTP/1.x message: start line (request line or status line, with the lenient shapes
 * clients send in practice), the header block's end, and header fields (obs-fold, known framing fields).
 * Also the one header lookup every HTTP consumer uses (parser, filter, printer, web model).
 * Pure functions over latin1 text; the parser's state machine (lib/http/parser.ts) calls them.
 */
import type { HeaderField } from './events.js';

/** A start line longer than this is not looked for when hunting (nor is a chunk-size line accepted). */
export const MAX_START_LINE = 8 * 1024;

const HTTP_1_DOT = Buffer.from('HTTP/1.');
const SP_HTTP_1_DOT = Buffer.from(' HTTP/1.');

export interface RequestLine {
  kind: 'request';
  method: string;
  url: string;
  version: string;
  /** Not a valid request-line (missing or bad version, missing target), but clearly meant as one. */
  malformed?: true;
}
export interface StatusLine {
  kind: 'response';
  version: string;
  status: number;
  reason: string;
}
export type StartLine = RequestLine | StatusLine;

export const TOKEN_CHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHAR[ch.charCodeAt(0)] = 1;
}

/** Methods recognised when hunting for a request line inside arbitrary bytes (any token is fine in sync). */
export const KNOWN_METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH', 'PURGE',
  'MKCALENDAR', 'ACL', 'BIND', 'UNBIND', 'REBIND', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'NOTIFY',
  'SUBSCRIBE', 'UNSUBSCRIBE', 'M-SEARCH', 'M-POST', 'LINK', 'UNLINK', 'QUERY', 'POLL', 'BPROPFIND',
  'BPROPPATCH', 'BCOPY', 'BDELETE', 'BMOVE', 'RPC_CONNECT', 'RPC_IN_DATA', 'RPC_OUT_DATA', 'CCM_POST',
  'PRI', 'VERSION-CONTROL', 'LABEL', 'UPDATE', 'BASELINE-CONTROL', 'ORDERPATCH',
];
const KNOWN_METHOD_SET = new Set(KNOWN_METHODS);
export const LONGEST_METHOD = Math.max(...KNOWN_METHODS.map((m) => m.length));

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +([^ \x00-\x1f\x7f]+) +HTTP\/(\d)\.(\d) *$/;
/** What clients send in practice when they get it wrong: a known method, then up to two words. */
const LENIENT_REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?: +([^ \x00-\x1f\x7f]+))?(?: +([^ \x00-\x1f\x7f]+))? *$/;
export const STATUS_LINE = /^HTTP\/(\d)\.(\d) +(\d{3})(?: (.*))?$/;


/** Is the char a decimal digit. */
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** "HTTP/d.d" at `at` in `line`. */
function isHttpVersionAt(line: string, at: number): boolean {
  return line.startsWith('HTTP/', at) && isDigit(line.charCodeAt(at + 5)) && line.charCodeAt(at + 6) === 0x2e
    && isDigit(line.charCodeAt(at + 7));
}

/**
 * The common shapes of a start line, without regular expressions: "METHOD target HTTP/d.d" and
 * "HTTP/d.d nnn reason" with single spaces. Returns undefined for anything else, which then goes to the
 * regular expressions; what this accepts, they accept with the same fields.
 */
function parseCommonStartLine(line: string): StartLine | undefined {
  const n = line.length;
  if (isHttpVersionAt(line, 0)) {
    // STATUS_LINE with one space before the code; the reason may not hold a CR ('.' does not match it)
    if (n < 12 || line.charCodeAt(8) !== 0x20 || !isDigit(line.charCodeAt(9)) || !isDigit(line.charCodeAt(10))
      || !isDigit(line.charCodeAt(11))) return undefined;
    if (n === 12) return { kind: 'response', version: line.slice(0, 8), status: Number(line.slice(9, 12)), reason: '' };
    if (line.charCodeAt(12) !== 0x20 || line.indexOf('\r', 13) >= 0) return undefined;
    return { kind: 'response', version: line.slice(0, 8), status: Number(line.slice(9, 12)), reason: line.slice(13).trim() };
  }
  // REQUEST_LINE with single spaces and nothing after the version
  let sp1 = 0;
  while (sp1 < n && TOKEN_CHAR[line.charCodeAt(sp1)] === 1) sp1++;
  if (sp1 === 0 || sp1 >= n || line.charCodeAt(sp1) !== 0x20) return undefined;
  let sp2 = sp1 + 1;
  for (; sp2 < n; sp2++) {
    const c = line.charCodeAt(sp2);
    if (c <= 0x20 || c === 0x7f) break;
  }
  if (sp2 === sp1 + 1 || sp2 + 9 !== n || line.charCodeAt(sp2) !== 0x20 || !isHttpVersionAt(line, sp2 + 1)) return undefined;
  return { kind: 'request', method: line.slice(0, sp1), url: line.slice(sp1 + 1, sp2), version: line.slice(sp2 + 1) };
}

/** `lenient` (the parser's lenientRequestLine): also read the malformed request lines clients send, flagged. */
export function parseStartLine(line: string, lenient = true): StartLine | undefined {
  const common = parseCommonStartLine(line);
  if (common !== undefined) return common;
  const req = REQUEST_LINE.exec(line);
  if (req) return { kind: 'request', method: req[1]!, url: req[2]!, version: `HTTP/${req[3]}.${req[4]}` };
  const res = STATUS_LINE.exec(line);
  if (res) return { kind: 'response', version: `HTTP/${res[1]}.${res[2]}`, status: Number(res[3]), reason: (res[4] ?? '').trim() };
  if (!lenient) return undefined;
  // "GET /path" (HTTP/0.9 style), "GET / HTTP/1.", "OPTIONS": servers answer these, so show them
  // (flagged), as tshark does; requiring a known method keeps arbitrary text lines out.
  const loose = LENIENT_REQUEST_LINE.exec(line);
  if (loose && KNOWN_METHOD_SET.has(loose[1]!)) {
    return { kind: 'request', method: loose[1]!, url: loose[2] ?? '', version: loose[3] ?? '', malformed: true };
  }
  return undefined;
}

/**
 * Index just past the empty line that ends a header block (which starts at a line start, so an empty
 * first line ends it at once), or -1. `from` skips the part already searched.
 */
export function findBlockEnd(buf: Buffer, from: number): number {
  if (buf[0] === 0x0a) return 1;
  if (buf[0] === 0x0d && buf[1] === 0x0a) return 2;
  let i = buf.indexOf(0x0a, from);
  while (i >= 0) {
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
    i = buf.indexOf(0x0a, i + 1);
  }
  return -1;
}

/** The lines of a header block (without the terminating empty line), CR stripped. latin1 keeps bytes 1:1. */
export function blockLines(block: Buffer, end = block.length): string[] {
  const lines = block.toString('latin1', 0, end).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.charCodeAt(line.length - 1) === 0x0d) lines[i] = line.slice(0, -1);
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The header fields the parser itself needs (framing, codings, upgrade), lower-case names. */
const KNOWN_FIELDS = new Set([
  'content-length', 'transfer-encoding', 'content-encoding', 'upgrade',
  'sec-websocket-key', 'sec-websocket-accept', 'sec-websocket-extensions',
]);

/**
 * Values of the KNOWN_FIELDS of one head, by lower-case name (the Map subset the parser uses, as fixed
 * slots: one small object per message instead of a Map).
 */
export class KnownFields {
  private contentLength: string | undefined = undefined;
  private transferEncoding: string | undefined = undefined;
  private contentEncoding: string | undefined = undefined;
  private upgrade: string | undefined = undefined;
  private wsKey: string | undefined = undefined;
  private wsAccept: string | undefined = undefined;
  private wsExtensions: string | undefined = undefined;

  get(name: string): string | undefined {
    switch (name) {
      case 'content-length': return this.contentLength;
      case 'transfer-encoding': return this.transferEncoding;
      case 'content-encoding': return this.contentEncoding;
      case 'upgrade': return this.upgrade;
      case 'sec-websocket-key': return this.wsKey;
      case 'sec-websocket-accept': return this.wsAccept;
      case 'sec-websocket-extensions': return this.wsExtensions;
      default: return undefined;
    }
  }

  set(name: string, value: string): void {
    switch (name) {
      case 'content-length': this.contentLength = value; break;
      case 'transfer-encoding': this.transferEncoding = value; break;
      case 'content-encoding': this.contentEncoding = value; break;
      case 'upgrade': this.upgrade = value; break;
      case 'sec-websocket-key': this.wsKey = value; break;
      case 'sec-websocket-accept': this.wsAccept = value; break;
      case 'sec-websocket-extensions': this.wsExtensions = value; break;
      default: break;
    }
  }
}

export interface ParsedFields {
  fields: HeaderField[];
  /** Values of KNOWN_FIELDS by lower-case name, repeated fields joined with ", ". */
  known: KnownFields;
  /** Lines that are not fields (reported, ignored). */
  bad: string[];
  /** Bytes of the block on the wire (start line, fields, the empty line ending them); parseFieldsText only. */
  size?: number;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN_CHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Header fields from lines[from..]; obs-fold continuation lines join the previous value (RFC 9112 5.2). */
export function parseFields(lines: string[], from: number): ParsedFields {
  const fields: HeaderField[] = [];
  const known = new KnownFields();
  const bad: string[] = [];
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    const first = line.charCodeAt(0);
    if ((first === 0x20 || first === 0x09) && fields.length > 0) {
      foldInto(fields, known, line);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!isToken(name)) {
      bad.push(line);
      continue;
    }
    addField(fields, known, name, line.slice(colon + 1).trim());
  }
  return { fields, known, bad };
}

/** An obs-fold continuation line: its text joins the previous field's value. */
function foldInto(fields: HeaderField[], known: KnownFields, line: string): void {
  const last = fields[fields.length - 1]!;
  last[1] = `${last[1]} ${line.trim()}`.trim();
  const lower = last[0].toLowerCase();
  if (KNOWN_FIELDS.has(lower)) known.set(lower, last[1]); // (a folded known field: rare enough to keep simple)
}

/** Lengths of the KNOWN_FIELDS names: a name of any other length is not lower-cased to look it up. */
const KNOWN_FIELD_LENGTH = new Uint8Array(64);
for (const name of KNOWN_FIELDS) KNOWN_FIELD_LENGTH[name.length] = 1;

function addField(fields: HeaderField[], known: KnownFields, name: string, value: string): void {
  fields.push([name, value]);
  if (name.length < 64 && KNOWN_FIELD_LENGTH[name.length] === 1) {
    const lower = name.toLowerCase();
    if (KNOWN_FIELDS.has(lower)) {
      const previous = known.get(lower);
      known.set(lower, previous === undefined ? value : `${previous}, ${value}`);
    }
  }
}

/** What String.prototype.trim removes, within latin1: TAB, LF, VT, FF, CR, SP, NBSP. */
function isTrimmed(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;
}

/** True when the lines of `text` from `p` on are all empty (a line is empty once one trailing CR is cut). */
function restIsBlank(text: string, p: number): boolean {
  while (p < text.length) {
    let nl = text.indexOf('\n', p);
    if (nl < 0) nl = text.length;
    const length = nl - p;
    if (length > 1 || (length === 1 && text.charCodeAt(p) !== 0x0d)) return false;
    p = nl + 1;
  }
  return true;
}

/**
 * parseFields(blockLines(text), 1) without making the lines: the header block as one latin1 string,
 * scanned in place from `p` (the start of the second line), each field cut out once. Same results, line
 * for line: one trailing CR cut per line, trailing empty lines dropped, names checked as tokens up to the
 * first colon, values trimmed as String.prototype.trim trims.
 */
export function parseFieldsText(text: string, p: number): ParsedFields {
  const fields: HeaderField[] = [];
  const known = new KnownFields();
  const bad: string[] = [];
  const n = text.length;
  while (p < n) {
    let nl = text.indexOf('\n', p);
    if (nl < 0) nl = n;
    let e = nl;
    if (e > p && text.charCodeAt(e - 1) === 0x0d) e--;
    const lineStart = p;
    p = nl + 1;
    if (e === lineStart) {
      if (restIsBlank(text, p)) break;
      bad.push('');
      continue;
    }
    const first = text.charCodeAt(lineStart);
    if ((first === 0x20 || first === 0x09) && fields.length > 0) {
      foldInto(fields, known, text.slice(lineStart, e));
      continue;
    }
    // the name: token characters up to the first colon (the colon ends the name, and is no token char)
    let colon = lineStart;
    while (colon < e && TOKEN_CHAR[text.charCodeAt(colon)] === 1) colon++;
    if (colon === lineStart || colon === e || text.charCodeAt(colon) !== 0x3a) {
      bad.push(text.slice(lineStart, e));
      continue;
    }
    let vs = colon + 1, ve = e;
    while (vs < ve && isTrimmed(text.charCodeAt(vs))) vs++;
    while (ve > vs && isTrimmed(text.charCodeAt(ve - 1))) ve--;
    addField(fields, known, text.slice(lineStart, colon), text.slice(vs, ve));
  }
  return { fields, known, bad, size: n };
}

/**
 * The first value of a header (case-insensitive name), or undefined: for fields that occur once
 * (Host, Content-Type, User-Agent).
 */
export function firstHeaderValue(headers: readonly HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of headers) if (n.toLowerCase() === lower) return v;
  return undefined;
}

/** All values of a header (case-insensitive name) joined with ", ", or undefined. */
export function headerValue(headers: readonly HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  let value: string | undefined;
  for (const [n, v] of headers) {
    if (n.toLowerCase() === lower) value = value === undefined ? v : `${value}, ${v}`;
  }
  return value;
}

/** Case-insensitive method comparison with an upper-case name; no new string in the usual (exact) case. */
export function methodIs(method: string, upper: string): boolean {
  return method === upper || (method.length === upper.length && method.toUpperCase() === upper);
}

export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(',').some((t) => t.trim().toLowerCase() === token);
}

/** Content-Length: undefined when absent, null when invalid or contradictory (RFC 9112 6.3 item 5). */
export function contentLength(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  if (/^\d{1,15}$/.test(value)) return Number(value); // the usual case
  const values = new Set(value.split(',').map((v) => v.trim()));
  if (values.size !== 1) return null;
  const [only] = values;
  if (!/^\d{1,15}$/.test(only!)) return null;
  return Number(only);
}

// Hunting: where the next request line or status line starts in arbitrary bytes.

/** Offset of the earliest complete start line in `buf` (of the given role when known), or -1. */
export function findMessageStart(buf: Buffer, role: 'request' | 'response' | undefined): number {
  let best = -1;
  if (role !== 'request') {
    for (let p = buf.indexOf(HTTP_1_DOT); p >= 0; p = buf.indexOf(HTTP_1_DOT, p + 1)) {
      const lineEnd = buf.indexOf(0x0a, p);
      if (lineEnd < 0) break;
      const line = buf.subarray(p, lineEnd).toString('latin1').replace(/\r$/, '');
      if (STATUS_LINE.test(line)) {
        best = p;
        break;
      }
    }
  }
  if (role !== 'response') {
    for (let q = buf.indexOf(SP_HTTP_1_DOT); q >= 0; q = buf.indexOf(SP_HTTP_1_DOT, q + 1)) {
      if (best >= 0 && q > best) break;
      const start = requestLineStart(buf, q);
      if (start >= 0 && (best < 0 || start < best)) {
        best = start;
        break;
      }
    }
  }
  return best;
}

/** Given the offset of " HTTP/1." in a request line, where the line's known method starts, or -1. */
function requestLineStart(buf: Buffer, q: number): number {
  const lineEnd = buf.indexOf(0x0a, q);
  if (lineEnd < 0) return -1;
  const version = buf.subarray(q + 1, lineEnd).toString('latin1').replace(/\r$/, '').trimEnd();
  if (!/^HTTP\/1\.\d$/.test(version)) return -1;
  let targetStart = q;
  const limit = Math.max(0, q - MAX_START_LINE);
  while (targetStart > limit && buf[targetStart - 1] !== 0x20 && buf[targetStart - 1]! > 0x20 && buf[targetStart - 1] !== 0x7f) targetStart--;
  if (targetStart === q || buf[targetStart - 1] !== 0x20) return -1;
  const sp = targetStart - 1;
  const from = Math.max(0, sp - LONGEST_METHOD);
  const before = buf.subarray(from, sp).toString('latin1');
  let methodLength = 0;
  for (const m of KNOWN_METHODS) {
    if (m.length > methodLength && before.endsWith(m)) methodLength = m.length;
  }
  return methodLength > 0 ? sp - methodLength : -1;
}
