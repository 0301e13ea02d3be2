/**
 * Header block assembly of the HTTP/2 parser (RFC 9113 4.3, 6.2, 6.6, 6.10): HEADERS and PUSH_PROMISE
 * payloads (padding, priority, promised stream), CONTINUATION frames gathered up to maxHeaderBlockBytes,
 * and at END_HEADERS the HPACK decoding of the whole block. A block that is too long is skipped and its
 * HPACK table insertions are lost with it (the table is forgotten, so later blocks report what they
 * cannot know instead of decoding wrong names). The decoded fields go to the stream layer
 * (lib/http2/stream-state.ts).
 */
import type { CaptureAt, HeaderField } from '../http/events.js';
import type { Http2ErrorCode } from './events.js';
import {
  Flag,
  FrameType,
  isProblem,
  parseHeadersPayload,
  parsePushPromisePayload,
  type FrameHeader,
} from './frames.js';
import { Http2FrameReader, type DirectionState, type OpenBlock } from './frame-reader.js';

/** Pseudo-header fields (":method", ...) split from the regular fields of a decoded block. */
export interface SplitFields {
  regular: HeaderField[];
  method?: string;
  path?: string;
  authority?: string;
  scheme?: string;
  status?: string;
  protocol?: string;
  hasPseudo: boolean;
}

export function splitPseudo(fields: HeaderField[]): SplitFields {
  const out: SplitFields = { regular: [], hasPseudo: false };
  for (const field of fields) {
    const name = field[0];
    if (name.charCodeAt(0) !== 0x3a) {
      out.regular.push(field);
      continue;
    }
    out.hasPseudo = true;
    switch (name) {
      case ':method': out.method = field[1]; break;
      case ':path': out.path = field[1]; break;
      case ':authority': out.authority = field[1]; break;
      case ':scheme': out.scheme = field[1]; break;
      case ':status': out.status = field[1]; break;
      case ':protocol': out.protocol = field[1]; break;
      default: out.regular.push(field); break; // an unknown pseudo-header: shown as it is
    }
  }
  return out;
}

/** Header blocks of both directions: gathered, bounded, decoded; what they mean is the subclass's. */
export abstract class Http2HeaderBlocks extends Http2FrameReader {
  protected onHeadersFrame(d: DirectionState, f: FrameHeader, payload: Buffer, frameAt: CaptureAt, at: CaptureAt): void {
    const overflow = f.length > this._opts.maxHeaderBlockBytes;
    const parsed = overflow ? undefined : parseHeadersPayload(f, payload);
    if (parsed !== undefined && isProblem(parsed)) {
      this.error(d, at, 'H2_FRAME', `${parsed.error}: ${parsed.problem}`, f.streamId);
      d.hpack.forgetTable();
      if ((f.flags & Flag.END_HEADERS) === 0) this.openBlock(d, f, 0, true, frameAt);
      return;
    }
    this.openBlock(d, f, 0, overflow, frameAt);
    if (parsed) this.addFragment(d, parsed.fragment);
    if ((f.flags & Flag.END_HEADERS) !== 0) this.closeBlock(d, at);
  }

  protected onPushPromiseFrame(d: DirectionState, f: FrameHeader, payload: Buffer, frameAt: CaptureAt, at: CaptureAt): void {
    const overflow = f.length > this._opts.maxHeaderBlockBytes;
    const parsed = overflow ? undefined : parsePushPromisePayload(f, payload);
    if (parsed !== undefined && isProblem(parsed)) {
      this.error(d, at, 'H2_FRAME', `${parsed.error}: ${parsed.problem}`, f.streamId);
      d.hpack.forgetTable();
      if ((f.flags & Flag.END_HEADERS) === 0) this.openBlock(d, f, 0, true, frameAt);
      return;
    }
    if (d.from === 'client') this.error(d, at, 'H2_FRAME', 'PROTOCOL_ERROR: PUSH_PROMISE sent by the client', f.streamId);
    this.openBlock(d, f, parsed?.promisedStreamId ?? 0, overflow, frameAt);
    if (parsed) this.addFragment(d, parsed.fragment);
    if ((f.flags & Flag.END_HEADERS) !== 0) this.closeBlock(d, at);
  }

  protected onContinuation(d: DirectionState, f: FrameHeader, payload: Buffer, at: CaptureAt): void {
    const block = d.block;
    if (!block) return;
    if (!block.overflow && block.bytes + f.length > this._opts.maxHeaderBlockBytes) this.overflowBlock(d, at);
    if (!block.overflow) this.addFragment(d, payload);
    if ((f.flags & Flag.END_HEADERS) !== 0) this.closeBlock(d, at);
  }

  protected openBlock(d: DirectionState, f: FrameHeader, promisedStreamId: number, overflow: boolean, at: CaptureAt): void {
    d.block = {
      streamId: f.streamId, type: f.type, endStream: f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0,
      promisedStreamId, fragments: [], bytes: 0, overflow: false, at,
    };
    if (overflow) this.overflowBlock(d, at);
  }

  protected addFragment(d: DirectionState, fragment: Buffer): void {
    const block = d.block!;
    if (fragment.length === 0) return;
    block.fragments.push(fragment);
    block.bytes += fragment.length;
  }

  protected overflowBlock(d: DirectionState, at: CaptureAt): void {
    const block = d.block!;
    block.overflow = true;
    block.fragments = [];
    block.bytes = 0;
    this.error(d, at, 'H2_HEADER_BLOCK_TOO_LARGE', `header block of stream ${block.streamId} longer than maxHeaderBlockBytes ${this._opts.maxHeaderBlockBytes}: skipped`, block.streamId);
    d.hpack.forgetTable(); // its table insertions are lost with it
  }

  /** END_HEADERS: decode the block and act on it. */
  protected closeBlock(d: DirectionState, at: CaptureAt): void {
    const block = d.block!;
    d.block = undefined;
    if (block.overflow) {
      this.onSkippedBlock(d, block, at);
      return;
    }
    const bytes = block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments, block.bytes);
    const result = d.hpack.decode(bytes);
    if (result.problem) {
      const code: Http2ErrorCode = result.problem.code === 'HPACK_UNKNOWN_ENTRY' ? 'H2_HPACK_UNKNOWN' : 'H2_HPACK';
      const detail = result.problem.code === 'HPACK_UNKNOWN_ENTRY'
        ? `${result.unknownFields} header field(s) of stream ${block.streamId} refer to HPACK table entries from before the capture`
        : `${result.problem.code}: ${result.problem.message}`;
      this.error(d, at, code, detail, block.streamId);
    }
    const fields = splitPseudo(result.fields);
    if (block.type === FrameType.PUSH_PROMISE) this.onPushPromise(d, block, fields, result.unknownFields, at);
    else this.onHeaders(d, block, fields, result.unknownFields, at);
  }

  /** A decoded HEADERS block (a request or response head, or trailers). */
  protected abstract onHeaders(d: DirectionState, block: OpenBlock, fields: SplitFields, unknown: number, at: CaptureAt): void;
  /** A decoded PUSH_PROMISE block: the promised request. */
  protected abstract onPushPromise(d: DirectionState, block: OpenBlock, fields: SplitFields, unknown: number, at: CaptureAt): void;
  /** A block skipped for its size ended: its stream is known to exist, its fields are not. */
  protected abstract onSkippedBlock(d: DirectionState, block: OpenBlock, at: CaptureAt): void;
}
