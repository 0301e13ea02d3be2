/** `pcap-pipe info FILE...`: what capinfos tells a user about capture files. */
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { formatTimestamp, linkTypeName, type PacketRecord } from '../lib/core/record';
import { CaptureError, type CaptureErrorCode } from '../lib/core/errors';
import { describeError, describeInputError, openCapture, parseArgs, printUsage, progressFor, rawPositionals, safeStdout } from './cli';
import type { CaptureReader } from '../streams/read';
import { jsonText } from '../lib/core/json-line';
import { escapeControl } from '../lib/core/escape';
import { countLetterFlag, tcpdumpTimeStyle, TimeFormatter } from '../lib/core/time';

export const USAGE = `usage: pcap-pipe info [--json] [-t|-tt|-tttt] [-q] [-r FILE]... [FILE...]
  For each capture file ('-' = stdin): format, link types, interfaces, packet count, first and
  last packet time, duration, data bytes, snaplen, and whether the file is cut short or damaged.
  Times: local date and time of day (like capinfos; TZ chooses the zone); -tt: seconds since the
  epoch; --json: "firstTime"/"lastTime" in epoch seconds with 9 decimals.
  -r FILE    read FILE (as tcpdump -r; repeatable, the same as FILE)
  -q         no progress line on a terminal
  Exit status 1 when any file is damaged.`;

export interface CaptureInfo {
  file: string;
  format: string | null;
  linkTypes: { linkType: number; name: string }[];
  interfaces: { id: number; section: number; name?: string; description?: string; linkType: number; snaplen: number; tsResolution: string }[];
  sections: number;
  packets: number;
  dataBytes: number;
  wireBytes: number;
  snaplen: number | null;
  firstTime: string | null;
  lastTime: string | null;
  durationSeconds: number | null;
  packetsWithoutTimestamp: number;
  cutBySnaplen: number;
  skippedBlocks: number;
  truncated: boolean;
  error: { code: string; message: string } | null;
}

async function infoFor(file: string, opened: (reader: CaptureReader) => void): Promise<CaptureInfo> {
  let error: CaptureError | null = null;
  const reader = openCapture(file, { onError: (e) => { error = e; } });
  opened(reader);
  let packets = 0, dataBytes = 0, wireBytes = 0, noTs = 0, cut = 0;
  let first: PacketRecord | null = null;
  let firstSec = 0, firstNs = 0, lastSec = 0, lastNs = 0;
  await pipeline(reader, new Writable({
    objectMode: true,
    write(rec: PacketRecord, _e, cb) {
      packets++;
      dataBytes += rec.caplen;
      wireBytes += rec.len;
      if (rec.caplen < rec.len) cut++;
      if (rec.noTimestamp) noTs++;
      else {
        // capinfos reports the earliest and latest times, not the first and last records
        if (!first || rec.tsSec < firstSec || (rec.tsSec === firstSec && rec.tsNsec < firstNs)) { firstSec = rec.tsSec; firstNs = rec.tsNsec; }
        if (!first || rec.tsSec > lastSec || (rec.tsSec === lastSec && rec.tsNsec > lastNs)) { lastSec = rec.tsSec; lastNs = rec.tsNsec; }
        first = rec;
      }
      cb();
    },
  }));
  const err = error as CaptureError | null;
  const linkTypes = [...new Set(reader.interfaces.map((i) => i.linkType))];
  const snaps = reader.interfaces.map((i) => i.snaplen);
  return {
    file,
    format: reader.format,
    linkTypes: linkTypes.map((t) => ({ linkType: t, name: linkTypeName(t) })),
    interfaces: reader.interfaces.map((i) => ({
      id: i.id, section: i.section, ...(i.name !== undefined ? { name: i.name } : {}),
      ...(i.description !== undefined ? { description: i.description } : {}),
      linkType: i.linkType, snaplen: i.snaplen, tsResolution: resolutionName(i.tsUnitsPerSecond),
    })),
    sections: Math.max(1, reader.sections.length),
    packets, dataBytes, wireBytes,
    snaplen: snaps.length ? Math.max(...snaps) : null,
    firstTime: first ? formatTimestamp(firstSec, firstNs) : null,
    lastTime: first ? formatTimestamp(lastSec, lastNs) : null,
    durationSeconds: first ? Number(((BigInt(lastSec) * 1_000_000_000n + BigInt(lastNs)) - (BigInt(firstSec) * 1_000_000_000n + BigInt(firstNs)))) / 1e9 : null,
    packetsWithoutTimestamp: noTs,
    cutBySnaplen: cut,
    skippedBlocks: reader.skippedBlocks,
    truncated: err?.code === 'PCAP_TRUNCATED',
    error: err ? { code: err.code, message: err.message } : null,
  };
}

