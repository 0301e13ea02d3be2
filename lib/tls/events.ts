/**
 * What the TLS stage reports about a connection, besides the decrypted bytes (which go on as ordinary
 * TCP `data` events, see streams/tls.ts): one `tls-connection` per TLS connection, and `tls-error`
 * for every reason decryption stopped or could not start. Neither ever carries key material.
 */
import type { TcpEventBase, TcpSide } from '../tcp/events';
import type { TlsErrorCode } from '../core/errors';
import type { CertificateSummary } from './handshake';

export type TlsErrorReason =
  /** The key log has no secret for this connection's client random (within the wait limits). */
  | 'no-key'
  /** The ClientHello/ServerHello were not in the capture (it started mid-connection). */
  | 'handshake-not-captured'
  /** A cipher suite (or version) we do not decrypt. */
  | 'unsupported-cipher'
  /** A record did not authenticate: a wrong key, or altered bytes. */
  | 'bad-record-mac'
  /** Bytes of the TCP stream are missing: later records cannot be decrypted. */
  | 'gap'
  /** The connection ended inside a record (its last bytes were not captured). */
  | 'truncated-record'
  /** Bytes that are not a valid TLS record or handshake message. */
  | 'malformed';

/** What we know of a TLS connection; everything optional is absent when it was not seen. */
export interface TlsConnectionInfo {
  /** Negotiated version, "TLS 1.2" / "TLS 1.3" (from supported_versions when present). */
  version?: string;
  cipherSuite?: string;
  cipherSuiteId?: number;
  sni?: string;
  /** The protocol the server selected (ServerHello in 1.2, EncryptedExtensions in 1.3: needs keys). */
  alpn?: string;
  /** What the client offered. */
  alpnOffered: string[];
  /** Server chain, leaf first: visible in TLS 1.2, and in TLS 1.3 when the handshake was decrypted. */
  certificates: CertificateSummary[];
  ja4?: string;
  /** Client random as hex: the key log's lookup key (public: it travels in the clear). */
  clientRandom?: string;
  resumed: boolean;
  /** TLS 1.2: RFC 7627 extended master secret negotiated. */
  extendedMasterSecret?: boolean;
  /** TLS 1.2 CBC suites: RFC 7366 encrypt-then-MAC in use. */
  encryptThenMac?: boolean;
  helloRetryRequest: boolean;
  /** True when records of this connection were decrypted. */
  decryptable: boolean;
  /** Why not, when decryptable is false. */
  reason?: TlsErrorReason;
}

export interface TlsConnectionEvent extends Omit<TcpEventBase, 'type'>, TlsConnectionInfo {
  type: 'tls-connection';
}

export interface TlsErrorEvent extends Omit<TcpEventBase, 'type'> {
  type: 'tls-error';
  /** Stable code of the one error model (lib/core/errors.ts). */
  code: TlsErrorCode;
  reason: TlsErrorReason;
  /** The side whose records are affected, when it is one side. */
  from?: TcpSide;
  /** Human-readable detail (never a secret). */
  message: string;
}

const CODE_OF: Record<TlsErrorReason, TlsErrorCode> = {
  'no-key': 'TLS_NO_KEY',
  'handshake-not-captured': 'TLS_HANDSHAKE_NOT_CAPTURED',
  'unsupported-cipher': 'TLS_UNSUPPORTED_CIPHER',
  'bad-record-mac': 'TLS_BAD_RECORD_MAC',
  gap: 'TLS_GAP',
  'truncated-record': 'TLS_TRUNCATED_RECORD',
  malformed: 'TLS_MALFORMED',
};

export function tlsErrorCode(reason: TlsErrorReason): TlsErrorCode {
  return CODE_OF[reason];
}

export type TlsEvent = TlsConnectionEvent | TlsErrorEvent;

export function isTlsEvent(x: unknown): x is TlsEvent {
  const t = typeof x === 'object' && x !== null ? (x as { type?: unknown }).type : undefined;
  return t === 'tls-connection' || t === 'tls-error';
}
