/**
 * The parts of a HAR entry that are parsed out of header values and bodies: the URL, its query string,
 * cookies (Cookie and Set-Cookie), and the fields of a form body (urlencoded or multipart). Pure
 * functions over strings and Buffers; nothing here throws on malformed input, it keeps what it can read.
 */
import type { HeaderField } from '../http/events';
import type { HarCookie, HarNameValue, HarPostParam } from './types';

/** First value of a header (case-insensitive name), or undefined. */
export function firstHeader(headers: readonly HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of headers) if (n.length === lower.length && n.toLowerCase() === lower) return v;
  return undefined;
}

/** All values of a header, one per field line, in order. */
export function allHeaders(headers: readonly HeaderField[], name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of headers) if (n.length === lower.length && n.toLowerCase() === lower) out.push(v);
  return out;
}

// ------------------------------------------------------------------------------------------------
// URLs

/** Characters RFC 3986 allows in a URI (unreserved, reserved, and '%' of percent-encodings). */
const URI_CHAR = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%") {
  URI_CHAR[ch.charCodeAt(0)] = 1;
}

/**
 * Percent-encodes the characters a URI may not hold (controls, space, '"', '<', '>', '\', '^', '`', '{',
 * '|', '}', non-ASCII as UTF-8 of its latin1 reading). Everything else stays as it was sent, so the URL
 * is the one on the wire, not a normalised one (no "/a/../b" → "/b").
 */
export function escapeUri(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && URI_CHAR[c] === 1) continue;
    out += s.slice(from, i);
    // The parser reads the head as latin1 (one char per byte): encode the byte itself.
    out += c < 256 ? `%${c.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(s[i]!);
    from = i + 1;
  }
  return from === 0 ? s : out + s.slice(from);
}

/** The server's address without the port: "10.0.0.1:80" → "10.0.0.1", "[::1]:80" → "::1". */
export function addressOf(endpoint: string): string {
  if (endpoint.startsWith('[')) {
    const close = endpoint.indexOf(']');
    return close > 0 ? endpoint.slice(1, close) : endpoint;
  }
  const colon = endpoint.lastIndexOf(':');
  return colon > 0 ? endpoint.slice(0, colon) : endpoint;
}

/** The port of "ip:port" / "[ip]:port", or undefined. */
export function portOf(endpoint: string): number | undefined {
  const colon = endpoint.lastIndexOf(':');
  if (colon < 0) return undefined;
  const port = Number(endpoint.slice(colon + 1));
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined;
}

/**
 * The full URL of a request: the request target as sent, with the scheme and the host (Host header, or the
 * server's address when there is none) in front of an origin-form target ("/path?q"), as tshark's
 * http.request.full_uri does. An absolute-form target (a proxy request) is the URL itself.
 */
export function requestUrl(target: string, host: string | undefined, server: string, scheme: 'http' | 'https'): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)) return escapeUri(target);
  let authority = host;
  if (authority === undefined || authority === '') {
    const defaultPort = scheme === 'https' ? 443 : 80;
    authority = portOf(server) === defaultPort ? server.slice(0, server.lastIndexOf(':')) : server;
  }
  return escapeUri(`${scheme}://${authority}${target}`);
}

// ------------------------------------------------------------------------------------------------
// Query strings and urlencoded forms

/** Percent-decoding with "+" as space (application/x-www-form-urlencoded); undecodable text stays as is. */
function formDecode(s: string): string {
  const spaced = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/** "a=1&b=x%20y&c" → [{a,1},{b,"x y"},{c,""}], in order, repeated names kept. */
export function parseUrlEncoded(text: string): HarNameValue[] {
  const out: HarNameValue[] = [];
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    out.push({ name: formDecode(name), value: formDecode(value) });
  }
  return out;
}

/** The query of a URL (after "?", before "#") as name/value pairs. */
export function queryString(url: string): HarNameValue[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const hash = url.indexOf('#', q);
  return parseUrlEncoded(url.slice(q + 1, hash < 0 ? undefined : hash));
}

// ------------------------------------------------------------------------------------------------
// Cookies

/** A Cookie header ("a=1; b=2") as cookies. */
export function parseCookieHeader(value: string): HarCookie[] {
  const out: HarCookie[] = [];
  for (const part of value.split(';')) {
    const pair = part.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    out.push(eq < 0 ? { name: '', value: pair } : { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim() });
  }
  return out;
}

/**
 * One Set-Cookie field (RFC 6265 5.2) as a cookie. Max-Age wins over Expires and is counted from
 * `receivedAt` (seconds since the epoch: the response's capture time).
 */
