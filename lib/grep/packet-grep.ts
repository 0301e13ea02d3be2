/** Per-packet grep (ngrep's model): each packet's payload matched on its own, with -A after-context. */
import type { Packet } from '../layers/decode';
import { formatTimestamp } from '../core/record';
import { DEFAULT_CONTEXT_BYTES, DEFAULT_MAX_MATCHES_PER_PACKET, MAX_AFTER_CONTEXT_CONNECTIONS } from './limits';
import { findMatches, type ByteRange, type Matcher, type PatternOptions } from './pattern';
import { conversationKey, flowText, packetPayload } from './payload';
import type { GrepMatch } from './report';

export interface GrepOptions extends PatternOptions {
  /** Select packets with payload that do NOT match (per-packet mode only). */
  invert?: boolean;
  /** After a match, also select the next N packets with payload of the same conversation. */
  after?: number;
  /** Bytes of context reported on each side of a match (default DEFAULT_CONTEXT_BYTES). */
  contextBytes?: number;
  /** Matches reported per packet; the rest are counted in `matchesOmitted` (default DEFAULT_MAX_MATCHES_PER_PACKET). */
  maxMatchesPerPacket?: number;
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
  /** Matches in this packet past maxMatchesPerPacket: counted, not reported (absent when none). */
  matchesOmitted?: number;
}

/** Remembers, per conversation, how many more packets -A still selects. Bounded (oldest forgotten). */
export class AfterContext {
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

export function contextAround(buf: Buffer, r: ByteRange, n: number): { before: Buffer; after: Buffer } {
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
  private readonly maxMatches: number;
  private readonly afterContext: AfterContext;
  /** Packets seen, with payload, selected; matches found. */
  readonly stats = { packets: 0, withPayload: 0, selected: 0, matches: 0 };

  constructor(matcher: Matcher, opts: GrepOptions = {}) {
    this.matcher = matcher;
    this.invert = !!opts.invert;
    this.contextBytes = opts.contextBytes ?? DEFAULT_CONTEXT_BYTES;
    this.maxMatches = Math.max(1, opts.maxMatchesPerPacket ?? DEFAULT_MAX_MATCHES_PER_PACKET);
    this.afterContext = new AfterContext(opts.after ?? 0);
  }

  /** Verdict for one packet. Never throws on packet content. */
  packet(pkt: Packet): PacketVerdict {
    this.stats.packets++;
    const payload = packetPayload(pkt);
    if (payload.length === 0) return { packet: pkt, selected: false, afterContext: false, matches: [] };
    this.stats.withPayload++;
    const { ranges, more } = findMatches(this.matcher, payload, this.invert ? 1 : this.maxMatches);
    const key = this.afterContext.enabled ? conversationKey(pkt) : '';
    const hit = ranges.length > 0;
    if (hit !== this.invert) {
      this.stats.selected++;
      if (this.afterContext.enabled) this.afterContext.matched(key);
      const matches = this.invert ? [] : this.reports(pkt, payload, ranges);
      this.stats.matches += matches.length + more;
      const v: PacketVerdict = { packet: pkt, selected: true, afterContext: false, matches };
      if (more > 0 && !this.invert) v.matchesOmitted = more;
      return v;
    }
    if (this.afterContext.enabled && this.afterContext.take(key)) {
      this.stats.selected++;
      return { packet: pkt, selected: true, afterContext: true, matches: [] };
    }
    return { packet: pkt, selected: false, afterContext: false, matches: [] };
  }

  /** The packet's matches as reports; what is the same for all of them (time, flow) is made once. */
  private reports(pkt: Packet, payload: Buffer, ranges: ByteRange[]): GrepMatch[] {
    const rec = pkt.record;
    const ts = formatTimestamp(rec.tsSec, rec.tsNsec);
    const connection = flowText(pkt);
    return ranges.map((r) => {
      const { before, after } = contextAround(payload, r, this.contextBytes);
      return {
        frame: rec.frame, ts, tsSec: rec.tsSec, tsNsec: rec.tsNsec,
        connection, offset: r.start, bytes: Buffer.from(payload.subarray(r.start, r.end)), before, after,
        frames: [rec.frame],
      };
    });
  }
}
