/**
 * `pcap-pipe grep`: packets (or reassembled TCP streams) whose payload matches a pattern. Writes the
 * matching packets as classic pcap when stdout is a pipe or file (so `| tshark -r -` works), prints them
 * on a terminal. Exit status as grep: 0 something matched, 1 nothing matched, 2 error.
 *
 * Also the engine of bin/network_grep.ts: `runGrep()` wires source → [BPF] → decode → grep → outputs.
 */
import { type Readable, Writable, type Writable as WritableType } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { describeError, intOption, openReportedCapture, parseArgs, rawPositionals, printUsage, safeStdout, UsageError } from './cli';
import { CaptureError } from '../lib/core/errors';
import {
  compileMatcher, formatPayload, formatStreamMatch, grepMatchToJson, GrepPatternError, MATCH_EVERYTHING,
  DEFAULT_LOOK_BEHIND_BYTES, packetPayload, type GrepMatch, type Matcher, type PacketVerdict,
} from '../lib/grep/grep';
import { formatTimestamp } from '../lib/core/record';
import { hexDump } from '../lib/core/escape';
import { formatPacketLine } from '../lib/layers/print';
import type { PcapFileHeader } from '../lib/formats/pcap';
import { decode } from '../streams/decode';
import { grep, type GrepStream } from '../streams/grep';
import type { CaptureReader } from '../streams/read';
import { writePcap } from '../streams/write';
import { jsonText } from '../lib/core/json-line';

export const USAGE = `usage: pcap-pipe grep [-i] [-v] [-w] [--stream] [-n COUNT] [-A N] [--json] [--text] [--hexdump]
                      [--window BYTES] (PATTERN | -x HEX) [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and keeps the packets whose payload (the bytes
  after the TCP/UDP header, after type/code/checksum for ICMP) matches PATTERN, a regular expression
  over the payload bytes ('.' also matches newlines; \\xHH matches any byte).
  Output: classic pcap when stdout is a pipe or file (| tshark -r -), else one line per packet and
  its payload, matches highlighted. Exit status: 0 matched, 1 nothing matched, 2 error.
  -i            ignore case
  -v            keep the packets with payload that do NOT match (packets without payload never)
  -w            match PATTERN only as a whole word
  -x HEX        match these raw bytes instead of a regex ("474554", "0x47 45 54", "47:45:54")
  --stream      match reassembled TCP streams: finds matches split across segments, and keeps every
                packet that carries matched bytes (UDP/ICMP are still matched per packet)
  -n COUNT      stop after COUNT matches
  -A N          also keep the next N packets with payload of the same connection after a match
  --json        NDJSON, one object per match: frame, ts, connection, stream, direction, offset,
                length, match, hex, context {before, after}, frames
  --text        print text even when stdout is not a terminal
  --hexdump     print a hex dump of the payload instead of text
  --window N    stream mode: bytes of look-behind kept per connection direction (default ${DEFAULT_LOOK_BEHIND_BYTES})`;

/** Exit status when nothing was selected (grep's convention). */
export const EXIT_NO_MATCH = 1;
/** Exit status for usage errors, bad patterns, unreadable input. */
export const EXIT_ERROR = 2;

export interface GrepRunOptions {
  matcher: Matcher;
  invert: boolean;
  stream: boolean;
  after: number;
  maxMatches: number | undefined;
  lookBehind: number | undefined;
  /** Where packet records come from (a file/stdin reader, a filter after it, a live capture). */
  source: Readable;
  /** The file reader, when reading a capture (its header is copied to pcap output; its errors count). */
  reader?: CaptureReader;
  /** Text/JSON output (undefined: none). */
  text?: { out: WritableType; json: boolean; color: boolean; hexdump: boolean };
  /** pcap output of the selected packets (stdout or a file). */
  pcap?: WritableType;
  /** Called when -n COUNT was reached: stop the source (the pipeline then ends and flushes). */
  stop: () => void;
  /** Command name for messages. */
  name: string;
}

