/**
 * `pcap-pipe read`'s pass-through: one classic pcap input written as classic pcap has nothing to decode,
 * so its records are copied in blocks instead of being parsed into PacketRecords and written again. Plain
 * synchronous reads and writes of 1 MiB into one reused buffer; the record headers are walked only to
 * find where the complete records end (lib/formats/pcap-copy.ts), so a file cut short still yields every
 * complete packet and the parser's one-line error. The output is byte for byte what the parsing path
 * writes (the input, with the file header reproduced as it is).
 *
 * One pcapng input written as classic pcap is converted the same way: read in 1 MiB blocks, its blocks
 * parsed and each packet's record header and bytes written straight into the output (convertPcapng).
 *
 * A helper module of bin/cmd-read.ts, not a command. Anything else (pcapng that becomes pcapng, several
 * inputs, a damaged or unusual file header, a terminal) goes the ordinary way.
 */
import * as fs from 'node:fs';
import * as tty from 'node:tty';
import type { CaptureError } from '../lib/core/errors';
import { PCAP_FILE_HEADER_LENGTH, parsePcapFileHeader, pcapMagicInfo } from '../lib/formats/pcap';
import { copyablePcapHeader, PcapRecordWalker } from '../lib/formats/pcap-copy';
import { PcapngToPcap } from '../lib/formats/pcapng-copy';
import { PCAPNG_SHB_TYPE } from '../lib/formats/detect';
import { checkInputFile } from './cli';
import { descriptorPosition } from '../streams/read';

/**
 * Bytes per read (the Node walk of bench/baselines/walk.js reads the same). A multiple of the ordinary
 * reader's DEFAULT_FILE_CHUNK: convertPcapng's choice of format relies on it (test/read-copy.test.ts).
 */
export const COPY_READ_BYTES = 1 << 20;
const CHUNK = COPY_READ_BYTES;
/**
 * Bytes per read of the pcapng conversion once it has chosen classic pcap (the reads before the choice are
 * COPY_READ_BYTES, for the reason above). Smaller reads keep the input and the output region it fills in
 * the core's L2 cache (2 MiB here): the kernel's copy into the input and the packets' copy out of it cost
 * less. 1M bench pcapng, farm-bench 6 pairs vs 1 MiB reads: cpu 0.422 -> 0.394 s (pair ratio 0.937), wall
 * 0.888; 128 KiB measured the same as 256 KiB, 512 KiB half the gain, 64 KiB worse than 1 MiB.
 */
export const CONVERT_READ_BYTES = 256 << 10;

/** A blocking wait without a timer: for a descriptor that said EAGAIN (a non-blocking pipe). */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function pause(ms: number): void { Atomics.wait(sleeper, 0, 0, ms); }

/** Where the copy reads: a descriptor and the file offset to read at (null: a pipe, read in order). */
export interface CopySource {
  fd: number;
  position: number | null;
  /** Our own descriptor (a path): closed at the end. */
  own: boolean;
}

/** A copy that was not made: the first bytes it read (a pipe cannot give them back) for the ordinary path. */
export interface NotCopied { copied: false; head: Buffer }
export interface Copied {
  copied: true;
  packets: number;
  /** Why the input ended early (truncated, a record too large): every complete packet before it was written. */
  failure: CaptureError | null;
}

/**
 * Opens the input for a copy: a path, or '-' for stdin (a regular file is read from the shell's offset,
 * a pipe in order). undefined for stdin on a terminal or anything the copy does not read (a socket).
 */
export function openCopySource(path: string): CopySource | undefined {
  if (path !== '-') {
    checkInputFile(path);
    return { fd: fs.openSync(path, 'r'), position: 0, own: true };
  }
  if (tty.isatty(0)) return undefined;
  let st: fs.Stats;
  try { st = fs.fstatSync(0); } catch { return undefined; }
  if (st.isFIFO()) return { fd: 0, position: null, own: false };
  if (!st.isFile()) return undefined;
  const position = descriptorPosition(0);
  return position === undefined ? undefined : { fd: 0, position, own: false };
}

function readSome(src: CopySource, buf: Buffer, off: number, len: number): number {
  for (;;) {
    try {
      const n = fs.readSync(src.fd, buf, off, len, src.position);
      if (src.position !== null) src.position += n;
      return n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { pause(1); continue; }
      throw e;
    }
  }
}

