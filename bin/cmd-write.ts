/** `pcap-pipe write FILE [--format pcap|pcapng]`: a capture on stdin written to a file. */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { openReportedCapture, parseArgs, printUsage, UsageError } from './cli';
import { CaptureWriter } from '../streams/write';

export const USAGE = `usage: pcap-pipe write FILE [--format pcap|pcapng]
  Reads a capture (pcap or pcapng) on stdin and writes it to FILE. The format defaults to pcapng
  when FILE ends in .pcapng, else classic pcap (nanosecond timestamps when the input has them).
  A damaged input: every complete packet is written, the error goes to stderr, exit status 1.`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['format'] }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length !== 1) throw new UsageError('give exactly one output FILE', USAGE);
  const path = String(args._[0]);
  const format = (args.format as string | undefined) ?? (/\.pcapng$/i.test(path) ? 'pcapng' : 'pcap');
  if (format !== 'pcap' && format !== 'pcapng') throw new UsageError(`--format must be pcap or pcapng, not ${format}`, USAGE);
  const input = openReportedCapture('-', { command: 'pcap-pipe write', label: 'stdin', verb: 'wrote' });
  const reader = input.reader;
  const writer = new CaptureWriter({ format, configure: () => ({ interfaces: reader.interfaces }) });
  await pipeline(reader, writer, fs.createWriteStream(path));
  return input.damaged ? 1 : 0;
}
