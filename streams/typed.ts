/**
 * Typed views of Node streams. A Node `Readable` yields `any`; these interfaces say what a stage's chunks
 * are, so `for await (const ev of http())`, `.on('data', (ev) => ...)` and a function stage inside
 * `stream.pipeline` get the event union without a cast:
 *
 *   for await (const ev of httpEvents(readCaptureFile('x.pcap'))) if (ev.type === 'request') ev.method;
 *
 * They are types only (the streams are ordinary Readables and Transforms); the typed side comes first in
 * each intersection so its overloads win over Node's `any` ones. The chunk types describe a
 * chain fed one object at a time, the default of every source. pcap-pipe's stages also accept arrays
 * (batch mode: `readCaptureFile(path, { batch: true })` and `capture({ batch: true })`) and then emit
 * arrays of the same types; `Rebatch` and `chain()` (streams/trace.ts) carry that through the types.
 */
import type { Duplex, Readable, Transform, Writable } from 'node:stream';

/** What a stage fed `In` emits when its input is batched like `Source` (arrays in, arrays out). */
export type Rebatch<Source, Out> = Source extends readonly unknown[] ? Out[] : Out;

/** One object of a chunk that may be a batch. */
export type Item<Chunk> = Chunk extends readonly (infer T)[] ? T : Chunk;

/** A chunk a batch-aware stage accepts: one object or an array of them. */
export type Batchable<T> = T | readonly T[];

/** Type-only keys (never set at run time) that carry a stream's chunk types for inference. */
declare const chunkOut: unique symbol;
declare const chunkIn: unique symbol;

/** The readable side, with chunks of type Out. */
export interface TypedReadableSide<Out> {
  /** Types only: lets ChunkOf and chain() read Out back (Node's own `any` overloads would win otherwise). */
  readonly [chunkOut]?: Out;
  read(size?: number): Out | null;
  [Symbol.asyncIterator](): AsyncIterableIterator<Out>;
  on(event: 'data', listener: (chunk: Out) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'data', listener: (chunk: Out) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener(event: 'data', listener: (chunk: Out) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener(event: 'data', listener: (chunk: Out) => void): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** The writable side, accepting chunks of type In. */
export interface TypedWritableSide<In> {
  /** Types only: see TypedReadableSide. */
  readonly [chunkIn]?: In;
  write(chunk: In, callback?: (error: Error | null | undefined) => void): boolean;
  write(chunk: In, encoding: BufferEncoding, callback?: (error: Error | null | undefined) => void): boolean;
  end(cb?: () => void): this;
  end(chunk: In, cb?: () => void): this;
  end(chunk: In, encoding: BufferEncoding, cb?: () => void): this;
}

/** The chunk type a typed stream yields (unknown for a plain Node stream). */
export type ChunkOf<S> = S extends { readonly [chunkOut]?: infer Out } ? Out : unknown;

/** Something that yields chunks of type Out, for inference in parameters (only the type-only key names Out). */
export type ReadableOf<Out> = { readonly [chunkOut]?: Out } & Readable;

/** A stage that yields chunks of type Out, for inference in parameters. */
export type StageOf<Out> = { readonly [chunkOut]?: Out } & Duplex;

/** A source of Out chunks (a capture reader, a live capture, the end of a chain). */
export type TypedReadable<Out> = TypedReadableSide<Out> & Readable;

/** A sink of In chunks. */
export type TypedWritable<In> = TypedWritableSide<In> & Writable;

/** A stage: In chunks in, Out chunks out. */
export type TypedTransform<In, Out> = TypedReadableSide<Out> & TypedWritableSide<In> & Transform;

/** A stage from In to Out that is not necessarily a Transform (e.g. the result of stream.compose). */
export type TypedDuplex<In, Out> = TypedReadableSide<Out> & TypedWritableSide<In> & Duplex;
