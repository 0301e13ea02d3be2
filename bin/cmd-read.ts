/** `pcap-pipe read FILE...`: captures (pcap or pcapng, '-' = stdin) to classic pcap on stdout. */
import { pipeline } from 'node:stream/promises';
import { binaryStdout, mergeCaptures, openOutputFile, openReportedCapture, parseArgs, printUsage, rawPositionals, UsageError } from './cli';
import { CaptureWriter, type WriteCaptureOptions } from '../streams/write';
import type { CaptureReader } from '../streams/read';
import type { PacketRecord } from '../lib/core/record';

export const USAGE = `usage: pcap-pipe read [--format pcap|pcapng] [-w FILE|-] [-q] [-r FILE]... [FILE...]
  Reads pcap or pcapng files ('-' or no FILE = stdin) and writes one capture to stdout:
  classic pcap, or pcapng when the input holds several link types (classic pcap cannot).
  Several files are merged in timestamp order. A file cut short: every complete packet is
  written, the error is reported on stderr, and the exit status is 1.
  --format F   force the output format (pcap or pcapng)
  -w FILE      write to FILE instead of stdout; stdout is refused when it is a terminal
               unless given as -w -
  -r FILE      read FILE (as tcpdump -r; repeatable, the same as FILE)
  -q           no progress line on a terminal`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['format', 'w'], boolean: ['q'], repeatable: ['r'] }, USAGE);
  if (!args) return printUsage(USAGE);
  const format = args.format as string | undefined;
  if (format !== undefined && format !== 'pcap' && format !== 'pcapng') throw new UsageError(`--format must be pcap or pcapng, not ${format}`, USAGE);
  const named = [...(args.r as string[]), ...rawPositionals(argv, args)];
  const files = named.length ? named : ['-'];
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be read only once', USAGE);

  // A damaged input must not stop the others: report it, keep its complete packets, exit 1 at the end.
  // One input: records in batches (arrays) straight to the writer; several: one by one through the merge.
  const out = args.w === undefined || args.w === '-' ? binaryStdout(args.w === '-', USAGE) : openOutputFile(String(args.w)).stream;
  const inputs = files.map((f) => openReportedCapture(f, { command: 'pcap-pipe read', label: f, verb: 'wrote' }, { batch: files.length === 1 }));
  const readers = inputs.map((i) => i.reader);
  await pipeline(mergeCaptures(readers), chooseOutput(readers, format as 'pcap' | 'pcapng' | undefined), out);
  return inputs.some((i) => i.damaged) ? 1 : 0;
}

/**
 * Chooses the output format at the first packet, when every input has described the interfaces it
 * starts with: pcapng if they span several link types, classic pcap otherwise — reproducing the input's
 * own file header when there is exactly one classic pcap input, so read → write is byte-identical.
 */
function chooseOutput(readers: CaptureReader[], forced: 'pcap' | 'pcapng' | undefined): CaptureWriter {
  return new CaptureWriter({
    configure(first: PacketRecord | null): Partial<WriteCaptureOptions> {
      const linkTypes = new Set<number>(first ? [first.linkType] : []);
      for (const r of readers) for (const t of r.linkTypes) linkTypes.add(t);
      const format = forced ?? (linkTypes.size > 1 ? 'pcapng' : 'pcap');
      const sourceHeader = readers.length === 1 && format === 'pcap' ? readers[0]?.pcapHeader ?? undefined : undefined;
      return { format, sourceHeader, interfaces: readers.flatMap((r) => r.interfaces) };
    },
  });
}
