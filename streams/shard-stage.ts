/**
 * `shard({ workers, stages })`: a stage that runs a chain of per-flow stages on worker threads — the
 * built-in ones and the user's own, from a module path — and gives their output back in the order one
 * thread would give it. What `--workers N` does for the commands (streams/shard.ts), as a stream API.
 *
 *   pipeline(readCaptureFile(f, { batch: true }), shard({ workers: 4, stages: [{ stage: 'decode' }, { stage: 'tcp' },
 *     { stage: 'module', module: require.resolve('./my-stage') }] }), sink)
 *
 * In: PacketRecords (single or arrays). Each packet goes, by a symmetric flow hash, to one worker, which
 * runs `stages` (streams/chain-spec.ts) synchronously on it; out: the last stage's objects, one per chunk,
 * in one-thread order, with a TCP/HTTP event's `connection` (and a port-reuse's `previous`) numbered over
 * the whole capture as one thread numbers them. `workers: 0` runs the same stages on this thread.
 *
 * A user's stage is `require(module)[exportName ?? 'default'](options)`: it must return a BatchTransform
 * (exported by pcap-pipe; the worker drives it with runSync, no stream machinery), and its outputs must
 * be plain data that v8.serialize can copy (events, Buffers, arrays; not functions or live objects such as
 * decoded Packets). `options` crosses threads by structured clone.
 */
import { Duplex, PassThrough } from 'node:stream';
import type { PacketRecord } from '../lib/core/record';
import type { StageSpec } from './chain-spec';
import type { SecretsSource } from './tls';
import { chainOf } from './trace';
import type { TypedDuplex } from './typed';

export interface ShardOptions {
  /** Worker threads (0: the stages run on this thread, as chainOf() would). */
  workers: number;
  /** The stages each worker runs on its flows, in order (the first takes PacketRecords: usually decode). */
  stages: StageSpec[];
  /** Objects buffered on the input side (default 16 chunks: a chunk may be an array of many records). */
  highWaterMark?: number;
  /** A capture reader whose pcapng Decryption Secrets Blocks go to every worker's tls stage. */
  secrets?: SecretsSource;
}

/** A stage: PacketRecords in, the stages' output objects out (one per chunk), in one-thread order. */
export function shard<Out = unknown>(opts: ShardOptions): TypedDuplex<PacketRecord | PacketRecord[], Out> {
  const n = opts.workers;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`shard: workers must be a whole number, got ${n}`);
  const input = new PassThrough({ objectMode: true, highWaterMark: opts.highWaterMark ?? 16 });
  let output: PassThrough;
  if (n === 0) {
    // one thread: the same stages, arrays of the output taken apart (one object per chunk, as with workers)
    output = new PassThrough({ objectMode: true });
    const end = chainOf(input, opts.stages);
    end.on('data', (chunk: unknown) => {
      if (Array.isArray(chunk)) { for (const x of chunk) if (!output.write(x)) end.pause(); } else if (!output.write(chunk)) end.pause();
    });
    output.on('drain', () => end.resume());
    end.on('end', () => output.end());
    end.on('error', (e) => output.destroy(e));
  } else {
    output = new PassThrough({ objectMode: true, highWaterMark: 256 });
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { runSharded } = require('./shard') as typeof import('./shard');
    runSharded({ workers: n, source: input, out: output, ...(opts.secrets !== undefined ? { secrets: opts.secrets } : {}), config: { chain: { stages: opts.stages, printer: { printer: 'objects' } }, counts: false } })
      .then(() => output.end(), (e: Error) => output.destroy(e));
  }
  const duplex = Duplex.from({ writable: input, readable: output });
  return duplex as unknown as TypedDuplex<PacketRecord | PacketRecord[], Out>;
}
