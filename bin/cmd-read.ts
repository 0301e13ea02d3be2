/** `pcap-pipe read FILE...`: captures (pcap or pcapng, '-' = stdin) to classic pcap on stdout. */
import * as fs from 'node:fs';
import { pipeline as pipelineCallback, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { binaryStdout, mergeCaptures, openOutputFile, openReportedCapture, parseArgs, printUsage, progressFor, rawPositionals, reportDamagedInput, UsageError } from './cli';
import { copyPcap, openCopySource } from './read-copy';
import { isSystemError } from '../lib/core/sys-error';
import { CaptureWriter, type WriteCaptureOptions } from '../streams/write';
import { readCapture, type CaptureReader, type ReadCaptureOptions } from '../streams/read';
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

  const toStdout = args.w === undefined || args.w === '-';
  const output = toStdout ? { fd: 1, stream: binaryStdout(args.w === '-', USAGE) } : openOutputFile(String(args.w));
  const how = { command: 'pcap-pipe read', verb: 'wrote' };

  // One input, classic pcap out: nothing to decode, the records are copied (pcap) or converted (pcapng).
  let open: ((path: string | undefined, opts: ReadCaptureOptions) => CaptureReader) | undefined;
  const only = files.length === 1 ? files[0] as string : undefined;
  // the progress line counts the copy's bytes, or (when the copy was not made) the readers'
  const copied = { bytes: 0, packets: 0 };
  let counted: readonly { bytes: number; packets: number }[] = [copied];
  const progress = progressFor(() => counted, files, Boolean(args.q), toStdout);
  const copySource = only !== undefined && format !== 'pcapng' ? openCopySource(only) : undefined;
  if (copySource !== undefined) {
    let copy: ReturnType<typeof copyPcap>;
    try {
      copy = copyPcap(copySource, output.fd, format === 'pcap', (bytes, packets) => { copied.bytes = bytes; copied.packets = packets; progress.tick(); });
    } catch (e) {
      // stdout's own write errors (EPIPE: quietly; ENOSPC, EIO: one line) are handled where safeStdout says
      if (toStdout && isSystemError(e) && e.syscall === 'write') output.stream.emit('error', e);
      throw e;
    }
    if (copy.copied) {
      progress.stop();
      if (!toStdout) fs.closeSync(output.fd);
      if (copy.failure === null) return 0;
      reportDamagedInput(how, only as string, copy.failure, copy.packets);
      return 1;
    }
    // not a copyable pcap: the ordinary path, from the bytes the copy read off a pipe and the rest of it
    const head = copy.head;
    if (copySource.position === null) {
      open = (_path, opts) => {
        const reader = readCapture(opts);
        async function* rest(): AsyncGenerator<Buffer> {
          yield head;
          for await (const chunk of process.stdin) yield chunk as Buffer;
        }
        pipelineCallback(Readable.from(rest(), { objectMode: false }), reader, () => undefined);
        return reader;
      };
    }
  }

  // A damaged input must not stop the others: report it, keep its complete packets, exit 1 at the end.
  // One input: records in batches (arrays) straight to the writer; several: one by one through the merge.
  const out = output.stream;
  const inputs = files.map((f) => openReportedCapture(f, { ...how, label: f }, { batch: files.length === 1 }, open));
  const readers = inputs.map((i) => i.reader);
  counted = readers;
  await pipeline(mergeCaptures(readers), chooseOutput(readers, format as 'pcap' | 'pcapng' | undefined), out);
  progress.stop();
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
