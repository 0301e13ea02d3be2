/** `pcap-pipe print [-x] [--json] [--defragment] [FILE]`: one line (or JSON object) per packet. */
import { pipeline } from 'node:stream/promises';
import { openReportedCapture, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { decode } from '../streams/decode';
import { print } from '../streams/print';

export const USAGE = `usage: pcap-pipe print [-x] [--json] [--defragment] [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and prints one line per packet:
  time, link addresses, IPs/ports, protocol, TCP flags/seq/ack/len, DNS, ARP, ICMP, TLS SNI.
  -x            add a hex + ASCII dump of each packet
  --json        NDJSON: one object per packet (frame, ts, caplen, len, one object per layer, errors)
  --defragment  reassemble IPv4/IPv6 fragments (the datagram is printed when it completes)
  --no-link     leave out MAC addresses`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['x', 'json', 'defragment', 'link'], default: { link: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const file = args._.length ? String(args._[0]) : undefined;
  const input = openReportedCapture(file, { command: 'pcap-pipe print', verb: 'printed' }, { batch: true });
  await pipeline(
    input.reader,
    decode({ defragment: Boolean(args.defragment) }),
    print({ json: Boolean(args.json), hex: Boolean(args.x), link: Boolean(args.link) }),
    safeStdout(),
  );
  return input.damaged ? 1 : 0;
}