function writeAll(fd: number, buf: Buffer, start: number, end: number): void {
  let off = start;
  while (off < end) {
    try {
      off += fs.writeSync(fd, buf, off, end - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { pause(1); continue; }
      throw e;
    }
  }
}

/**
 * Copies `src` to the descriptor `outFd` when it is a classic pcap file the walk can copy, or converts it
 * when it is pcapng the ordinary path would write as classic pcap (`forcedPcap`: --format pcap); otherwise
 * writes nothing and returns the bytes it read (a pipe's). Write errors are thrown (system errors, syscall 'write').
 * `onProgress(bytes read, packets)` is called after each block (the copy keeps the event loop busy, so a
 * progress line cannot be drawn by a timer).
 */
export function copyPcap(src: CopySource, outFd: number, forcedPcap: boolean, onProgress?: (bytes: number, packets: number) => void): Copied | NotCopied {
  let read = 0;
  try {
    let buf = Buffer.allocUnsafe(2 * CHUNK);
    let end = 0;
    // the file header: at least 24 bytes, or what there is
    while (end < PCAP_FILE_HEADER_LENGTH) {
      const n = readSome(src, buf, end, CHUNK);
      if (n === 0) break;
      end += n;
    }
    read = end;
    if (end >= 4 && buf.readUInt32BE(0) === PCAPNG_SHB_TYPE) return convertPcapng(src, outFd, buf.subarray(0, end), forcedPcap, onProgress);
    if (end < PCAP_FILE_HEADER_LENGTH || pcapMagicInfo(buf, 0) === null) return { copied: false, head: Buffer.from(buf.subarray(0, end)) };
    const header = parsePcapFileHeader(buf.subarray(0, PCAP_FILE_HEADER_LENGTH));
    if (!copyablePcapHeader(header)) return { copied: false, head: Buffer.from(buf.subarray(0, end)) };
    const walker = new PcapRecordWalker(header);
    let start = PCAP_FILE_HEADER_LENGTH;
    writeAll(outFd, buf, 0, start);
    for (;;) {
      const stop = walker.walk(buf, start, end);
      if (stop > start) writeAll(outFd, buf, start, stop);
      start = stop;
      if (walker.failure !== null) return { copied: true, packets: walker.packets, failure: walker.failure };
      // room for the next read: the incomplete record moves to the front (a record larger than the
      // buffer grows it; records are bounded by the walker's limit)
      if (buf.length - end < CHUNK) {
        if (start > 0) { buf.copy(buf, 0, start, end); end -= start; start = 0; }
        if (buf.length - end < CHUNK) {
          const bigger = Buffer.allocUnsafe(end + 2 * CHUNK);
          buf.copy(bigger, 0, 0, end);
          buf = bigger;
        }
      }
      onProgress?.(read, walker.packets);
      const n = readSome(src, buf, end, CHUNK);
      if (n === 0) break;
      end += n;
      read += n;
    }
    return { copied: true, packets: walker.packets, failure: walker.truncation(buf.subarray(start, end)) };
  } finally {
    if (src.own) fs.closeSync(src.fd);
  }
}

/**
 * pcapng in, classic pcap out (lib/formats/pcapng-copy.ts), when the ordinary path would write classic
 * pcap: it decides at the first packet, from the interfaces described by then (CaptureWriter's configure in
 * bin/cmd-read.ts, which runs once the reader has parsed the read chunk holding that packet). So the
 * decision is taken at the end of the read holding the first packet, 1 MiB reads from where the ordinary
 * reader's 512 KiB reads start: it sees every interface the ordinary path sees, and when it sees several
 * link types, nothing was written yet and the ordinary way takes over (from the start of a file, or from
 * the bytes already read off a pipe). The same when the input has no packet at all.
 */
function convertPcapng(src: CopySource, outFd: number, first: Buffer, forcedPcap: boolean,
  onProgress?: (bytes: number, packets: number) => void): Copied | NotCopied {
  let decided = false;
  // before the decision the output is held (the ordinary way may take over); after it, written
  const held: Buffer[] = [];
  const conv = new PcapngToPcap((out) => {
    if (decided) writeAll(outFd, out, 0, out.length);
    else held.push(Buffer.from(out));
  }, CHUNK);
  // --format pcap: one link type is the writer's rule from the first packet on, whatever the interfaces
  conv.enforceLinkType = forcedPcap;
  // a pipe cannot be read again: what was read before the decision, for the ordinary path
  let kept: Buffer[] | null = src.position === null ? [] : null;
  const notCopied = (): NotCopied => ({ copied: false, head: kept === null ? Buffer.alloc(0) : Buffer.concat(kept) });
  let read = first.length;
  let chunk = first;
  for (;;) {
    if (kept !== null) kept.push(Buffer.from(chunk));
    // a second link type throws the writer's error. The ordinary path loses the packets of the read chunk
    // it came in (its writer fails on their batch) and has written those of earlier chunks when the event
    // loop turned in between; here the packets of earlier reads are out, this read's are dropped.
    conv.write(chunk);
    if (!decided) {
      if (conv.sawPacket) {
        if (!forcedPcap && conv.linkTypes.size > 1) return notCopied();
        decided = true;
        conv.enforceLinkType = true;
        kept = null;
        for (const b of held.splice(0)) writeAll(outFd, b, 0, b.length);
      } else if (conv.failure !== null) {
        return notCopied();
      }
    }
    if (decided) conv.drain();
    if (conv.failure !== null) return { copied: true, packets: conv.packets, failure: conv.failure };
    onProgress?.(read, conv.packets);
    // after the bytes the conversion carried over (the start of a block the last read cut; only once decided)
    const at = conv.carried;
    const n = readSome(src, conv.input, at, Math.min(decided ? CONVERT_READ_BYTES : conv.input.length, conv.input.length - at));
    if (n === 0) break;
    read += n;
    chunk = conv.input.subarray(0, at + n);
  }
  conv.end();
  if (decided) conv.drain();
  if (!decided) return notCopied();
  return { copied: true, packets: conv.packets, failure: conv.failure };
}
