/**
 * Per-packet grep's fast path: tells, from a record's bytes alone, the packets PacketGrep would certainly
 * not select, so the reader need not build their record and nobody decodes them. A packet it cannot judge
 * (fast-payload.ts answers "unknown"), or one that may be selected, goes the full way (decode, then
 * PacketGrep.packet), which gives the verdict, the matches and the output as before: the prefilter only
 * removes packets whose verdict is "not selected, no matches".
 *
 * Only for per-packet mode without -A (after-context counts packets of a conversation, so every packet
 * with payload must be seen); runGrep decides that.
 *
 * A byte pattern (-x, or a literal) is searched once per read chunk rather than once per packet: the next
 * occurrence at or after a position is remembered, and a packet matches when that occurrence lies inside
 * its payload. One memchr-speed scan per chunk instead of a call per packet.
 */
import { bufferView } from '../core/buffer-view';
import { findPayload, type PayloadSpan } from './fast-payload';
import type { Matcher } from './pattern';

export class PacketPrefilter {
  private readonly matcher: Matcher;
  private readonly invert: boolean;
  private readonly needle: Buffer | undefined;
  private readonly span: PayloadSpan = { start: 0, end: 0 };
  /** The buffer the remembered occurrence is in, and that occurrence (Infinity: none after `hitFrom`). */
  private hitBuf: Uint8Array | null = null;
  private hitFrom = 0;
  private hitAt = 0;
  private finder: ByteStringFinder | undefined;
  /** Packets judged here and left out; packets handed on to the full path. */
  readonly stats = { skipped: 0, passed: 0 };

  constructor(matcher: Matcher, opts: { invert?: boolean } = {}) {
    this.matcher = matcher;
    this.invert = !!opts.invert;
    this.needle = matcher.needle;
  }

  /** A new input chunk begins: forget the remembered occurrence (a reader may reuse its buffers). */
  reset(): void {
    this.hitBuf = null;
  }

  /**
   * True when PacketGrep would not select the packet whose `caplen` bytes start at `off` in `buf` (so it
   * may be dropped unseen); false when it may be selected or cannot be judged without decoding.
   */
  skip(buf: Buffer, off: number, caplen: number, linkType: number, fcsLength: number | undefined): boolean {
    const span = this.span;
    if (!findPayload(buf, off, caplen, linkType, fcsLength, span)) { this.stats.passed++; return false; }
    // A packet without payload is never selected, also not with -v.
    if (span.end <= span.start || this.hit(buf, span.start, span.end) === this.invert) { this.stats.skipped++; return true; }
    this.stats.passed++;
    return false;
  }

  /**
   * An offset before which every packet's verdict is "skip", whatever its bytes (see ParserSink.skipUntil):
   * with a byte pattern (not -v), where the pattern's next occurrence in `buf` at or after `from` ends, less
   * one, or `end` when it does not occur. Packets this judges without their headers include those skip()
   * would hand on as unknown: decoded the full way, their payload is a part of their captured bytes
   * (decode() without defragmentation, as runGrep's), so it cannot hold the pattern either and grep would
   * not select them. Without a byte pattern, or with -v, nothing is judged here (`from`).
   */
  skipUntil(buf: Buffer, from: number, end: number): number {
    const needle = this.needle;
    if (needle === undefined || this.invert) return from;
    const at = this.nextHit(buf, from, needle);
    return at === Infinity ? end : Math.min(end, at + needle.length - 1);
  }

  /** Whether the matcher finds something in buf[start, end): as PacketGrep's findAll(...).length > 0. */
  private hit(buf: Buffer, start: number, end: number): boolean {
    const needle = this.needle;
    if (needle === undefined) return this.matcher.find(bufferView(buf, start, end - start), 0) !== null;
    return this.nextHit(buf, start, needle) + needle.length <= end;
  }

  /** The first occurrence of `needle` at or after `start` in buf (Infinity: none), remembered for the next asks. */
  private nextHit(buf: Buffer, start: number, needle: Buffer): number {
    if (buf !== this.hitBuf || start < this.hitFrom || this.hitAt < start) {
      const at = (this.finder ??= new ByteStringFinder(needle, buf)).find(buf, start);
      this.hitBuf = buf;
      this.hitFrom = start;
      this.hitAt = at < 0 ? Infinity : at;
    }
    return this.hitAt;
  }
}

/** Node's Buffer#indexOf searches a needle under this many bytes with memchr on its first byte. */
const MEMCHR_PIECE_BYTES = 7;
/** Bytes of the first buffer sampled (every 7th) to tell which needle byte is rarest. */
const SAMPLE_STEP = 7;
/**
 * Of the first buffer only its first 128 KiB are sampled (18 k bytes): the sampling loop runs once, before
 * V8 has optimised it, and over a whole 2 MiB read chunk it cost ~15 ms of grep's start-up (profile).
 */
const SAMPLE_BYTES = 128 * 1024;

/**
 * Finds a byte string in big buffers. Node's indexOf runs memchr on the first byte for needles of up to 7
 * bytes, but Boyer-Moore-Horspool for longer ones, which on packet data measured 13x slower than memchr
 * (a 12-byte needle over 200 MB of the benchmark capture: 1000 ms against 76 ms). So a long needle is
 * looked for by a piece of at most 7 bytes that starts with its rarest byte (rarest in a sample of the
 * first buffer searched), and each place the piece is found is checked for the whole needle.
 */
export class ByteStringFinder {
  private readonly needle: Buffer;
  /** Where the piece starts in the needle, and the piece. */
  private readonly at: number;
  private readonly piece: Buffer;

  constructor(needle: Buffer, sample: Uint8Array) {
    this.needle = needle;
    if (needle.length <= MEMCHR_PIECE_BYTES) {
      this.at = 0;
      this.piece = needle;
      return;
    }
    const counts = new Uint32Array(256);
    const sampled = Math.min(sample.length, SAMPLE_BYTES);
    for (let i = 0; i < sampled; i += SAMPLE_STEP) counts[sample[i] as number]++;
    let best = 0;
    for (let i = 1; i < needle.length; i++) if ((counts[needle[i] as number] as number) < (counts[needle[best] as number] as number)) best = i;
    this.at = best;
    this.piece = needle.subarray(best, Math.min(needle.length, best + MEMCHR_PIECE_BYTES));
  }

  /** The first occurrence of the needle at or after `from` in buf, or -1 (as buf.indexOf(needle, from)). */
  find(buf: Buffer, from: number): number {
    const { needle, piece, at } = this;
    if (piece === needle) return buf.indexOf(needle, from);
    const n = needle.length;
    let p = from + at;
    for (;;) {
      const q = buf.indexOf(piece, p);
      if (q < 0) return -1;
      const c = q - at;
      if (c + n > buf.length) return -1;
      if (buf.compare(needle, 0, n, c, c + n) === 0) return c;
      p = q + 1;
    }
  }
}
