/**
 * One TLS connection, both directions: the state machine that turns the two reassembled byte streams
 * into decrypted application data. It cuts records (record.ts), reads the handshake (handshake.ts),
 * finds the secrets in a key log by client random, derives keys (keys.ts) and decrypts (cipher.ts).
 *
 *   status: pending ──(a record authenticates)──▶ decrypting
 *              └──(no key / unsupported / bad MAC before any success / gap)──▶ failed
 *
 * Records that need a key the key log does not have yet are held, in order, up to `maxHeldBytes`;
 * `retryKeys()` tries again (the key log grew), `expire()` gives up. Every callback carries the
 * caller's position object (`At`) of the bytes that completed the record, so decrypted data keeps
 * the capture time and frame of the packet it came in.
 *
 * Per direction, TLS 1.2: plaintext until ChangeCipherSpec, then protected under the key block.
 * TLS 1.3: protected from the ServerHello on, under the handshake secret until that side's Finished,
 * then under application secret N (N grows with each KeyUpdate). CCS records are ignored in 1.3.
 */
import { cipherSuite, RecordDecryptor, type CipherSuite, type DirectionKeys } from './cipher';
import type { TlsErrorReason, TlsConnectionInfo } from './events';
import {
  HandshakeReader, HandshakeType, parseCertificates, parseClientHello, parseEncryptedExtensions, parseKeyUpdate,
  parseNewSessionTicket12, parseServerHello, versionName, type ClientHello, type HandshakeMessage, type ServerHello,
} from './handshake';
import { ja4 } from './ja4';
import { keyBlock12, masterSecret12, nextTrafficSecret13, trafficKeys13, type KeyPair } from './keys';
import type { TlsSecrets } from './keylog';
import { ContentType, TlsRecordReader, type TlsRecord } from './record';
import { createHash } from 'node:crypto';

export type TlsSide = 'client' | 'server';

/** Where secrets come from: a KeyLog, or anything with the same lookup. */
export interface TlsKeySource {
  lookup(clientRandom: Buffer): TlsSecrets | undefined;
}

export interface TlsSessionLimits {
  /** Bytes of records held while waiting for a key; beyond it the connection fails with 'no-key'. */
  maxHeldBytes: number;
}

export const DEFAULT_TLS_SESSION_LIMITS: TlsSessionLimits = { maxHeldBytes: 1024 * 1024 };

/**
 * TLS 1.2 resumption: an abbreviated handshake reuses the master secret of an earlier connection,
 * found by session ID or ticket (a key log may not log it again). Shared by the connections of a
 * capture; bounded, oldest dropped first.
 */
export class TlsSessionCache {
  private readonly byId = new Map<string, Buffer>();
  constructor(private readonly maxEntries = 10_000) {}
  remember(key: Buffer, masterSecret: Buffer): void {
    if (key.length === 0) return;
    const k = key.toString('hex');
    this.byId.delete(k);
    this.byId.set(k, masterSecret);
    if (this.byId.size > this.maxEntries) {
      const oldest = this.byId.keys().next().value;
      if (oldest !== undefined) this.byId.delete(oldest);
    }
  }
  find(key: Buffer): Buffer | undefined {
    return key.length === 0 ? undefined : this.byId.get(key.toString('hex'));
  }
}

export interface TlsSessionHandlers<At> {
  /** Decrypted application data of one side, in order. */
  data(from: TlsSide, plaintext: Buffer, at: At): void;
  /** Decryption stopped (for one side, or the whole connection). */
  error(reason: TlsErrorReason, from: TlsSide | undefined, message: string, at: At): void;
  /** The connection summary: once, before the first data, or when the connection fails or ends. */
  connection(info: TlsConnectionInfo, at: At): void;
}

