/**
 * `tls()`: TCP connection events in, the same events out, with the `data` events of TLS connections it
 * can decrypt replaced by `data` events carrying the decrypted application bytes (same TcpDataEvent
 * shape; offsets count decrypted bytes), so http(), grep's stream mode, follow and the web view work on
 * HTTPS unchanged. Put it between tcp() and http():
 *
 *   pipeline(readCapture(f), decode(), tcp(), tls({ keyLogFile: 'keys.log' }), http(), ...)
 *
 * A thin wrapper over lib/tls/session.ts. It adds, per TLS connection, one `tls-connection` event
 * (version, cipher, SNI, ALPN — 'h2' tells an HTTP/2 consumer what follows —, certificates, JA4,
 * decryptable or why not) and `tls-error` events. A connection is TLS when its first bytes are a TLS
 * record header; others pass through untouched. A TLS connection that cannot be decrypted (no key,
 * unsupported cipher, handshake not captured, wrong key) passes through as it came, after its
 * `tls-error`, so nothing is lost. While a connection waits for its key (a growing key log during a
 * live capture), its events are held: at most `maxHeldBytes`, at most `keyWaitSeconds` of capture time.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { BatchQueueBound, DEFAULT_STAGE_HIGH_WATER_MARK, handOnSync, readableQueueState, writableQueueState } from './batch';
import { isTcpEvent, type TcpDataEvent, type TcpEvent, type TcpGapEvent, type TcpSide } from '../lib/tcp/events';
import { tlsErrorCode, type TlsConnectionEvent, type TlsErrorEvent, type TlsErrorReason, type TlsConnectionInfo } from '../lib/tls/events';
import { KeyLog, KeyLogFile } from '../lib/tls/keylog';
import { SECRETS_TYPE_TLS, type CaptureFormat } from '../lib/formats/format';
import { looksLikeRecordHeader } from '../lib/tls/record';
import { DEFAULT_TLS_SESSION_LIMITS, TlsSession, TlsSessionCache } from '../lib/tls/session';

export interface TlsLimits {
  /** Bytes of one connection held while it waits for its key (records and their TCP events). */
  maxHeldBytes: number;
  /** Capture-time seconds a connection waits for its key before it is reported 'no-key' and passed on as it is. */
  keyWaitSeconds: number;
  /** Wall-clock milliseconds between two reads of a growing key log file (only while a connection waits). */
  keyLogPollMs: number;
}

export const DEFAULT_TLS_LIMITS: TlsLimits = {
  maxHeldBytes: DEFAULT_TLS_SESSION_LIMITS.maxHeldBytes,
  keyWaitSeconds: 10,
  keyLogPollMs: 100,
};

export interface TlsStreamOptions {
  /** Secrets already loaded (e.g. from pcapng Decryption Secrets Blocks); key log files add to it. */
  keyLog?: KeyLog;
  /** NSS key log files, read now and again while connections wait for keys (they may still be growing). */
  keyLogFiles?: string[];
  /**
   * A capture reader (readCapture/readCaptureFile) whose pcapng Decryption Secrets Blocks of type TLS
   * add to the key log. The reader emits them as it parses, before the packets that follow them.
   */
  captureReader?: SecretsSource;
  limits?: Partial<TlsLimits>;
  /**
   * Hold records for a key that is not there yet even without key log files (the caller adds to
   * `keyLog` itself). Default: only when key log files are given (they may still be growing).
   */
  keysMayArrive?: boolean;
  /** Objects buffered on the readable side (default 256). */
  highWaterMark?: number;
  /**
   * Pass every chunk on untouched, with no tls-connection / tls-error events, when nothing can be
   * decrypted: no key log file, no key in `keyLog`, and a `captureReader` reading a classic pcap (only
   * pcapng carries Decryption Secrets Blocks). Decided on the first chunk, when the reader has read the
   * file header. For consumers whose output does not depend on those events (http_trace and `pcap-pipe
   * http|ws` printing or --har: test/tls-stage-skip.test.ts); the stage costs ~5 % of the CPU of
   * http_trace on the bench capture even when it decrypts nothing.
   */
  skipWithoutSecrets?: boolean;
}

/** Anything emitting 'decryption-secrets' ({ type, data }) like CaptureReader. */
export interface SecretsSource {
  on(event: 'decryption-secrets', listener: (s: { type: number; data: Buffer }) => void): unknown;
  readonly secrets?: readonly { type: number; data: Buffer }[];
  /** The input's format once its first bytes were read (CaptureReader): 'pcap' cannot carry secrets. */
  readonly format?: CaptureFormat | null;
}

