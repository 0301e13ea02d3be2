/**
 * The TLS record layer (RFC 5246 §6.2, RFC 8446 §5.1) over one direction of a reassembled TCP stream:
 * bytes in, whole records out. A record may be split over many segments, and a segment may carry
 * several records; only the bytes of one unfinished record are buffered, and a record is at most
 * MAX_RECORD_FRAGMENT bytes, so the buffer is bounded.
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
  /** Bytes of an unfinished record (header included), as pieces; `pendingLength` counts them. */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  failed: RecordProblem | undefined;

  /** Bytes buffered in an unfinished record. */
  get buffered(): number {
    return this.pendingLength;
  }

  /** Feeds stream bytes; calls `onRecord` for every record they complete. Returns a problem when one is found. */
  push(bytes: Buffer, onRecord: (r: TlsRecord) => void): RecordProblem | undefined {
    if (this.failed !== undefined) return this.failed;
    let data = bytes;
    let dataOffset = this.position;
    this.position += bytes.length;
    if (this.pendingLength > 0) {
      this.pending.push(bytes);
      this.pendingLength += bytes.length;
      data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
      dataOffset = this.position - this.pendingLength;
      this.pending = [];
      this.pendingLength = 0;
    }
    let off = 0;
    while (data.length - off >= TLS_RECORD_HEADER_LENGTH) {
      if (!looksLikeRecordHeader(data, off)) return this.fail('not-tls');
      const length = (data[off + 3] << 8) | data[off + 4];
      if (length > MAX_RECORD_FRAGMENT) return this.fail('record-too-large');
      const end = off + TLS_RECORD_HEADER_LENGTH + length;
      if (end > data.length) break;
      onRecord({
        contentType: data[off],
        version: (data[off + 1] << 8) | data[off + 2],
        fragment: data.subarray(off + TLS_RECORD_HEADER_LENGTH, end),
        offset: dataOffset + off,
      });
      off = end;
    }
    if (off < data.length) {
      // Partial header is checked as far as it goes, so garbage is refused early.
      if (data.length - off >= 3 && !looksLikeRecordHeader(data, off)) return this.fail('not-tls');
      if (data.length - off < 3 && (data[off] < ContentType.CHANGE_CIPHER_SPEC || data[off] > ContentType.HEARTBEAT)) {
        return this.fail('not-tls');
      }
      // A private copy: the caller's buffer may be a view of a packet it will not keep.
      const rest = Buffer.from(data.subarray(off));
      this.pending.push(rest);
      this.pendingLength = rest.length;
    }
    return undefined;
  }

  private fail(problem: RecordProblem): RecordProblem {
    this.failed = problem;
    this.pending = [];
    this.pendingLength = 0;
    return problem;
  }
}
