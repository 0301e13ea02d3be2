#!/usr/bin/env node
/**
 * network_grep: ngrep's command line on pcap-pipe. Live (-d DEV) or from a capture file (-I/-r FILE),
 * a pattern over packet payloads (or, with --stream, over reassembled TCP streams, which ngrep cannot),
 * an optional trailing tcpdump filter expression, matches printed and optionally saved (-O FILE).
 * Exit status as grep: 0 something matched, 1 nothing matched, 2 error.
 */
import { checkInputFile, intOption, openOutputFile, parseArgs, progressFor, rawPositionals, printUsage, runCommand, safeStdout, UsageError, describeError } from './cli';
import { EXIT_ERROR, EXIT_NO_MATCH, matcherFrom, NGREP_TEXT_HELP, ngrepTextOptions, stopReader } from './grep-cli';
import { CaptureError } from '../lib/core/errors';
import { GrepPatternError, type Matcher } from '../lib/grep/pattern';
import { DEFAULT_LOOK_BEHIND_BYTES } from '../lib/grep/limits';
// capture (live, -d) and filter (an expression) are required where used: reading a file needs neither.
import type { CaptureStream } from '../streams/capture';
import { colorFor } from '../streams/colour';
import type { ColourWhen } from '../lib/core/colour';
import { BpfFilter } from '../addon/bpf';
import { readCaptureFile, type CaptureReader } from '../streams/read';
import { chain, runGrep } from '../streams/trace';
import type { Readable } from 'node:stream';

export const USAGE = `usage: network_grep [-hipqtTvwxX] [-W MODE] [-s SNAPLEN] [-d DEV | -I FILE | -r FILE] [-O FILE] [-n COUNT] [-A N]
                    [--stream] [--json] [--color[=WHEN]|--no-color] [--window BYTES] [PATTERN] [BPF FILTER ...]
  Prints the packets whose payload matches PATTERN (a regular expression over the payload bytes;
  '.' also matches newlines), like ngrep. Without PATTERN every packet with payload is printed.
  The words after PATTERN are a tcpdump filter expression (as with ngrep, when they do not compile
  but all the words do, they all are the filter and there is no PATTERN).
  Exit status: 0 something matched, 1 nothing matched, 2 error.
  -d DEV      capture live on DEV (default: the first up, non-loopback interface); Ctrl-C stops
  -I FILE     read a capture file (pcap or pcapng) instead; -r FILE is the same
  -O FILE     also save the matching packets to FILE (classic pcap)
  -i          ignore case
  -v          print the packets with payload that do NOT match
  -w          match PATTERN only as a whole word
  -x          print the payload as a hex dump
  -X          PATTERN is hex bytes ("474554", "0x474554"), matched exactly
  -q          quiet: no header lines (input, filter, match, output), no progress line on a terminal
  -p          live: do not put the interface into promiscuous mode
  -s SNAPLEN  live: capture at most SNAPLEN bytes per packet
${NGREP_TEXT_HELP}
  -n COUNT    stop after COUNT matches
  -A N        also print the next N packets with payload of the same connection after a match
  --stream    match reassembled TCP streams: finds matches split across segments (not with -v)
  --json      NDJSON, one object per match (frame, ts, connection, offset, match, context, frames)
  --color[=WHEN]  highlight the matches: always (--color alone), never (--no-color) or auto (the
              default: on a terminal). Without a flag, NO_COLOR=1 turns it off and FORCE_COLOR=1 on
              (FORCE_COLOR=0 off); a flag wins over both
  --window N  stream mode: bytes of look-behind per connection direction (default ${DEFAULT_LOOK_BEHIND_BYTES})`;

const NAME = 'network_grep';

/** The pattern and filter from the positional words, with ngrep's fallback (all words as the filter). */
function patternAndFilter(words: string[]): { pattern: string | undefined; bpf: string | undefined } {
  if (words.length <= 1) return { pattern: words[0], bpf: undefined };
  const rest = words.slice(1).join(' ');
  try {
    new BpfFilter(rest);
    return { pattern: words[0], bpf: rest };
  } catch (first) {
    try {
      new BpfFilter(words.join(' '));
      return { pattern: undefined, bpf: words.join(' ') };
    } catch {
      throw first;
    }
  }
}