/** Adds the TLS key logs a capture reader finds in pcapng Decryption Secrets Blocks to `keyLog`. */
export function useDecryptionSecrets(source: SecretsSource, keyLog: KeyLog): void {
  const add = (s: { type: number; data: Buffer }): void => {
    if (s.type === SECRETS_TYPE_TLS) keyLog.addText(s.data.toString('latin1'));
  };
  for (const s of source.secrets ?? []) add(s);
  source.on('decryption-secrets', add);
}

/** What the stage adds to the stream. */
export type TlsStreamEvent = TlsConnectionEvent | TlsErrorEvent;

interface ConnectionState {
  mode: 'undecided' | 'tls' | 'raw';
  session?: TlsSession<TcpEvent>;
  /** TCP events held while the session is pending: passed on as they were if it fails. */
  heldRaw: TcpEvent[];
  heldRawBytes: number;
  /** Next offset of decrypted bytes per side. */
  clientOffset: number;
  serverOffset: number;
  /** Sides whose decryption stopped after some data was decrypted: their data becomes gap events. */
  deadClient: boolean;
  deadServer: boolean;
  /** Capture time (seconds) the session started to wait for a key, or -1. */
  waitSince: number;
}

export class TlsStream extends Transform {
  readonly keyLog: KeyLog;
  private readonly files: KeyLogFile[];
  private readonly limits: TlsLimits;
  private readonly cache = new TlsSessionCache();
  private readonly connections = new Map<number, ConnectionState>();
  private readonly waiting = new Set<number>();
  private out: unknown[] = [];
  private lastPoll = 0;
  private lastGeneration = -1;
  private lastEvent: TcpEvent | undefined;
  /** False when no key log file was given: nothing can add keys later, so a miss fails at once. */
  private readonly keysMayArrive: boolean;
  /** What happened to the TLS connections so far (commands print a summary from it). */
  readonly stats = { connections: 0, decrypted: 0, notDecrypted: {} as Partial<Record<TlsErrorReason, number>> };

  /** skipWithoutSecrets: the reader it asks; 'pass' once decided that nothing can be decrypted. */
  private skip: SecretsSource | 'pass' | undefined;

  /** Queue bounds in objects when batches flow (see BatchQueueBound). */
  private readonly inBound: BatchQueueBound;
  private readonly outBound: BatchQueueBound;

  constructor(opts: TlsStreamOptions = {}) {
    const hwm = opts.highWaterMark ?? DEFAULT_STAGE_HIGH_WATER_MARK;
    super({ objectMode: true, highWaterMark: hwm });
    this.inBound = new BatchQueueBound(hwm);
    this.outBound = new BatchQueueBound(hwm);
    this.keyLog = opts.keyLog ?? new KeyLog();
    this.limits = { ...DEFAULT_TLS_LIMITS, ...opts.limits };
    this.files = (opts.keyLogFiles ?? []).map((p) => new KeyLogFile(p, this.keyLog));
    for (const f of this.files) f.refresh();
    if (opts.captureReader !== undefined) useDecryptionSecrets(opts.captureReader, this.keyLog);
    this.keysMayArrive = this.files.length > 0 || opts.keysMayArrive === true;
    if (opts.skipWithoutSecrets === true && this.files.length === 0 && opts.captureReader !== undefined) this.skip = opts.captureReader;
  }

  /** True when this stage passes everything on untouched (skipWithoutSecrets, input known to be classic pcap). */
  get skipped(): boolean {
    return this.skip === 'pass';
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.skip !== undefined) {
      if (this.skip !== 'pass') {
        // The first chunk: the reader has read the file header by now.
        this.skip = this.skip.format === 'pcap' && this.keyLog.size === 0 ? 'pass' : undefined;
      }
      if (this.skip === 'pass') {
        if (Array.isArray(chunk)) {
          // the same queue bounds as when the stage works (memory stays bounded in objects, not batches)
          this.inBound.fit(writableQueueState(this), chunk.length);
          this.outBound.fit(readableQueueState(this), chunk.length);
        }
        this.push(chunk);
        done();
        return;
      }
    }
    if (Array.isArray(chunk)) {
      this.inBound.fit(writableQueueState(this), chunk.length);
      for (const item of chunk) this.handle(item);
      if (this.out.length > 0) {
        const batch = this.out;
        this.out = [];
        this.outBound.fit(readableQueueState(this), batch.length);
        this.push(batch);
      }
    } else {
      this.handle(chunk);
      this.pushEach();
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.finish();
    this.pushEach();
    done();
  }

  private finish(): void {
    for (const f of this.files) { f.refresh(); }
    this.keyLog.finish();
    for (const [id, st] of this.connections) {
      if (st.session !== undefined && this.lastEvent !== undefined) st.session.end(this.lastEvent);
      this.releaseRaw(st);
      this.connections.delete(id);
    }
  }

  /** Synchronous use outside a stream (lib/shard's workers; see BatchTransform.runSync). */
  runSync(item: unknown, next: (out: unknown) => void): void {
    this.handle(item);
    this.drainSync(next);
  }

