/**
 * `pcap-pipe filter EXPR`: a capture on stdin (pcap or pcapng), the packets matching a tcpdump filter
 * expression on stdout, in the same format (a classic pcap input keeps its exact file header).
 */
import { pipeline } from 'node:stream/promises';
import { binaryStdout, intOption, openOutputFile, openReportedCapture, parseArgs, printUsage, progressFor, UsageError } from './cli';
import { expressionFrom } from './cli';
import { filter } from '../streams/filter';
import { CaptureWriter } from '../streams/write';

export const USAGE = `usage: pcap-pipe filter [-v] [-r FILE] [-w FILE|-] [-s SNAPLEN] [-O] [-d] [-q] EXPR...
  Reads a capture (pcap or pcapng) from stdin (or -r FILE) and writes the packets that match the
  tcpdump filter expression EXPR to stdout, in the input's format. Uses libpcap's compiler, so it
  keeps exactly what \`tcpdump -r FILE EXPR\` keeps.
  -v          keep the packets that do NOT match
  -r FILE     read FILE instead of stdin
  -w FILE     write to FILE instead of stdout (refused on a terminal unless given as -w -)
  -s SNAPLEN  snapshot length the filter is compiled for (default 262144)
  -O          do not run libpcap's optimizer
  -d          print the compiled program for Ethernet (like tcpdump -d) and exit
  -q          no progress line on a terminal`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['r', 's', 'w'], boolean: ['v', 'O', 'd', 'q'] }, USAGE);
  if (!args) return printUsage(USAGE);
  const expression = expressionFrom(argv, args);
  if (expression.trim() === '') throw new UsageError('give a filter expression', USAGE);
  const snaplen = intOption(args, 's', USAGE, 1);
  const stage = filter(expression, { invert: Boolean(args.v), snaplen, optimize: !args.O });
  if (args.d) {
    process.stdout.write(stage.bpf.program(1).dump().join('\n') + '\n');
    return 0;
  }
  const out = args.w === undefined || args.w === '-' ? binaryStdout(args.w === '-', USAGE) : openOutputFile(String(args.w)).stream;
  const input = openReportedCapture(args.r as string | undefined, { command: 'pcap-pipe filter', verb: 'filtered' });
  const reader = input.reader;
  const writer = new CaptureWriter({
    configure: () => ({
      format: reader.format ?? 'pcap',
      sourceHeader: reader.pcapHeader ?? undefined,
      interfaces: reader.interfaces,
    }),
  });
  const progress = progressFor(() => [reader], [args.r as string | undefined], Boolean(args.q), args.w === undefined || args.w === '-');
  await pipeline(reader, stage, writer, out);
  progress.stop();
  return input.damaged ? 1 : 0;
}