function bpfMessage(e: unknown): string {
  if (e instanceof CaptureError && e.code === 'ADDON_UNAVAILABLE') {
    return `a filter expression needs the libpcap addon, which is not built (${e.message}); leave out the expression or build the addon`;
  }
  return `filter expression: ${describeError(e)}`;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    boolean: ['i', 'v', 'w', 'x', 'X', 'q', 'p', 't', 'T', 'stream', 'json'],
    string: ['d', 'I', 'r', 'O', 'n', 'A', 'window', 'W', 's'],
    color: true,
  }, USAGE);
  if (!args) return printUsage(USAGE);
  const file = (args.I ?? args.r) as string | undefined;
  if (args.I !== undefined && args.r !== undefined) throw new UsageError('give -I or -r, not both', USAGE);
  if (file !== undefined && args.d !== undefined) throw new UsageError('-d (live) and -I/-r (file) exclude each other', USAGE);
  if (args.stream && args.v) throw new UsageError('-v cannot be used with --stream', USAGE);
  if (args.X && (args.i || args.w)) throw new UsageError('-i and -w cannot be used with -X (hex pattern)', USAGE);
  const maxMatches = intOption(args, 'n', USAGE, 1);
  const after = intOption(args, 'A', USAGE, 0) ?? 0;
  const lookBehind = intOption(args, 'window', USAGE, 1);
  const quiet = !!args.q || !!args.json;
  const { layout, time } = ngrepTextOptions(args, USAGE);
  const snaplen = intOption(args, 's', USAGE, 1);

  let pattern: string | undefined;
  let bpf: string | undefined;
  try {
    ({ pattern, bpf } = patternAndFilter(rawPositionals(argv, args)));
  } catch (e) {
    process.stderr.write(`${NAME}: ${bpfMessage(e)}\n`);
    return EXIT_ERROR;
  }
  if (args.stream && pattern === undefined) throw new UsageError('--stream needs a PATTERN', USAGE);
  let matcher: Matcher;
  try {
    matcher = matcherFrom(pattern, !!args.X, !!args.i, !!args.w);
  } catch (e) {
    if (e instanceof GrepPatternError) {
      process.stderr.write(`${NAME}: ${e.message}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }

  const stdout = safeStdout();
  const header: string[] = [];
  let live: CaptureStream | undefined;
  let stop: () => void;
  let source: Readable;
  let reader: CaptureReader | undefined;
  let failed = false;
  if (file !== undefined) {
    checkInputFile(file);
    const r = readCaptureFile(file, {
      batch: true,
      onError: (e) => {
        failed = true;
        process.stderr.write(`${NAME}: ${file}: ${describeError(e)}${r.packets > 0 ? `; searched the ${r.packets} complete packets` : ''}\n`);
      },
    });
    reader = r;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    source = bpf === undefined ? r : chain(r, (require('../streams/filter') as typeof import('../streams/filter')).filter(bpf));
    stop = () => stopReader(r);
    header.push(`input: ${file}`);
  } else {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { capture } = require('../streams/capture') as typeof import('../streams/capture');
      live = capture({ device: args.d as string | undefined, filter: bpf, immediate: true, promiscuous: !args.p, ...(snaplen !== undefined ? { snaplen } : {}) });
    } catch (e) {
      process.stderr.write(`${NAME}: ${describeError(e)}\n`);
      return EXIT_ERROR;
    }
    const cap = live;
    source = cap;
    // -n reached: close at once (stop() would first take what the kernel holds, which we do not want)
    stop = () => cap.close();
    header.push(`interface: ${cap.device}`);
  }
  if (bpf !== undefined) header.push(`filter: ${bpf}`);
  if (pattern !== undefined) header.push(`${args.v ? "don't " : ''}match: ${args.X ? '0x' : ''}${pattern}`);
  if (args.O !== undefined) header.push(`output: ${args.O}`);
  if (!quiet) stdout.write(header.join('\n') + '\n');

  const onSignal = (): void => { if (live !== undefined) live.stop(); };
  if (live !== undefined) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const fileReader = reader;
  const progress = fileReader !== undefined ? progressFor(() => [fileReader], [file], Boolean(args.q)) : undefined;
  try {
    const result = await runGrep({
      matcher, invert: !!args.v, stream: !!args.stream, after, maxMatches, lookBehind,
      source, reader,
      text: { out: stdout, json: !!args.json, color: !args.json && colorFor(stdout, args.color as ColourWhen | undefined), hexdump: !!args.x, layout, time },
      pcap: args.O !== undefined ? openOutputFile(String(args.O)).stream : undefined,
      stop,
    });
    progress?.stop();
    if (failed) return EXIT_ERROR;
    return result.selected > 0 ? 0 : EXIT_NO_MATCH;
  } catch (e) {
    process.stderr.write(`${NAME}: ${describeError(e)}\n`);
    return EXIT_ERROR;
  } finally {
    progress?.stop();
    if (live !== undefined) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      live.close();
    }
  }
}

if (require.main === module) runCommand(NAME, main, { runtimeErrorStatus: EXIT_ERROR });