interface Direction {
  reader: TlsRecordReader;
  handshake: HandshakeReader;
  /** Records from this side are protected (after its CCS in 1.2, after the ServerHello in 1.3). */
  protected: boolean;
  decryptor?: RecordDecryptor;
  /** 1.3: the secret of the decryptor in use once the handshake is over (KeyUpdate derives from it). */
  trafficSecret?: Buffer;
  /** 1.3: this side's Finished was seen: application secrets from now on. */
  handshakeDone: boolean;
  /** Decryption stopped for this side (gap, bad MAC). */
  dead: boolean;
}

interface HeldRecord<At> {
  side: TlsSide;
  record: TlsRecord;
  at: At;
}

/** Bytes of the 1.2 handshake transcript kept for the extended master secret (RFC 7627) from a pre-master secret. */
const MAX_TRANSCRIPT = 512 * 1024;

export type TlsSessionStatus = 'pending' | 'decrypting' | 'failed';

export class TlsSession<At> {
  status: TlsSessionStatus = 'pending';
  /** Why the session failed (status 'failed'). */
  failure: TlsErrorReason | undefined;
  private readonly sides: Record<TlsSide, Direction> = { client: newDirection(), server: newDirection() };
  private clientHello?: ClientHello;
  private serverHello?: ServerHello;
  private suite?: CipherSuite;
  private tls13 = false;
  private readonly info: TlsConnectionInfo = {
    alpnOffered: [], certificates: [], resumed: false, helloRetryRequest: false, decryptable: false,
  };
  private infoSent = false;
  private keys12?: KeyPair;
  private masterSecret?: Buffer;
  private ticket?: Buffer;
  private transcript: Buffer[] = [];
  private transcriptBytes = 0;
  private sessionHash?: Buffer;
  private held: HeldRecord<At>[] = [];
  private heldBytes = 0;
  /** Secrets of this connection once found. */
  private secrets?: TlsSecrets;
  /** 1.3: the client offered 0-RTT data and the server did not accept it: skip what fails the handshake key. */
  private skipRejectedEarlyData = false;
  private readonly limits: TlsSessionLimits;

  constructor(
    private readonly keySource: TlsKeySource,
    private readonly handlers: TlsSessionHandlers<At>,
    private readonly cache: TlsSessionCache = new TlsSessionCache(),
    limits: Partial<TlsSessionLimits> = {},
  ) {
    this.limits = { ...DEFAULT_TLS_SESSION_LIMITS, ...limits };
  }

  /** A method, so TypeScript does not narrow `status` across calls that change it. */
  isFailed(): boolean {
    return this.status === 'failed';
  }

  /** True once a record of this connection authenticated (a failure after it stops the rest only). */
  get everDecrypted(): boolean {
    return this.info.decryptable;
  }

  /** Give up on this connection (the caller's own limits were reached). */
  abandon(reason: TlsErrorReason, message: string, at: At): void {
    this.fail(reason, message, at);
  }

  /** True while records are held for a key. */
  get waitingForKey(): boolean {
    return this.held.length > 0;
  }

  /** Bytes held: records waiting for a key, plus the unfinished record and handshake message buffers. */
  get bufferedBytes(): number {
    const s = this.sides;
    return this.heldBytes + s.client.reader.buffered + s.server.reader.buffered + s.client.handshake.buffered +
      s.server.handshake.buffered;
  }

  /** Stream bytes of one side. */
  data(from: TlsSide, bytes: Buffer, at: At): void {
    const dir = this.sides[from];
    if (dir.dead || this.status === 'failed') return;
    const problem = dir.reader.push(bytes, (record) => this.onRecord(from, record, at));
    if (problem !== undefined && !dir.dead && !this.isFailed()) {
      const message = problem === 'record-too-large' ? 'a record is longer than TLS allows' : 'bytes that are not a TLS record';
      this.stop('malformed', from, message, at);
    }
  }

  /** Bytes of one side are missing: the record boundaries and sequence numbers after them are lost. */
  gap(from: TlsSide, at: At): void {
    const dir = this.sides[from];
    if (dir.dead || this.status === 'failed') return;
    this.stop('gap', from, `bytes missing in the ${from}'s stream: its later records cannot be decrypted`, at);
  }