  /** Synchronous use: the end of input. */
  finishSync(next: (out: unknown) => void): void {
    this.finish();
    this.drainSync(next);
  }

  private drainSync(next: (out: unknown) => void): void {
    handOnSync<unknown>(this.out, next);
  }

  private handle(item: unknown): void {
    if (!isTcpEvent(item)) {
      this.out.push(item);
      return;
    }
    this.lastEvent = item;
    if (this.waiting.size > 0) this.serviceWaiting(item);
    const st = this.connections.get(item.connection);
    switch (item.type) {
      case 'start':
        this.connections.set(item.connection, newState());
        this.out.push(item);
        return;
      case 'data':
        if (st === undefined) { this.out.push(item); return; }
        if (st.mode === 'undecided') this.decide(st, item);
        if (st.mode === 'raw') { this.out.push(item); return; }
        this.tlsData(st, item);
        return;
      case 'gap':
        if (st === undefined || st.mode !== 'tls') { this.out.push(item); return; }
        this.tlsGap(st, item);
        return;
      case 'end':
        if (st !== undefined) {
          if (st.session !== undefined && st.mode === 'tls') st.session.end(item);
          this.releaseRaw(st);
          this.connections.delete(item.connection);
          this.waiting.delete(item.connection);
        }
        this.out.push(item);
        return;
      default:
        this.out.push(item);
    }
  }

  /** A connection is TLS when its first bytes (either side) are a TLS record header. */
  private decide(st: ConnectionState, ev: TcpDataEvent): void {
    const b = ev.bytes;
    const tls = b.length >= 3 ? looksLikeRecordHeader(b) : b[0] === 22;
    if (!tls) { st.mode = 'raw'; return; }
    st.mode = 'tls';
    st.session = new TlsSession<TcpEvent>(this.keyLog, {
      data: (from, plaintext, at) => this.emitData(st, from, plaintext, at),
      error: (reason, from, message, at) => this.emitError(st, reason, from, message, at),
      connection: (info, at) => this.emitConnection(info, at),
    }, this.cache, { maxHeldBytes: this.limits.maxHeldBytes });
  }

  private tlsData(st: ConnectionState, ev: TcpDataEvent): void {
    const session = st.session as TlsSession<TcpEvent>;
    if (session.isFailed() && !this.deadSide(st, ev.from)) { this.out.push(ev); return; }
    if (this.deadSide(st, ev.from)) { this.out.push(this.gapFor(st, ev, ev.bytes.length)); return; }
    if (session.status === 'pending') {
      st.heldRaw.push(ev);
      st.heldRawBytes += ev.bytes.length;
    }
    session.data(ev.from, ev.bytes, ev);
    this.afterSessionCall(st, ev);
  }

  private tlsGap(st: ConnectionState, ev: TcpGapEvent): void {
    const session = st.session as TlsSession<TcpEvent>;
    if (session.isFailed() && !this.deadSide(st, ev.from)) { this.out.push(ev); return; }
    if (this.deadSide(st, ev.from)) { this.out.push(this.gapFor(st, ev, ev.length)); return; }
    if (session.status === 'pending') st.heldRaw.push(ev);
    session.gap(ev.from, ev);
    // Decrypted streams go on: the consumer learns that bytes are missing from here on.
    if (this.deadSide(st, ev.from)) this.out.push(this.gapFor(st, ev, ev.length));
    this.afterSessionCall(st, ev);
  }

  private afterSessionCall(st: ConnectionState, ev: TcpEvent): void {
    const session = st.session as TlsSession<TcpEvent>;
    if (session.status === 'decrypting' && st.heldRaw.length > 0) {
      st.heldRaw = [];
      st.heldRawBytes = 0;
    }
    if (session.status === 'pending' && st.heldRawBytes > this.limits.maxHeldBytes) {
      session.abandon('no-key', `no key found before ${this.limits.maxHeldBytes} bytes were held (maxHeldBytes)`, ev);
    }
    if (session.waitingForKey && !this.keysMayArrive) session.expire(ev);
    if (session.waitingForKey) {
      if (st.waitSince < 0) {
        st.waitSince = ev.tsSec + ev.tsNsec / 1e9;
        this.waiting.add(ev.connection);
      }
    } else if (st.waitSince >= 0) {
      st.waitSince = -1;
      this.waiting.delete(ev.connection);
    }
  }

