/**
 * Follow TCP stream: collects the reassembler's `data` and `gap` events per connection direction, like
 * Wireshark's "Follow TCP Stream" and tcpflow, and formats one connection the way `tshark -z
 * follow,tcp,ascii|hex` prints it.
 *
 * Bytes are never invented: a `gap` adds to the direction's gap count and nothing to its bytes
 * (tcpflow, by contrast, writes NUL bytes in place of what was never captured).
 */
import type { TcpDataEvent, TcpDirection, TcpEvent, TcpGapEvent, TcpStartEvent } from './events';

/** One direction of one connection, as listed in follow's index.json. */
export interface FollowDirectionSummary {
  connection: number;
  client: string;
  server: string;
  direction: TcpDirection;
  /** Reassembled bytes delivered. */
  bytes: number;
  /** Bytes skipped as gaps (all reasons). */
  gaps: number;
}

export interface FollowDirection extends FollowDirectionSummary {
  /** Gap bytes never captured (tshark's "bytes missing in capture file"). */
  missingBytes: number;
  /** Gap bytes cut off by the snaplen. */
  snaplenBytes: number;
}

/** One piece of a followed conversation, in the order the bytes were delivered. */
export interface FollowChunk {
  direction: TcpDirection;
  bytes: Buffer;
  /** Set on a marker for bytes never captured: `bytes` is then tshark's "[N bytes missing in capture file]" text. */
  missing?: number;
}

/** The text tshark's follow shows in place of a hole (with its trailing NUL). */
function missingMarker(n: number): Buffer {
  return Buffer.from(`[${n} bytes missing in capture file]\0`, 'latin1');
}

export interface FollowConnection {
  connection: number;
  client: string;
  server: string;
  midStream: boolean;
  clientToServer: FollowDirection;
  serverToClient: FollowDirection;
  /** Delivered data in order (only when the collector keeps bytes). */
  chunks: FollowChunk[];
}

export interface FollowCollectorOptions {
  /** Keep every delivered chunk (views, no copy) for formatting or hashing later. Default false. */
  keepBytes?: boolean;
  /** Only this connection number (e.g. `follow --stream N`). */
  connection?: number;
  /** Called for every `data` event kept (e.g. to write it to a file). */
  onData?: (conn: FollowConnection, ev: TcpDataEvent) => void;
  /** Called for every hole of never-captured bytes, with tshark's marker chunk. */
  onMissing?: (conn: FollowConnection, chunk: FollowChunk) => void;
}

function emptyDirection(ev: TcpStartEvent | TcpDataEvent | TcpGapEvent, direction: TcpDirection): FollowDirection {
  return { connection: ev.connection, client: ev.client, server: ev.server, direction, bytes: 0, gaps: 0, missingBytes: 0, snaplenBytes: 0 };
}

export class FollowCollector {
  private readonly conns = new Map<number, FollowConnection>();
  private readonly opts: FollowCollectorOptions;

  constructor(opts: FollowCollectorOptions = {}) {
    this.opts = opts;
  }

  /** Feed any TCP event; only start, data and gap matter. */
  event(ev: TcpEvent): void {
    if (ev.type !== 'start' && ev.type !== 'data' && ev.type !== 'gap') return;
    if (this.opts.connection !== undefined && ev.connection !== this.opts.connection) return;
    const conn = this.connectionFor(ev);
    if (ev.type === 'start') {
      conn.midStream = ev.midStream;
      return;
    }
    const dir = ev.direction === 'client-to-server' ? conn.clientToServer : conn.serverToClient;
    if (ev.type === 'data') {
      dir.bytes += ev.bytes.length;
      if (this.opts.keepBytes) conn.chunks.push({ direction: ev.direction, bytes: ev.bytes });
      this.opts.onData?.(conn, ev);
    } else {
      dir.gaps += ev.length;
      if (ev.reason === 'snaplen') dir.snaplenBytes += ev.length;
      else {
        dir.missingBytes += ev.length;
        const marker: FollowChunk = { direction: ev.direction, bytes: missingMarker(ev.length), missing: ev.length };
        if (this.opts.keepBytes) conn.chunks.push(marker);
        this.opts.onMissing?.(conn, marker);
      }
    }
  }

  private connectionFor(ev: TcpStartEvent | TcpDataEvent | TcpGapEvent): FollowConnection {
    let conn = this.conns.get(ev.connection);
    if (conn === undefined) {
      conn = {
        connection: ev.connection, client: ev.client, server: ev.server, midStream: false,
        clientToServer: emptyDirection(ev, 'client-to-server'), serverToClient: emptyDirection(ev, 'server-to-client'),
        chunks: [],
      };
      this.conns.set(ev.connection, conn);
    }
    return conn;
  }

  get(connection: number): FollowConnection | undefined {
    return this.conns.get(connection);
  }

  /** Forgets a connection (after printing it), so memory stays bounded by the connections alive. */
  delete(connection: number): void {
    this.conns.delete(connection);
  }

  /** Every connection seen, by connection number. */
  connections(): FollowConnection[] {
    return [...this.conns.values()].sort((a, b) => a.connection - b.connection);
  }

