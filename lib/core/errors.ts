/**
 * The one error model. Every typed failure carries a stable `code` from `PcapPipeErrorCode`; users and
 * tests match on these strings, so they never change (new ones may be added).
 *
 * Two kinds of failure, by where they surface:
 * - Thrown / stream errors (an `Error` whose `code` is set): a failing source or sink, a live capture
 *   handle, a bad grep pattern. Classes: `CaptureError` (and its `LiveCaptureError`), `GrepPatternError`,
 *   all `PcapPipeError`s.
 * - Values and events (the pipeline keeps going): a layer that does not decode (`DecodeFailure` in
 *   `packet.errors`), an HTTP problem (`http-error` event), a WebSocket problem (`ws-error` event), a
 *   TLS connection that cannot be decrypted (`tls-error` event), an HTTP/2 problem (`h2-error` event,
 *   HPACK's reason on the decoder's result).
 *   TCP has no failure code: what goes wrong in a flow is itself an event (`gap` with its reason,
 *   `evicted`, `overlap-conflict`; see lib/tcp/events.ts).
 *
 * | code                        | where                 | meaning                                                                                   |
 * |-----------------------------|-----------------------|-------------------------------------------------------------------------------------------|
 * | PCAP_TRUNCATED              | CaptureError (read)   | the input ended inside a file header, block or record                                     |
 * | PCAP_BAD_MAGIC              | CaptureError (read)   | the first bytes are neither classic pcap nor pcapng                                       |
 * | PCAP_BAD_VERSION            | CaptureError (read)   | a classic pcap or pcapng section version we cannot read                                   |
 * | PCAP_BAD_BLOCK              | CaptureError (read)   | a pcapng block whose lengths are inconsistent                                             |
 * | PCAP_RECORD_TOO_LARGE       | CaptureError (read)   | a record larger than the reader's named limit                                             |
 * | PCAP_NO_INTERFACE           | CaptureError (read)   | a pcapng packet names an interface never described                                        |
 * | PCAP_WRITE                  | CaptureError (write)  | a writer cannot represent what it was given                                               |
 * | ADDON_UNAVAILABLE           | CaptureError (live)   | the libpcap addon is not built                                                            |
 * | PCAP_LIVE                   | LiveCaptureError      | libpcap reported an error on a live handle (`reason` holds libpcap's status name)         |
 * | BPF_SYNTAX                  | LiveCaptureError      | a filter expression did not compile                                                       |
 * | HAR_INVALID                 | CaptureError (read)   | a HAR document that is not JSON or has no log.entries                                     |
 * | GREP_PATTERN                | GrepPatternError      | a grep pattern that cannot be used (invalid regex, bad hex, options that do not combine)  |
 * | DECODE_TRUNCATED            | DecodeFailure (value) | the layer needs more bytes than were captured                                             |
 * | DECODE_MALFORMED            | DecodeFailure (value) | the layer's fields contradict each other or the protocol                                  |
 * | DECODE_UNSUPPORTED          | DecodeFailure (value) | a valid layer this library does not decode                                                |
 * | HTTP_DESYNC                 | http-error event      | bytes that are not a valid message where one must start; resynchronising                  |
 * | HTTP_MIDSTREAM              | http-error event      | the direction's first bytes were inside a message; skipped to the first message start     |
 * | HTTP_GAP                    | http-error event      | the TCP layer reported missing bytes                                                      |
 * | HTTP_HEADER_OVERFLOW        | http-error event      | start line + headers (or trailers) longer than maxHeaderBytes                             |
 * | HTTP_BAD_START_LINE         | http-error event      | a start line that is not a request or status line (shown flagged when lenient)            |
 * | HTTP_BAD_HEADER             | http-error event      | a header line that is not a field                                                         |
 * | HTTP_BAD_CONTENT_LENGTH     | http-error event      | Content-Length invalid or contradictory                                                   |
 * | HTTP_BAD_TRANSFER_ENCODING  | http-error event      | Transfer-Encoding this parser cannot frame                                                |
 * | HTTP_BAD_CHUNK              | http-error event      | a chunk-size line or chunk terminator that is not valid                                   |
 * | HTTP_DECODE                 | http-error event      | content decoding failed or was cut at maxDecodedLength                                    |
 * | HTTP_INCOMPLETE             | http-error event      | the connection ended inside a message                                                     |
 * | HTTP_UNPAIRED               | http-error event      | a response with no request waiting for it                                                 |
 * | WS_GAP                      | ws-error event        | the TCP layer reported missing bytes: this direction stops                                |
 * | WS_BAD_OPCODE               | ws-error event        | reserved opcode                                                                           |
 * | WS_RSV                      | ws-error event        | RSV bits not allowed here                                                                 |
 * | WS_BAD_LENGTH               | ws-error event        | 64-bit length with the top bit set, or not minimally encoded                              |
 * | WS_CONTROL_FRAME            | ws-error event        | control frame longer than 125 bytes or fragmented                                         |
 * | WS_TOO_LARGE                | ws-error event        | frame or message longer than maxMessageSize (a frame: skipped, its length is known)       |
 * | WS_TOO_MANY_FRAMES          | ws-error event        | a message of more than maxFramesPerMessage frames: dropped, later frames still read       |
 * | WS_FRAGMENTATION            | ws-error event        | continuation without a message, or a new message inside a fragmented one                  |
 * | WS_BAD_CLOSE                | ws-error event        | close frame with a 1-byte body or an invalid status code                                  |
 * | WS_INFLATE                  | ws-error event        | permessage-deflate data that does not inflate                                             |
 * | WS_MASK                     | ws-error event        | client frame not masked or server frame masked                                            |
 * | WS_INCOMPLETE               | ws-error event        | the connection ended inside a frame or message                                            |
 * | TLS_NO_KEY                  | tls-error event       | no secret for the connection's client random in the key log (within the wait limits)      |
 * | TLS_HANDSHAKE_NOT_CAPTURED  | tls-error event       | the ClientHello/ServerHello were not captured (a capture started mid-connection)          |
 * | TLS_UNSUPPORTED_CIPHER      | tls-error event       | a cipher suite or protocol version we do not decrypt                                      |
 * | TLS_BAD_RECORD_MAC          | tls-error event       | a record did not authenticate: wrong key, or altered bytes                                |
 * | TLS_GAP                     | tls-error event       | the TCP layer reported missing bytes: this side's later records cannot be decrypted       |
 * | TLS_TRUNCATED_RECORD        | tls-error event       | the connection ended inside a record                                                      |
 * | TLS_MALFORMED               | tls-error event       | bytes that are not a valid TLS record or handshake message                                |
 * | H2_BAD_PREFACE              | h2-error event        | the client did not start with the HTTP/2 connection preface                               |
 * | H2_FRAME                    | h2-error event        | a frame that breaks RFC 9113 (size, stream id, padding, settings): reported, skipped      |
 * | H2_MIDSTREAM                | h2-error event        | the capture starts inside the connection: skipped to the first frame boundary found       |
 * | H2_DESYNC                   | h2-error event        | frame boundaries lost (bytes that cannot be frames): hunting for the next one             |
 * | H2_GAP                      | h2-error event        | the TCP layer reported missing bytes                                                      |
 * | H2_HPACK                    | h2-error event        | a header block could not be (fully) decoded; the message names the HPACK_* reason         |
 * | H2_HPACK_UNKNOWN            | h2-error event        | a header block referenced HPACK table entries inserted before the capture                 |
 * | H2_HEADER_BLOCK_TOO_LARGE   | h2-error event        | HEADERS + CONTINUATION longer than maxHeaderBlockBytes (a CONTINUATION flood)             |
 * | H2_CONTINUATION             | h2-error event        | a header block interrupted by another frame, or CONTINUATION with no block open           |
 * | H2_STREAM_STATE             | h2-error event        | a frame not allowed in its stream's state (DATA on a closed stream, ...)                  |
 * | H2_STREAM_UNSEEN            | h2-error event        | a stream whose HEADERS the capture did not see: only its DATA is reported                 |
 * | H2_TOO_MANY_STREAMS         | h2-error event        | more than maxStreams streams open: the oldest is forgotten                                |
 * | H2_DECODE                   | h2-error event        | content decoding failed or was cut at maxDecodedLength                                    |
 * | H2_INCOMPLETE               | h2-error event        | the connection ended inside a stream or a frame                                           |
 * | HPACK_TRUNCATED             | HpackResult (value)   | the header block ends inside a representation                                             |
 * | HPACK_BAD_INTEGER           | HpackResult (value)   | an integer larger than 2^31                                                               |
 * | HPACK_BAD_INDEX             | HpackResult (value)   | index 0, or past the end of a table whose contents are known                              |
 * | HPACK_BAD_HUFFMAN           | HpackResult (value)   | EOS inside a string, or padding that is not a short prefix of EOS                         |
 * | HPACK_STRING_TOO_LONG       | HpackResult (value)   | a string literal longer than maxStringLength                                              |
 * | HPACK_TABLE_SIZE            | HpackResult (value)   | a size update above the allowed maximum, or after a header field                          |
 * | HPACK_LIST_TOO_LARGE        | HpackResult (value)   | the decoded header list passed maxHeaderListSize (an HPACK bomb)                          |
 * | HPACK_UNKNOWN_ENTRY         | HpackResult (value)   | a reference to a dynamic table entry the capture never saw inserted                       |
 */

