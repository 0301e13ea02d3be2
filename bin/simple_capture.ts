#!/usr/bin/env node
/**
 * simple_capture: the classic first packet-capture program (node_pcap's example of the same name).
 * Prints the libpcap version, the devices with their addresses (the one used marked with *), then one
 * line per packet until Ctrl-C. `-r FILE` reads a capture file instead of a device.
 *
 *   simple_capture [-i DEV] [-r FILE] [EXPR...]
 */
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { describeError, openCapture, parseArgs, printUsage, progressFor, runCommand, safeStdout, UsageError } from './cli';
import type { Progress } from '../streams/progress';
import { expressionFrom } from './cli';
import { addonAvailable, defaultDevice, devices, libVersion, type Device } from '../addon/index';
import { capture } from '../streams/capture';
import { decode } from '../streams/decode';
import { filter } from '../streams/filter';
import { print } from '../streams/print';
import { chain } from '../streams/trace';

export const USAGE = `usage: simple_capture [-i DEV] [-r FILE [-q]] [EXPR...]
  Prints the libpcap version and the capture devices with their addresses (the one used is
  marked *), then one line per packet until Ctrl-C. EXPR is a tcpdump filter expression.
  -i DEV    capture on DEV (default: the first up, non-loopback device with an address)
  -r FILE   read packets from a pcap or pcapng file instead (- for stdin)
  -q        no progress line on a terminal (-r)`;

/** "* eth0 192.0.2.2/255.255.255.0 fd00::2/ffff:ffff:ffff:ffff::", or "  lo no address". */
export function deviceLine(d: Device, chosen: boolean): string {
  const addresses = d.addresses.map((a) => (a.netmask ? `${a.address}/${a.netmask}` : a.address));
  return `${chosen ? '*' : ' '} ${d.name} ${addresses.length > 0 ? addresses.join(' ') : 'no address'}`;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['i', 'r'], boolean: ['q'] }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args.i !== undefined && args.r !== undefined) throw new UsageError('give -i or -r, not both', USAGE);
  const expression = expressionFrom(argv, args);
  const out = safeStdout();

  let source: Readable;
  let stopLive: (() => void) | undefined;
  let failed = false;
  let progress: Progress | undefined;
  if (args.r !== undefined) {
    if (addonAvailable()) out.write(`${libVersion()}\n`);
    out.write(`reading from ${args.r === '-' ? 'stdin' : args.r}\n`);
    const reader = openCapture(String(args.r), {
      onError: (e) => {
        failed = true;
        process.stderr.write(`simple_capture: ${args.r === '-' ? 'stdin' : String(args.r)}: ${describeError(e)}\n`);
      },
    });
    source = expression ? chain(reader, filter(expression)) : reader;
    progress = progressFor(() => [reader], [String(args.r)], Boolean(args.q));
  } else {
    const list = devices();
    const chosen = (args.i as string | undefined) ?? defaultDevice(list)?.name;
    // Open (and activate) the capture before printing anything, as tcpdump prints "listening on" only
    // once it listens: whoever reads our output may start sending as soon as the device list appears.
    const cap = capture({ device: chosen, filter: expression || undefined, immediate: true });
    out.write(`${libVersion()}\n`);
    for (const d of list) out.write(deviceLine(d, d.name === chosen) + '\n');
    cap.on('warning', (w: string) => process.stderr.write(`simple_capture: warning: ${w}\n`));
    source = cap;
    stopLive = () => cap.stop();
    process.on('SIGINT', stopLive);
    process.on('SIGTERM', stopLive);
    cap.on('end', () => {
      const s = cap.stats();
      process.stderr.write(`\n${s.captured} packets captured, ${s.received} received by filter, ${s.dropped} dropped by kernel\n`);
    });
  }
  try {
    await pipeline(source, decode(), print(), out);
  } finally {
    progress?.stop();
    if (stopLive) {
      process.off('SIGINT', stopLive);
      process.off('SIGTERM', stopLive);
    }
  }
  return failed ? 1 : 0;
}

if (require.main === module) runCommand('simple_capture', main);