  /** The bytes of one direction, concatenated (a copy). */
  static bytesOf(conn: FollowConnection, direction: TcpDirection): Buffer {
    return Buffer.concat(conn.chunks.filter((c) => c.direction === direction && c.missing === undefined).map((c) => c.bytes));
  }
}

const RULE = '===================================================================';

/** The line that closes a followed connection's block. */
export const FOLLOW_END = RULE + '\n';

/** tshark's block header for one connection ("Follow: tcp,ascii", its filter and its two nodes). */
export function followHeader(mode: 'ascii' | 'hex', conn: Pick<FollowConnection, 'connection' | 'client' | 'server'>): string {
  return `\n${RULE}\nFollow: tcp,${mode}\nFilter: tcp.stream eq ${conn.connection}\nNode 0: ${conn.client}\nNode 1: ${conn.server}\n`;
}

/**
 * Printable ASCII and newlines as they are, everything else as '.', like tshark's ascii mode. Mapped in a
 * Buffer and read back as one latin1 string: a string grown a character at a time made `follow` spend most of
 * its CPU building and collecting strings (100k packets: 2.9 s).
 */
function asciiText(bytes: Buffer): string {
  const out = Buffer.allocUnsafe(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    out[i] = (b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09 ? b : DOT;
  }
  return out.toString('latin1');
}

/** One chunk in `tshark -z follow,tcp,ascii` layout: its length (server chunks indented by a tab), then the text. */
export function formatFollowAsciiChunk(c: FollowChunk): string {
  return `${c.direction === 'server-to-client' ? '\t' : ''}${c.bytes.length}\n${asciiText(c.bytes)}\n`;
}

/** One chunk in either text layout (`hex` advances `offsets` for its direction). */
export function formatFollowChunk(layout: 'ascii' | 'hex', c: FollowChunk, offsets: FollowHexOffsets): string {
  return layout === 'hex' ? formatFollowHexChunk(c, offsets) : formatFollowAsciiChunk(c);
}

/** `tshark -z follow,tcp,ascii,N` layout: a length line per chunk (server chunks indented by a tab), then the text. */
export function formatFollowAscii(conn: FollowConnection): string {
  let out = followHeader('ascii', conn);
  for (const c of conn.chunks) out += formatFollowAsciiChunk(c);
  return out + FOLLOW_END;
}

/** Offsets of the hex layout, counted per direction. */
export type FollowHexOffsets = Record<TcpDirection, number>;

/** `tshark -z follow,tcp,hex,N` layout: 16 bytes a line, offsets counted per direction. */
export function formatFollowHex(conn: FollowConnection): string {
  let out = followHeader('hex', conn);
  const offsets: FollowHexOffsets = { 'client-to-server': 0, 'server-to-client': 0 };
  for (const c of conn.chunks) out += formatFollowHexChunk(c, offsets);
  return out + FOLLOW_END;
}

/** The longest hex line: tab, a 16-digit offset, two spaces, 16 x 3 hex + 1, a space, 16 + 1 text, newline. */
const HEX_LINE_MAX = 1 + 16 + 2 + 49 + 1 + 17 + 1;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const SPACE = 0x20;
const DOT = 0x2e;

/**
 * One chunk in the hex layout; advances `offsets` for its direction. A hole shows nothing (as in tshark).
 * Written into a Buffer and read back as one latin1 string (a string built per byte cost ~100 us per 1,500 bytes).
 */
export function formatFollowHexChunk(c: FollowChunk, offsets: FollowHexOffsets): string {
  if (c.missing !== undefined) return ''; // tshark's hex mode shows nothing for a hole
  const bytes = c.bytes;
  const indent = c.direction === 'server-to-client';
  const base = offsets[c.direction];
  const out = Buffer.allocUnsafe(Math.ceil(bytes.length / 16) * HEX_LINE_MAX);
  let o = 0;
  for (let i = 0; i < bytes.length; i += 16) {
    if (indent) out[o++] = 0x09;
    o += out.write((base + i).toString(16).padStart(8, '0'), o, 'latin1');
    out[o++] = SPACE;
    out[o++] = SPACE;
    const len = Math.min(16, bytes.length - i);
    for (let j = 0; j < 16; j++) {
      if (j === 8) out[o++] = SPACE;
      if (j < len) {
        const b = bytes[i + j] as number;
        out[o++] = HEX_DIGITS[b >> 4] as number;
        out[o++] = HEX_DIGITS[b & 15] as number;
        out[o++] = SPACE;
      } else {
        out[o++] = SPACE;
        out[o++] = SPACE;
        out[o++] = SPACE;
      }
    }
    out[o++] = SPACE;
    for (let j = 0; j < len; j++) {
      if (j === 8) out[o++] = SPACE;
      const b = bytes[i + j] as number;
      out[o++] = b >= 0x20 && b < 0x7f ? b : DOT;
    }
    out[o++] = 0x0a;
  }
  offsets[c.direction] += bytes.length;
  return out.toString('latin1', 0, o);
}
