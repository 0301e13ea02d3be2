/**
 * The one module that loads the libpcap addon (addon/*.cc) and types its surface. Everything else imports
 * from here, never `require`s the .node file itself.
 *
 * Where the binary comes from: a local build (build/Release/pcap_pipe.node, made by node-gyp at install or
 * by `npm rebuild`) wins; otherwise the prebuilt binary shipped in the package (prebuilds/<platform>-<arch>/,
 * picked by node-gyp-build for this platform, architecture and libc). Both are Node-API builds, so either
 * loads on every Node version.
 *
 * Loading is lazy: the offline tools (files, pipes, decoders) never touch the addon, so an install without
 * it still reads files. Live capture and BPF filter expressions do need it. When one of them is asked for
 * and the addon is missing, the error says which files were tried, why each failed, and what to install.
 *
 * `PCAP_PIPE_ADDON=/path/to/pcap_pipe.node` overrides the search (only that path is tried).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureError, LiveCaptureError, type LiveErrorReason } from '../lib/core/errors';
import type { PacketRecord } from '../lib/core/record';

// ---------------------------------------------------------------------------------------------------
// The native surface (see addon/devices.h, addon/live_handle.h, addon/bpf_program.h)

export interface DeviceAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  netmask?: string;
  broadcast?: string;
  /** Point-to-point peer address. */
  destination?: string;
}

export interface DeviceFlags {
  up: boolean;
  running: boolean;
  loopback: boolean;
  wireless: boolean;
}

export interface Device {
  name: string;
  description?: string;
  flags: DeviceFlags;
  connection: 'connected' | 'disconnected' | 'not-applicable' | 'unknown';
  addresses: DeviceAddress[];
}

/** libpcap's counters (pcap_stats). On Linux `received` counts packets that passed the filter. */
export interface LiveStats {
  /** Packets the kernel received (ps_recv). */
  received: number;
  /** Packets dropped because the kernel buffer was full (ps_drop). */
  dropped: number;
  /** Packets dropped by the interface or its driver (ps_ifdrop). */
  ifDropped: number;
}

export type CaptureDirection = 'in' | 'out' | 'inout';

/** Options of the native handle; `capture()` fills the defaults. */
export interface NativeLiveOptions {
  device: string;
  /** Bytes kept of each packet (1..262144). */
  snaplen?: number;
  promiscuous?: boolean;
  /** Deliver each packet as it arrives instead of when a kernel buffer block fills or times out. */
  immediate?: boolean;
  /** Read timeout in ms: the longest a packet waits in a kernel buffer block (immediate mode off). */
  timeout?: number;
  /** Kernel buffer size in bytes (0: libpcap's default, 2 MB on Linux). */
  bufferSize?: number;
  monitor?: boolean;
  nanosecond?: boolean;
  direction?: CaptureDirection;
  filter?: string;
  /** Most packets handed to JS in one call. */
  batchPackets?: number;
  /** Most bytes handed to JS in one call (the batch buffer). */
  batchBytes?: number;
}

export interface NativeLiveHandle {
  start(): void;
  pause(): void;
  resume(): void;
  /** Idempotent; safe inside the batch callback. */
  close(): void;
  /** Drains up to one batch synchronously; an empty Buffer when nothing is waiting. */
  readBatch(): Buffer;
  /**
   * Direct mode, before start(): the addon writes every packet to `fd` as a classic pcap record
   * (little-endian, nanosecond; the caller writes the file header first) from a writer thread, and
   * never hands packets to JS. After `maxPackets` (0: no limit) the handle closes itself. Once it is
   * closed and everything is written, onBatch is called once with (null, packets written).
   */
  writeTo?(fd: number, maxPackets: number): void;
  /** Direct mode: everything the kernel ring holds goes to the writer now (before close); packets drained. */
  drain?(): number;
  stats(): LiveStats;
  inject(frame: Buffer): number;
  setFilter(expression: string): void;
  readonly linkType: number;
  readonly linkTypeName: string;
  readonly snaplen: number;
  readonly nanosecond: boolean;
  readonly warnings: string[];
  readonly closed: boolean;
}

export interface NativeBpfProgram {
  /** pcap_offline_filter on the captured bytes; `wireLength` is the original length. */
  matches(data: Buffer, wireLength: number): boolean;
  /** Number of BPF instructions. */
  readonly length: number;
  /** The program as text, one instruction a line (like `tcpdump -d`). */
  dump(): string[];
}

