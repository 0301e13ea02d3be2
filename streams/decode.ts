/**
 * `decode()`: PacketRecord in, Packet out (object mode), a thin wrapper over lib/layers/decode.ts. Arrays of
 * records (the reader's batch mode) come out as arrays of packets, so batches stay batched.
 * With `defragment`, IP fragments are held and the reassembled datagram is emitted as one packet when
 * it completes (see lib/layers/defrag.ts); fragments of datagrams given up come out with a 'defrag' failure.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { decodePacket, type DecodeOptions, type Packet } from '../lib/layers/decode';
import { Defragmenter, type DefragOptions } from '../lib/layers/defrag';
import type { PacketRecord } from '../lib/core/record';

export interface DecodeStreamOptions extends DecodeOptions {
  /** Reassemble IPv4/IPv6 fragments (true for the defaults, or limits). Default off. */
  defragment?: boolean | DefragOptions;
  /** Objects buffered on the readable side (default 256). */
  highWaterMark?: number;
}

export class DecodeStream extends Transform {
  /** The defragmenter, when `defragment` is on (its `stats` say what it did). */
  readonly defragmenter: Defragmenter | undefined;
  private readonly decodeOptions: DecodeOptions;

  constructor(opts: DecodeStreamOptions = {}) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? 256 });
    this.decodeOptions = { depth: opts.depth };
    if (opts.defragment) {
      const d = opts.defragment === true ? {} : opts.defragment;
      this.defragmenter = new Defragmenter({ decode: this.decodeOptions, ...d });
    }
  }

  private decodeOne(rec: PacketRecord, out: Packet[]): void {
    const pkt = decodePacket(rec, this.decodeOptions);
    if (this.defragmenter) for (const p of this.defragmenter.push(pkt)) out.push(p);
    else out.push(pkt);
  }

  override _transform(chunk: PacketRecord | PacketRecord[], _enc: BufferEncoding, done: TransformCallback): void {
    if (Array.isArray(chunk)) {
      const out: Packet[] = [];
      for (const rec of chunk) this.decodeOne(rec, out);
      if (out.length) this.push(out);
    } else if (this.defragmenter) {
      const out: Packet[] = [];
      this.decodeOne(chunk, out);
      for (const p of out) this.push(p);
    } else {
      this.push(decodePacket(chunk, this.decodeOptions));
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.defragmenter) for (const p of this.defragmenter.flush()) this.push(p);
    done();
  }
}

export function decode(opts: DecodeStreamOptions = {}): DecodeStream {
  return new DecodeStream(opts);
}