  /** The key log may have grown: try the held records again. */
  retryKeys(): void {
    if (this.held.length === 0 || this.status === 'failed') return;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (let i = 0; i < held.length; i++) {
      const h = held[i];
      if (this.isFailed()) return;
      if (this.sides[h.side].dead) continue;
      if (this.processRecord(h.side, h.record, h.at) === 'hold') {
        this.held = held.slice(i);
        this.heldBytes = this.held.reduce((n, r) => n + r.record.fragment.length, 0);
        return;
      }
    }
  }

  /** Stop waiting for a key (the wait timed out, or the connection ended). */
  expire(at: At): void {
    if (this.held.length === 0 || this.status === 'failed') return;
    this.retryKeys();
    if (this.held.length === 0) return;
    this.fail('no-key', `no key for client random ${this.info.clientRandom ?? '(unknown)'} in the key log`, at);
  }

  /** The connection ended: report it if not yet done. */
  end(at: At): void {
    this.expire(at);
    this.sendInfo(at);
    for (const side of ['client', 'server'] as const) {
      const dir = this.sides[side];
      if (dir.reader.buffered > 0 && !dir.dead && this.status === 'decrypting') {
        this.stop('truncated-record', side, `the ${side}'s stream ended ${dir.reader.buffered} bytes into a record`, at);
      }
    }
  }

  /** Summary so far (the `connection` handler gets a copy of it). */
  get summary(): TlsConnectionInfo {
    return { ...this.info, certificates: [...this.info.certificates], alpnOffered: [...this.info.alpnOffered] };
  }

  private onRecord(side: TlsSide, record: TlsRecord, at: At): void {
    if (this.status === 'failed' || this.sides[side].dead) return;
    if (this.held.length > 0) { this.hold(side, record, at); return; }
    if (this.processRecord(side, record, at) === 'hold') this.hold(side, record, at);
  }

  private hold(side: TlsSide, record: TlsRecord, at: At): void {
    this.held.push({ side, record, at });
    this.heldBytes += record.fragment.length;
    if (this.heldBytes > this.limits.maxHeldBytes) {
      this.retryKeys();
      if (this.heldBytes > this.limits.maxHeldBytes) {
        this.fail('no-key', `no key for client random ${this.info.clientRandom ?? '(unknown)'} before ${this.limits.maxHeldBytes} bytes of records were held (maxHeldBytes)`, at);
      }
    }
  }

  /** One record, in order. 'hold' when it needs a key we do not have yet. */
  private processRecord(side: TlsSide, record: TlsRecord, at: At): 'done' | 'hold' {
    const dir = this.sides[side];
    if (record.contentType === ContentType.CHANGE_CIPHER_SPEC) {
      // In 1.3 (and before any ServerHello: 1.3's middlebox-compatibility CCS after a HelloRetryRequest) it means nothing.
      if (!this.tls13 && this.serverHello !== undefined) {
        dir.protected = true;
        dir.decryptor = undefined; // a fresh one with sequence 0 under the new keys
      }
      return 'done';
    }
    if (!dir.protected) {
      this.plaintextRecord(side, record, at);
      return 'done';
    }
    if (dir.decryptor === undefined) {
      const installed = this.installDecryptor(side, at);
      if (installed === 'hold') return 'hold';
      if (installed === 'failed' || dir.decryptor === undefined) return 'done';
    }
    const result = (dir.decryptor as RecordDecryptor).decrypt(record.contentType, record.version, record.fragment);
    if (!result.ok) {
      if (side === 'client' && this.skipRejectedEarlyData && !dir.handshakeDone) {
        // 0-RTT data the server refused, under a key we do not use: skip it (RFC 8446 §4.2.10).
        (dir.decryptor as RecordDecryptor).seq--;
        return 'done';
      }
      const message = result.failure === 'bad-record-mac'
        ? `a ${side} record at stream offset ${record.offset} did not authenticate (wrong key, or altered bytes)`
        : `a ${side} record at stream offset ${record.offset} is too short or badly padded for ${this.suite?.name ?? 'its cipher'}`;
      this.stop(result.failure === 'bad-record-mac' ? 'bad-record-mac' : 'malformed', side, message, at);
      return 'done';
    }
    if (side === 'client') this.skipRejectedEarlyData = false;
    if (this.status === 'pending') this.status = 'decrypting';
    this.info.decryptable = true;
    this.protectedContent(side, result.contentType, result.plaintext, at);
    return 'done';
  }

