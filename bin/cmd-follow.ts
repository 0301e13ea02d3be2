/**
 * `pcap-pipe follow [-o DIR] [--stream N] [--ascii|--hex|--raw] [FILE]`: reassembled TCP streams, like
 * Wireshark's Follow TCP Stream and tcpflow.
 *
 * With -o DIR: one file per connection direction holding exactly the reassembled bytes (never a byte
 * that was not captured: holes are counted in `gaps`, not filled with NULs as tcpflow does), plus
 * DIR/index.json, an array of {connection, file, client, server, direction, bytes, gaps}; DIR must be
 * empty or new (--force replaces an earlier run's files), no symlink in it is ever followed.
 * Without -o: the bytes go to stdout as they are reassembled, in the layout of
 * `tshark -z follow,tcp,ascii,N` (--hex: tshark's hex layout; --raw: the bytes themselves, both
 * directions in delivery order); see streams/follow.ts.
 */
import { pipeline } from 'node:stream/promises';
import { intOption, openReportedCapture, parseArgs, printUsage, progressFor, rawPositionals, safeStdout, UsageError } from './cli';
import { inputFile } from './habits';
import { followSink } from '../streams/follow';
import type { StageSpec } from '../streams/chain-spec';
import { chainOf, tcpEventsChain } from '../streams/trace';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';
import { runShardedChain, WORKERS_HELP, workersOption } from './workers-cli';

export const USAGE = `usage: pcap-pipe follow [-o DIR [--force]] [--stream N] [--ascii|--hex|--raw] [--no-defragment] [--keylog FILE] [-q]
                        [--workers N] [-r FILE | FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and reassembles every TCP connection.
  -o DIR           write one file per connection direction (exactly the reassembled bytes) and
                   DIR/index.json: [{connection, file, client, server, direction, bytes, gaps}]
  --stream N       only connection N (numbered like tshark's tcp.stream)
  --ascii          print connections as text, non-printable bytes as '.' (default)
  --hex            print a hex dump per chunk, like tshark -z follow,tcp,hex
  --raw            write the raw bytes, both directions in the order they were delivered
  --force          with -o: replace the files of an earlier run in a non-empty DIR
  --no-defragment  do not reassemble IP fragments first
  -r FILE          read FILE (as tcpdump -r)
  -q               no progress line on a terminal
${KEYLOG_USAGE}
${WORKERS_HELP}
                   (not with -o DIR or --stream N)
  Output is written as the streams are reassembled: connections that overlap in time appear as
  interleaved blocks, each with its own header.`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['o', 'stream', 'r', 'workers'], boolean: ['ascii', 'hex', 'raw', 'defragment', 'force', 'q'], repeatable: ['keylog'], default: { defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  const modes = (['ascii', 'hex', 'raw'] as const).filter((m) => args[m]);
  if (modes.length > 1) throw new UsageError('choose one of --ascii, --hex, --raw', USAGE);
  const stream = intOption(args, 'stream', USAGE, 0);
  const dir = args.o === undefined || args.o === '' ? undefined : String(args.o);
  const file = inputFile(args, rawPositionals(argv, args), USAGE);
  if (args.force && dir === undefined) throw new UsageError('--force goes with -o DIR', USAGE);
  const workers = workersOption(args, USAGE, {
    refuse: [
      [dir !== undefined, '--workers and -o DIR exclude each other (file names and index.json use the whole capture\'s connection numbers)'],
      [stream !== undefined, '--workers and --stream N exclude each other (N is a connection number of the whole capture)'],
    ],
  });
  const files = keyLogFiles(args);
  // one description of the chain, run on one thread or in each worker (streams/chain-spec.ts): TLS connections
  // decrypted with --keylog / SSLKEYLOGFILE / the pcapng's own secrets; others as they are
  const stages: StageSpec[] = [...tcpEventsChain({ defragment: Boolean(args.defragment) }), { stage: 'tls', keyLogFiles: files }];
  const mode = modes[0] ?? 'ascii';
  if (workers !== undefined) {
    const input = openReportedCapture(file, { command: 'pcap-pipe follow', verb: 'used' }, { batch: true });
    const r = await runShardedChain({
      workers, source: input.reader, out: safeStdout(), secrets: input.reader, chain: { stages, printer: { printer: 'follow', mode } }, file: file ?? '-',
      progress: { reader: input.reader, quiet: Boolean(args.q), stdoutUsed: true }, report: { command: 'pcap-pipe follow', verb: 'used' },
    });
    return input.damaged || r.damaged ? 1 : 0;
  }
  // The directory is checked before any input is read: a bad -o fails at once.
  const sink = followSink({ mode, dir, force: Boolean(args.force), stream, out: safeStdout() });
  const input = openReportedCapture(file, { command: 'pcap-pipe follow', verb: 'used' }, { batch: true });
  // with -o DIR nothing goes to stdout: a terminal there does not hide the line
  const progress = progressFor(() => [input.reader], [file], Boolean(args.q), dir === undefined);
  await pipeline(chainOf(input.reader, stages, { tls: tlsStage(files, input.reader) }), sink);
  progress.stop();
  return input.damaged ? 1 : 0;
}