export interface GrepRunResult {
  selected: number;
  matches: number;
  /** An error was reported on stderr (damaged input). */
  failed: boolean;
}

/** Renders verdicts and matches as text or NDJSON, and hands selected records to the pcap writer. */
class GrepSink extends Writable {
  private readonly text: GrepRunOptions['text'];
  private readonly pcap: WritableType | undefined;
  private readonly streamMode: boolean;
  private readonly invert: boolean;

  constructor(opts: GrepRunOptions, pcap: WritableType | undefined) {
    super({ objectMode: true, highWaterMark: 64 });
    this.text = opts.text;
    this.pcap = pcap;
    this.streamMode = opts.stream;
    this.invert = opts.invert;
  }

  /** Stream-mode matches (and JSON for all matches) are written as they are found. */
  match(m: GrepMatch): void {
    const t = this.text;
    if (t === undefined) return;
    if (t.json) t.out.write(jsonText(grepMatchToJson(m)) + '\n');
    // TCP stream matches; a UDP/ICMP match in stream mode is printed with its packet, as per packet
    else if (this.streamMode && m.stream !== undefined) t.out.write(formatStreamMatch(m, t.color) + '\n');
  }

  private textOf(v: PacketVerdict): string {
    const t = this.text as NonNullable<GrepRunOptions['text']>;
    const pkt = v.packet;
    if (t.json) {
      // matches are written by match(); -v and -A packets have none, so they get an object of their own
      if (!this.invert && !v.afterContext) return '';
      const rec = pkt.record;
      return jsonText({ frame: rec.frame, ts: formatTimestamp(rec.tsSec, rec.tsNsec), [v.afterContext ? 'afterContext' : 'inverted']: true }) + '\n';
    }
    if (this.streamMode && !v.afterContext && v.matches.length === 0) return ''; // its match was printed
    const payload = packetPayload(pkt);
    const head = formatPacketLine(pkt, { link: false }) + (v.afterContext ? ' (after match)' : '');
    const body = t.hexdump ? hexDump(payload) : formatPayload(payload, v.matches.map((m) => ({ start: m.offset, end: m.offset + m.bytes.length })), t.color);
    return head + '\n' + body + '\n';
  }

  override _write(chunk: PacketVerdict | PacketVerdict[], _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let pcapFull = false;
    let textFull = false;
    let text = '';
    for (const v of Array.isArray(chunk) ? chunk : [chunk]) {
      if (this.pcap !== undefined && !this.pcap.write(v.packet.record)) pcapFull = true;
      if (this.text !== undefined) text += this.textOf(v);
    }
    if (text !== '' && !(this.text as NonNullable<GrepRunOptions['text']>).out.write(text)) textFull = true;
    // wait for every output that asked us to (backpressure), then take the next chunk
    const waits: Promise<unknown>[] = [];
    if (pcapFull) waits.push(new Promise((resolve) => (this.pcap as WritableType).once('drain', resolve)));
    if (textFull) waits.push(new Promise((resolve) => (this.text as NonNullable<GrepRunOptions['text']>).out.once('drain', resolve)));
    if (waits.length === 0) cb();
    else Promise.all(waits).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.pcap === undefined) { cb(); return; }
    this.pcap.end();
    finished(this.pcap).then(() => cb(), cb);
  }
}

/** Runs one grep: source → decode → grep → outputs. Resolves when every output is flushed. */
export async function runGrep(opts: GrepRunOptions): Promise<GrepRunResult> {
  let pcapWriter: ReturnType<typeof writePcap> | undefined;
  if (opts.pcap !== undefined) {
    const reader = opts.reader;
    pcapWriter = writePcap({
      // an empty result is still a valid capture, with the input's link type and snaplen
      configure: () => {
        const h: PcapFileHeader | null | undefined = reader?.pcapHeader;
        return h ? { sourceHeader: h } : {};
      },
    });
    pcapWriter.pipe(opts.pcap);
  }
  const g: GrepStream = grep(opts.matcher, {
    stream: opts.stream, invert: opts.invert, after: opts.after, maxMatches: opts.maxMatches,
    lookBehind: opts.lookBehind, output: 'verdicts',
  });
  const sink = new GrepSink(opts, pcapWriter);
  g.on('match', (m: GrepMatch) => sink.match(m));
  g.on('limit', () => opts.stop());
  await pipeline(opts.source, decode({ depth: 'transport' }), g, sink);
  if (opts.pcap !== undefined && opts.pcap !== process.stdout) await finished(opts.pcap);
  return { selected: g.selected, matches: g.matches, failed: false };
}


