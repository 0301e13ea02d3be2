/**
 * The base of every object-mode stage that accepts one object or an array of them (batch mode: a reader
 * or a live capture with `batch: true` hands over hundreds of records per chunk, because a stream chunk
 * costs ~100 ns per stage whatever it holds).
 *
 * A stage says what one input object becomes by putting its outputs into `this.out` (none, one or many:
 * a defragmenter holds fragments, a reassembler releases several events per packet); the base decides
 * how they leave:
 *   - an array in → one array out (nothing when the array made no output), so batches stay batched;
 *   - a single object in → each output pushed on its own;
 *   - at the end of input, `finish()` may add what is still held; it goes out one by one.
 * An exception thrown while handling a chunk errors the stream (and, inside a pipeline, the whole chain).
 */
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import type { Batchable, TypedReadableSide, TypedWritableSide } from './typed';

/** The default bound of an object-mode stage's queues, in objects. */
export const DEFAULT_STAGE_HIGH_WATER_MARK = 256;
/**
 * At most this many arrays per side: a batch of a few objects may still pin a whole 512 KiB read chunk
 * (grep's verdicts, a select stage's events keep their packet), so small batches are counted too.
 */
export const MAX_QUEUED_BATCHES = 8;
/**
 * The most objects one array out holds before the stage pushes it and goes on with the rest of its input
 * array. One input batch can fan out enormously (a 512 KiB read chunk of 2-byte WebSocket frames is 250 k
 * `ws-frame` events), and the queues count arrays: without a cap, four stages each holding one such
 * array held 540 MB for a 4 MB capture. When the push finds the readable side full, the stage stops in
 * the middle of its input array and resumes when the consumer reads (see BatchTransform._read).
 */
export const MAX_OBJECTS_PER_BATCH = 4096;

/** The part of Node's per-side stream state the queue bound lives in (`_readableState` / `_writableState`). */
interface QueueState { highWaterMark: number; objectMode: boolean }

/** Fits one side's queue bound to batches (see fitQueueToBatches). */
export class BatchQueueBound {
  /** Longest array seen on this side. */
  private longest = 0;

  constructor(private readonly objects: number) {}

  /**
   * Node counts an object-mode queue in chunks, whatever a chunk holds: with batches of ~500 records a
   * 256-chunk queue holds 128 k packets (and their 512 KiB read chunks), and a chain of six stages held
   * 1.3 GB toward a stalled stdout. Called with each array going through the side: the bound becomes
   * ceil(objects / longest array seen), between 1 and MAX_QUEUED_BATCHES arrays, so the side holds at
   * most `objects` plus one batch, and at most 8 arrays. Single objects keep the bound in objects.
   */
  fit(state: QueueState | undefined, batchLength: number): void {
    if (state === undefined || !state.objectMode || (batchLength <= this.longest && this.longest > 0)) return;
    this.longest = Math.max(1, batchLength);
    state.highWaterMark = Math.min(MAX_QUEUED_BATCHES, Math.max(1, Math.ceil(this.objects / this.longest)));
  }
}

/**
 * Holds a Transform's callback while its readable side is over its limit, until the consumer reads.
 * Node applies backpressure to a Transform only when the chunk's own _transform pushed something: a stage
 * that gathers output and pushes it later (a printer coalescing lines, the pcap writer filling 256 KiB
 * blocks, both flushed on setImmediate) would otherwise take input forever while nobody reads its output
 * (`http_trace -r` text into a stalled pipe read the whole capture).
 */
export class ReadableGate {
  private waiting: TransformCallback | null = null;

  constructor(private readonly stream: Transform) {}

  /** The stage's callback for one chunk: called now, or when the consumer next reads. */
  done(cb: TransformCallback, e?: Error | null): void {
    const s = this.stream;
    if (e || s.readableLength < s.readableHighWaterMark) { cb(e); return; }
    this.waiting = cb;
  }

  /** From the stage's _read(): the consumer wants more. */
  release(): void {
    const cb = this.waiting;
    if (cb === null) return;
    this.waiting = null;
    cb();
  }
}

