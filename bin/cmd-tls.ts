/** `pcap-pipe tls [--json] [--keylog FILE]... [--no-defragment] [FILE]`: the TLS connections of a capture. */
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { openReportedCapture, parseArgs, printUsage, progressFor, rawPositionals, safeStdout } from './cli';
import { inputFile } from './habits';
import { PUBLISH_STRINGS, PUBLISH_USAGE, publishOptionsFrom, runPublishing } from './publish-cli';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { tlsPrinter } from '../streams/tls-print';

export const USAGE = `usage: pcap-pipe tls [--json] [--keylog FILE]... [--no-defragment] [-q] [--publish URL ...] [-r FILE | FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and prints one line per TLS connection: version,
  cipher suite, SNI, ALPN, the server certificate (subject, issuer, validity: visible in TLS 1.2, and in
  TLS 1.3 when decrypted), the JA4 client fingerprint, and whether it can be decrypted with the keys
  given (or why not). Problems after decryption started (bad MAC, gap) get a line of their own.
  --json           NDJSON: the tls-connection and tls-error events
${KEYLOG_USAGE}
  --no-defragment  do not reassemble IP fragments first
  -r FILE          read FILE (as tcpdump -r)
  -q               no progress line on a terminal
${PUBLISH_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json', 'defragment', 'q'], string: [...PUBLISH_STRINGS, 'r'], repeatable: ['keylog'], default: { defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  const file = inputFile(args, rawPositionals(argv, args), USAGE);
  const publish = publishOptionsFrom(args, USAGE);
  const input = openReportedCapture(file, { command: 'pcap-pipe tls', verb: 'used' }, { batch: true });
  const run = async (out: Writable): Promise<number> => {
    const progress = progressFor(() => [input.reader], [file], Boolean(args.q), out === process.stdout);
    await pipeline(
      input.reader,
      decode({ depth: 'transport', defragment: Boolean(args.defragment) }),
      tcp(),
      tlsStage(keyLogFiles(args), input.reader),
      tlsPrinter({ json: Boolean(args.json) || publish !== undefined }),
      out,
    );
    progress.stop();
    return input.damaged ? 1 : 0;
  };
  return publish !== undefined ? runPublishing(publish, 'pcap-pipe tls', run) : run(safeStdout());
}
