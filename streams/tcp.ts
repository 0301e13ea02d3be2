/**
 * `tcp()`: decoded packets in, TCP connection events out (object mode), a thin wrapper over
 * lib/tcp/reassembler.ts. Arrays of packets (batch mode) come out as arrays of events, so batches stay
 * batched. Chunks that are not decoded TCP packets (UDP packets, events of other stages, ...) pass
 * through in place, so one stream can carry several protocols' events. At the end of input every
 * connection is flushed (buffered data, gaps, `end`).
 */
import { BatchTransform, type Typed } from './batch';
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

/** What a tcp() stream emits: TCP events, and whatever it passed through (other stages' chunks). */
export type TcpStreamOutput = TcpEvent;

export class TcpStream extends BatchTransform<unknown, TcpStreamOutput> {
  readonly reassembler: TcpReassembler;

  constructor(opts: TcpStreamOptions = {}) {
    super({ highWaterMark: opts.highWaterMark });
    this.reassembler = new TcpReassembler((ev: TcpEvent) => { this.out.push(ev); }, opts.limits);
  }

  protected override handle(item: unknown): void {
    if (isTcpPacket(item)) this.reassembler.packet(item);
    else this.out.push(item as TcpStreamOutput);
  }

  protected override finish(): void {
    this.reassembler.flush();
  }
}

export function tcp(opts: TcpStreamOptions = {}): Typed<TcpStream> {
  return new TcpStream(opts) as Typed<TcpStream>;
}
