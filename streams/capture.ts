/**
 * Live capture as a Readable of PacketRecord objects (objectMode): the same records the file readers
 * emit, so every later stage works the same on a live interface, a file or a pipe.
 *
 *   await pipeline(capture({ device: 'lo', filter: 'tcp port 80' }), writePcap(), process.stdout)
 *
 * How packets flow: the addon polls the handle's fd on Node's loop and hands over one Buffer per batch
 * (bounded in packets and bytes); this stream splits it into records (data = views into that buffer) and
 * pushes them. When push() says the consumer is full, the addon stops polling (`pause`); `_read` starts
 * it again. Meanwhile the kernel buffer (`bufferSize`) absorbs the traffic and what it cannot hold shows
 * up as `stats().dropped`, so memory stays bounded and the loss is visible.
 *
 * Ending: `close()` ends the stream at once (records already buffered are still delivered); `stop()` first
 * drains everything the kernel holds (see stop() for why that can take one read timeout). Both are
 * idempotent and safe inside a 'data' handler. libpcap's
 * warnings are emitted as 'warning' events (strings); a failing handle errors the stream with a
 * LiveCaptureError (code PCAP_LIVE).
 */
import { Readable } from 'node:stream';
import { CaptureError } from '../lib/core/errors';
import { PCAP_MAGIC_NS } from '../lib/formats/pcap';
import type { PacketRecord } from '../lib/core/record';
import type { TypedReadableSide } from './typed';
import {
  batchPrefixLength,
  countBatchRecords,
  defaultDevice,
  fromNativeError,
  openLive,
  splitBatch,
  type BatchContext,
  type CaptureDirection,
  type LiveStats,
  type NativeLiveHandle,
} from '../addon/index';

/** Records buffered in the stream before it stops polling (one batch may overshoot by its size). */
export const DEFAULT_CAPTURE_HIGH_WATER_MARK = 1024;
/** In batch mode: arrays buffered before polling stops (each holds up to batchPackets / batchBytes). */
export const DEFAULT_BATCH_HIGH_WATER_MARK = 8;
export const DEFAULT_SNAPLEN = 262144;
export const DEFAULT_TIMEOUT_MS = 1000;
/**
 * Immediate mode makes libpcap use a ring of one frame per packet, each frame as large as the snaplen (or
 * the MTU: 64 KiB on loopback), so libpcap's 2 MB default holds only ~32 packets and a small burst is
 * dropped. In immediate mode the default buffer is this instead.
 */
export const IMMEDIATE_BUFFER_SIZE = 32 * 1024 * 1024;
/**
 * How long after the read timeout stop() waits before its final drain: the kernel's block-retire timer
 * fires on its own schedule, so one timeout after stop() the open block may be a few ms from retirement.
 */
export const STOP_GRACE_MS = 150;

export interface CaptureOptions {
  /** Interface name; default: the first up, non-loopback interface with an address. */
  device?: string;
  /** tcpdump filter expression, compiled by libpcap and run in the kernel. */
  filter?: string;
  /** Bytes kept of each packet (default 262144). */
  snaplen?: number;
  /** Default true, as tcpdump (`-p` turns it off). */
  promiscuous?: boolean;
  /** Deliver packets as they arrive rather than per kernel buffer block (default false). */
  immediate?: boolean;
  /** Longest a packet waits in a kernel buffer block, ms (default 1000; immediate mode off). */
  timeout?: number;
  /**
   * Kernel buffer in bytes (default: libpcap's, 2 MB on Linux; in immediate mode IMMEDIATE_BUFFER_SIZE).
   * Absorbs bursts while the consumer is slow.
   */
  bufferSize?: number;
  /** 802.11 monitor mode. */
  monitor?: boolean;
  /** Nanosecond timestamps (default true; falls back to µs with a 'warning' when unsupported). */
  nanosecond?: boolean;
  direction?: CaptureDirection;
  /** Most packets per batch handed over by the addon (default 1024). */
  batchPackets?: number;
  /** Most bytes per batch (default 1 MiB). */
  batchBytes?: number;
  /** Records (arrays in batch mode) buffered before polling stops (default 1024; 8 in batch mode). */
  highWaterMark?: number;
  /**
   * Emit one PacketRecord[] per addon batch instead of single records: one stream chunk per wake-up, the
   * fast mode for long pipelines (pcap-pipe's stages accept arrays, as with readCapture's batch mode).
   */
  batch?: boolean;
  /**
   * Emit each addon batch as one Buffer of classic pcap records (little-endian, nanosecond timestamps)
   * and build no PacketRecord at all: after `pcapFileHeader()` they make a capture file. The fastest way
   * to write what is captured (`pcap-pipe capture -w`).
   */
  pcapRecords?: boolean;
  /** Stop (close) after this many packets, like tcpdump -c. */
  maxPackets?: number;
}

