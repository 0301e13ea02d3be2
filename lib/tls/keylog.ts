/**
 * The NSS key log format (what SSLKEYLOGFILE, `node --tls-keylog`, the tls `keylog` event and
 * `openssl s_client -keylogfile` write): one "LABEL <client_random hex> <secret hex>" per line, '#'
 * comments. Labels: CLIENT_RANDOM (TLS 1.2 master secret), PMS_CLIENT_RANDOM (TLS 1.2 pre-master
 * secret), and the TLS 1.3 traffic secrets. Wireshark reads the same lines (its "(Pre)-Master-Secret
 * log filename" preference); so does a pcapng Decryption Secrets Block of type TLS.
 *
 * A key log may still be growing while we read it (a live capture of a program that writes keys as it
 * goes): `KeyLogFile.refresh()` reads what was appended since, keeping a partial last line for later.
 *
 * Secrets are kept as Buffers and never formatted: errors name the line number and the label only.
 */
import * as fs from 'node:fs';

export type KeyLogLabel =
  | 'CLIENT_RANDOM'
  | 'PMS_CLIENT_RANDOM'
  | 'CLIENT_EARLY_TRAFFIC_SECRET'
  | 'CLIENT_HANDSHAKE_TRAFFIC_SECRET'
  | 'SERVER_HANDSHAKE_TRAFFIC_SECRET'
  | 'CLIENT_TRAFFIC_SECRET_0'
  | 'SERVER_TRAFFIC_SECRET_0'
  | 'EARLY_EXPORTER_SECRET'
  | 'EXPORTER_SECRET';

/** The secrets logged for one client random (one TLS handshake). */
export interface TlsSecrets {
  /** TLS 1.2 master secret (CLIENT_RANDOM). */
  masterSecret?: Buffer;
  /** TLS 1.2 pre-master secret (PMS_CLIENT_RANDOM). */
  preMasterSecret?: Buffer;
  clientEarlyTraffic?: Buffer;
  clientHandshakeTraffic?: Buffer;
  serverHandshakeTraffic?: Buffer;
  clientTraffic0?: Buffer;
  serverTraffic0?: Buffer;
  exporter?: Buffer;
}

const FIELD_OF: Record<KeyLogLabel, keyof TlsSecrets> = {
  CLIENT_RANDOM: 'masterSecret',
  PMS_CLIENT_RANDOM: 'preMasterSecret',
  CLIENT_EARLY_TRAFFIC_SECRET: 'clientEarlyTraffic',
  CLIENT_HANDSHAKE_TRAFFIC_SECRET: 'clientHandshakeTraffic',
  SERVER_HANDSHAKE_TRAFFIC_SECRET: 'serverHandshakeTraffic',
  CLIENT_TRAFFIC_SECRET_0: 'clientTraffic0',
  SERVER_TRAFFIC_SECRET_0: 'serverTraffic0',
  EARLY_EXPORTER_SECRET: 'exporter',
  EXPORTER_SECRET: 'exporter',
};

/** Limits of a key log (named so memory stays bounded whatever the file holds). */
export interface KeyLogLimits {
  /** Client randoms kept; the oldest are dropped beyond it. */
  maxEntries: number;
  /** A line longer than this is skipped as malformed (a real line is under 250 bytes). */
  maxLineLength: number;
}

export const DEFAULT_KEYLOG_LIMITS: KeyLogLimits = { maxEntries: 1_000_000, maxLineLength: 1024 };

/** A line that could not be used; `reason` never contains the line's secret. */
export interface KeyLogProblem {
  line: number;
  reason: 'unknown-label' | 'bad-client-random' | 'bad-secret' | 'too-long' | 'malformed';
}

const HEX = /^[0-9a-fA-F]+$/;
const CLIENT_RANDOM_HEX_LENGTH = 64;

/** Secrets by client random, filled from key log text. */
export class KeyLog {
  private readonly entries = new Map<string, TlsSecrets>();
  readonly problems: KeyLogProblem[] = [];
  /** Lines parsed so far (for problem line numbers). */
  private lineNumber = 0;
  /** Bytes of an unfinished last line, kept until its newline arrives. */
  private partial = '';
  /** Grows by one for every secret added: a waiting connection retries its lookup when it changed. */
  generation = 0;
  private readonly limits: KeyLogLimits;