/** Codes of a failing source or sink (reading, writing, live capture): the stream errors with a CaptureError. */
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
  | 'BPF_SYNTAX' // a filter expression did not compile
  | 'HAR_INVALID'; // a HAR document that is not JSON or has no log.entries

/** A grep pattern that cannot be used: commands exit 2 on it. */
export type GrepErrorCode = 'GREP_PATTERN';

/** Why a layer could not be decoded (DecodeFailure.code; `kind` says the same in lower case). */
export type DecodeErrorCode = 'DECODE_TRUNCATED' | 'DECODE_MALFORMED' | 'DECODE_UNSUPPORTED';

/** Codes of `http-error` events (lib/http/events.ts). */
export type HttpErrorCode =
  | 'HTTP_DESYNC' // bytes that are not a valid message where one must start; resynchronising
  | 'HTTP_MIDSTREAM' // the direction's first bytes were inside a message; skipped to the first message start
  | 'HTTP_GAP' // the TCP layer reported missing bytes
  | 'HTTP_HEADER_OVERFLOW' // start line + headers (or trailers) longer than maxHeaderBytes
  | 'HTTP_BAD_START_LINE'
  | 'HTTP_BAD_HEADER'
  | 'HTTP_BAD_CONTENT_LENGTH'
  | 'HTTP_BAD_TRANSFER_ENCODING'
  | 'HTTP_BAD_CHUNK'
  | 'HTTP_DECODE' // content decoding failed or was cut at maxDecodedLength
  | 'HTTP_INCOMPLETE' // the connection ended inside a message
  | 'HTTP_UNPAIRED'; // a response with no request waiting for it

