/** `pcap-pipe tcp [--json] [--no-data] [--no-defragment] [FILE]`: TCP connection events, one per line. */
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { openReportedCapture, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { PUBLISH_STRINGS, PUBLISH_USAGE, publishOptionsFrom, runPublishing } from './publish-cli';
import { tcpPrinter } from '../streams/tcp-print';
import { tcpEvents } from '../streams/trace';

export const USAGE = `usage: pcap-pipe tcp [--json] [--no-data] [--no-defragment] [--publish URL ...] [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE), reassembles TCP and prints one line per event:
  start, data, gap, end (with per-direction stats), reset, retransmit, syn-retry, out-of-order,
  port-reuse, zero-window, keep-alive, evicted, overlap-conflict.
  --json           NDJSON: type, ts, frame, connection, client, server and the event's fields
                   (data events: length and the bytes in base64 under "data")
  --no-data        leave out data events
  --no-defragment  do not reassemble IP fragments first
${PUBLISH_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json', 'data', 'defragment'], string: PUBLISH_STRINGS, default: { data: true, defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const file = args._.length ? String(args._[0]) : undefined;
  const publish = publishOptionsFrom(args, USAGE);
  const input = openReportedCapture(file, { command: 'pcap-pipe tcp', verb: 'used' }, { batch: true });
  const run = async (out: Writable): Promise<number> => {
    await pipeline(
      tcpEvents(input.reader, { defragment: Boolean(args.defragment) }),
      tcpPrinter({ json: Boolean(args.json) || publish !== undefined, data: Boolean(args.data) }),
      out,
    );
    return input.damaged ? 1 : 0;
  };
  return publish !== undefined ? runPublishing(publish, 'pcap-pipe tcp', run) : run(safeStdout());
}
