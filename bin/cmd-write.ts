/** `pcap-pipe write FILE [--format pcap|pcapng]`: a capture on stdin written to a file. */
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { binaryStdout, openOutputFile, openReportedCapture, parseArgs, printUsage, UsageError } from './cli';
import { CaptureWriter } from '../streams/write';
import { SECRETS_TYPE_TLS } from '../lib/formats/format';

export const USAGE = `usage: pcap-pipe write FILE [--format pcap|pcapng] [--inject-secrets KEYLOG]
  Reads a capture (pcap or pcapng) on stdin and writes it to FILE ('-': stdout, also a terminal).
  The format defaults to pcapng when FILE ends in .pcapng, else classic pcap (nanosecond timestamps
  when the input has them).
  --inject-secrets KEYLOG  put a TLS key log (NSS format, e.g. SSLKEYLOGFILE) into FILE as a pcapng
                           Decryption Secrets Block, like editcap --inject-secrets tls,KEYLOG; FILE is
                           then pcapng, and pcap-pipe and Wireshark decrypt it without the key log.
  A damaged input: every complete packet is written, the error goes to stderr, exit status 1.`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['format', 'inject-secrets'] }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length !== 1) throw new UsageError('give exactly one output FILE', USAGE);
  const path = String(args._[0]);
  const keyLogPath = args['inject-secrets'] as string | undefined;
  const format = (args.format as string | undefined) ?? (keyLogPath !== undefined || /\.pcapng$/i.test(path) ? 'pcapng' : 'pcap');
  if (format !== 'pcap' && format !== 'pcapng') throw new UsageError(`--format must be pcap or pcapng, not ${format}`, USAGE);
  if (keyLogPath !== undefined && format !== 'pcapng') throw new UsageError('--inject-secrets needs --format pcapng (classic pcap has no place for secrets)', USAGE);
  // Read before the capture starts, so a missing key log fails before anything is written.
  const secrets = keyLogPath === undefined ? [] : [{ type: SECRETS_TYPE_TLS, data: fs.readFileSync(keyLogPath) }];
  const out = path === '-' ? binaryStdout(true, USAGE) : openOutputFile(path).stream;
  const input = openReportedCapture('-', { command: 'pcap-pipe write', label: 'stdin', verb: 'wrote' });
  const reader = input.reader;
  const writer = new CaptureWriter({ format, secrets, configure: () => ({ interfaces: reader.interfaces }) });
  await pipeline(reader, writer, out);
  return input.damaged ? 1 : 0;
}