/** Node's internal state of one side of a stream (public since streams began, untyped in @types/node). */
export function readableQueueState(s: Readable): QueueState | undefined {
  return (s as unknown as { _readableState?: QueueState })._readableState;
}

export function writableQueueState(s: Writable): QueueState | undefined {
  return (s as unknown as { _writableState?: QueueState })._writableState;
}

export interface BatchTransformOptions {
  /**
   * Objects buffered on each side before backpressure (object-mode stages default to 256). Counted in
   * objects, not chunks: once arrays arrive, a side holds about this many objects (see fitQueueToBatches).
   */
  highWaterMark?: number;
  /** Text out instead of objects (printers): see LineTransform. */
  readableObjectMode?: boolean;
}

/**
 * Synchronous use of a stage (BatchTransform.runSync, TlsStream.runSync): each of `out` to `next`, then
 * `out` emptied. `next` runs later stages, never this one, so the array is reused (no array per packet).
 */
export function handOnSync<T>(out: T[], next: (item: T) => void): void {
  if (out.length === 0) return;
  for (let i = 0; i < out.length; i++) next(out[i] as T);
  // pop(), not `length = 0`: setting the length is a runtime call that also gives the array's store back
  // (the next push grows it again); per packet and stage that was ~5 % of a worker's CPU (perf, 1M capture)
  while (out.length > 0) out.pop();
}

export abstract class BatchTransform<In, Out> extends Transform {
  /** Types only (never set): lets Typed<S> read In and Out back from a stage class. */
  declare protected readonly chunkTypes?: { in: In; out: Out };
  /** The outputs of the chunk being handled; handle() and callbacks set up by the stage push here. */
  protected out: Out[] = [];
  /** Queue bounds in objects when batches flow (see BatchQueueBound). */
  private readonly inBound: BatchQueueBound;
  private readonly outBound: BatchQueueBound;

  constructor(opts: BatchTransformOptions = {}) {
    const objects = opts.readableObjectMode ?? true;
    const hwm = opts.highWaterMark ?? DEFAULT_STAGE_HIGH_WATER_MARK;
    super(objects
      ? { objectMode: true, highWaterMark: hwm }
      : { writableObjectMode: true, writableHighWaterMark: hwm, readableObjectMode: false });
    this.inBound = new BatchQueueBound(hwm);
    this.outBound = new BatchQueueBound(hwm);
  }

  /** One input object: put what it produces into `this.out`. */
  protected abstract handle(item: In): void;

  /** End of input: put what is still held into `this.out` (default: nothing). */
  protected finish(): void {}

  /**
   * Synchronous use, outside any stream (lib/shard's workers run a command's stages one packet at a time
   * to know which packet caused each output): handles one object and hands each output to `next`.
   */
  runSync(item: In, next: (out: Out) => void): void {
    this.handle(item);
    this.drainSync(next);
  }

  /** Synchronous use: the end of input (finish()), each output to `next`. */
  finishSync(next: (out: Out) => void): void {
    this.finish();
    this.drainSync(next);
  }

  /** Synchronous use: hands what the stage produced outside handle() (a callback it set up) to `next`. */
  drainSync(next: (out: Out) => void): void {
    handOnSync(this.out, next);
  }

  /** Pushes the outputs of one array chunk (taken over by the stream). */
  protected pushBatch(batch: Out[]): void {
    this.outBound.fit(readableQueueState(this), batch.length);
    this.push(batch);
  }

  /** Pushes the outputs of one single-object chunk, or of the end of input. */
  protected pushEach(list: readonly Out[]): void {
    for (let i = 0; i < list.length; i++) this.push(list[i]);
  }

  /** The input array being handled when the stage stopped half-way to let the consumer catch up. */
  private paused: { chunk: readonly In[]; next: number; done: TransformCallback } | null = null;

  override _transform(chunk: Batchable<In>, _enc: BufferEncoding, done: TransformCallback): void {
    if (Array.isArray(chunk)) {
      this.inBound.fit(writableQueueState(this), chunk.length);
      this.handleArray(chunk as readonly In[], 0, done);
      return;
    }
    try {
      this.handle(chunk as In);
      this.pushHeld();
    } catch (e) {
      this.out = [];
      done(e as Error);
      return;
    }
    done();
  }

