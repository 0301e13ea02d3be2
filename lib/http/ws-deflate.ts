/**
 * permessage-deflate (RFC 7692) for the WebSocket parser: the parameters agreed in the handshake and the
 * inflater of one direction, which carries the compression context from message to message.
 */
import * as zlib from 'node:zlib';

/** Deflate back-references reach at most 32 KiB back: that much output is the whole window to carry. */
const DEFLATE_WINDOW = 32 * 1024;

/** The empty stored block that ends every flushed deflate message; senders strip it (RFC 7692 7.2.1). */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** permessage-deflate parameters agreed in the handshake (the server's Sec-WebSocket-Extensions). */
export interface PerMessageDeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** 8..15 when given. */
  serverMaxWindowBits?: number;
  /** 8..15 when given (a bare `client_max_window_bits` in an offer means "any"; absent here). */
  clientMaxWindowBits?: number;
}

/** Splits an extension header on `sep`, ignoring separators inside quoted strings. */
function splitOutsideQuotes(value: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * Reads permessage-deflate from a Sec-WebSocket-Extensions response value (RFC 7692 section 7.1).
 * Returns undefined when the server did not accept permessage-deflate.
 */
export function parsePerMessageDeflate(extensions: string | undefined): PerMessageDeflateParams | undefined {
  if (extensions === undefined) return undefined;
  for (const offer of splitOutsideQuotes(extensions, ',')) {
    const [name, ...params] = splitOutsideQuotes(offer, ';').map((p) => p.trim());
    if (name?.toLowerCase() !== 'permessage-deflate') continue;
    const result: PerMessageDeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false };
    for (const param of params) {
      const eq = param.indexOf('=');
      const key = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
      const raw = eq < 0 ? undefined : param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      const bits = raw === undefined ? undefined : Number(raw);
      const validBits = bits !== undefined && Number.isInteger(bits) && bits >= 8 && bits <= 15 ? bits : undefined;
      if (key === 'server_no_context_takeover') result.serverNoContextTakeover = true;
      else if (key === 'client_no_context_takeover') result.clientNoContextTakeover = true;
      else if (key === 'server_max_window_bits' && validBits !== undefined) result.serverMaxWindowBits = validBits;
      else if (key === 'client_max_window_bits' && validBits !== undefined) result.clientMaxWindowBits = validBits;
    }
    return result;
  }
  return undefined;
}

/**
 * Inflates permessage-deflate messages of one direction.
 *
 * Context takeover means a message may refer back into the previous messages' output. Node's zlib has
 * no synchronous way to keep one inflate context across calls (the *Sync functions close their handle),
 * so the context is carried as data: the last 32 KiB of output become the preset dictionary of the next
 * raw inflate. For raw deflate that is exactly the state that matters: back-references reach at most
 * 32 KiB, and every message ends on a byte-aligned sync flush, so no bit state spans messages.
 */
export class PerMessageInflater {
  private _window: Buffer | undefined;
  private readonly _keepContext: boolean;

  constructor(keepContext: boolean) {
    this._keepContext = keepContext;
  }

  /** Inflates one whole message (its frames' payloads concatenated). Throws on corrupt data or the limit. */
  inflate(compressed: Buffer, maxOutputLength: number): Buffer {
    const input = Buffer.concat([compressed, DEFLATE_TAIL]);
    const options: zlib.ZlibOptions = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength };
    if (this._window !== undefined) options.dictionary = this._window;
    let output: Buffer;
    try {
      output = zlib.inflateRawSync(input, options);
    } catch (e) {
      this._window = undefined; // the context is lost; later messages may fail too, and will say so
      throw e;
    }
    if (this._keepContext) this.remember(output);
    return output;
  }

  private remember(output: Buffer): void {
    if (output.length >= DEFLATE_WINDOW) {
      this._window = Buffer.from(output.subarray(output.length - DEFLATE_WINDOW));
    } else if (output.length > 0) {
      const previous = this._window ?? Buffer.alloc(0);
      const joined = Buffer.concat([previous, output]);
      this._window = joined.length > DEFLATE_WINDOW ? joined.subarray(joined.length - DEFLATE_WINDOW) : joined;
    }
  }
}