  /** Reads growing key log files now and again; retries or expires the connections waiting for a key. */
  private serviceWaiting(now: TcpEvent): void {
    const wall = Date.now();
    if (this.files.length > 0 && wall - this.lastPoll >= this.limits.keyLogPollMs) {
      this.lastPoll = wall;
      for (const f of this.files) f.refresh();
    }
    const grew = this.keyLog.generation !== this.lastGeneration;
    this.lastGeneration = this.keyLog.generation;
    const t = now.tsSec + now.tsNsec / 1e9;
    for (const id of [...this.waiting]) {
      const st = this.connections.get(id);
      const session = st?.session;
      if (st === undefined || session === undefined) { this.waiting.delete(id); continue; }
      if (grew) session.retryKeys();
      if (session.waitingForKey && t - st.waitSince > this.limits.keyWaitSeconds) session.expire(now);
      this.afterSessionCall(st, now);
    }
  }

  private deadSide(st: ConnectionState, from: TcpSide): boolean {
    return from === 'client' ? st.deadClient : st.deadServer;
  }

  private emitData(st: ConnectionState, from: TcpSide, plaintext: Buffer, at: TcpEvent): void {
    const offset = from === 'client' ? st.clientOffset : st.serverOffset;
    if (from === 'client') st.clientOffset += plaintext.length; else st.serverOffset += plaintext.length;
    const ev: TcpDataEvent = {
      type: 'data', ts: at.ts, tsSec: at.tsSec, tsNsec: at.tsNsec, frame: at.frame, connection: at.connection,
      client: at.client, server: at.server, direction: from === 'client' ? 'client-to-server' : 'server-to-client',
      from, offset, bytes: plaintext,
    };
    this.out.push(ev);
  }

  private emitConnection(info: TlsConnectionInfo, at: TcpEvent): void {
    this.stats.connections++;
    if (info.decryptable) this.stats.decrypted++;
    else {
      const r = info.reason ?? 'no-key';
      this.stats.notDecrypted[r] = (this.stats.notDecrypted[r] ?? 0) + 1;
    }
    const ev: TlsConnectionEvent = {
      type: 'tls-connection', ts: at.ts, tsSec: at.tsSec, tsNsec: at.tsNsec, frame: at.frame,
      connection: at.connection, client: at.client, server: at.server, ...info,
    };
    this.out.push(ev);
  }

  private emitError(st: ConnectionState, reason: TlsErrorReason, from: TcpSide | undefined, message: string, at: TcpEvent): void {
    const ev: TlsErrorEvent = {
      type: 'tls-error', ts: at.ts, tsSec: at.tsSec, tsNsec: at.tsNsec, frame: at.frame,
      connection: at.connection, client: at.client, server: at.server, code: tlsErrorCode(reason), reason, message,
      ...(from !== undefined ? { from } : {}),
    };
    this.out.push(ev);
    const session = st.session as TlsSession<TcpEvent>;
    if (!session.everDecrypted) {
      // Nothing was decrypted: the connection goes on as it came, so nothing is lost.
      this.releaseRaw(st);
      return;
    }
    if (from === undefined || session.isFailed()) { st.deadClient = true; st.deadServer = true; }
    else if (from === 'client') st.deadClient = true;
    else st.deadServer = true;
  }

  private releaseRaw(st: ConnectionState): void {
    for (const ev of st.heldRaw) this.out.push(ev);
    st.heldRaw = [];
    st.heldRawBytes = 0;
  }

  /** A gap event in the decrypted stream's offsets standing for `length` undecryptable bytes. */
  private gapFor(st: ConnectionState, ev: TcpEvent & { from: TcpSide; direction: TcpGapEvent['direction'] }, length: number): TcpGapEvent {
    const offset = ev.from === 'client' ? st.clientOffset : st.serverOffset;
    if (ev.from === 'client') st.clientOffset += length; else st.serverOffset += length;
    return {
      type: 'gap', ts: ev.ts, tsSec: ev.tsSec, tsNsec: ev.tsNsec, frame: ev.frame, connection: ev.connection,
      client: ev.client, server: ev.server, direction: ev.direction, from: ev.from, offset, length, reason: 'missing',
    };
  }

  private pushEach(): void {
    const events = this.out;
    this.out = [];
    for (const ev of events) this.push(ev);
  }
}

function newState(): ConnectionState {
  return {
    mode: 'undecided', heldRaw: [], heldRawBytes: 0, clientOffset: 0, serverOffset: 0,
    deadClient: false, deadServer: false, waitSince: -1,
  };
}

/** "2 of 5 TLS connections not decrypted (no-key 1, bad-record-mac 1)", or undefined when all were. */
export function tlsSummary(stats: TlsStream['stats']): string | undefined {
  const failed = Object.entries(stats.notDecrypted);
  if (failed.length === 0) return undefined;
  const n = failed.reduce((a, [, k]) => a + (k ?? 0), 0);
  return `${n} of ${stats.connections} TLS connections not decrypted (${failed.map(([r, k]) => `${r} ${k}`).join(', ')})`;
}

export function tls(opts: TlsStreamOptions = {}): TlsStream {
  return new TlsStream(opts);
}