export interface CaptureStats extends LiveStats {
  /** Records this stream has emitted (pushed). */
  captured: number;
}

export class CaptureStream extends Readable {
  readonly device: string;
  /** LINKTYPE_* of every record. */
  readonly linkType: number;
  readonly linkTypeName: string;
  /** The snapshot length libpcap applies. */
  readonly snaplen: number;
  readonly nanosecond: boolean;
  /** libpcap's warnings from opening (also emitted as 'warning' events). */
  readonly warnings: readonly string[];

  private readonly handle: NativeLiveHandle;
  private readonly batchContext: BatchContext;
  private readonly batchMode: boolean;
  private readonly pcapMode: boolean;
  private readonly maxPackets: number;
  private readonly immediate: boolean;
  private readonly timeoutMs: number;
  /** writeTo() was called: the addon writes the packets itself and the stream only ends. */
  private direct = false;
  private stopTimer: NodeJS.Timeout | undefined;
  private readonly batchArray: PacketRecord[] = [];
  private readonly collectRecord = (rec: PacketRecord): void => { this.batchArray.push(rec); };
  private captured = 0;
  private started = false;
  private ended = false;
  /** Set while a batch is being pushed: a full buffer then pauses polling once, after the batch. */
  private full = false;
  private readonly pushRecord = (rec: PacketRecord): void => {
    // A 'data' handler may close or destroy the stream in the middle of a batch: drop the rest quietly.
    if (this.ended || this.destroyed) return;
    this.captured++;
    if (!this.push(rec)) this.full = true;
  };

