/**
 * The TLS record layer (RFC 5246 §6.2, RFC 8446 §5.1) over one direction of a reassembled TCP stream:
 * bytes in, whole records out. A record may be split over many segments, and a segment may carry
 * several records; only the bytes of one unfinished record are buffered (copied once, into a buffer of
 * its length), and a record is at most MAX_RECORD_FRAGMENT bytes, so the buffer is bounded. Whole
 * records inside a segment are handed on as views, never copied.
 */

export const TLS_RECORD_HEADER_LENGTH = 5;
/** 2^14 plaintext + 2048 bytes of expansion: the largest TLSCiphertext of TLS 1.2 (1.3 allows 2^14 + 256). */
export const MAX_RECORD_FRAGMENT = 16384 + 2048;

export const ContentType = {
  CHANGE_CIPHER_SPEC: 20,
  ALERT: 21,
  HANDSHAKE: 22,
  APPLICATION_DATA: 23,
  HEARTBEAT: 24,
} as const;

export interface TlsRecord {
  contentType: number;
  /** Record-layer version (0x0303 for TLS 1.2 and 1.3, 0x0301 in many first ClientHellos). */
  version: number;
  fragment: Buffer;
  /** Stream offset of the record header in its direction. */
  offset: number;
}

export type RecordProblem =
  /** The header is not a TLS record header (unknown content type or version): not TLS, or out of sync. */
  | 'not-tls'
  /** The length field is over MAX_RECORD_FRAGMENT. */
  | 'record-too-large';

/** True when `b[off..off+3)` looks like a TLS record header: known content type, version 3.0-3.4. */
export function looksLikeRecordHeader(b: Uint8Array, off = 0): boolean {
  return b.length - off >= 3 && b[off] >= ContentType.CHANGE_CIPHER_SPEC && b[off] <= ContentType.HEARTBEAT &&
    b[off + 1] === 3 && b[off + 2] <= 4;
}

/**
 * Cuts one direction's byte stream into records. After a problem the reader stops (it cannot find the
 * next record boundary reliably); `failed` says why.
 */
export class TlsRecordReader {
  /** Stream offset of the next byte `push` receives. */
  private position = 0;
  /** The first bytes (fewer than a header) of an unfinished record. */
  private readonly head = Buffer.alloc(TLS_RECORD_HEADER_LENGTH);
  private headHave = 0;
  /**
   * An unfinished record whose header is known: a buffer of its whole length (header included), filled as
   * its bytes come. Only the record that spans segments is copied; the records after it in the same
   * segment are handed on as views of the caller's bytes.
   */
  private partial: Buffer | undefined;
  private partialHave = 0;
  /** Stream offset of the unfinished record's header. */
  private partialOffset = 0;
  failed: RecordProblem | undefined;

  /** Bytes buffered in an unfinished record. */
  get buffered(): number {
    return this.partial !== undefined ? this.partialHave : this.headHave;
  }

  /** Feeds stream bytes; calls `onRecord` for every record they complete. Returns a problem when one is found. */
  push(bytes: Buffer, onRecord: (r: TlsRecord) => void): RecordProblem | undefined {
    if (this.failed !== undefined) return this.failed;
    const base = this.position;
    this.position += bytes.length;
    let off = 0;
    if (this.headHave > 0 || this.partial !== undefined) {
      off = this.continueRecord(bytes, onRecord);
      if (this.failed !== undefined) return this.failed;
    }
    while (bytes.length - off >= TLS_RECORD_HEADER_LENGTH) {
      if (!looksLikeRecordHeader(bytes, off)) return this.fail('not-tls');
      const length = (bytes[off + 3] << 8) | bytes[off + 4];
      if (length > MAX_RECORD_FRAGMENT) return this.fail('record-too-large');
      const end = off + TLS_RECORD_HEADER_LENGTH + length;
      if (end > bytes.length) break;
      onRecord({
        contentType: bytes[off],
        version: (bytes[off + 1] << 8) | bytes[off + 2],
        fragment: bytes.subarray(off + TLS_RECORD_HEADER_LENGTH, end),
        offset: base + off,
      });
      off = end;
    }
    if (off < bytes.length) {
      // Partial header is checked as far as it goes, so garbage is refused early.
      if (!this.plausibleHead(bytes, off, bytes.length - off)) return this.fail('not-tls');
      // A private copy: the caller's buffer may be a view of a packet it will not keep.
      if (bytes.length - off >= TLS_RECORD_HEADER_LENGTH) {
        this.startPartial(bytes, off, base + off);
      } else {
        bytes.copy(this.head, 0, off);
        this.headHave = bytes.length - off;
        this.partialOffset = base + off;
      }
    }
    return undefined;
  }

  /** The first `n` bytes of a header at `b[off]` could start a record (the checks `push` makes on whole headers). */
  private plausibleHead(b: Uint8Array, off: number, n: number): boolean {
    if (n >= 3) return looksLikeRecordHeader(b, off);
    return b[off] >= ContentType.CHANGE_CIPHER_SPEC && b[off] <= ContentType.HEARTBEAT;
  }

  /** A record whose whole header is at `b[off]` and whose end is not in `b`: copied into its own buffer. */
  private startPartial(b: Buffer, off: number, offset: number): void {
    const length = (b[off + 3] << 8) | b[off + 4];
    const partial = Buffer.allocUnsafe(TLS_RECORD_HEADER_LENGTH + length);
    this.partialHave = b.copy(partial, 0, off);
    this.partial = partial;
    this.partialOffset = offset;
  }

  /**
   * Completes the unfinished record (or its header) from the front of `bytes`; returns how many bytes of
   * `bytes` it took. Sets `failed` when the completed header is not a record header.
   */
  private continueRecord(bytes: Buffer, onRecord: (r: TlsRecord) => void): number {
    let off = 0;
    if (this.partial === undefined) {
      const n = Math.min(TLS_RECORD_HEADER_LENGTH - this.headHave, bytes.length);
      bytes.copy(this.head, this.headHave, 0, n);
      this.headHave += n;
      off = n;
      if (!this.plausibleHead(this.head, 0, this.headHave)) { this.fail('not-tls'); return off; }
      if (this.headHave < TLS_RECORD_HEADER_LENGTH) return off;
      const length = (this.head[3] << 8) | this.head[4];
      if (length > MAX_RECORD_FRAGMENT) { this.fail('record-too-large'); return off; }
      this.headHave = 0;
      this.startPartial(this.head, 0, this.partialOffset);
    }
    const partial = this.partial as Buffer;
    const take = Math.min(partial.length - this.partialHave, bytes.length - off);
    bytes.copy(partial, this.partialHave, off, off + take);
    this.partialHave += take;
    off += take;
    if (this.partialHave === partial.length) {
      this.partial = undefined;
      this.partialHave = 0;
      onRecord({
        contentType: partial[0],
        version: (partial[1] << 8) | partial[2],
        fragment: partial.subarray(TLS_RECORD_HEADER_LENGTH),
        offset: this.partialOffset,
      });
    }
    return off;
  }

  private fail(problem: RecordProblem): RecordProblem {
    this.failed = problem;
    this.headHave = 0;
    this.partial = undefined;
    this.partialHave = 0;
    return problem;
  }
}
