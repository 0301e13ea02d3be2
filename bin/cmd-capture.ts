/**
 * `pcap-pipe capture`: live capture with libpcap, like `tcpdump -w -`. Classic pcap to stdout (or -w FILE);
 * on a terminal, one line per packet instead. Ends after -c COUNT packets or on SIGINT/SIGTERM, flushing
 * everything captured, then prints tcpdump's three-line summary on stderr.
 */
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { expressionFrom, intOption, openOutputFile, parseArgs, printUsage, safeStdout, UsageError, type OutputFile } from './cli';
import { capture, DEFAULT_SNAPLEN, pcapFileHeader, type CaptureStream } from '../streams/capture';
import { devices, type CaptureDirection, type LiveStats } from '../addon/index';
import { decode } from '../streams/decode';
import { print } from '../streams/print';
import { writePcap } from '../streams/write';

export const USAGE = `usage: pcap-pipe capture [-i DEV] [-c COUNT] [-s SNAPLEN] [-B MIB] [-p] [--immediate]
                         [-Q in|out|inout] [-w FILE|-] [-Z USER] [--micro] [EXPR...]
  Captures packets with libpcap and writes classic pcap to stdout (or FILE). When stdout is a
  terminal and there is no -w, prints one line per packet instead. Stops after COUNT packets or
  on Ctrl-C, then prints "captured / received by filter / dropped by kernel" on stderr. Ctrl-C
  drains what the kernel holds first (without --immediate that takes up to one read timeout, 1 s).
  -i DEV       interface (default: the first up, non-loopback one with an address; pcap-pipe devices)
  -c COUNT     stop after COUNT packets
  -s SNAPLEN   bytes kept of each packet (default 262144; 0 = the default)
  -B MIB       kernel buffer size in MiB (default: libpcap's, 2 MiB on Linux)
  -p           do not put the interface into promiscuous mode
  --immediate  hand packets over as they arrive, not per kernel buffer block
  -Q DIR       capture only packets received (in), sent (out) or both (inout, the default)
  -w FILE      write pcap to FILE ('-' = stdout, also on a terminal)
  -Z USER      once the device and the -w FILE are open, drop root privileges to USER (its uid,
               gid and groups); FILE is given to USER, as tcpdump does
  --micro      microsecond timestamps in the file (default nanosecond)
  EXPR         a tcpdump filter expression (the remaining arguments, joined by spaces)`;

const MAX_BUFFER_MIB = 2047;