  private plaintextRecord(side: TlsSide, record: TlsRecord, at: At): void {
    switch (record.contentType) {
      case ContentType.HANDSHAKE: this.handshakeBytes(side, record.fragment, at); break;
      case ContentType.APPLICATION_DATA:
        if (side === 'client' && this.clientHello?.earlyData === true && this.serverHello === undefined) return; // 0-RTT before the ServerHello
        this.fail('handshake-not-captured', 'application data before a captured handshake (the capture started mid-connection)', at);
        break;
      default: break; // plaintext alerts, heartbeats
    }
  }

  private protectedContent(side: TlsSide, contentType: number, plaintext: Buffer, at: At): void {
    switch (contentType) {
      case ContentType.APPLICATION_DATA:
        this.sendInfo(at);
        if (plaintext.length > 0) this.handlers.data(side, plaintext, at);
        break;
      case ContentType.HANDSHAKE: this.handshakeBytes(side, plaintext, at); break;
      default: break; // alerts (close_notify), heartbeats
    }
  }

  private handshakeBytes(side: TlsSide, bytes: Buffer, at: At): void {
    const dir = this.sides[side];
    const messages = dir.handshake.push(bytes);
    if (messages === undefined) {
      this.stop('malformed', side, `a ${side} handshake message is longer than we assemble`, at);
      return;
    }
    for (const m of messages) {
      if (this.status === 'failed' || dir.dead) return;
      this.handshakeMessage(side, m, at);
    }
  }

  private handshakeMessage(side: TlsSide, m: HandshakeMessage, at: At): void {
    if (!this.tls13 && !this.sides[side].protected) this.keepTranscript(m);
    switch (m.type) {
      case HandshakeType.CLIENT_HELLO: if (side === 'client') this.onClientHello(m, at); break;
      case HandshakeType.SERVER_HELLO: if (side === 'server') this.onServerHello(m, at); break;
      case HandshakeType.ENCRYPTED_EXTENSIONS: {
        const ee = parseEncryptedExtensions(m.body);
        if (ee?.alpn !== undefined) this.info.alpn = ee.alpn;
        if (ee !== undefined && !ee.earlyData && this.clientHello?.earlyData === true) this.skipRejectedEarlyData = true;
        break;
      }
      case HandshakeType.CERTIFICATE:
        if (side === 'server') this.info.certificates = parseCertificates(m.body, this.tls13) ?? [];
        break;
      case HandshakeType.NEW_SESSION_TICKET:
        if (!this.tls13 && side === 'server') {
          this.ticket = parseNewSessionTicket12(m.body);
          if (this.ticket !== undefined && this.masterSecret !== undefined) this.cache.remember(this.ticket, this.masterSecret);
        }
        break;
      case HandshakeType.CLIENT_KEY_EXCHANGE:
        if (this.serverHello?.extendedMasterSecret === true) this.sessionHash = this.transcriptHash();
        break;
      case HandshakeType.FINISHED:
        if (this.tls13) this.onFinished13(side);
        break;
      case HandshakeType.KEY_UPDATE:
        if (this.tls13) this.onKeyUpdate(side, m, at);
        break;
      default: break;
    }
  }

