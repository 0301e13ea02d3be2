/**
 * `grep(pattern, options)`: decoded packets in (object mode; arrays of packets too), the selected ones
 * out, in capture order — as Packets (default, so print() can follow), as PacketRecords (`output:
 * 'records'`, so writePcap() can follow), or as verdicts with their matches (`output: 'verdicts'`).
 * Every match is also emitted as a 'match' event (GrepMatch). With `maxMatches`, the stream emits
 * 'limit' once that many matches were found and ignores the rest of its input.
 *
 * Per-packet mode follows ngrep; `stream: true` matches reassembled TCP (see lib/grep/grep.ts).
 */
import { BatchTransform, type Typed } from './batch';
import type { Packet } from '../lib/layers/decode';
import { compileMatcher, type Matcher } from '../lib/grep/pattern';
import { PacketGrep, type GrepOptions, type PacketVerdict } from '../lib/grep/packet-grep';
import type { GrepMatch } from '../lib/grep/report';
import type { StreamGrep, StreamGrepOptions } from '../lib/grep/stream-grep';
import type { PacketRecord } from '../lib/core/record';

export interface GrepStreamOptions extends StreamGrepOptions {
  /** Match reassembled TCP streams (matches across segments) instead of each packet alone. */
  stream?: boolean;
  /** What comes out for each selected packet (default 'packets'). */
  output?: 'packets' | 'records' | 'verdicts';
  /** Stop after this many matches (per-packet mode: selected packets; stream mode: matches). */
  maxMatches?: number;
  /** Objects buffered on the readable side (default 256). */
  highWaterMark?: number;
}

/** What comes out, by `output`: packets (default), their records, or verdicts. */
export type GrepStreamOutput = Packet | PacketRecord | PacketVerdict;

export class GrepStream<Out extends GrepStreamOutput = Packet> extends BatchTransform<Packet, Out> {
  readonly matcher: Matcher;
  /** Per-packet engine (undefined in stream mode). */
  readonly packetGrep: PacketGrep | undefined;
  /** Stream engine (undefined in per-packet mode). */
  readonly streamGrep: StreamGrep | undefined;
  /** Matches found (stream mode) or packets selected by a match (per-packet mode). */
  matches = 0;
  /** Packets passed on. */
  selected = 0;
  private readonly output: 'packets' | 'records' | 'verdicts';
  private readonly maxMatches: number;
  private limited = false;
  /** Stream mode: the limit was reached inside the reassembler's callbacks; acted on after the packet. */
  private limitReached = false;

  constructor(pattern: string | Matcher, opts: GrepStreamOptions = {}) {
    super({ highWaterMark: opts.highWaterMark });
    this.matcher = typeof pattern === 'string' ? compileMatcher(pattern, opts) : pattern;
    this.output = opts.output ?? 'packets';
    this.maxMatches = opts.maxMatches ?? Infinity;
    if (opts.stream) {
      // required here: per-packet grep (the default) does not load the TCP reassembler it runs on
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { StreamGrep: Engine } = require('../lib/grep/stream-grep') as typeof import('../lib/grep/stream-grep');
      this.streamGrep = new Engine(this.matcher, {
        release: (v) => this.collect(v),
        match: (m) => this.onMatch(m),
      }, opts);
    } else {
      this.packetGrep = new PacketGrep(this.matcher, opts as GrepOptions);
    }
  }

  private onMatch(m: GrepMatch): void {
    if (this.limitReached) return;
    this.emit('match', m);
    if (++this.matches >= this.maxMatches) this.limitReached = true;
  }

  /** Stream mode, after the packet that reached the limit: release what is held, ignore the rest. */
  private limit(): void {
    this.limited = true;
    this.streamGrep?.flush();
    this.emit('limit', this.matches);
  }

  private collect(v: PacketVerdict): void {
    if (!v.selected) return;
    this.selected++;
    this.out.push((this.output === 'packets' ? v.packet : this.output === 'records' ? v.packet.record : v) as Out);
  }

  protected override handle(pkt: Packet): void {
    if (this.limited) return;
    if (this.streamGrep !== undefined) {
      this.streamGrep.packet(pkt);
      if (this.limitReached) this.limit();
      return;
    }
    const v = (this.packetGrep as PacketGrep).packet(pkt);
    if (!v.selected) return;
    for (const m of v.matches) this.emit('match', m);
    this.collect(v);
    if (!v.afterContext && ++this.matches >= this.maxMatches) {
      this.limited = true;
      this.emit('limit', this.matches);
    }
  }

  protected override finish(): void {
    if (!this.limited) this.streamGrep?.flush();
  }
}

/** A grep Transform; throws GrepPatternError at once on an invalid pattern. */
export function grep(pattern: string | Matcher, opts?: GrepStreamOptions & { output?: 'packets' }): Typed<GrepStream<Packet>>;
export function grep(pattern: string | Matcher, opts: GrepStreamOptions & { output: 'records' }): Typed<GrepStream<PacketRecord>>;
export function grep(pattern: string | Matcher, opts: GrepStreamOptions & { output: 'verdicts' }): Typed<GrepStream<PacketVerdict>>;
export function grep(pattern: string | Matcher, opts?: GrepStreamOptions): Typed<GrepStream<GrepStreamOutput>>;
export function grep(pattern: string | Matcher, opts: GrepStreamOptions = {}): Typed<GrepStream<GrepStreamOutput>> {
  return new GrepStream(pattern, opts) as Typed<GrepStream<GrepStreamOutput>>;
}