export function parseSetCookie(value: string, receivedAt: number): HarCookie | undefined {
  const parts = value.split(';');
  const first = (parts[0] ?? '').trim();
  const eq = first.indexOf('=');
  if (eq < 0) return undefined; // RFC 6265: a set-cookie-string without "=" is ignored
  const cookie: HarCookie = { name: first.slice(0, eq).trim(), value: first.slice(eq + 1).trim() };
  let maxAge: number | undefined;
  for (let i = 1; i < parts.length; i++) {
    const attr = parts[i]!.trim();
    const aeq = attr.indexOf('=');
    const name = (aeq < 0 ? attr : attr.slice(0, aeq)).trim().toLowerCase();
    const val = aeq < 0 ? '' : attr.slice(aeq + 1).trim();
    switch (name) {
      case 'path': cookie.path = val; break;
      case 'domain': cookie.domain = val; break;
      case 'httponly': cookie.httpOnly = true; break;
      case 'secure': cookie.secure = true; break;
      case 'expires': {
        const t = Date.parse(val);
        if (Number.isFinite(t) && cookie.expires === undefined) cookie.expires = isoTime(t / 1000);
        break;
      }
      case 'max-age':
        if (/^-?\d+$/.test(val)) maxAge = Number(val);
        break;
      default: break;
    }
  }
  if (maxAge !== undefined) cookie.expires = isoTime(maxAge <= 0 ? 0 : receivedAt + maxAge);
  return cookie;
}

// ------------------------------------------------------------------------------------------------
// Times

/** Latest instant a JavaScript Date can hold, in seconds. */
const MAX_DATE_SECONDS = 8.64e12;

/** Seconds since the epoch → ISO 8601 in UTC with milliseconds (clamped to what a Date can hold). */
export function isoTime(seconds: number): string {
  const s = Number.isFinite(seconds) ? Math.max(-MAX_DATE_SECONDS, Math.min(MAX_DATE_SECONDS, seconds)) : 0;
  return new Date(Math.floor(s * 1000)).toISOString();
}

// ------------------------------------------------------------------------------------------------
// multipart/form-data

/** The boundary parameter of a multipart Content-Type, or undefined. */
export function multipartBoundary(contentType: string): string | undefined {
  if (!/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** A Content-Disposition parameter (quoted or token). */
function dispositionParam(disposition: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(disposition);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

/**
 * The fields of a multipart/form-data body (RFC 7578): name, and for files fileName and contentType; the
 * value (as UTF-8) of a part that is not a file. Parts past a cut body are simply not there.
 */
export function parseMultipart(body: Buffer, boundary: string): HarPostParam[] {
  const out: HarPostParam[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    let partStart = at + delimiter.length;
    if (body[partStart] === 0x2d && body[partStart + 1] === 0x2d) break; // "--": the close delimiter
    while (body[partStart] === 0x20 || body[partStart] === 0x09) partStart++; // transport padding
    if (body[partStart] === 0x0d) partStart++;
    if (body[partStart] === 0x0a) partStart++;
    const next = body.indexOf(delimiter, partStart);
    if (next < 0) break; // a cut body: the last part is incomplete
    let partEnd = next;
    if (body[partEnd - 1] === 0x0a) partEnd--;
    if (body[partEnd - 1] === 0x0d) partEnd--;
    const part = body.subarray(partStart, partEnd);
    const param = multipartField(part);
    if (param) out.push(param);
    at = next;
  }
  return out;
}

function multipartField(part: Buffer): HarPostParam | undefined {
  let headEnd = part.indexOf('\r\n\r\n');
  let bodyStart = headEnd + 4;
  if (headEnd < 0) {
    headEnd = part.indexOf('\n\n');
    bodyStart = headEnd + 2;
  }
  if (headEnd < 0) return undefined;
  const headers: HeaderField[] = [];
  for (const line of part.toString('latin1', 0, headEnd).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  const disposition = firstHeader(headers, 'content-disposition');
  if (disposition === undefined) return undefined;
  const name = dispositionParam(disposition, 'name');
  if (name === undefined) return undefined;
  // names and file names are UTF-8 in practice (RFC 7578 4.2); the head was read as latin1
  const param: HarPostParam = { name: Buffer.from(name, 'latin1').toString('utf8') };
  const fileName = dispositionParam(disposition, 'filename');
  const contentType = firstHeader(headers, 'content-type');
  if (fileName !== undefined) param.fileName = Buffer.from(fileName, 'latin1').toString('utf8');
  if (contentType !== undefined) param.contentType = contentType;
  const value = part.subarray(bodyStart);
  if (fileName === undefined) param.value = value.toString('utf8');
  return param;
}