/** A batch of records, or (direct mode only) null once everything is written, with the packets written. */
export type NativeBatchCallback = (batch: Buffer | null, count: number) => void;

export interface PcapAddon {
  devices(): Device[];
  libVersion(): string;
  LiveHandle: new (options: NativeLiveOptions, onBatch: NativeBatchCallback, onError: (message: string) => void) => NativeLiveHandle;
  BpfProgram: new (expression: string, linkType: number, snaplen: number, optimize?: boolean) => NativeBpfProgram;
  /** Bytes before each record's data in a batch buffer (16). */
  batchRecordHeaderBytes: number;
  /** Keeps freed large buffers in the heap (glibc mallopt); absent from addons built before it. */
  tuneAllocator?: () => boolean;
}

// ---------------------------------------------------------------------------------------------------
// Loading

const ADDON_FILE = 'pcap_pipe.node';
const INSTALL_HINT =
  'Live capture and BPF filter expressions (capture, `pcap-pipe filter`, -f, a trailing filter expression) use ' +
  'libpcap through this addon. On linux-x64 the package ships a prebuilt one that needs only the libpcap runtime ' +
  '(Debian/Ubuntu: libpcap0.8); elsewhere install libpcap-dev (libpcap-devel on Fedora/RHEL, libpcap on ' +
  'Alpine/Homebrew) plus python3, make and a C++ compiler, then run `npm rebuild pcap-pipe`. Reading files and ' +
  'pipes without a filter expression works without it.';

/** The package root: the nearest directory above this file that holds binding.gyp. */
function packageRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
  }
  return path.resolve(__dirname, '..', '..');
}

/** Where the addon is looked for, in order. */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env.PCAP_PIPE_ADDON;
  if (override) return [path.resolve(override)];
  const root = packageRoot();
  const candidates = [path.join(root, 'build', 'Release', ADDON_FILE), path.join(root, 'build', 'Debug', ADDON_FILE)];
  const prebuilt = prebuildFor(root);
  if (prebuilt) candidates.push(prebuilt);
  return candidates;
}

/** The shipped prebuild node-gyp-build picks for this machine, or undefined when none fits. */
function prebuildFor(root: string): string | undefined {
  if (!fs.existsSync(path.join(root, 'prebuilds'))) return undefined;
  // node-gyp-build also looks at build/ first; only its prebuilds/ answer is wanted here.
  const resolve = (require('node-gyp-build') as { path(dir: string): string }).path;
  try {
    const file = resolve(root);
    return file.startsWith(path.join(root, 'prebuilds') + path.sep) ? file : undefined;
  } catch {
    return undefined;
  }
}

function looksLikeAddon(mod: unknown): mod is PcapAddon {
  const m = mod as Partial<PcapAddon> | null;
  return !!m && typeof m.devices === 'function' && typeof m.LiveHandle === 'function' && typeof m.BpfProgram === 'function';
}