  private onClientHello(m: HandshakeMessage, at: At): void {
    const hello = parseClientHello(m.body);
    if (hello === undefined) {
      this.fail('malformed', 'a ClientHello that cannot be parsed', at);
      return;
    }
    if (this.clientHello === undefined) {
      // The first ClientHello names the connection (the second, after a HelloRetryRequest, keeps the random).
      this.info.ja4 = ja4(hello);
      this.info.clientRandom = hello.random.toString('hex');
    }
    this.clientHello = hello;
    if (hello.sni !== undefined) this.info.sni = hello.sni;
    this.info.alpnOffered = hello.alpn;
  }

  private onServerHello(m: HandshakeMessage, at: At): void {
    const hello = parseServerHello(m.body);
    if (hello === undefined) {
      this.fail('malformed', 'a ServerHello that cannot be parsed', at);
      return;
    }
    if (this.clientHello === undefined) {
      this.fail('handshake-not-captured', 'a ServerHello without a captured ClientHello', at);
      return;
    }
    this.info.version = versionName(hello.version);
    this.info.cipherSuiteId = hello.cipherSuite;
    this.info.cipherSuite = cipherSuite(hello.cipherSuite)?.name ?? '0x' + hello.cipherSuite.toString(16).padStart(4, '0');
    if (hello.helloRetryRequest) {
      this.info.helloRetryRequest = true;
      return; // the client sends a second ClientHello; the real ServerHello follows
    }
    this.serverHello = hello;
    this.tls13 = hello.version === 0x0304;
    if (hello.alpn !== undefined) this.info.alpn = hello.alpn;
    if (hello.version !== 0x0303 && hello.version !== 0x0304) {
      this.fail('unsupported-cipher', `${versionName(hello.version)} is not decrypted (TLS 1.2 and 1.3 only)`, at);
      return;
    }
    const suite = cipherSuite(hello.cipherSuite);
    if (suite === undefined || suite.tls13 !== this.tls13) {
      this.fail('unsupported-cipher', `cipher suite ${this.info.cipherSuite} is not decrypted`, at);
      return;
    }
    this.suite = suite;
    if (this.tls13) {
      this.info.resumed = hello.preSharedKey;
      // Everything after the ServerHello is protected, both ways.
      this.sides.server.protected = true;
      this.sides.client.protected = true;
    } else {
      const ch = this.clientHello;
      this.info.extendedMasterSecret = hello.extendedMasterSecret;
      if (suite.mac !== undefined) this.info.encryptThenMac = hello.encryptThenMac;
      this.info.resumed = ch.sessionId.length > 0 && ch.sessionId.equals(hello.sessionId);
    }
  }

  /** 1.3: after a side's Finished its records use the application secret (installed when the next record comes). */
  private onFinished13(side: TlsSide): void {
    const dir = this.sides[side];
    if (dir.handshakeDone) return;
    dir.handshakeDone = true;
    dir.decryptor = undefined;
  }

  private onKeyUpdate(side: TlsSide, m: HandshakeMessage, at: At): void {
    const dir = this.sides[side];
    if (parseKeyUpdate(m.body) === undefined || dir.trafficSecret === undefined) {
      this.stop('malformed', side, 'a KeyUpdate that cannot be used', at);
      return;
    }
    const suite = this.suite as CipherSuite;
    dir.trafficSecret = nextTrafficSecret13(suite, dir.trafficSecret);
    dir.decryptor = new RecordDecryptor(suite, trafficKeys13(suite, dir.trafficSecret), true);
  }

