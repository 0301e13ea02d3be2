/**
 * Stable error codes. Per-packet and per-flow problems are events or values; only a failing source or
 * sink errors a stream, and then with a `CaptureError` carrying one of these codes.
 */
export type CaptureErrorCode =
  | 'PCAP_TRUNCATED' // the input ended inside a file header, block or record
  | 'PCAP_BAD_MAGIC' // the first bytes are neither classic pcap nor pcapng
  | 'PCAP_BAD_VERSION' // a classic pcap or pcapng section version we cannot read
  | 'PCAP_BAD_BLOCK' // a pcapng block whose lengths are inconsistent
  | 'PCAP_RECORD_TOO_LARGE' // a record larger than the reader's named limit
  | 'PCAP_NO_INTERFACE' // a pcapng packet names an interface never described
  | 'PCAP_WRITE' // a writer cannot represent what it was given
  | 'ADDON_UNAVAILABLE' // the libpcap addon is not built
  | 'PCAP_LIVE' // libpcap reported an error on a live handle
  | 'BPF_SYNTAX'; // a filter expression did not compile

export class CaptureError extends Error {
  readonly code: CaptureErrorCode;
  /** Byte offset in the input where the problem was seen, when it is about input bytes. */
  readonly offset?: number;
  constructor(code: CaptureErrorCode, message: string, offset?: number) {
    super(message);
    this.name = 'CaptureError';
    this.code = code;
    if (offset !== undefined) this.offset = offset;
  }
}

export function isCaptureError(e: unknown, code?: CaptureErrorCode): e is CaptureError {
  return e instanceof CaptureError && (code === undefined || e.code === code);
}