/** Codes of `ws-error` events (lib/http/ws-events.ts). */
export type WsErrorCode =
  | 'WS_GAP' // the TCP layer reported missing bytes: this direction stops
  | 'WS_BAD_OPCODE' // reserved opcode
  | 'WS_RSV' // RSV bits not allowed here (RSV1 without permessage-deflate, on a continuation or control frame; RSV2/3)
  | 'WS_BAD_LENGTH' // 64-bit length with the top bit set, or not minimally encoded
  | 'WS_CONTROL_FRAME' // control frame longer than 125 bytes or fragmented
  | 'WS_TOO_LARGE' // frame or message longer than maxMessageSize
  | 'WS_TOO_MANY_FRAMES' // a message of more than maxFramesPerMessage frames (dropped)
  | 'WS_FRAGMENTATION' // continuation without a message, or a new message inside a fragmented one
  | 'WS_BAD_CLOSE' // close frame with a 1-byte body or an invalid status code
  | 'WS_INFLATE' // permessage-deflate data that does not inflate
  | 'WS_MASK' // client frame not masked or server frame masked
  | 'WS_INCOMPLETE'; // the connection ended inside a frame or message

/** Codes of `tls-error` events (lib/tls/events.ts; `reason` there says the same in lower case). */
export type TlsErrorCode =
  | 'TLS_NO_KEY' // no secret for the connection's client random in the key log (within the wait limits)
  | 'TLS_HANDSHAKE_NOT_CAPTURED' // the hellos were not captured (a capture started mid-connection)
  | 'TLS_UNSUPPORTED_CIPHER' // a cipher suite or protocol version we do not decrypt
  | 'TLS_BAD_RECORD_MAC' // a record did not authenticate: wrong key, or altered bytes
  | 'TLS_GAP' // the TCP layer reported missing bytes
  | 'TLS_TRUNCATED_RECORD' // the connection ended inside a record
  | 'TLS_MALFORMED'; // bytes that are not a valid TLS record or handshake message

