/**
 * Network grep: patterns over packet payloads (per packet, like ngrep) and over reassembled TCP streams.
 *
 * Patterns: a regular expression run over the payload as latin1 text (one character per byte, so any
 * byte can be matched, `\xHH` included), optionally case-insensitive (-i) or as a whole word (-w); or
 * raw bytes given in hex (-x). As in ngrep, `.` also matches newlines, and `^`/`$` anchor at the start
 * and end of the payload. POSIX bracket classes such as `[[:digit:]]` are understood.
 *
 * The payload (as in ngrep): the bytes after the TCP or UDP header; after the first 4 bytes (type, code,
 * checksum) of ICMP, ICMPv6 and IGMP; the whole IP payload of other protocols and of non-first IP
 * fragments. Unlike ngrep, bytes past the IP datagram (Ethernet padding, trailers) are not payload.
 * Packets without IP have no payload. A packet without payload is never selected, also not inverted.
 *
 * Stream mode (`StreamGrep`) runs the TCP reassembler and matches each direction of each connection as
 * one byte stream, so a match split over several segments is found. Each direction keeps a bounded
 * look-behind (the last `lookBehind` bytes), so memory stays flat whatever the stream length; a match
 * longer than the look-behind plus one delivery can be missed (documented limit). Every match reports
 * the frames that carry its bytes. Packets come out (through `release`) in capture order, each with its
 * verdict; a TCP packet is held until its bytes have left the look-behind window (or its connection
 * ended, or a named bound forces it out), because a later segment may complete a match that it starts.
 */
import { GrepPatternError } from '../core/errors';
import type { Packet } from '../layers/decode';
import { IpProto } from '../layers/ipv6';
import { escapeControl } from '../core/escape';
import { formatTimestamp } from '../core/record';
import { endpoint } from '../tcp/connection';
import { TcpReassembler, type TcpLimits } from '../tcp/reassembler';
import type { TcpDataEvent, TcpDirection, TcpEvent } from '../tcp/events';

// ------------------------------------------------------------------------------------------ limits

/** Bytes of stream kept per connection direction so matches can straddle deliveries (default). */
export const DEFAULT_LOOK_BEHIND_BYTES = 1024;
/** Bytes of context on each side of a match in reports. */
export const DEFAULT_CONTEXT_BYTES = 32;
/** Packets held for ordered release in stream mode before the oldest is forced out unselected. */
export const DEFAULT_MAX_HELD_PACKETS = 4096;
/** Capture-time seconds a packet may be held in stream mode before it is forced out. */
export const DEFAULT_MAX_HOLD_SECONDS = 10;
/** Connections remembered for `-A` (after-context); beyond this the oldest is forgotten. */
export const MAX_AFTER_CONTEXT_CONNECTIONS = 65_536;
/** ngrep's (and Wireshark's) word characters, for -w. */
const WORD_CLASS = '[A-Za-z0-9_]';

// ------------------------------------------------------------------------------------------ patterns

export { GrepPatternError };

export interface PatternOptions {
  /** The pattern is hex bytes ("474554", "0x47 45 54", "47:45:54"), matched exactly. */
  hex?: boolean;
  /** Case-insensitive (ASCII letters; regex only). */
  ignoreCase?: boolean;
  /** Match only as a whole word: not preceded or followed by [A-Za-z0-9_] (regex only). */
  word?: boolean;
}

/** Where a match is: byte offsets [start, end) in the searched buffer. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface Matcher {
  /** The pattern as given, for messages. */
  readonly source: string;
  /**
   * True when a match's end depends on the byte after it (-w): in stream mode a match that ends at the
   * end of the data seen so far waits for the next bytes (or the end of the stream) before it counts.
   */
  readonly needsRightContext: boolean;
  /** The longest match possible, when the pattern fixes it (literal and hex patterns). */
  readonly maxLength?: number;
  /** First match that starts at or after `from` in buf[0, end) (bytes before `from` are context only). */
  find(buf: Buffer, from: number, end?: number): ByteRange | null;
}

/** Parses hex bytes: optional 0x prefix, optional spaces, colons or dashes between bytes. */
export function parseHexPattern(text: string): Buffer {
  let s = text.trim();
  if (/^0x/i.test(s)) s = s.slice(2);
  const compact = s.replace(/[\s:-]/g, '');
  if (compact.length === 0) throw new GrepPatternError('empty hex pattern');
  if (!/^[0-9a-fA-F]*$/.test(compact)) throw new GrepPatternError(`invalid hex pattern ${JSON.stringify(text)}: only hex digits (0-9, a-f) allowed`);
  if (compact.length % 2 !== 0) throw new GrepPatternError(`invalid hex pattern ${JSON.stringify(text)}: odd number of hex digits`);
  return Buffer.from(compact, 'hex');
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z', digit: '0-9', alnum: 'A-Za-z0-9', upper: 'A-Z', lower: 'a-z', space: ' \\t\\n\\v\\f\\r',
  blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', print: ' -~', graph: '!-~', cntrl: '\\x00-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f', word: 'A-Za-z0-9_',
};

