/** `pcap-pipe print [-enqxXA] [-c N] [-t...] [-r FILE | FILE] [EXPRESSION]`: one line (or JSON object) per packet, like tcpdump. */
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { intOption, openReportedCapture, parseArgs, printUsage, progressFor, rawPositionals, safeStdout } from './cli';
import { stopReader } from './grep-cli';
import { fileAndExpression, timeFormatterFrom } from './habits';
import { countLetterFlag, tcpdumpTimeHelp } from '../lib/core/time';
import type { DumpKind } from '../lib/layers/print-link';
import { decode } from '../streams/decode';
import { print } from '../streams/print';
import { chain } from '../streams/trace';

export const USAGE = `usage: pcap-pipe print [-enqxXA] [-c COUNT] [-t|-tt|-ttt|-tttt] [--json] [--defragment] [--no-link]
                      [-r FILE | FILE] [EXPRESSION ...]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and prints one line per packet, like tcpdump:
  time, link addresses, IPs/ports, protocol, TCP flags/seq/ack/len, DNS, ARP, ICMP, TLS SNI.
  EXPRESSION: a tcpdump filter expression (one argument or several words); only matching packets are
  printed. Without -r, a first word that is an existing file, '-' or a *.pcap/*.pcapng name is the FILE.
  -r FILE       read FILE (as tcpdump -r)
  -c COUNT      stop after COUNT packets
  -n            accepted, as with tcpdump (names are never resolved)
  -e            print the link-level header as tcpdump -e does (MACs, ethertype, length)
  -x            after each packet, its bytes in hex as tcpdump -x (from the network header; -xx: whole frame)
  -X            hex and ASCII, as tcpdump -X (-XX: whole frame)
  -A            the bytes as ASCII, as tcpdump -A (-AA: whole frame); control bytes shown as '.'
${tcpdumpTimeHelp()}
  -q            no progress line on a terminal
  --json        NDJSON: one object per packet (frame, ts, caplen, len, one object per layer, errors)
  --defragment  reassemble IPv4/IPv6 fragments (the datagram is printed when it completes)
  --no-link     leave out MAC addresses`;

/** -x/-X/-A (the last kind given wins, as they exclude each other), and whether it was doubled. */
function dumpFrom(argv: string[]): { dump?: DumpKind; dumpLink: boolean } {
  const counts: [DumpKind, number][] = [['hex', countLetterFlag(argv, 'x')], ['hex-ascii', countLetterFlag(argv, 'X')], ['ascii', countLetterFlag(argv, 'A')]];
  // tcpdump: -X wins over -x, and -A over both
  const given = counts.filter(([, n]) => n > 0);
  const chosen = given[given.length - 1];
  return chosen === undefined ? { dumpLink: false } : { dump: chosen[0], dumpLink: chosen[1] > 1 };
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    boolean: ['x', 'X', 'A', 'n', 'e', 't', 'q', 'json', 'defragment', 'link'],
    string: ['r', 'c'],
    default: { link: true },
  }, USAGE);
  if (!args) return printUsage(USAGE);
  const { file, expression } = fileAndExpression(args, rawPositionals(argv, args));
  const count = intOption(args, 'c', USAGE, 1);
  // compile the filter before reading anything: a bad expression fails at once
  // required only with an expression: the BPF stage is not loaded otherwise (start-up of a fresh process)
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const stage = expression === undefined ? undefined : (require('../streams/filter') as typeof import('../streams/filter')).filter(expression);
  const input = openReportedCapture(file, { command: 'pcap-pipe print', verb: 'printed' }, { batch: true });
  const source: Readable = stage === undefined ? input.reader : chain(input.reader, stage);
  const progress = progressFor(() => [input.reader], [file], Boolean(args.q));
  await pipeline(
    source,
    decode({ defragment: Boolean(args.defragment) }),
    print({
      json: Boolean(args.json), link: Boolean(args.link), linkHeader: Boolean(args.e), time: timeFormatterFrom(argv),
      ...dumpFrom(argv), count, onCount: () => stopReader(input.reader),
    }),
    safeStdout(),
  );
  progress.stop();
  return input.damaged ? 1 : 0;
}