/** Tries each path in turn; throws CaptureError ADDON_UNAVAILABLE listing every attempt. Not cached. */
export function loadAddonFrom(candidates: string[]): PcapAddon {
  const attempts: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) {
      attempts.push(`${file}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const mod: unknown = require(file);
      if (looksLikeAddon(mod)) return mod;
      attempts.push(`${file}: not the pcap-pipe addon`);
    } catch (e) {
      attempts.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new CaptureError('ADDON_UNAVAILABLE', `the libpcap addon is not available (tried ${attempts.join('; ')}). ${INSTALL_HINT}`);
}

let loaded: PcapAddon | null = null;

/** The addon, loaded on first use (successes are cached; a failure is retried on the next call). */
export function loadAddon(): PcapAddon {
  if (!loaded) loaded = loadAddonFrom(addonCandidates());
  return loaded;
}

/**
 * Tunes the C allocator for streaming big inputs: freed read chunks stay in the heap for the next read
 * instead of going back to the kernel and faulting in again (see addon.cc). For commands reading big
 * captures; a library user's process is left alone. False when the addon or the setting is unavailable.
 */
export function tuneAllocatorForStreaming(): boolean {
  try {
    const addon = loadAddon();
    return typeof addon.tuneAllocator === 'function' ? addon.tuneAllocator() : false;
  } catch {
    return false;
  }
}

/** True when live capture is possible in this install. */
export function addonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Typed errors

export { LiveCaptureError, type LiveErrorReason };

/** Turns an error thrown by the addon (an Error with `code`/`reason`) into a LiveCaptureError. */
export function fromNativeError(e: unknown): Error {
  if (e instanceof CaptureError) return e;
  const err = e as { code?: unknown; reason?: unknown; message?: unknown };
  if (err && (err.code === 'PCAP_LIVE' || err.code === 'BPF_SYNTAX')) {
    return new LiveCaptureError(err.code, String(err.message), typeof err.reason === 'string' ? err.reason : 'ERROR');
  }
  return e instanceof Error ? e : new Error(String(e));
}

function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNativeError(e);
  }
}

// ---------------------------------------------------------------------------------------------------
// Typed entry points

export function devices(): Device[] {
  return callNative(() => loadAddon().devices());
}

/**
 * The device a capture uses when none is named: the first one that is up, not loopback, and has an
 * address (what node_pcap did); undefined when there is none.
 */
export function defaultDevice(list: Device[] = devices()): Device | undefined {
  return list.find((d) => d.flags.up && !d.flags.loopback && d.addresses.length > 0);
}

export function libVersion(): string {
  return loadAddon().libVersion();
}

/** Opens and activates a live handle (not yet polling: call start()). Throws LiveCaptureError. */
export function openLive(options: NativeLiveOptions, onBatch: NativeBatchCallback, onError: (message: string) => void): NativeLiveHandle {
  const addon = loadAddon();
  return callNative(() => new addon.LiveHandle(options, onBatch, onError));
}

/** Compiles a filter for a link type without a live handle. Throws LiveCaptureError (BPF_SYNTAX). */
export function compileBpf(expression: string, linkType: number, snaplen: number, optimize = true): NativeBpfProgram {
  const addon = loadAddon();
  return callNative(() => new addon.BpfProgram(expression, linkType, snaplen, optimize));
}

// ---------------------------------------------------------------------------------------------------
// The batch layout

/**
 * Bytes before each record's data in a batch: u32 tsSec, u32 tsNsec, u32 caplen, u32 len (LE), then
 * caplen bytes. That is a classic pcap record (little-endian, nanosecond magic): a batch appended after
 * `PCAP_NS_LE_MAGIC`'s file header is a valid capture file.
 */
export const BATCH_RECORD_HEADER = 16;

/** Fields of a batch that every record of it shares. */
export interface BatchContext {
  linkType: number;
  nanoPrecision: boolean;
}

/**
 * Splits one batch buffer into PacketRecords, calling `emit` for each. `data` of each record is a view
 * into the batch (a fresh buffer per batch, never reused by the addon). Returns the number of records.
 * Frames are numbered from `firstFrame`. A batch that ends inside a record (cannot happen with this
 * addon) stops the walk there. `limit` stops after that many records.
 */
export function splitBatch(batch: Buffer, ctx: BatchContext, firstFrame: number, emit: (rec: PacketRecord) => void, limit = Infinity): number {
  let off = 0;
  let n = 0;
  while (n < limit && off + BATCH_RECORD_HEADER <= batch.length) {
    const caplen = batch.readUInt32LE(off + 8);
    const dataStart = off + BATCH_RECORD_HEADER;
    if (dataStart + caplen > batch.length) break;
    const rec: PacketRecord = {
      frame: firstFrame + n,
      linkType: ctx.linkType,
      tsSec: batch.readUInt32LE(off),
      tsNsec: batch.readUInt32LE(off + 4),
      caplen,
      len: batch.readUInt32LE(off + 12),
      interfaceId: 0,
      data: batch.subarray(dataStart, dataStart + caplen),
      nanoPrecision: ctx.nanoPrecision,
    };
    n++;
    off = dataStart + caplen;
    emit(rec);
  }
  return n;
}

/**
 * Byte length of the first `count` records of a batch (all of it when it holds fewer): where to cut a
 * batch so that it keeps exactly `count` packets, without building records.
 */
export function batchPrefixLength(batch: Buffer, count: number): number {
  let off = 0;
  for (let n = 0; n < count && off + BATCH_RECORD_HEADER <= batch.length; n++) {
    const next = off + BATCH_RECORD_HEADER + batch.readUInt32LE(off + 8);
    if (next > batch.length) break;
    off = next;
  }
  return off;
}

/** Number of complete records in a batch. */
export function countBatchRecords(batch: Buffer): number {
  let off = 0;
  let n = 0;
  while (off + BATCH_RECORD_HEADER <= batch.length) {
    const next = off + BATCH_RECORD_HEADER + batch.readUInt32LE(off + 8);
    if (next > batch.length) break;
    off = next;
    n++;
  }
  return n;
}