  constructor(opts: CaptureOptions = {}) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? (opts.batch ? DEFAULT_BATCH_HIGH_WATER_MARK : DEFAULT_CAPTURE_HIGH_WATER_MARK) });
    this.batchMode = opts.batch ?? false;
    this.pcapMode = opts.pcapRecords ?? false;
    this.maxPackets = opts.maxPackets ?? Infinity;
    this.immediate = opts.immediate ?? false;
    this.timeoutMs = opts.timeout ?? DEFAULT_TIMEOUT_MS;
    const device = opts.device ?? defaultDevice()?.name;
    if (device === undefined) {
      throw new CaptureError('PCAP_LIVE', 'no capture device given and no interface is up with an address; name one (see `pcap-pipe devices`)');
    }
    this.device = device;
    this.handle = openLive(
      {
        device,
        snaplen: opts.snaplen ?? DEFAULT_SNAPLEN,
        promiscuous: opts.promiscuous ?? true,
        immediate: opts.immediate ?? false,
        timeout: opts.timeout ?? DEFAULT_TIMEOUT_MS,
        bufferSize: opts.bufferSize ?? (opts.immediate ? IMMEDIATE_BUFFER_SIZE : 0),
        monitor: opts.monitor ?? false,
        nanosecond: opts.nanosecond ?? true,
        direction: opts.direction ?? 'inout',
        filter: opts.filter,
        batchPackets: opts.batchPackets,
        batchBytes: opts.batchBytes,
      },
      (batch, count) => this.onBatch(batch, count),
      (message) => this.destroy(fromNativeError({ code: 'PCAP_LIVE', message: `${device}: ${message}`, reason: 'ERROR' })),
    );
    this.linkType = this.handle.linkType;
    this.linkTypeName = this.handle.linkTypeName;
    this.snaplen = this.handle.snaplen;
    this.nanosecond = this.handle.nanosecond;
    this.warnings = this.handle.warnings;
    this.batchContext = { linkType: this.linkType, nanoPrecision: this.nanosecond };
    if (this.warnings.length > 0) process.nextTick(() => { for (const w of this.warnings) this.emit('warning', w); });
  }

  /**
   * Direct mode, for `pcap-pipe capture -w FILE`: instead of emitting them, the addon writes every packet
   * to `fd` as classic pcap records (little-endian, nanosecond timestamps; write `pcapFileHeader()` to fd
   * first) from a thread of its own, so no packet costs any JS. The stream then emits no data and ends
   * once the capture is closed (close(), stop(), maxPackets) and everything is written; `stats().captured`
   * counts the packets written. The caller keeps fd open until then and closes it. Call before reading
   * starts (before piping or resuming the stream).
   */
  writeTo(fd: number): void {
    if (!this.canWriteTo) throw new CaptureError('PCAP_LIVE', 'this build of the addon cannot write captures itself (rebuild it)');
    if (this.started) throw new CaptureError('PCAP_LIVE', 'writeTo() must be called before the capture starts');
    try {
      this.handle.writeTo?.(fd, Number.isFinite(this.maxPackets) ? this.maxPackets : 0);
    } catch (e) {
      throw fromNativeError(e);
    }
    this.direct = true;
  }

  /** Whether writeTo() is available (an addon built before it lacks it). */
  get canWriteTo(): boolean {
    return typeof this.handle.writeTo === 'function' && typeof this.handle.drain === 'function';
  }

  /** True until close()/stop() ran or the stream was destroyed (the libpcap handle is open). */
  get capturing(): boolean {
    return !this.handle.closed;
  }

  /** libpcap's counters plus the records emitted. Still valid after close (the last values). */
  stats(): CaptureStats {
    let live: LiveStats;
    try {
      live = this.handle.stats();
    } catch (e) {
      throw fromNativeError(e);
    }
    return { ...live, captured: this.captured };
  }

  /** Sends a raw frame (link-layer header included) on the interface; returns bytes written. */
  inject(frame: Buffer): number {
    try {
      return this.handle.inject(frame);
    } catch (e) {
      throw fromNativeError(e);
    }
  }

  /** Replaces the kernel filter. Throws LiveCaptureError BPF_SYNTAX for a bad expression. */
  setFilter(expression: string): void {
    try {
      this.handle.setFilter(expression);
    } catch (e) {
      throw fromNativeError(e);
    }
  }

  /** Stops capturing now and ends the stream. Idempotent; safe inside a 'data' handler. */
  close(): void {
    if (this.stopTimer !== undefined) clearTimeout(this.stopTimer);
    this.stopTimer = undefined;
    this.handle.close();
    // Direct mode: the stream ends when the addon says everything is written (onBatch(null, n)).
    if (!this.direct) this.endStream();
  }

  /** True from stop() until the final drain closed the handle. */
  get stopping(): boolean {
    return this.stopTimer !== undefined;
  }

  /**
   * Ends the capture without losing what the kernel holds (Ctrl-C in `pcap-pipe capture`).
   *
   * In immediate mode every packet is readable as soon as the kernel has it, so one drain of the ring
   * and close() lose nothing. Without immediate mode libpcap uses TPACKET_V3, whose ring hands over whole
   * blocks: a block becomes readable when it is full or when its retire timer (the read timeout) expires,
   * and packets in the open block are invisible to every read until then. Closing at once would throw
   * them away while pcap_stats already counts them as received. So stop() keeps capturing for one read
   * timeout (plus STOP_GRACE_MS), by which time the kernel has retired that block, then drains the
   * whole ring and closes. Packets that arrive during the wait are captured too.
   */
  stop(): void {
    if (this.stopTimer !== undefined) return;
    if (this.handle.closed || this.destroyed) {
      this.close();
      return;
    }
    if (this.immediate) {
      this.finishStop();
      return;
    }
    this.stopTimer = setTimeout(() => this.finishStop(), Math.max(this.timeoutMs, 10) + STOP_GRACE_MS);
  }

  /** Everything the kernel ring holds, pushed whatever the consumer's backlog (the ring bounds it), then close. */
  private finishStop(): void {
    this.stopTimer = undefined;
    if (!this.handle.closed && !this.destroyed) {
      try {
        if (this.direct) this.handle.drain?.();
        else for (;;) {
          const tail = this.handle.readBatch();
          const count = countBatchRecords(tail);
          if (count === 0 || this.ended) break;
          this.pushBatch(tail, count);
        }
      } catch (e) {
        this.handle.close();
        this.destroy(fromNativeError(e));
        return;
      }
    }
    this.close();
  }

  override _read(): void {
    if (this.handle.closed) return;
    if (!this.started) {
      this.started = true;
      this.handle.start();
    } else {
      this.handle.resume();
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.stopTimer !== undefined) clearTimeout(this.stopTimer);
    this.stopTimer = undefined;
    this.handle.close();
    cb(err);
  }

  private onBatch(batch: Buffer | null, count: number): void {
    if (this.ended || this.destroyed) return;
    if (batch === null) {  // direct mode: the handle is closed and `count` packets are written
      this.captured = count;
      this.endStream();
      return;
    }
    this.full = false;
    this.pushBatch(batch, count);
    // The whole batch is kept (it was already taken from the kernel); polling stops until _read.
    if (this.full && !this.handle.closed) this.handle.pause();
  }

  private pushBatch(batch: Buffer, count: number): void {
    if (this.ended || this.destroyed || count === 0) return;
    const room = this.maxPackets - this.captured;
    if (this.pcapMode) {
      const take = Math.min(count, room);
      this.captured += take;
      if (!this.push(take < count ? batch.subarray(0, batchPrefixLength(batch, take)) : batch)) this.full = true;
    } else if (this.batchMode) {
      this.batchArray.length = 0;
      splitBatch(batch, this.batchContext, this.captured + 1, this.collectRecord, room);
      this.captured += this.batchArray.length;
      if (!this.push(this.batchArray.slice())) this.full = true;
    } else {
      splitBatch(batch, this.batchContext, this.captured + 1, this.pushRecord, room);
    }
    if (this.captured >= this.maxPackets) this.close();
  }

  private endStream(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.destroyed) this.push(null);
  }
}