  constructor(limits: Partial<KeyLogLimits> = {}) {
    this.limits = { ...DEFAULT_KEYLOG_LIMITS, ...limits };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Adds complete text (a whole file or a DSB's payload); a last line without newline counts. */
  addText(text: string): void {
    this.feed(text);
    this.finish();
  }

  /** Adds a piece of a growing text: a line is used once its newline has arrived. */
  feed(text: string): void {
    const all = this.partial + text;
    const lines = all.split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > this.limits.maxLineLength) {
      this.problems.push({ line: this.lineNumber + lines.length + 1, reason: 'too-long' });
      this.partial = '';
    }
    for (const line of lines) this.addLine(line);
  }

  /** Treats a pending partial line as complete (end of a file that does not end with a newline). */
  finish(): void {
    if (this.partial !== '') this.addLine(this.partial);
    this.partial = '';
  }

  /** Merges the entries of another key log (later ones win). */
  merge(other: KeyLog): void {
    for (const [random, secrets] of other.entries) this.store(random, secrets);
  }

  lookup(clientRandom: Buffer): TlsSecrets | undefined {
    return this.entries.get(clientRandom.toString('hex'));
  }

  private addLine(raw: string): void {
    this.lineNumber++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.length > this.limits.maxLineLength) { this.problem('too-long'); return; }
    const parts = line.split(/\s+/);
    if (parts.length !== 3) { this.problem('malformed'); return; }
    const [label, randomHex, secretHex] = parts;
    const field = (FIELD_OF as Record<string, keyof TlsSecrets | undefined>)[label];
    if (field === undefined) {
      // RSA (encrypted pre-master prefix) and other labels: valid lines we cannot use.
      this.problem('unknown-label');
      return;
    }
    if (randomHex.length !== CLIENT_RANDOM_HEX_LENGTH || !HEX.test(randomHex)) { this.problem('bad-client-random'); return; }
    if (secretHex.length === 0 || secretHex.length % 2 !== 0 || !HEX.test(secretHex)) { this.problem('bad-secret'); return; }
    this.store(randomHex.toLowerCase(), { [field]: Buffer.from(secretHex, 'hex') });
  }

  private store(random: string, secrets: TlsSecrets): void {
    let entry = this.entries.get(random);
    if (entry === undefined) {
      if (this.entries.size >= this.limits.maxEntries) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      entry = {};
      this.entries.set(random, entry);
    }
    Object.assign(entry, secrets);
    this.generation++;
  }

  private problem(reason: KeyLogProblem['reason']): void {
    if (this.problems.length < 100) this.problems.push({ line: this.lineNumber, reason });
  }
}

/** Bytes read from a key log file per refresh at most (the rest comes with the next refresh). */
const MAX_READ_PER_REFRESH = 16 * 1024 * 1024;

/**
 * A key log file that may still be growing. `refresh()` reads the bytes appended since the last call
 * (synchronously: a few hundred bytes per handshake). A file that does not exist yet is not an error:
 * the program that writes it may not have started.
 */
export class KeyLogFile {
  private position = 0;
  readonly keyLog: KeyLog;

  constructor(readonly path: string, keyLog: KeyLog = new KeyLog()) {
    this.keyLog = keyLog;
  }

  /** Reads what was appended; returns the number of bytes read. A truncated (rewritten) file is read again. */
  refresh(): number {
    let fd: number;
    try {
      fd = fs.openSync(this.path, 'r');
    } catch {
      return 0;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.position) this.position = 0;
      const want = Math.min(size - this.position, MAX_READ_PER_REFRESH);
      if (want <= 0) return 0;
      const buf = Buffer.allocUnsafe(want);
      const n = fs.readSync(fd, buf, 0, want, this.position);
      this.position += n;
      this.keyLog.feed(buf.toString('latin1', 0, n));
      return n;
    } finally {
      fs.closeSync(fd);
    }
  }
}