/** POSIX bracket classes ([[:digit:]]) as JS ranges; an unknown class name is an error, as in POSIX. */
function translatePosixClasses(source: string): string {
  return source.replace(/\[:([a-z]+):\]/g, (_m, name: string) => {
    const js = POSIX_CLASSES[name];
    if (js === undefined) throw new GrepPatternError(`invalid regular expression ${JSON.stringify(source)}: unknown character class [:${name}:]`);
    return js;
  });
}

/** Regex characters that make a pattern more than a literal. */
const REGEX_SPECIAL = /[\\^$.|?*+()[\]{}]/;

class BytesMatcher implements Matcher {
  readonly needsRightContext = false;
  readonly maxLength: number;
  constructor(readonly source: string, private readonly needle: Buffer) {
    this.maxLength = needle.length;
  }
  find(buf: Buffer, from: number, end = buf.length): ByteRange | null {
    const hay = end === buf.length ? buf : buf.subarray(0, end);
    const i = hay.indexOf(this.needle, from);
    return i < 0 ? null : { start: i, end: i + this.needle.length };
  }
}

class RegexMatcher implements Matcher {
  readonly needsRightContext: boolean;
  private readonly re: RegExp;
  constructor(readonly source: string, opts: PatternOptions) {
    let body = translatePosixClasses(source);
    if (opts.word) body = `(?<!${WORD_CLASS})(?:${body})(?!${WORD_CLASS})`;
    this.needsRightContext = !!opts.word || /\(\?[=!]|\$|\\b|\\B/.test(source);
    try {
      // s: '.' matches newlines (ngrep's default multi-line match); g: iterate with lastIndex
      this.re = new RegExp(body, opts.ignoreCase ? 'gsi' : 'gs');
    } catch (e) {
      throw new GrepPatternError(`invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
    }
  }
  find(buf: Buffer, from: number, end = buf.length): ByteRange | null {
    // latin1: one UTF-16 unit per byte, so string indices are byte offsets
    const text = buf.toString('latin1', 0, end);
    this.re.lastIndex = from;
    const m = this.re.exec(text);
    return m === null ? null : { start: m.index, end: m.index + m[0].length };
  }
}

/** Compiles a pattern; throws GrepPatternError on an invalid regex or hex string. */
export function compileMatcher(pattern: string, opts: PatternOptions = {}): Matcher {
  if (opts.hex) {
    if (opts.ignoreCase || opts.word) throw new GrepPatternError('-i and -w cannot be used with a hex pattern');
    return new BytesMatcher(pattern, parseHexPattern(pattern));
  }
  if (pattern === '') throw new GrepPatternError('empty pattern');
  if (!opts.ignoreCase && !opts.word && !REGEX_SPECIAL.test(pattern)) return new BytesMatcher(pattern, Buffer.from(pattern, 'latin1'));
  return new RegexMatcher(pattern, opts);
}

/** ngrep without a pattern: every packet with payload matches (an empty match at its start). */
export const MATCH_EVERYTHING: Matcher = Object.freeze({
  source: '',
  needsRightContext: false,
  find(buf: Buffer, from: number, end = buf.length): ByteRange | null {
    return from <= end ? { start: from, end: from } : null;
  },
});

/** Every non-overlapping, non-empty match in buf (and a single empty one if that is all there is). */
export function findAll(matcher: Matcher, buf: Buffer): ByteRange[] {
  const out: ByteRange[] = [];
  let from = 0;
  while (from <= buf.length) {
    const m = matcher.find(buf, from);
    if (m === null) break;
    if (m.end === m.start) {
      if (out.length === 0 && from === 0) out.push(m);
      from = m.start + 1;
      continue;
    }
    out.push(m);
    from = m.end;
  }
  return out;
}

// ------------------------------------------------------------------------------------------ payload

/** ngrep skips 4 bytes (type, code, checksum) of ICMP, ICMPv6 and IGMP: the rest is payload. */
const ICMP_SKIP_BYTES = 4;
const EMPTY = Buffer.alloc(0);

/** True for an IP fragment that is not the first: it carries no transport header, only payload. */
function isLaterFragment(pkt: Packet): boolean {
  return pkt.layers.includes('fragment');
}

/** The bytes ngrep would search (see the file comment); empty when the packet has none. */
export function packetPayload(pkt: Packet): Buffer {
  const ip = pkt.ipv4 ?? pkt.ipv6;
  if (ip === undefined) return EMPTY;
  if (isLaterFragment(pkt)) return ip.payload;
  if (pkt.tcp !== undefined) return pkt.tcp.payload;
  if (pkt.udp !== undefined) return pkt.udp.payload;
  switch (ip.protocol) {
    case IpProto.TCP: case IpProto.UDP: return EMPTY; // header not decoded (cut short or malformed)
    case IpProto.ICMP: case IpProto.ICMPV6: case IpProto.IGMP: {
      const p = ip.payload;
      return p.length > ICMP_SKIP_BYTES ? p.subarray(ICMP_SKIP_BYTES) : EMPTY;
    }
    default: return ip.payload;
  }
}

/** "src:port > dst:port" (TCP/UDP) or "src > dst"; "" without IP. */
export function flowText(pkt: Packet): string {
  const ip = pkt.ipv4 ?? pkt.ipv6;
  if (ip === undefined) return '';
  const ports = isLaterFragment(pkt) ? undefined : pkt.tcp ?? pkt.udp;
  if (ports === undefined) return `${ip.src} > ${ip.dst}`;
  return `${endpoint(ip.src, ports.srcPort)} > ${endpoint(ip.dst, ports.dstPort)}`;
}

/** A direction-free key for the conversation a packet belongs to (5-tuple, or address pair). */
export function conversationKey(pkt: Packet): string {
  const ip = pkt.ipv4 ?? pkt.ipv6;
  if (ip === undefined) return '';
  const ports = isLaterFragment(pkt) ? undefined : pkt.tcp ?? pkt.udp;
  const a = ports ? endpoint(ip.src, ports.srcPort) : ip.src;
  const b = ports ? endpoint(ip.dst, ports.dstPort) : ip.dst;
  const proto = pkt.tcp ? 't' : pkt.udp ? 'u' : String(ip.protocol);
  return a < b ? `${proto} ${a} ${b}` : `${proto} ${b} ${a}`;
}

// ------------------------------------------------------------------------------------------ reports

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
 * A payload as text: one output line per payload line (split at LF), each indented and escaped
 * (control characters as \xHH, so captured bytes never drive the terminal), with the matched ranges
 * highlighted when `color`. An empty payload gives "".
 */
export function formatPayload(payload: Buffer, ranges: readonly ByteRange[], color: boolean, indent = '  '): string {
  const lines: string[] = [];
  let ri = 0;
  let lineStart = 0;
  while (lineStart < payload.length) {
    let lineEnd = payload.indexOf(0x0a, lineStart);
    const next = lineEnd < 0 ? payload.length : lineEnd + 1;
    if (lineEnd < 0) lineEnd = payload.length;
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
export function formatStreamMatch(m: GrepMatch, color: boolean): string {
  const where = `${m.ts} stream ${m.stream ?? '-'} ${escapeControl(m.connection)}${m.direction ? ` ${m.direction}` : ''}` +
    ` offset ${m.offset} length ${m.bytes.length} frames ${m.frames.join(',')}`;
  const body = escapeControl(m.before.toString('latin1')) + (color ? HIGHLIGHT_ON : '[') +
    escapeControl(m.bytes.toString('latin1')) + (color ? HIGHLIGHT_OFF : ']') + escapeControl(m.after.toString('latin1'));
  return `${where}\n  ${body}`;
}

// ------------------------------------------------------------------------------------------ per packet

export interface GrepOptions extends PatternOptions {
  /** Select packets with payload that do NOT match (per-packet mode only). */
  invert?: boolean;
  /** After a match, also select the next N packets with payload of the same conversation. */
  after?: number;
  /** Bytes of context reported on each side of a match (default DEFAULT_CONTEXT_BYTES). */
  contextBytes?: number;
}

/** The verdict on one packet. */
export interface PacketVerdict {
  packet: Packet;
  /** Written out / printed. */
  selected: boolean;
  /** Selected as after-context (-A) rather than by a match. */
  afterContext: boolean;
  /** The matches that involve this packet (per packet: in its payload; stream: ending in it). */
  matches: GrepMatch[];
}

/** Remembers, per conversation, how many more packets -A still selects. Bounded (oldest forgotten). */
class AfterContext {
  private readonly remaining = new Map<string, number>();
  constructor(private readonly count: number) {}
  get enabled(): boolean { return this.count > 0; }
  matched(key: string): void {
    if (this.count <= 0) return;
    this.remaining.delete(key);
    if (this.remaining.size >= MAX_AFTER_CONTEXT_CONNECTIONS) {
      const oldest = this.remaining.keys().next().value as string;
      this.remaining.delete(oldest);
    }
    this.remaining.set(key, this.count);
  }
  /** True when this packet (with payload) is after-context; counts it. */
  take(key: string): boolean {
    const n = this.remaining.get(key);
    if (n === undefined) return false;
    if (n <= 1) this.remaining.delete(key); else this.remaining.set(key, n - 1);
    return true;
  }
}

function contextAround(buf: Buffer, r: ByteRange, n: number): { before: Buffer; after: Buffer } {
  return {
    before: Buffer.from(buf.subarray(Math.max(0, r.start - n), r.start)),
    after: Buffer.from(buf.subarray(r.end, Math.min(buf.length, r.end + n))),
  };
}

/** Per-packet grep, ngrep's semantics: each payload on its own. */
export class PacketGrep {
  readonly matcher: Matcher;
  private readonly invert: boolean;
  private readonly contextBytes: number;
  private readonly afterContext: AfterContext;
  /** Packets seen, with payload, selected; matches found. */
  readonly stats = { packets: 0, withPayload: 0, selected: 0, matches: 0 };

  constructor(matcher: Matcher, opts: GrepOptions = {}) {
    this.matcher = matcher;
    this.invert = !!opts.invert;
    this.contextBytes = opts.contextBytes ?? DEFAULT_CONTEXT_BYTES;
    this.afterContext = new AfterContext(opts.after ?? 0);
  }

  /** Verdict for one packet. Never throws on packet content. */
  packet(pkt: Packet): PacketVerdict {
    this.stats.packets++;
    const payload = packetPayload(pkt);
    if (payload.length === 0) return { packet: pkt, selected: false, afterContext: false, matches: [] };
    this.stats.withPayload++;
    const ranges = findAll(this.matcher, payload);
    const key = this.afterContext.enabled ? conversationKey(pkt) : '';
    const hit = ranges.length > 0;
    if (hit !== this.invert) {
      this.stats.selected++;
      if (this.afterContext.enabled) this.afterContext.matched(key);
      const matches = this.invert ? [] : ranges.map((r) => this.report(pkt, payload, r));
      this.stats.matches += matches.length;
      return { packet: pkt, selected: true, afterContext: false, matches };
    }
    if (this.afterContext.enabled && this.afterContext.take(key)) {
      this.stats.selected++;
      return { packet: pkt, selected: true, afterContext: true, matches: [] };
    }
    return { packet: pkt, selected: false, afterContext: false, matches: [] };
  }

  private report(pkt: Packet, payload: Buffer, r: ByteRange): GrepMatch {
    const rec = pkt.record;
    const { before, after } = contextAround(payload, r, this.contextBytes);
    return {
      frame: rec.frame, ts: formatTimestamp(rec.tsSec, rec.tsNsec), tsSec: rec.tsSec, tsNsec: rec.tsNsec,
      connection: flowText(pkt), offset: r.start, bytes: Buffer.from(payload.subarray(r.start, r.end)), before, after,
      frames: [rec.frame],
    };
  }
}

// ------------------------------------------------------------------------------------------ stream mode

export interface StreamGrepOptions extends GrepOptions {
  /** Bytes of look-behind per connection direction (default DEFAULT_LOOK_BEHIND_BYTES). */
  lookBehind?: number;
  /** Packets held for ordered release before the oldest is forced out (default DEFAULT_MAX_HELD_PACKETS). */
  maxHeldPackets?: number;
  /** Capture-time seconds a packet may be held (default DEFAULT_MAX_HOLD_SECONDS). */
  maxHoldSeconds?: number;
  /** Limits of the TCP reassembler. */
  tcpLimits?: Partial<TcpLimits>;
}

/** Directions of ended connections remembered, so their late packets (retransmissions) settle at once. */
export const MAX_ENDED_DIRECTIONS = 8192;

/** A packet waiting for its verdict, in capture order. */
interface Held {
  verdict: PacketVerdict;
  /** Still waiting: a later segment may complete a match that its bytes start. */
  pending: boolean;
  /** Already handed to `release` (a match found later cannot select it any more). */
  released: boolean;
  /** Capture time, ns relative to the first packet's second (for maxHoldSeconds). */
  time: number;
}

/** A TCP segment with payload whose bytes may still be part of a match. */
interface Hold {
  held: Held;
  seq: number;
  length: number;
  /** Stream offset of its first byte, once the direction's anchor is known; -1 before. */
  offset: number;
}

/** A run of look-behind bytes [start, end) (stream offsets) and the packet that carried it. */
interface Carrier {
  start: number;
  end: number;
  held: Held | null;
  frame: number;
}

/** What a match report is stamped with: the packet (or event) that completed it. */
interface Stamp {
  frame: number;
  ts: string;
  tsSec: number;
  tsNsec: number;
}

/** Matching state of one direction of one connection. */
class DirectionState {
  /** Sequence number of stream offset 0 (from the SYN, corrected by every in-order delivery); -1 unknown. */
  anchor = -1;
  /** The look-behind: the last bytes of the stream (a private copy), starting at stream offset tailOffset. */
  tail: Buffer = EMPTY;
  tailOffset = 0;
  carriers: Carrier[] = [];
  /** No new match may start before this stream offset (matches do not overlap). */
  reportedEnd = 0;
  /** Segments whose bytes may still be part of a match, in arrival order. */
  holds: Hold[] = [];
  /** The connection as the reassembler names it (set by its first data event). */
  stream = -1;
  client = '';
  server = '';
  direction: TcpDirection = 'client-to-server';
  ended = false;
  constructor(readonly key: string) {}

  /** Stream offset of a sequence number: relative to the window's end, so wraparound needs no case. */
  offsetOfSeq(seq: number): number {
    const refOffset = this.tailOffset + this.tail.length;
    const refSeq = (this.anchor + refOffset) >>> 0;
    return refOffset + ((seq - refSeq) | 0);
  }

  setAnchor(anchor: number): void {
    if (anchor === this.anchor) return;
    this.anchor = anchor;
    for (const h of this.holds) h.offset = this.offsetOfSeq(h.seq);
  }

  /** Forgets the window (a gap, a new connection on the same 4-tuple, the end). */
  dropWindow(nextOffset: number): void {
    this.tail = EMPTY;
    this.carriers = [];
    this.tailOffset = nextOffset;
    this.reportedEnd = nextOffset;
  }
}

export interface StreamGrepSinks {
  /** Every packet, in capture order, once its verdict is final. */
  release: (v: PacketVerdict) => void;
  /** Every match, as soon as it is found (stream matches and per-packet matches of non-TCP packets). */
  match?: (m: GrepMatch) => void;
}

/**
 * Stream-mode grep over reassembled TCP; UDP, ICMP, other protocols and IP fragments are matched per
 * packet. Feed packets in capture order with `packet()`, then call `flush()`.
 */
export class StreamGrep {
  readonly matcher: Matcher;
  private readonly sinks: StreamGrepSinks;
  private readonly reassembler: TcpReassembler;
  private readonly perPacket: PacketGrep;
  private readonly lookBehind: number;
  private readonly contextBytes: number;
  private readonly maxHeld: number;
  private readonly maxHoldNs: number;
  private readonly afterContext: AfterContext;
  private readonly directions = new Map<string, DirectionState>();
  /** Keys of ended directions, oldest first (bounded by MAX_ENDED_DIRECTIONS). */
  private readonly ended: string[] = [];
  /** Packets in capture order; `head` is the first not yet released. */
  private queue: Held[] = [];
  private head = 0;
  private baseSec = NaN;
  /** The TCP packet being fed to the reassembler: in-order deliveries are views of its payload. */
  private current: { held: Held; payload: Buffer; dir: DirectionState } | null = null;
  readonly stats = {
    packets: 0, selected: 0, matches: 0,
    /** Packets released unselected by a bound (maxHeldPackets, maxHoldSeconds) while still pending. */
    forced: 0,
    /** Frames a match needed after they had been forced out: listed in the match, not selected. */
    late: 0,
  };

  constructor(matcher: Matcher, sinks: StreamGrepSinks, opts: StreamGrepOptions = {}) {
    if (opts.invert) throw new GrepPatternError('invert (-v) cannot be used in stream mode');
    this.matcher = matcher;
    this.sinks = sinks;
    this.contextBytes = opts.contextBytes ?? DEFAULT_CONTEXT_BYTES;
    // a fixed-length pattern needs only its length - 1 bytes of look-behind (plus the reported context):
    // less copying, and packets are released sooner
    const needed = matcher.maxLength === undefined ? Infinity : Math.max(matcher.maxLength - 1, this.contextBytes, 1);
    this.lookBehind = Math.min(Math.max(1, opts.lookBehind ?? DEFAULT_LOOK_BEHIND_BYTES), needed);
    this.maxHeld = Math.max(1, opts.maxHeldPackets ?? DEFAULT_MAX_HELD_PACKETS);
    this.maxHoldNs = (opts.maxHoldSeconds ?? DEFAULT_MAX_HOLD_SECONDS) * 1e9;
    this.afterContext = new AfterContext(opts.after ?? 0);
    this.perPacket = new PacketGrep(matcher, { contextBytes: this.contextBytes });
    this.reassembler = new TcpReassembler((ev) => this.event(ev), opts.tcpLimits);
  }

  /** Look-behind bytes held over all directions (memory stays flat: at most lookBehind per direction). */
  bufferedBytes(): number {
    let n = 0;
    for (const d of this.directions.values()) n += d.tail.length;
    return n;
  }

  /** Packets waiting for their verdict. */
  get heldPackets(): number { return this.queue.length - this.head; }

  packet(pkt: Packet): void {
    this.stats.packets++;
    const rec = pkt.record;
    if (this.baseSec !== this.baseSec) this.baseSec = rec.tsSec;
    const time = (rec.tsSec - this.baseSec) * 1e9 + rec.tsNsec;
    const held: Held = { verdict: { packet: pkt, selected: false, afterContext: false, matches: [] }, pending: false, released: false, time };
    this.queue.push(held);
    const tcp = pkt.tcp;
    const ip = pkt.ipv4 ?? pkt.ipv6;
    if (tcp === undefined || ip === undefined || isFragment(pkt)) {
      this.matchAlone(held);
    } else {
      const payload = tcp.payload;
      const dir = this.direction(`${endpoint(ip.src, tcp.srcPort)}>${endpoint(ip.dst, tcp.dstPort)}`);
      if ((tcp.flags & TCP_SYN) !== 0 && (dir.anchor === -1 || dir.ended)) {
        // offset 0 is the byte after the SYN (a new connection on an ended 4-tuple starts afresh)
        if (dir.ended) { dir.ended = false; dir.stream = -1; dir.dropWindow(0); }
        dir.setAnchor((tcp.seq + 1) >>> 0);
      }
      if (payload.length > 0) {
        held.pending = true;
        dir.holds.push({ held, seq: tcp.seq, length: payload.length, offset: dir.anchor === -1 ? -1 : dir.offsetOfSeq(tcp.seq) });
        if (this.afterContext.enabled && this.afterContext.take(conversationKey(pkt))) this.select(held, true);
      }
      this.current = { held, payload, dir };
      this.reassembler.packet(pkt);
      this.current = null;
      this.settle(dir);
    }
    this.releaseReady(time);
  }

  /** End of input: every connection ends (matches waiting for a next byte are decided), all is released. */
  flush(): void {
    this.reassembler.flush();
    for (const dir of this.directions.values()) this.finishDirection(dir, null);
    this.directions.clear();
    this.ended.length = 0;
    for (let i = this.head; i < this.queue.length; i++) (this.queue[i] as Held).pending = false;
    this.releaseReady(Infinity);
  }

  // ---------------------------------------------------------------- packets

  private matchAlone(held: Held): void {
    const pkt = held.verdict.packet;
    const v = this.perPacket.packet(pkt);
    if (v.selected) {
      held.verdict.matches = v.matches;
      this.select(held, false);
      for (const m of v.matches) this.emitMatch(m);
      if (this.afterContext.enabled) this.afterContext.matched(conversationKey(pkt));
    } else if (this.afterContext.enabled && packetPayload(pkt).length > 0 && this.afterContext.take(conversationKey(pkt))) {
      this.select(held, true);
    }
  }

  private emitMatch(m: GrepMatch): void {
    this.stats.matches++;
    this.sinks.match?.(m);
  }

  private select(held: Held, afterContext: boolean): void {
    if (held.verdict.selected) return;
    if (held.released) { this.stats.late++; return; }
    held.verdict.selected = true;
    held.verdict.afterContext = afterContext;
    this.stats.selected++;
  }

  private direction(key: string): DirectionState {
    let d = this.directions.get(key);
    if (d === undefined) {
      d = new DirectionState(key);
      this.directions.set(key, d);
    }
    return d;
  }

  /** Releases, in order, every packet no longer pending; forces out the oldest beyond the bounds. */
  private releaseReady(now: number): void {
    const q = this.queue;
    while (this.head < q.length) {
      const h = q[this.head] as Held;
      if (h.pending) {
        const tooMany = q.length - this.head > this.maxHeld;
        const tooOld = now - h.time > this.maxHoldNs;
        if (!tooMany && !tooOld) break;
        h.pending = false;
        this.stats.forced++;
      }
      h.released = true;
      q[this.head++] = undefined as unknown as Held; // let the packet go
      this.sinks.release(h.verdict);
    }
    if (this.head >= 1024 && this.head * 2 >= q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  // ---------------------------------------------------------------- reassembler events

  private event(ev: TcpEvent): void {
    switch (ev.type) {
      case 'data': this.data(ev); return;
      case 'gap': {
        const dir = this.directions.get(keyOf(ev.client, ev.server, ev.direction));
        if (dir === undefined) return;
        this.finishWindow(dir, ev);
        dir.dropWindow(ev.offset + ev.length);
        this.settle(dir);
        return;
      }
      case 'end':
        for (const d of ['client-to-server', 'server-to-client'] as const) {
          const key = keyOf(ev.client, ev.server, d);
          const dir = this.directions.get(key);
          if (dir !== undefined && (dir.stream === ev.connection || dir.stream === -1)) this.endDirection(dir, ev);
        }
        return;
      default:
    }
  }

  private data(ev: TcpDataEvent): void {
    const dir = this.direction(keyOf(ev.client, ev.server, ev.direction));
    if (dir.stream !== ev.connection) {
      if (dir.stream !== -1) { dir.dropWindow(ev.offset); dir.anchor = -1; } // the 4-tuple was reused
      dir.stream = ev.connection;
      dir.client = ev.client;
      dir.server = ev.server;
      dir.direction = ev.direction;
      dir.ended = false;
    }
    const bytes = ev.bytes;
    const cur = this.current;
    if (dir.tail.length > 0 && ev.offset !== dir.tailOffset + dir.tail.length) {
      this.finishWindow(dir, ev); // not contiguous (the reassembler reports gaps first; be safe)
      dir.dropWindow(ev.offset);
    }
    if (dir.tail.length === 0 && dir.tailOffset !== ev.offset) dir.dropWindow(ev.offset);
    // a view of the current packet's payload: that packet carries these bytes, and fixes the anchor
    const isView = cur !== null && cur.dir === dir && bytes.buffer === cur.payload.buffer
      && bytes.byteOffset >= cur.payload.byteOffset && bytes.byteOffset + bytes.length <= cur.payload.byteOffset + cur.payload.length;
    if (isView) {
      const tcp = cur.held.verdict.packet.tcp as Packet['tcp'] & object;
      dir.setAnchor((tcp.seq + (bytes.byteOffset - cur.payload.byteOffset) - ev.offset) >>> 0);
      dir.carriers.push({ start: ev.offset, end: ev.offset + bytes.length, held: cur.held, frame: ev.frame });
    } else {
      for (const c of this.carriersOfCopy(dir, ev)) dir.carriers.push(c);
    }
    this.search(dir, bytes, ev, false);
  }

  /** Bytes delivered from the reassembler's buffer came from held segments: the first copy wins. */
  private carriersOfCopy(dir: DirectionState, ev: TcpDataEvent): Carrier[] {
    const end = ev.offset + ev.bytes.length;
    const out: Carrier[] = [];
    let pos = ev.offset;
    while (pos < end) {
      let best: Hold | null = null;
      let nextStart = end;
      for (const h of dir.holds) {
        if (h.offset === -1) continue;
        if (h.offset <= pos && h.offset + h.length > pos) { if (best === null) best = h; } // earliest arrival
        else if (h.offset > pos && h.offset < nextStart) nextStart = h.offset;
      }
      if (best === null) {
        out.push({ start: pos, end: nextStart, held: null, frame: ev.frame }); // unknown carrier: the event's
        pos = nextStart;
      } else {
        const stop = Math.min(end, best.offset + best.length);
        out.push({ start: pos, end: stop, held: best.held, frame: best.held.verdict.packet.record.frame });
        pos = stop;
      }
    }
    return out;
  }

  /**
   * Searches look-behind + new bytes for matches that end in the new bytes, then keeps the last
   * `lookBehind` bytes. With `final` no more bytes follow, so a match may end at the very end.
   */
  private search(dir: DirectionState, bytes: Buffer, stamp: Stamp, final: boolean): void {
    const window = dir.tail.length === 0 ? bytes : bytes.length === 0 ? dir.tail : Buffer.concat([dir.tail, bytes]);
    const base = dir.tailOffset;
    const oldEnd = dir.tail.length;
    let from = Math.max(0, dir.reportedEnd - base);
    while (from < window.length) {
      const m = this.matcher.find(window, from);
      if (m === null) break;
      if (m.end === m.start) { from = m.start + 1; continue; } // empty matches say nothing in a stream
      if (m.end <= oldEnd && !final) { from = m.end; continue; } // in the old bytes: decided before
      if (m.end === window.length && this.matcher.needsRightContext && !final) break; // needs the next byte
      this.report(dir, window, base, m, stamp);
      from = m.end;
    }
    const keep = Math.min(window.length, this.lookBehind);
    // a private copy: the window may be a view of a capture chunk, which must not stay pinned
    dir.tail = keep === 0 ? EMPTY : keep === dir.tail.length && window === dir.tail ? dir.tail : Buffer.from(window.subarray(window.length - keep));
    dir.tailOffset = base + window.length - keep;
    if (dir.carriers.length > 0 && (dir.carriers[0] as Carrier).end <= dir.tailOffset) {
      dir.carriers = dir.carriers.filter((c) => c.end > dir.tailOffset);
    }
  }

  private report(dir: DirectionState, window: Buffer, base: number, r: ByteRange, stamp: Stamp): void {
    const start = base + r.start;
    const end = base + r.end;
    const frames: number[] = [];
    let owner: Held | null = null;
    for (const c of dir.carriers) {
      if (c.end <= start || c.start >= end) continue;
      if (!frames.includes(c.frame)) frames.push(c.frame);
      if (c.held !== null) { this.select(c.held, false); owner = c.held; }
    }
    frames.sort((a, b) => a - b);
    dir.reportedEnd = end;
    const { before, after } = contextAround(window, r, this.contextBytes);
    this.emitMatch({
      frame: stamp.frame, ts: stamp.ts, tsSec: stamp.tsSec, tsNsec: stamp.tsNsec,
      connection: `${dir.client} > ${dir.server}`, stream: dir.stream, direction: dir.direction,
      offset: start, bytes: Buffer.from(window.subarray(r.start, r.end)), before, after, frames,
    });
    if (this.afterContext.enabled && owner !== null) this.afterContext.matched(conversationKey(owner.verdict.packet));
  }

  /** A match that waited for the byte after it is decided now: no more bytes follow the window. */
  private finishWindow(dir: DirectionState, stamp: Stamp | null): void {
    if (!this.matcher.needsRightContext || dir.tail.length === 0) return;
    const last = dir.carriers[dir.carriers.length - 1];
    const s = stamp ?? (last?.held ? stampOf(last.held.verdict.packet) : null);
    if (s !== null) this.search(dir, EMPTY, s, true);
  }

  private finishDirection(dir: DirectionState, stamp: Stamp | null): void {
    this.finishWindow(dir, stamp);
    for (const h of dir.holds) h.held.pending = false;
    dir.holds = [];
  }

  /** The connection ended: decide its packets, and remember the direction briefly for late packets. */
  private endDirection(dir: DirectionState, stamp: Stamp): void {
    this.finishDirection(dir, stamp);
    dir.dropWindow(dir.tailOffset + dir.tail.length);
    dir.ended = true;
    this.ended.push(dir.key);
    while (this.ended.length > MAX_ENDED_DIRECTIONS) {
      const key = this.ended.shift() as string;
      const d = this.directions.get(key);
      if (d !== undefined && d.ended) {
        this.finishDirection(d, null);
        this.directions.delete(key);
      }
    }
  }

  /** Holds whose bytes have all left the look-behind can no longer be part of a match. */
  private settle(dir: DirectionState): void {
    if (dir.anchor === -1 || dir.holds.length === 0) return;
    const limit = dir.tailOffset;
    let kept = 0;
    for (const h of dir.holds) {
      if (h.offset !== -1 && h.offset + h.length <= limit) h.held.pending = false;
      else dir.holds[kept++] = h;
    }
    dir.holds.length = kept;
  }
}

const TCP_SYN = 0x002;

function keyOf(client: string, server: string, direction: TcpDirection): string {
  return direction === 'client-to-server' ? `${client}>${server}` : `${server}>${client}`;
}

function stampOf(pkt: Packet): Stamp {
  const rec = pkt.record;
  return { frame: rec.frame, ts: formatTimestamp(rec.tsSec, rec.tsNsec), tsSec: rec.tsSec, tsNsec: rec.tsNsec };
}

/** Any IP fragment (first or later): the reassembler ignores them, so they are matched per packet. */
function isFragment(pkt: Packet): boolean {
  if (pkt.ipv4 !== undefined) return pkt.ipv4.moreFragments || pkt.ipv4.fragmentOffset !== 0;
  const f = pkt.ipv6?.fragment;
  return f !== undefined && (f.moreFragments || f.offset !== 0);
}