/** Builds the matcher, turning a bad pattern into a message and exit status 2 for the caller. */
export function matcherFrom(pattern: string | undefined, hex: boolean, ignoreCase: boolean, word: boolean): Matcher {
  if (pattern === undefined) return MATCH_EVERYTHING;
  return compileMatcher(pattern, { hex, ignoreCase, word });
}

/** True when colour may be used on `out`: a terminal, and NO_COLOR unset. */
export function colorFor(out: WritableType): boolean {
  return (out as NodeJS.WriteStream).isTTY === true && !process.env.NO_COLOR;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    boolean: ['i', 'v', 'w', 'stream', 'json', 'text', 'hexdump'],
    string: ['x', 'n', 'A', 'window'],
  }, USAGE);
  if (!args) return printUsage(USAGE);
  const words = rawPositionals(argv, args);
  const hex = typeof args.x === 'string' && args.x !== '';
  if (hex && args.x !== undefined && words.length > 1) throw new UsageError('with -x HEX, only a FILE may follow', USAGE);
  if (!hex && words.length === 0) throw new UsageError('no PATTERN given', USAGE);
  if (!hex && words.length > 2) throw new UsageError('at most PATTERN and one FILE', USAGE);
  const pattern = hex ? String(args.x) : words[0] as string;
  const file = hex ? words[0] : words[1];
  if (args.stream && args.v) throw new UsageError('-v cannot be used with --stream', USAGE);
  const maxMatches = intOption(args, 'n', USAGE, 1);
  const after = intOption(args, 'A', USAGE, 0) ?? 0;
  const lookBehind = intOption(args, 'window', USAGE, 1);

  let matcher: Matcher;
  try {
    matcher = matcherFrom(pattern, hex, !!args.i, !!args.w);
  } catch (e) {
    if (e instanceof GrepPatternError) {
      process.stderr.write(`pcap-pipe grep: ${e.message}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
  const stdout = safeStdout();
  const textOut = args.json || args.text || process.stdout.isTTY === true;
  const input = openReportedCapture(file, { command: 'pcap-pipe grep', verb: 'searched' }, { batch: true });
  const reader = input.reader;
  try {
    const result = await runGrep({
      matcher, invert: !!args.v, stream: !!args.stream, after, maxMatches, lookBehind,
      source: reader, reader,
      text: textOut ? { out: stdout, json: !!args.json, color: colorFor(stdout), hexdump: !!args.hexdump } : undefined,
      pcap: textOut ? undefined : stdout,
      stop: () => stopReader(reader),
      name: 'pcap-pipe grep',
    });
    if (input.damaged) return EXIT_ERROR;
    return result.selected > 0 ? 0 : EXIT_NO_MATCH;
  } catch (e) {
    if (e instanceof GrepPatternError || e instanceof CaptureError || (e as NodeJS.ErrnoException)?.code === 'ENOENT') {
      process.stderr.write(`pcap-pipe grep: ${describeError(e)}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
}

/** -n reached: the reader ends as if its input had ended (no error), so the pipeline flushes. */
export function stopReader(reader: CaptureReader): void {
  if (reader.failure) return;
  reader.failure = new CaptureError('PCAP_TRUNCATED', 'stopped after -n matches'); // ignore the rest of the input
  reader.push(null);
  process.stdin.unpipe(reader);
  process.stdin.pause();
}