  /** Makes the decryptor a protected record of `side` needs, or says why it cannot. */
  private installDecryptor(side: TlsSide, at: At): 'ok' | 'hold' | 'failed' {
    if (this.clientHello === undefined || this.serverHello === undefined || this.suite === undefined) {
      this.fail('handshake-not-captured', 'protected records without a captured ClientHello and ServerHello', at);
      return 'failed';
    }
    const suite = this.suite;
    if (this.tls13) {
      const secrets = this.lookup();
      const dir = this.sides[side];
      const secret = dir.handshakeDone
        ? (side === 'client' ? secrets?.clientTraffic0 : secrets?.serverTraffic0)
        : (side === 'client' ? secrets?.clientHandshakeTraffic : secrets?.serverHandshakeTraffic);
      if (secret === undefined) return 'hold';
      if (dir.handshakeDone) dir.trafficSecret = secret;
      dir.decryptor = new RecordDecryptor(suite, trafficKeys13(suite, secret), true);
      return 'ok';
    }
    if (this.keys12 === undefined) {
      const master = this.findMasterSecret();
      if (master === undefined) return 'hold';
      this.masterSecret = master;
      this.keys12 = keyBlock12(suite, master, this.clientHello.random, this.serverHello.random);
      this.cache.remember(this.serverHello.sessionId, master);
      if (this.ticket !== undefined) this.cache.remember(this.ticket, master);
    }
    const etm = suite.mac !== undefined && this.serverHello.encryptThenMac;
    this.sides[side].decryptor = new RecordDecryptor(suite, this.keys12[side] as DirectionKeys, false, etm);
    return 'ok';
  }

  private lookup(): TlsSecrets | undefined {
    if (this.secrets === undefined && this.clientHello !== undefined) this.secrets = this.keySource.lookup(this.clientHello.random);
    return this.secrets;
  }

  private findMasterSecret(): Buffer | undefined {
    const ch = this.clientHello as ClientHello;
    const sh = this.serverHello as ServerHello;
    const secrets = this.lookup();
    if (secrets?.masterSecret !== undefined) return secrets.masterSecret;
    if (secrets?.preMasterSecret !== undefined) {
      if (sh.extendedMasterSecret && this.sessionHash === undefined) return undefined;
      return masterSecret12(this.suite?.prfHash ?? 'sha256', secrets.preMasterSecret, ch.random, sh.random,
        sh.extendedMasterSecret ? this.sessionHash : undefined);
    }
    if (this.info.resumed) return this.cache.find(sh.sessionId);
    if (ch.sessionTicket !== undefined) {
      const m = this.cache.find(ch.sessionTicket);
      if (m !== undefined) this.info.resumed = true;
      return m;
    }
    return undefined;
  }

  private keepTranscript(m: HandshakeMessage): void {
    if (this.transcriptBytes + m.raw.length > MAX_TRANSCRIPT) return;
    this.transcript.push(Buffer.from(m.raw));
    this.transcriptBytes += m.raw.length;
  }

  private transcriptHash(): Buffer {
    const h = createHash(this.suite?.prfHash ?? 'sha256');
    for (const b of this.transcript) h.update(b);
    this.transcript = [];
    return h.digest();
  }

  /** Decryption stops for one side; before anything was decrypted that is the whole connection. */
  private stop(reason: TlsErrorReason, side: TlsSide, message: string, at: At): void {
    if (this.status !== 'decrypting') {
      this.fail(reason, message, at, side);
      return;
    }
    this.sides[side].dead = true;
    this.held = this.held.filter((h) => h.side !== side);
    this.heldBytes = this.held.reduce((n, r) => n + r.record.fragment.length, 0);
    this.handlers.error(reason, side, message, at);
  }

  /** Nothing of this connection will be decrypted. */
  private fail(reason: TlsErrorReason, message: string, at: At, side?: TlsSide): void {
    if (this.status === 'failed') return;
    const wasDecrypting = this.status === 'decrypting';
    this.status = 'failed';
    this.failure = reason;
    this.held = [];
    this.heldBytes = 0;
    this.sides.client.dead = true;
    this.sides.server.dead = true;
    if (!wasDecrypting) {
      this.info.decryptable = false;
      this.info.reason = reason;
    }
    this.sendInfo(at);
    this.handlers.error(reason, side, message, at);
  }

  private sendInfo(at: At): void {
    if (this.infoSent) return;
    this.infoSent = true;
    this.handlers.connection(this.summary, at);
  }
}

function newDirection(): Direction {
  return {
    reader: new TlsRecordReader(), handshake: new HandshakeReader(), protected: false, handshakeDone: false, dead: false,
  };
}
