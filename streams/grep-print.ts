/**
 * The end of a grep chain (`pcap-pipe grep`, network_grep): verdicts in (grep() with `output: 'verdicts'`,
 * single or arrays), the selected packets printed as text or NDJSON (matches highlighted) and/or their
 * records handed to a pcap writer. Stream-mode matches are printed as grep() reports them (match()).
 */
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BatchQueueBound, DEFAULT_STAGE_HIGH_WATER_MARK, forEachItem, writableQueueState } from './batch';
import { jsonText } from '../lib/core/json-line';
import type { Batchable } from './typed';
import { formatTimestamp } from '../lib/core/record';
import { formatPayload, formatStreamMatch, grepMatchToJson, type GrepMatch } from '../lib/grep/report';
import { packetPayload } from '../lib/grep/payload';
import type { PacketVerdict } from '../lib/grep/packet-grep';
import type { PayloadLayout } from '../lib/grep/report';
import type { TimeFormatter } from '../lib/core/time';
import { hexDump } from '../lib/core/escape';
import type { formatPacketLine as FormatPacketLine } from '../lib/layers/print';

/** The packet line's printer, required by the first text verdict: pcap and --json output never load it. */
let packetLine: typeof FormatPacketLine | undefined;

/** Where and how text goes. */
export interface GrepTextOutput {
  out: Writable;
  json: boolean;
  color: boolean;
  hexdump: boolean;
  /** ngrep's -W: how payload text is laid out (default 'normal'). */
  layout?: PayloadLayout;
  /** How packet times are printed (default: epoch seconds with 9 decimals). */
  time?: TimeFormatter;
}

export interface GrepSinkOptions {
  /** Text/JSON output (undefined: none). */
  text?: GrepTextOutput;
  /** A pcap writer (or any object-mode Writable) for the selected packets' records; ended at the end. */
  pcap?: Writable;
  /** Stream mode (matches printed as found, their packets not again). */
  stream: boolean;
  /** -v: the selected packets did not match. */
  invert: boolean;
}

/** Renders verdicts and matches as text or NDJSON, and hands selected records to the pcap writer. */
export class GrepSink extends Writable {
  private readonly text: GrepTextOutput | undefined;
  private readonly pcap: Writable | undefined;
  private readonly streamMode: boolean;
  private readonly invert: boolean;

  /** Verdicts queued, counted in verdicts when batches come (each pins its packet's read chunk). */
  private readonly inBound = new BatchQueueBound(DEFAULT_STAGE_HIGH_WATER_MARK);

  constructor(opts: GrepSinkOptions) {
    super({ objectMode: true, highWaterMark: DEFAULT_STAGE_HIGH_WATER_MARK });
    this.text = opts.text;
    this.pcap = opts.pcap;
    this.streamMode = opts.stream;
    this.invert = opts.invert;
  }

  /**
   * Stream-mode matches are written as they are found (text and JSON). Per-packet matches are written
   * with their packet's verdict (verdictText), so their output waits for the reader like the rest.
   */
  match(m: GrepMatch): void {
    const text = this.matchText(m);
    if (text !== '') (this.text as GrepTextOutput).out.write(text);
  }

  /** What match() writes ('' for none); also a sharded run's printer (streams/shard-worker.ts). */
  matchText(m: GrepMatch): string {
    const t = this.text;
    if (t === undefined || !this.streamMode) return '';
    if (t.json) return jsonText(grepMatchToJson(m)) + '\n';
    // TCP stream matches; a UDP/ICMP match in stream mode is printed with its packet, as per packet
    if (m.stream !== undefined) return formatStreamMatch(m, t.color, t.time) + '\n';
    return '';
  }

  /** What a verdict prints (text or NDJSON; '' for none); also a sharded run's printer (streams/shard-worker.ts). */
  verdictText(v: PacketVerdict): string {
    const t = this.text as GrepTextOutput;
    const pkt = v.packet;
    if (t.json) {
      const rec = pkt.record;
      let out = '';
      if (!this.streamMode) for (const m of v.matches) out += jsonText(grepMatchToJson(m)) + '\n';
      if (v.matchesOmitted !== undefined) {
        // the matches past maxMatchesPerPacket are not listed: say how many, so nothing is hidden silently
        out += jsonText({ frame: rec.frame, ts: formatTimestamp(rec.tsSec, rec.tsNsec), connection: v.matches[0]?.connection ?? '', matchesOmitted: v.matchesOmitted }) + '\n';
      }
      // -v and -A packets have no matches, so they get an object of their own
      if (!this.invert && !v.afterContext) return out;
      return out + jsonText({ frame: rec.frame, ts: formatTimestamp(rec.tsSec, rec.tsNsec), [v.afterContext ? 'afterContext' : 'inverted']: true }) + '\n';
    }
    if (this.streamMode && !v.afterContext && v.matches.length === 0) return ''; // its match was printed
    const payload = packetPayload(pkt);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    packetLine ??= (require('../lib/layers/print') as typeof import('../lib/layers/print')).formatPacketLine;
    const head = packetLine(pkt, { link: false, ...(t.time !== undefined ? { time: t.time } : {}) }) + (v.afterContext ? ' (after match)' : '');
    const ranges = v.matches.map((m) => ({ start: m.offset, end: m.offset + m.bytes.length }));
    const omitted = v.matchesOmitted !== undefined ? `\n  (${v.matchesOmitted} more matches in this packet, not highlighted or listed)` : '';
    // -W single: the packet's line and its payload on one line
    if (!t.hexdump && t.layout === 'single') return `${head} ${formatPayload(payload, ranges, t.color, '', 'single')}${omitted}\n`;
    const body = t.hexdump ? hexDump(payload) : formatPayload(payload, ranges, t.color, '  ', t.layout);
    return head + '\n' + body + omitted + '\n';
  }

  override _write(chunk: Batchable<PacketVerdict>, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let pcapFull = false;
    let text = '';
    if (Array.isArray(chunk)) this.inBound.fit(writableQueueState(this), chunk.length);
    forEachItem(chunk, (v) => {
      if (this.pcap !== undefined && !this.pcap.write(v.packet.record)) pcapFull = true;
      if (this.text !== undefined) text += this.verdictText(v);
    });
    if (text !== '') (this.text as GrepTextOutput).out.write(text);
    // Wait for every output over its limit (backpressure), then take the next chunk. Asked of the
    // outputs, not of the last write() only: stream-mode matches were written by match() in between.
    const waits: Promise<unknown>[] = [];
    if (pcapFull || this.pcap?.writableNeedDrain === true) waits.push(new Promise((resolve) => (this.pcap as Writable).once('drain', resolve)));
    const out = this.text?.out;
    if (out !== undefined && out.writableNeedDrain) waits.push(new Promise((resolve) => out.once('drain', resolve)));
    if (waits.length === 0) cb();
    else Promise.all(waits).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.pcap === undefined) { cb(); return; }
    this.pcap.end();
    finished(this.pcap).then(() => cb(), cb);
  }
}
