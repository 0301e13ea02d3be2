/**
 * `pcap-pipe grep`: packets (or reassembled TCP streams) whose payload matches a pattern. Writes the
 * matching packets as classic pcap when stdout is a pipe or file (so `| tshark -r -` works), prints them
 * on a terminal. Exit status as grep: 0 something matched, 1 nothing matched, 2 error.
 *
 * The chain (source → decode → grep → text / pcap) is runGrep() in streams/trace.ts, shared with network_grep.
 */
import type { Writable } from 'node:stream';
import { describeError, intOption, openReportedCapture, openSkippedCapture, parseArgs, progressFor, rawPositionals, printUsage, safeStdout, UsageError } from './cli';
import { EXIT_ERROR, EXIT_NO_MATCH, matcherFrom, NGREP_TEXT_HELP, ngrepTextOptions, stopReader } from './grep-cli';
import { inputFile } from './habits';
import { PUBLISH_STRINGS, PUBLISH_USAGE, publishOptionsFrom, runPublishing } from './publish-cli';
import { CaptureError } from '../lib/core/errors';
import { GrepPatternError, type Matcher } from '../lib/grep/pattern';
import { DEFAULT_LOOK_BEHIND_BYTES } from '../lib/grep/limits';
import { colorFor } from '../streams/colour';
import type { ColourWhen } from '../lib/core/colour';
import type { PrinterSpec, StageSpec } from '../streams/chain-spec';
import { runGrep } from '../streams/trace';
import { runShardedChain, WORKERS_HELP, workersOption } from './workers-cli';

export const USAGE = `usage: pcap-pipe grep [-ivwxXtTq] [-W MODE] [--stream] [-n COUNT] [-A N] [--json] [--text]
                      [--color[=WHEN]|--no-color] [--window BYTES] [--workers N] [--publish URL ...]
                      (PATTERN | --hex-pattern HEX) [-r FILE | FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and keeps the packets whose payload (the bytes
  after the TCP/UDP header, after type/code/checksum for ICMP) matches PATTERN, a regular expression
  over the payload bytes ('.' also matches newlines; \\xHH matches any byte).
  Output: classic pcap when stdout is a pipe or file (| tshark -r -), else one line per packet and
  its payload, matches highlighted. Exit status: 0 matched, 1 nothing matched, 2 error.
  -i            ignore case
  -v            keep the packets with payload that do NOT match (packets without payload never)
  -w            match PATTERN only as a whole word
  -X            PATTERN is hex bytes, matched exactly ("474554", "0x47 45 54", "47:45:54"), as ngrep -X
  --hex-pattern HEX   the same with the bytes as the option's value (what -x HEX was before -x
                took ngrep's meaning)
  -x            print the payload as a hex dump (as ngrep -x; --hexdump is the same)
  --stream      match reassembled TCP streams: finds matches split across segments, and keeps every
                packet that carries matched bytes (UDP/ICMP are still matched per packet)
  -n COUNT      stop after COUNT matches
  -A N          also keep the next N packets with payload of the same connection after a match
  --json        NDJSON, one object per match: frame, ts, connection, stream, direction, offset,
                length, match, hex, context {before, after}, frames
  --text        print text even when stdout is not a terminal
  --hexdump     the same as -x
  --color[=WHEN]  highlight the matches: always (--color alone), never (--no-color) or auto (the
                default: on a terminal). Without a flag, NO_COLOR=1 turns it off and FORCE_COLOR=1 on
                (FORCE_COLOR=0 off); a flag wins over both. Text output only (--text into a pipe)
  -r FILE       read FILE (as tcpdump -r)
  -q            no progress line on a terminal
  Text letters as ngrep's (the column of the descriptions aside):
  ${NGREP_TEXT_HELP.trimStart()}
  --window N    stream mode: bytes of look-behind kept per connection direction (default ${DEFAULT_LOOK_BEHIND_BYTES})
${WORKERS_HELP}
                (text or --json output; --stream with --json only, without -A; not with -n, -T)
${PUBLISH_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    boolean: ['i', 'v', 'w', 'x', 'X', 't', 'T', 'q', 'stream', 'json', 'text', 'hexdump'],
    string: ['hex-pattern', 'n', 'A', 'window', 'W', 'r', 'workers', ...PUBLISH_STRINGS],
    color: true,
  }, USAGE);
  if (!args) return printUsage(USAGE);
  const words = rawPositionals(argv, args);
  const hexOption = typeof args['hex-pattern'] === 'string' ? args['hex-pattern'] as string : undefined;
  if (hexOption !== undefined && args.X) throw new UsageError('give -X PATTERN or --hex-pattern HEX, not both', USAGE);
  const hex = hexOption !== undefined || Boolean(args.X);
  const pattern = hexOption ?? words.shift();
  if (pattern === undefined) throw new UsageError('no PATTERN given', USAGE);
  const file = inputFile(args, words, USAGE);
  if (args.X && (args.i || args.w)) throw new UsageError('-i and -w cannot be used with -X (hex pattern)', USAGE);
  const { layout, time } = ngrepTextOptions(args, USAGE);
  if (args.stream && args.v) throw new UsageError('-v cannot be used with --stream', USAGE);
  const maxMatches = intOption(args, 'n', USAGE, 1);
  const after = intOption(args, 'A', USAGE, 0) ?? 0;
  const lookBehind = intOption(args, 'window', USAGE, 1);
  const publish = publishOptionsFrom(args, USAGE);
  if (publish !== undefined && (args.text || args.hexdump || args.x)) throw new UsageError('--publish sends the --json matches: no --text or --hexdump', USAGE);
  const textOut = !!args.json || !!args.text || process.stdout.isTTY === true;
  const workers = workersOption(args, USAGE, {
    publish: publish !== undefined,
    refuse: [
      [!textOut, '--workers prints text or NDJSON: give --text or --json (pcap output is one thread\'s)'],
      [maxMatches !== undefined, '--workers and -n exclude each other (the first COUNT matches of the whole capture)'],
      [!!args.T, '--workers and -T exclude each other (each time is since the match before it)'],
      // one thread writes a stream's matches as found and packet lines as the pipeline delivers them: only
      // --json without -A has no packet lines to order against the matches
      [!!args.stream && !args.json, '--workers with --stream prints --json only'],
      [!!args.stream && after > 0, '--workers with --stream: no -A'],
    ],
  });

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
  // runGrep gives the reader a skipper (the fast path) in per-packet mode without -A
  const skipped = !args.stream && after === 0 && workers === undefined;
  const input = openReportedCapture(file, { command: 'pcap-pipe grep', verb: 'searched' }, { batch: true }, skipped ? openSkippedCapture : undefined);
  const reader = input.reader;
  if (workers !== undefined) {
    const json = !!args.json;
    const stdout = safeStdout();
    try {
      return await runShardedGrep(workers, input, file, stdout, {
        pattern, hex, ignoreCase: !!args.i, word: !!args.w, invert: !!args.v, stream: !!args.stream, after, ...(lookBehind !== undefined ? { lookBehind } : {}),
      }, {
        json, color: !json && colorFor(stdout, args.color as ColourWhen | undefined), hexdump: !!args.hexdump || !!args.x, layout, timeStyle: time.style,
      }, Boolean(args.q));
    } catch (e) {
      if (e instanceof CaptureError || (e as NodeJS.ErrnoException)?.code === 'ENOENT') {
        process.stderr.write(`pcap-pipe grep: ${describeError(e)}\n`);
        return EXIT_ERROR;
      }
      throw e;
    }
  }
  const run = async (stdout: Writable, json: boolean, textOut: boolean): Promise<number> => {
    const progress = progressFor(() => [reader], [file], Boolean(args.q), stdout === process.stdout);
    const result = await runGrep({
      matcher, invert: !!args.v, stream: !!args.stream, after, maxMatches, lookBehind,
      source: reader, reader,
      text: textOut ? { out: stdout, json, color: !json && colorFor(stdout, args.color as ColourWhen | undefined), hexdump: !!args.hexdump || !!args.x, layout, time } : undefined,
      pcap: textOut ? undefined : stdout,
      stop: () => stopReader(reader),
    });
    progress.stop();
    if (input.damaged) return EXIT_ERROR;
    return result.selected > 0 ? 0 : EXIT_NO_MATCH;
  };
  try {
    if (publish !== undefined) return await runPublishing(publish, 'pcap-pipe grep', (out) => run(out, true, true));
    return await run(safeStdout(), !!args.json, !!args.json || !!args.text || process.stdout.isTTY === true);
  } catch (e) {
    if (e instanceof GrepPatternError || e instanceof CaptureError || (e as NodeJS.ErrnoException)?.code === 'ENOENT') {
      process.stderr.write(`pcap-pipe grep: ${describeError(e)}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
}