/** Codes of `h2-error` events (lib/http2/events.ts). */
export type Http2ErrorCode =
  | 'H2_BAD_PREFACE' // the client's first bytes are not the connection preface
  | 'H2_FRAME' // a frame that breaks RFC 9113 (size, stream id, padding, flags): reported, skipped
  | 'H2_MIDSTREAM' // the capture starts inside the connection: skipped to the first frame boundary found
  | 'H2_DESYNC' // frame boundaries lost (bytes that cannot be frames): hunting for the next one
  | 'H2_GAP' // the TCP layer reported missing bytes
  | 'H2_HPACK' // a header block could not be (fully) decoded; the message says why (HPACK_* code)
  | 'H2_HPACK_UNKNOWN' // a header block referenced dynamic table entries from before the capture
  | 'H2_HEADER_BLOCK_TOO_LARGE' // HEADERS + CONTINUATION longer than maxHeaderBlockBytes (a CONTINUATION flood)
  | 'H2_CONTINUATION' // a header block interrupted by another frame, or a CONTINUATION with no block open
  | 'H2_STREAM_STATE' // a frame not allowed in its stream's state (DATA on a closed stream, ...)
  | 'H2_STREAM_UNSEEN' // a stream whose HEADERS the capture did not see: only its DATA is reported
  | 'H2_TOO_MANY_STREAMS' // more than maxStreams streams open: the oldest is forgotten
  | 'H2_DECODE' // content decoding failed or was cut at maxDecodedLength
  | 'H2_INCOMPLETE'; // the connection ended inside a stream or a frame

/** Why an HPACK header block did not decode cleanly (HpackResult.problem, lib/http2/hpack.ts). */
export type HpackErrorCode =
  | 'HPACK_TRUNCATED' // the block ends inside a representation
  | 'HPACK_BAD_INTEGER' // an integer longer than we accept (more than 2^31)
  | 'HPACK_BAD_INDEX' // index 0, or past the end of a table whose contents are known
  | 'HPACK_BAD_HUFFMAN' // EOS inside a string, or padding that is not a prefix of EOS / longer than 7 bits
  | 'HPACK_STRING_TOO_LONG' // a string literal longer than maxStringLength
  | 'HPACK_TABLE_SIZE' // a size update above the allowed maximum, or not at the start of a block
  | 'HPACK_LIST_TOO_LARGE' // the decoded header list passed maxHeaderListSize (an HPACK bomb)
  | 'HPACK_UNKNOWN_ENTRY'; // a reference to a dynamic table entry the capture never saw inserted

/** Every stable code, thrown or reported (the table above). */
export type PcapPipeErrorCode = CaptureErrorCode | GrepErrorCode | DecodeErrorCode | HttpErrorCode | WsErrorCode | TlsErrorCode
  | Http2ErrorCode | HpackErrorCode;

/** The codes an Error can carry (the others are on values and events, which are not thrown). */
export type ThrownErrorCode = CaptureErrorCode | GrepErrorCode;

/** Base of every error this library throws or errors a stream with: a message and a stable code. */
export class PcapPipeError<Code extends ThrownErrorCode = ThrownErrorCode> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string) {
    super(message);
    this.name = 'PcapPipeError';
    this.code = code;
  }
}

/**
 * A failing source or sink. Per-packet and per-flow problems are events or values; only a failing source
 * or sink errors a stream, and then with a `CaptureError` carrying one of these codes.
 */
export class CaptureError extends PcapPipeError<CaptureErrorCode> {
  /** Byte offset in the input where the problem was seen, when it is about input bytes. */
  readonly offset?: number;
  constructor(code: CaptureErrorCode, message: string, offset?: number) {
    super(code, message);
    this.name = 'CaptureError';
    if (offset !== undefined) this.offset = offset;
  }
}

/**
 * libpcap's status behind a live failure, e.g. 'NO_SUCH_DEVICE', 'PERM_DENIED', 'PROMISC_PERM_DENIED',
 * 'IFACE_NOT_UP', 'RFMON_NOTSUP', 'CLOSED', or 'ERROR' for everything else.
 */
export type LiveErrorReason = string;

/** A CaptureError from libpcap (code PCAP_LIVE or BPF_SYNTAX) with libpcap's status name. */
export class LiveCaptureError extends CaptureError {
  readonly reason: LiveErrorReason;
  constructor(code: CaptureErrorCode, message: string, reason: LiveErrorReason) {
    super(code, message);
    this.name = 'LiveCaptureError';
    this.reason = reason;
  }
}

/** A pattern that cannot be used (invalid regex, bad hex): commands exit 2 on it. */
export class GrepPatternError extends PcapPipeError<GrepErrorCode> {
  constructor(message: string) {
    super('GREP_PATTERN', message);
    this.name = 'GrepPatternError';
  }
}

export function isCaptureError(e: unknown, code?: CaptureErrorCode): e is CaptureError {
  return e instanceof CaptureError && (code === undefined || e.code === code);
}

/** True for any error this library throws, optionally with the given code. */
export function isPcapPipeError(e: unknown, code?: ThrownErrorCode): e is PcapPipeError {
  return e instanceof PcapPipeError && (code === undefined || e.code === code);
}