/**
 * The classic pcap file header that makes the `pcapRecords` chunks of this stream a capture file
 * (little-endian, nanosecond magic, the stream's link type and snapshot length).
 */
export function pcapFileHeader(linkType: number, snaplen: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(PCAP_MAGIC_NS, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(snaplen, 16);
  b.writeUInt32LE(linkType, 20);
  return b;
}

/** A live capture whose chunks are typed (streams/typed.ts): records, arrays of them, or pcap bytes. */
export type TypedCaptureStream<Chunk> = TypedReadableSide<Chunk> & CaptureStream;

/** Opens a live capture (synchronously: a bad device or filter throws LiveCaptureError here). */
export function capture(opts: CaptureOptions & { pcapRecords: true }): TypedCaptureStream<Buffer>;
export function capture(opts: CaptureOptions & { batch: true; pcapRecords?: false }): TypedCaptureStream<PacketRecord[]>;
export function capture(opts?: CaptureOptions & { batch?: false; pcapRecords?: false }): TypedCaptureStream<PacketRecord>;
export function capture(opts?: CaptureOptions): TypedCaptureStream<PacketRecord | PacketRecord[] | Buffer>;
export function capture(opts: CaptureOptions = {}): TypedCaptureStream<PacketRecord | PacketRecord[] | Buffer> {
  return new CaptureStream(opts) as TypedCaptureStream<PacketRecord | PacketRecord[] | Buffer>;
}
