/**
 * `tcp()`: decoded packets in, TCP connection events out (object mode), a thin wrapper over
 * lib/tcp/reassembler.ts. Arrays of packets (batch mode) come out as arrays of events, so batches stay
 * batched. Chunks that are not decoded TCP packets (UDP packets, events of other stages, ...) pass
 * through in place, so one stream can carry several protocols' events. At the end of input every
 * connection is flushed (buffered data, gaps, `end`).
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { DecodedPacket } from '../lib/layers/packet';
import type { TcpEvent } from '../lib/tcp/events';
import { TcpReassembler, type TcpLimits } from '../lib/tcp/reassembler';

export interface TcpStreamOptions {
  /** Reassembler limits (see DEFAULT_TCP_LIMITS). */
  limits?: Partial<TcpLimits>;
  /** Objects buffered on the readable side (default 256). */
  highWaterMark?: number;
}

function isTcpPacket(x: unknown): x is DecodedPacket {
  return typeof x === 'object' && x !== null && (x as DecodedPacket).tcp !== undefined
    && typeof (x as DecodedPacket).record === 'object';
}

export class TcpStream extends Transform {
  readonly reassembler: TcpReassembler;
  private out: unknown[] = [];

  constructor(opts: TcpStreamOptions = {}) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? 256 });
    this.reassembler = new TcpReassembler((ev: TcpEvent) => { this.out.push(ev); }, opts.limits);
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    if (Array.isArray(chunk)) {
      for (const item of chunk) {
        if (isTcpPacket(item)) this.reassembler.packet(item); else this.out.push(item);
      }
      if (this.out.length > 0) {
        const batch = this.out;
        this.out = [];
        this.push(batch);
      }
    } else {
      if (isTcpPacket(chunk)) this.reassembler.packet(chunk); else this.out.push(chunk);
      this.pushEach();
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.reassembler.flush();
    this.pushEach();
    done();
  }

  private pushEach(): void {
    const events = this.out;
    this.out = [];
    for (const ev of events) this.push(ev);
  }
}

export function tcp(opts: TcpStreamOptions = {}): TcpStream {
  return new TcpStream(opts);
}
