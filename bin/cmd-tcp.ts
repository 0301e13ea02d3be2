/** `pcap-pipe tcp [--json] [--no-data] [--no-defragment] [FILE]`: TCP connection events, one per line. */
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { openReportedCapture, parseArgs, printUsage, progressFor, rawPositionals, safeStdout } from './cli';
import { inputFile, timeFormatterFrom } from './habits';
import { tcpdumpTimeHelp } from '../lib/core/time';
import { PUBLISH_STRINGS, PUBLISH_USAGE, publishOptionsFrom, runPublishing } from './publish-cli';
import { buildPrinter, type PrinterSpec } from '../streams/chain-spec';
import { chainOf, tcpEventsChain } from '../streams/trace';
import { runShardedChain, WORKERS_HELP, workersOption } from './workers-cli';

export const USAGE = `usage: pcap-pipe tcp [--json] [--no-data] [--no-defragment] [-t|-tt|-ttt|-tttt] [-q]
                     [--workers N] [--publish URL ...] [-r FILE | FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE), reassembles TCP and prints one line per event:
  start, data, gap, end (with per-direction stats), reset, retransmit, syn-retry, out-of-order,
  port-reuse, zero-window, keep-alive, evicted, overlap-conflict.
  --json           NDJSON: type, ts, frame, connection, client, server and the event's fields
                   (data events: length and the bytes in base64 under "data")
  --no-data        leave out data events
  --no-defragment  do not reassemble IP fragments first
  -r FILE          read FILE (as tcpdump -r)
  -q               no progress line on a terminal
${tcpdumpTimeHelp(19, 'event')}
                   (--json keeps "ts": seconds since the epoch, 9 decimals)
${WORKERS_HELP}
${PUBLISH_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json', 'data', 'defragment', 't', 'q'], string: [...PUBLISH_STRINGS, 'r', 'workers'], default: { data: true, defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  const file = inputFile(args, rawPositionals(argv, args), USAGE);
  const publish = publishOptionsFrom(args, USAGE);
  const time = timeFormatterFrom(argv);
  const json = Boolean(args.json) || publish !== undefined;
  const workers = workersOption(args, USAGE, { publish: publish !== undefined, json, time });
  const input = openReportedCapture(file, { command: 'pcap-pipe tcp', verb: 'used' }, { batch: true });
  // one description of the chain, run on one thread or in each worker (streams/chain-spec.ts)
  const stages = tcpEventsChain({ defragment: Boolean(args.defragment) });
  const printer: PrinterSpec = { printer: 'tcp', json, data: Boolean(args.data), timeStyle: time.style };
  const run = async (out: Writable): Promise<number> => {
    if (workers !== undefined) {
      const r = await runShardedChain({
        workers, source: input.reader, out, chain: { stages, printer }, file: file ?? '-',
        progress: { reader: input.reader, quiet: Boolean(args.q), stdoutUsed: out === process.stdout }, report: { command: 'pcap-pipe tcp', verb: 'used' },
      });
      return input.damaged || r.damaged ? 1 : 0;
    }
    const progress = progressFor(() => [input.reader], [file], Boolean(args.q), out === process.stdout);
    await pipeline(chainOf(input.reader, stages), buildPrinter(printer), out);
    progress.stop();
    return input.damaged ? 1 : 0;
  };
  return publish !== undefined ? runPublishing(publish, 'pcap-pipe tcp', run) : run(safeStdout());
}