/** uid and gid of a user from /etc/passwd (a name or a numeric uid). */
function passwdEntry(user: string): { name: string; uid: number; gid: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if (name === user || uid === user) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * Drops root privileges for good (as tcpdump -Z): supplementary groups, then gid, then uid — in that
 * order, because after setuid the process may no longer change its groups. Files already open stay
 * usable; `ownFds` (the output file) are given to USER first, as tcpdump gives it its savefile. Does
 * nothing (with a warning) when not running as root.
 */
export function dropPrivileges(user: string, ownFds: number[] = []): void {
  // @types/node leaves initgroups out of Process; it exists on POSIX.
  const initgroups = (process as unknown as { initgroups?: (user: string, extraGroup: number) => void }).initgroups;
  if (!process.getuid || !process.setuid || !process.setgid || !initgroups) {
    throw new Error('-Z is not supported on this platform');
  }
  if (process.getuid() !== 0) {
    process.stderr.write(`pcap-pipe capture: not running as root; -Z ${user} ignored\n`);
    return;
  }
  const entry = passwdEntry(user);
  if (!entry) throw new Error(`-Z: unknown user ${JSON.stringify(user)}`);
  for (const fd of ownFds) fs.fchownSync(fd, entry.uid, entry.gid);
  initgroups(entry.name, entry.gid);
  process.setgid(entry.gid);
  process.setuid(entry.uid);
  if (process.getuid() !== entry.uid || (process.getgid && process.getgid() !== entry.gid)) {
    throw new Error(`-Z: could not become ${entry.name}`);
  }
}

/**
 * Whether the addon may write `-w FILE` itself (CaptureStream.writeTo): a regular file or a character
 * device such as /dev/null, where nothing else shares the descriptor. Stdout, pipes and FIFOs keep the JS
 * path, whose closed-pipe handling (a quiet end) the commands share.
 */
function addonMayWrite(file: OutputFile | undefined): file is OutputFile {
  if (file === undefined) return false;
  const st = fs.fstatSync(file.fd);
  return st.isFile() || st.isCharacterDevice();
}

/** The pcap file header, then the capture's pcapRecords chunks as they come. */
function withFileHeader(cap: CaptureStream): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* prefixed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    yield pcapFileHeader(cap.linkType, cap.snaplen);
    yield* source;
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What the summary needs to explain its numbers besides libpcap's counters. */
export interface SummaryContext {
  /** The device is a loopback interface and both directions were captured. */
  loopbackBothWays?: boolean;
  /** -c COUNT ended the capture (packets after the COUNT-th were left unread on purpose). */
  countReached?: boolean;
}

/**
 * tcpdump's end-of-capture summary, plus one line whenever captured + dropped != received by filter,
 * saying where the difference went. On loopback the kernel hands every packet to the capture socket
 * twice (as sent and as received) and counts both; libpcap keeps one copy, so there received =
 * 2 x captured + dropped once the ring is drained. Anything beyond that arrived after the last read
 * (or after -c was reached).
 */
export function captureSummary(captured: number, stats: LiveStats, context: SummaryContext = {}): string {
  let s = `${plural(captured, 'packet')} captured\n` +
    `${plural(stats.received, 'packet')} received by filter\n` +
    `${plural(stats.dropped, 'packet')} dropped by kernel\n`;
  if (stats.ifDropped > 0) s += `${plural(stats.ifDropped, 'packet')} dropped by interface\n`;
  const copies = context.loopbackBothWays ? 2 : 1;
  const unread = stats.received - stats.dropped - copies * captured;
  if (copies === 2 && stats.received !== captured + stats.dropped) {
    s += `(loopback: the kernel counts each packet as sent and as received and libpcap keeps one copy, so received = 2 x captured + dropped`;
    s += unread > 0 ? `; ${plural(unread, 'more packet')} arrived after the last read)\n` : ')\n';
  } else if (unread > 0) {
    s += `(${plural(unread, 'packet')} received by filter ${unread === 1 ? 'was' : 'were'} not read: ` +
      `${context.countReached ? 'the -c count was reached' : 'they arrived after the last read'})\n`;
  }
  return s;
}

function direction(value: unknown): CaptureDirection | undefined {
  if (value === undefined) return undefined;
  if (value === 'in' || value === 'out' || value === 'inout') return value;
  throw new UsageError(`-Q must be in, out or inout, not ${JSON.stringify(value)}`, USAGE);
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    string: ['i', 'c', 's', 'B', 'w', 'Z', 'Q'],
    boolean: ['p', 'immediate', 'micro'],
  }, USAGE);
  if (!args) return printUsage(USAGE);
  const count = intOption(args, 'c', USAGE, 1);
  const snaplen = intOption(args, 's', USAGE, 0);
  if (snaplen !== undefined && snaplen > DEFAULT_SNAPLEN) throw new UsageError(`-s must be at most ${DEFAULT_SNAPLEN}`, USAGE);
  const bufferMiB = intOption(args, 'B', USAGE, 1);
  if (bufferMiB !== undefined && bufferMiB > MAX_BUFFER_MIB) throw new UsageError(`-B must be at most ${MAX_BUFFER_MIB} (MiB)`, USAGE);
  const out = args.w as string | undefined;
  const expression = expressionFrom(argv, args);

  const lines = out === undefined && process.stdout.isTTY === true;
  // Nanosecond pcap is written straight from the addon's batches (they are pcap records already);
  // terminal lines and microsecond files go through PacketRecord objects.
  const direct = !lines && !args.micro;
  const cap = capture({
    pcapRecords: direct,
    maxPackets: count,
    device: args.i as string | undefined,
    filter: expression || undefined,
    snaplen: snaplen || DEFAULT_SNAPLEN,
    bufferSize: bufferMiB !== undefined ? bufferMiB * 1024 * 1024 : undefined,
    promiscuous: !args.p,
    immediate: Boolean(args.immediate),
    direction: direction(args.Q),
  });
  cap.on('warning', (w: string) => process.stderr.write(`pcap-pipe capture: warning: ${w}\n`));

  // The output file is opened while still root (a root-only directory works), then given to USER, and
  // only then are privileges dropped: tcpdump's order.
  let file: OutputFile | undefined;
  let writer: OutputFile | undefined;
  try {
    if (out !== undefined && out !== '-') file = openOutputFile(out);
    if (args.Z !== undefined) dropPrivileges(String(args.Z), file ? [file.fd] : []);
    // -w FILE (nanosecond): the addon writes the packets from its own thread and JS only waits for the
    // end (the JS path cost ~3/4 of capture's CPU). The header goes first, on the same descriptor.
    if (direct && cap.canWriteTo && addonMayWrite(file)) {
      writer = file;
      fs.writeSync(writer.fd, pcapFileHeader(cap.linkType, cap.snaplen));
      cap.writeTo(writer.fd);
    }
  } catch (e) {
    file?.stream.destroy();
    cap.close();
    throw e;
  }

  process.stderr.write(`pcap-pipe capture: listening on ${cap.device}, link-type ${cap.linkTypeName}, snapshot length ${cap.snaplen} bytes\n`);

  const onSignal = (): void => cap.stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const sink: Writable = file?.stream ?? safeStdout();
    if (writer) {
      await finished(cap.resume());
      writer.stream.end();
      await finished(writer.stream);
    } else if (lines) await pipeline(cap, decode(), print(), sink);
    else if (direct) await pipeline(cap, withFileHeader(cap), sink);
    else await pipeline(cap, writePcap({ nanosecond: false, snaplen: cap.snaplen }), sink);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cap.close();
  }
  const stats = cap.stats();
  const loopback = devices().find((d) => d.name === cap.device)?.flags.loopback === true;
  process.stderr.write(captureSummary(stats.captured, stats, {
    loopbackBothWays: loopback && (args.Q === undefined || args.Q === 'inout'),
    countReached: count !== undefined && stats.captured >= count,
  }));
  return 0;
}