function resolutionName(units: bigint): string {
  if (units === 1_000_000n) return 'microseconds';
  if (units === 1_000_000_000n) return 'nanoseconds';
  return `1/${units} s`;
}

/** A first/last time for the text form: date and time of day (local, like capinfos) unless -t letters say otherwise. */
function timeText(ts: string | null, time: TimeFormatter): string {
  if (ts === null) return 'n/a';
  return time.formatText(ts);
}

function formatInfo(i: CaptureInfo, time: TimeFormatter): string {
  const lines: [string, string][] = [
    ['File name', i.file],
    ['File type', i.format === 'pcap' ? 'classic pcap' : i.format ?? 'unknown'],
    ['Encapsulation', i.linkTypes.map((t) => `${t.name} (${t.linkType})`).join(', ') || '(none)'],
    ['Interfaces', String(i.interfaces.length) + (i.format === 'pcapng' ? ` in ${i.sections} section(s)` : '')],
    ...i.interfaces.filter(() => i.format === 'pcapng').slice(0, 16).map((f): [string, string] => [`  #${f.id}${i.sections > 1 ? ` (section ${f.section})` : ''}`,
      `${f.name ?? '(no name)'}${f.description ? ` "${f.description}"` : ''}, ${linkTypeName(f.linkType)}, snaplen ${f.snaplen}, ${f.tsResolution}`]),
    ['Snapshot length', i.snaplen === null ? 'n/a' : String(i.snaplen)],
    ['Number of packets', String(i.packets)],
    ['Data size', `${i.dataBytes} bytes captured, ${i.wireBytes} on the wire`],
    ['Cut by snaplen', `${i.cutBySnaplen} packets`],
    ['First packet time', timeText(i.firstTime, time)],
    ['Last packet time', timeText(i.lastTime, time)],
    ['Capture duration', i.durationSeconds === null ? 'n/a' : `${i.durationSeconds.toFixed(9)} seconds`],
  ];
  if (i.packetsWithoutTimestamp) lines.push(['Without timestamp', `${i.packetsWithoutTimestamp} packets (Simple Packet Blocks)`]);
  if (i.skippedBlocks) lines.push(['Skipped blocks', String(i.skippedBlocks)]);
  lines.push(['Truncated', i.truncated ? 'yes' : 'no']);
  if (i.error) lines.push(['Error', `${i.error.message} [${i.error.code}]`]);
  // Names, descriptions and messages come from the file: escaped so they cannot drive the terminal.
  return lines.map(([k, v]) => `${(k + ':').padEnd(20)}${escapeControl(v)}`).join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json', 't', 'q'], repeatable: ['r'] }, USAGE);
  if (!args) return printUsage(USAGE);
  const named = [...(args.r as string[]), ...rawPositionals(argv, args)];
  const files = named.length ? named : ['-'];
  const out = safeStdout();
  // capinfos shows the date too: no -t is date and time of day here (tcpdump's -tttt); -tt epoch seconds
  const tCount = countLetterFlag(argv, 't');
  const timeStyle = tCount === 0 ? 'date' : tcpdumpTimeStyle(tCount);
  let status = 0;
  // one line for all the files, read one after another
  const readers: CaptureReader[] = [];
  const progress = progressFor(() => readers, files, Boolean(args.q));
  for (const [n, file] of files.entries()) {
    let info: CaptureInfo;
    try {
      info = await infoFor(file, (r) => readers.push(r));
    } catch (e) {
      process.stderr.write(`pcap-pipe info: ${describeInputError(e, file)}\n`);
      status = 1;
      continue;
    }
    // A damaged file is described on stdout (Truncated, Error) and named on stderr, like every command's.
    if (info.error) {
      process.stderr.write(`pcap-pipe info: ${file === '-' ? 'stdin' : file}: ${describeError(new CaptureError(info.error.code as CaptureErrorCode, info.error.message))}\n`);
      status = 1;
    }
    out.write(args.json ? jsonText(info) + '\n' : (n ? '\n' : '') + formatInfo(info, new TimeFormatter(timeStyle)) + '\n');
  }
  progress.stop();
  return status;
}