  /**
   * Handles chunk[from..]: outputs leave in arrays of about MAX_OBJECTS_PER_BATCH (plus what the last
   * object made); when one of them fills the readable side, the rest waits for the consumer's next read.
   */
  private handleArray(chunk: readonly In[], from: number, done: TransformCallback): void {
    try {
      for (let i = from; i < chunk.length; i++) {
        this.handle(chunk[i] as In);
        if (this.out.length >= MAX_OBJECTS_PER_BATCH && i + 1 < chunk.length) {
          this.pushOut();
          if (this.readableLength >= this.readableHighWaterMark && !this.destroyed) {
            this.paused = { chunk, next: i + 1, done };
            return;
          }
        }
      }
      this.pushOut();
    } catch (e) {
      this.out = [];
      done(e as Error);
      return;
    }
    done();
  }

  private pushOut(): void {
    if (this.out.length === 0) return;
    const batch = this.out;
    this.out = [];
    this.pushBatch(batch);
  }

  override _read(size: number): void {
    const p = this.paused;
    if (p !== null) {
      this.paused = null;
      this.handleArray(p.chunk, p.next, p.done);
      return;
    }
    super._read(size);
  }

  override _flush(done: TransformCallback): void {
    try {
      this.finish();
      this.pushHeld();
    } catch (e) {
      this.out = [];
      done(e as Error);
      return;
    }
    done();
  }

  private pushHeld(): void {
    const list = this.out;
    if (list.length === 0) return;
    this.out = [];
    this.pushEach(list);
  }
}

/**
 * A stage class with its chunk types on top (for `for await`, `.on('data')` and pipeline; see
 * streams/typed.ts): what the stage factories return. Types only: the object is the stage itself.
 */
export type Typed<S extends BatchTransform<any, any>> =
  S extends BatchTransform<infer In, infer Out> ? TypedReadableSide<Out> & TypedWritableSide<Batchable<In>> & S : never;

/**
 * Objects in, text out (the printers): everything one input chunk produces, single object or array,
 * leaves as one string (nothing when it is empty), so a batch costs one write downstream.
 */
export abstract class LineTransform<In> extends BatchTransform<In, string> {
  /** Text held back to make bigger writes (see `coalesceBytes`). */
  private held = '';
  private flushScheduled = false;
  private readonly gate = new ReadableGate(this);

  /**
   * `coalesceBytes`: hold the text of consecutive chunks until this much is gathered, or until the event
   * loop gets to its next turn (setImmediate), or the end: each chunk out costs a write() downstream, and
   * the time to show a line grows by one event-loop turn at most. 0 (the default): one string per chunk.
   */
  constructor(private readonly coalesceBytes = 0) {
    super({ readableObjectMode: false });
  }

  protected override pushBatch(lines: string[]): void {
    this.pushEach(lines);
  }

  protected override pushEach(lines: readonly string[]): void {
    let text = '';
    for (let i = 0; i < lines.length; i++) text += lines[i];
    if (!text) return;
    if (this.coalesceBytes <= 0) {
      this.push(text);
      return;
    }
    this.held += text;
    if (this.held.length >= this.coalesceBytes) {
      this.pushHeldText();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.pushHeldText();
      });
    }
  }

  override _transform(chunk: Batchable<In>, enc: BufferEncoding, done: TransformCallback): void {
    super._transform(chunk, enc, (e?: Error | null) => this.gate.done(done, e));
  }

  override _read(size: number): void {
    this.gate.release();
    super._read(size);
  }

  override _flush(done: TransformCallback): void {
    super._flush((e?: Error | null) => {
      if (!e) this.pushHeldText();
      done(e);
    });
  }

  private pushHeldText(): void {
    if (!this.held || this.destroyed) return;
    const text = this.held;
    this.held = '';
    this.push(text);
  }
}

/** Calls fn for each object of a chunk that may be a batch (for Writables at the end of a chain). */
export function forEachItem<T>(chunk: Batchable<T>, fn: (item: T) => void): void {
  if (Array.isArray(chunk)) for (let i = 0; i < chunk.length; i++) fn(chunk[i] as T);
  else fn(chunk as T);
}
