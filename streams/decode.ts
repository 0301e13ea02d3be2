/**
 * `decode()`: PacketRecord in, Packet out (object mode), a thin wrapper over lib/layers/decode.ts. Arrays of
 * records (the reader's batch mode) come out as arrays of packets, so batches stay batched.
 * With `defragment`, IP fragments are held and the reassembled datagram is emitted as one packet when
 * it completes (see lib/layers/defrag.ts); fragments of datagrams given up come out with a 'defrag' failure.
 */
import { BatchTransform, type Typed } from './batch';
import type { decodePacket as DecodePacket, DecodeOptions, Packet } from '../lib/layers/decode';
import type { Defragmenter, DefragOptions } from '../lib/layers/defrag';
import type { PacketRecord } from '../lib/core/record';

/**
 * The decoder (~17 modules), required by the first packet: grep's fast path builds no packet for most
 * captures' packets (lib/grep/prefilter.ts), often for none, and start-up is paid by every process.
 */
let decoder: typeof DecodePacket | undefined;

export interface DecodeStreamOptions extends DecodeOptions {
  /** Reassemble IPv4/IPv6 fragments (true for the defaults, or limits). Default off. */
  defragment?: boolean | DefragOptions;
  /** Objects buffered on the readable side (default 256). */
  highWaterMark?: number;
}

export class DecodeStream extends BatchTransform<PacketRecord, Packet> {
  /** The defragmenter, when `defragment` is on (its `stats` say what it did). */
  readonly defragmenter: Defragmenter | undefined;
  private readonly decodeOptions: DecodeOptions;

  constructor(opts: DecodeStreamOptions = {}) {
    super({ highWaterMark: opts.highWaterMark });
    this.decodeOptions = { depth: opts.depth };
    if (opts.defragment) {
      const d = opts.defragment === true ? {} : opts.defragment;
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { Defragmenter: Defrag } = require('../lib/layers/defrag') as typeof import('../lib/layers/defrag');
      this.defragmenter = new Defrag({ decode: this.decodeOptions, ...d });
    }
  }

  protected override handle(rec: PacketRecord): void {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const pkt = (decoder ??= (require('../lib/layers/decode') as typeof import('../lib/layers/decode')).decodePacket)(rec, this.decodeOptions);
    const d = this.defragmenter;
    if (d === undefined || d.passesThrough(pkt)) this.out.push(pkt);
    else for (const p of d.push(pkt)) this.out.push(p);
  }

  protected override finish(): void {
    if (this.defragmenter) for (const p of this.defragmenter.flush()) this.out.push(p);
  }
}

export function decode(opts: DecodeStreamOptions = {}): Typed<DecodeStream> {
  return new DecodeStream(opts) as Typed<DecodeStream>;
}