/**
 * grep on worker threads (per-packet mode): the same grep stage per worker (streams/chain-spec.ts), the
 * printed verdicts merged back in capture order, the exit status from the selected packets of all.
 */
async function runShardedGrep(
  workers: number, input: ReturnType<typeof openReportedCapture>, file: string | undefined, out: Writable,
  g: Omit<Extract<StageSpec, { stage: 'grep' }>, 'stage'>, p: Omit<Extract<PrinterSpec, { printer: 'grep' }>, 'printer' | 'stream' | 'invert'>, quiet: boolean,
): Promise<number> {
  const reader = input.reader;
  // packets grep would certainly not select are left out by the reader, unbuilt, as runGrep does (when the
  // workers read the file themselves, each builds only its own packets anyway)
  if (!g.stream && g.after === 0) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { PacketPrefilter } = require('../lib/grep/prefilter') as typeof import('../lib/grep/prefilter');
    reader.setSkipper(new PacketPrefilter(matcherFrom(g.pattern, g.hex, g.ignoreCase, g.word), { invert: g.invert }));
  }
  const result = await runShardedChain({
    workers, source: reader, out, file: file ?? '-',
    chain: { stages: [{ stage: 'decode', defragment: false }, { stage: 'grep', ...g }], printer: { printer: 'grep', ...p, stream: g.stream, invert: g.invert } },
    progress: { reader, quiet, stdoutUsed: out === process.stdout }, report: { command: 'pcap-pipe grep', verb: 'searched' },
  });
  if (input.damaged || result.damaged) return EXIT_ERROR;
  return (result.grep?.selected ?? 0) > 0 ? 0 : EXIT_NO_MATCH;
}
