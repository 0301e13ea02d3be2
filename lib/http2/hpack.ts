/**
 * HPACK (RFC 7541) header block decoding: the static table, one decoder's dynamic table with its size
 * updates, integers, string literals and the Huffman code — for a passive observer.
 *
 * A sniffer differs from an endpoint in two ways, and both shape this file:
 * - It may start watching after the dynamic table was filled (a capture that begins mid-connection, or a
 *   header block it had to skip). Then the table's contents are unknown. The decoder keeps going: the
 *   entries it sees inserted from then on are the newest ones, so a reference to one of them is exact
 *   (an encoder cannot reference position p unless every newer entry is still in its table), references
 *   past them are reported as unknown, and the table becomes known again when that is provable — a size
 *   update to 0, or known entries that fill the current maximum so no older entry can be left.
 * - The peer may be hostile. Every string, every header list and the table are bounded by named limits,
 *   and a problem is a typed result, never an exception.
 *
 * Why not a package: hpack.js (the one in wide use, via spdy) is a readable-stream Duplex that throws on
 * bad input and has no limits nor any notion of an unknown table; `hpack` (1.0.0) is unmaintained since
 * 2014 with the same gaps. Both are measured against this decoder in bench/ (see README's dependency notes).
 */
import type { HpackErrorCode } from '../core/errors.js';
import type { HeaderField } from '../http/events.js';

export interface HpackLimits {
  /**
   * The largest dynamic table size an encoder may switch to (SETTINGS_HEADER_TABLE_SIZE as the decoder
   * advertised it, capped by us): a size update above this is an error and the table is then unknown.
   */
  maxTableSize: number;
  /** Sum of (name + value + 32) over the fields of one block; past it the rest is not kept (typed error). */
  maxHeaderListSize: number;
  /** One string literal at most this long (its encoded length); longer: typed error. */
  maxStringLength: number;
}

export const DEFAULT_HPACK_LIMITS: Readonly<HpackLimits> = {
  maxTableSize: 64 * 1024,
  maxHeaderListSize: 256 * 1024,
  maxStringLength: 64 * 1024,
};

/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 6.5.2). */
export const DEFAULT_TABLE_SIZE = 4096;

export type { HpackErrorCode };

export interface HpackProblem {
  code: HpackErrorCode;
  message: string;
}

export interface HpackResult {
  /** Fields decoded, in order (names as sent: HTTP/2 requires lower case). */
  fields: HeaderField[];
  /** Fields that referenced table entries we do not know (their name or whole field is missing). */
  unknownFields: number;
  /** The first problem that stopped or spoiled decoding; absent when the block decoded cleanly. */
  problem?: HpackProblem;
}

/** RFC 7541 Appendix A. Index 1 is STATIC_TABLE[0]. */
const STATIC_TABLE: ReadonlyArray<HeaderField> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
export const STATIC_TABLE_LENGTH = STATIC_TABLE.length; // 61

/** Every entry costs its name and value octets plus 32 (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;

function entrySize(name: string, value: string): number {
  // Names and values are latin1 strings of the wire octets, so .length counts octets.
  return name.length + value.length + ENTRY_OVERHEAD;
}

export function staticEntry(index: number): HeaderField | undefined {
  return STATIC_TABLE[index - 1];
}

// ------------------------------------------------------------------------------------------------
// Huffman (RFC 7541 Appendix B)

/**
 * The code length of every symbol 0..256 (256 = EOS), one letter each: 'A' = 5 bits ... 'Z' = 30 bits.
 * The code is canonical (codes of one length are consecutive, in symbol order, shorter codes first), so
 * the lengths define it completely; the codes are rebuilt below and checked against Appendix B in tests.
 */
const HUFFMAN_LENGTHS =
  'ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ';

const EOS = 256;

/** Canonical codes from the lengths: [code, length] per symbol. */
export function huffmanCodes(): Array<[code: number, length: number]> {
  const lengths = [...HUFFMAN_LENGTHS].map((c) => c.charCodeAt(0) - 0x41 + 5);
  const order = lengths.map((_, sym) => sym).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes: Array<[number, number]> = new Array(lengths.length);
  let code = 0;
  let previous = lengths[order[0]!]!;
  order.forEach((sym, i) => {
    const length = lengths[sym]!;
    if (i > 0) code = (code + 1) * 2 ** (length - previous);
    previous = length;
    codes[sym] = [code, length];
  });
  return codes;
}

/**
 * The decoder as a finite state machine over 4-bit nibbles (the way nghttp2 does it): a state is a node
 * of the code tree (its internal nodes, 0 = root); for each state and nibble the table gives the next
 * state, the symbol completed on the way (at most one: every code is at least 5 bits) and whether the
 * walk hit EOS (an error inside a string). A string may end only in a state reached by at most 7 one-bits
 * from the root (the padding is the most significant bits of EOS).
 */
const HUFFMAN_FSM = (() => {
  // Build the tree: children of internal nodes, leaves as -(symbol + 1).
  const left: number[] = [0];
  const right: number[] = [0];
  const codes = huffmanCodes();
  for (let sym = 0; sym < codes.length; sym++) {
    const [code, length] = codes[sym]!;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const one = Math.floor(code / 2 ** bit) % 2 === 1;
      const children = one ? right : left;
      if (bit === 0) {
        children[node] = -(sym + 1);
        break;
      }
      if (children[node] === 0 || children[node] === undefined) {
        left.push(0);
        right.push(0);
        children[node] = left.length - 1;
      }
      node = children[node]!;
    }
  }
  const states = left.length;
  // Which nodes are reached from the root by 0..7 one-bits only (valid places for a string to end).
  const accepting = new Uint8Array(states);
  accepting[0] = 1;
  for (let node = 0, depth = 0; depth < 7; depth++) {
    node = right[node]!;
    if (node <= 0) break;
    accepting[node] = 1;
  }
  // next: state * 16 + nibble → (nextState << 9) | (flags): bit 8 = emits a symbol (low 8 bits), FAIL apart.
  const next = new Int32Array(states * 16);
  for (let state = 0; state < states; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emitted = -1;
      let failed = false;
      for (let bit = 3; bit >= 0; bit--) {
        const child = ((nibble >> bit) & 1) === 1 ? right[node]! : left[node]!;
        if (child < 0) {
          const sym = -child - 1;
          if (sym === EOS) {
            failed = true;
            break;
          }
          emitted = sym;
          node = 0;
        } else {
          node = child;
        }
      }
      next[state * 16 + nibble] = failed ? -1 : (node << 9) | (emitted >= 0 ? 0x100 | emitted : 0);
    }
  }
  return { next, accepting };
})();

/** Scratch space for decoded strings (Huffman output is at most 8/5 of its input). */
let scratch = Buffer.allocUnsafe(4096);

/** Decodes a Huffman-coded string to a latin1 string of its octets, or undefined when it is invalid. */
export function huffmanDecode(bytes: Uint8Array, start = 0, end = bytes.length): string | undefined {
  const need = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  const { next, accepting } = HUFFMAN_FSM;
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    let t = next[state * 16 + (byte >> 4)]!;
    if (t < 0) return undefined;
    if ((t & 0x100) !== 0) scratch[n++] = t & 0xff;
    state = t >>> 9;
    t = next[state * 16 + (byte & 0x0f)]!;
    if (t < 0) return undefined;
    if ((t & 0x100) !== 0) scratch[n++] = t & 0xff;
    state = t >>> 9;
  }
  if (accepting[state] !== 1) return undefined;
  return scratch.toString('latin1', 0, n);
}

// ------------------------------------------------------------------------------------------------
// The decoder

/** Thrown inside decode() only, caught there: a problem that ends the block. */
class BlockError extends Error {
  constructor(readonly code: HpackErrorCode, message: string) {
    super(message);
  }
}

/** What an evicted slot holds until it is reused. */
const EVICTED: HeaderField = ['', ''];

/** Largest integer accepted: a table index, size or string length beyond this is nonsense. */
const MAX_INTEGER = 2 ** 31;

/**
 * One direction's HPACK decoding context. The dynamic table is a ring of entries, newest first; when the
 * capture could not see all insertions (`known === false`) the table holds only the entries inserted
 * since, and the encoder's table has unknown older entries after them.
 */
export class HpackDecoder {
  private readonly _limits: HpackLimits;
  /** Ring buffer of entries; _head is the newest. */
  /** [name, value] per slot; a lookup hands the tuple out (read-only: keep() copies what goes into a result). */
  private _entries: HeaderField[] = [];
  private _head = 0;
  private _count = 0;
  private _size = 0;
  /** The encoder's current maximum table size (its last size update, or the protocol's allowed maximum). */
  private _maxSize: number;
  /** The largest size the encoder may choose (SETTINGS_HEADER_TABLE_SIZE of our side, capped). */
  private _allowedMax: number;
  /** False while older entries of unknown content may follow ours in the encoder's table. */
  private _known = true;
  /** Was _maxSize learned from a size update (true), or only assumed from the allowed maximum (false)? */
  private _maxSizeExact = true;

  constructor(limits: Partial<HpackLimits> = {}) {
    this._limits = { ...DEFAULT_HPACK_LIMITS, ...limits };
    this._allowedMax = Math.min(DEFAULT_TABLE_SIZE, this._limits.maxTableSize);
    this._maxSize = this._allowedMax;
  }

  /** True when every entry of the encoder's dynamic table is known. */
  get tableKnown(): boolean {
    return this._known;
  }

  /** Entries and octets (RFC 7541 size) in the table as we know it. */
  get tableEntries(): number {
    return this._count;
  }

  get tableSize(): number {
    return this._size;
  }

  /**
   * The decoding side's SETTINGS_HEADER_TABLE_SIZE took effect (it was acknowledged): the encoder may
   * now use up to this much (capped by maxTableSize: a peer allowing more has us treat the table as
   * unknown if the encoder really goes beyond our cap).
   */
  setAllowedMaxSize(size: number): void {
    // As nghttp2 does: the new setting is the table's maximum at once (an encoder that shrinks it further
    // says so with a size update). Above our cap the encoder may keep entries we drop: not exact then.
    this._allowedMax = Math.min(size, this._limits.maxTableSize);
    this._maxSize = this._allowedMax;
    if (size > this._limits.maxTableSize) this._maxSizeExact = false;
    this.evict();
  }

  /**
   * The capture missed insertions (it started mid-connection, or a block could not be decoded): older
   * entries are unknown from now on, until a size update to 0 or enough known insertions prove them gone.
   */
  forgetTable(): void {
    this._known = false;
    this._maxSizeExact = false;
    this._maxSize = this._allowedMax;
  }

  /** Decodes one complete header block (HEADERS/PUSH_PROMISE + CONTINUATION payload fragments joined). */
  decode(block: Buffer): HpackResult {
    const fields: HeaderField[] = [];
    const result: HpackResult = { fields, unknownFields: 0 };
    const reader = { pos: 0 };
    let listSize = 0;
    let fieldSeen = false;
    try {
      while (reader.pos < block.length) {
        const first = block[reader.pos]!;
        if (first >= 0x80) {
          // 6.1 Indexed Header Field
          const index = this.integer(block, reader, 7);
          const entry = this.lookup(index);
          fieldSeen = true;
          if (entry === undefined) {
            result.unknownFields++;
            this.noteUnknown(result, index);
            continue;
          }
          listSize = this.keep(fields, entry[0], entry[1], listSize);
        } else if (first >= 0x40 || first < 0x20) {
          // 6.2.1 with incremental indexing (01xxxxxx, 6-bit index); 6.2.2 without / 6.2.3 never indexed (4-bit)
          const incremental = first >= 0x40;
          const nameIndex = this.integer(block, reader, incremental ? 6 : 4);
          let name: string | undefined;
          if (nameIndex === 0) {
            name = this.string(block, reader);
          } else {
            const entry = this.lookup(nameIndex);
            if (entry !== undefined) name = entry[0];
          }
          const value = this.string(block, reader);
          fieldSeen = true;
          if (incremental) this.insert(name, value);
          if (name === undefined) {
            result.unknownFields++;
            this.noteUnknown(result, nameIndex);
            continue;
          }
          listSize = this.keep(fields, name, value, listSize);
        } else {
          // 6.3 Dynamic Table Size Update (001xxxxx): only at the start of a block (RFC 7541 4.2)
          const size = this.integer(block, reader, 5);
          if (fieldSeen) throw new BlockError('HPACK_TABLE_SIZE', 'dynamic table size update after a header field');
          if (size > this._allowedMax) {
            this.forgetTable();
            throw new BlockError('HPACK_TABLE_SIZE', `dynamic table size update to ${size} above the allowed ${this._allowedMax}`);
          }
          this.resize(size);
        }
      }
    } catch (e) {
      if (!(e instanceof BlockError)) throw e;
      // Insertions of the rest of the block were not seen: the table is no longer what the encoder has.
      if (e.code !== 'HPACK_LIST_TOO_LARGE') this.forgetTable();
      else this.skipRest(block, reader);
      result.problem = { code: e.code, message: e.message };
    }
    return result;
  }

  /** Keeps a field unless the list grew past maxHeaderListSize. */
  private keep(fields: HeaderField[], name: string, value: string, listSize: number): number {
    const size = listSize + entrySize(name, value);
    if (size > this._limits.maxHeaderListSize) {
      throw new BlockError('HPACK_LIST_TOO_LARGE', `header list larger than maxHeaderListSize ${this._limits.maxHeaderListSize}`);
    }
    fields.push([name, value]);
    return size;
  }

  /**
   * After the list limit: the rest of the block is still decoded for its table insertions (so the
   * table stays right for the next blocks), without keeping any field. Bounded by the block itself.
   */
  private skipRest(block: Buffer, reader: { pos: number }): void {
    try {
      while (reader.pos < block.length) {
        const first = block[reader.pos]!;
        if (first >= 0x80) {
          this.integer(block, reader, 7);
        } else if (first >= 0x40 || first < 0x20) {
          const incremental = first >= 0x40;
          const nameIndex = this.integer(block, reader, incremental ? 6 : 4);
          const name = nameIndex === 0 ? this.string(block, reader) : this.lookup(nameIndex)?.[0];
          const value = this.string(block, reader);
          if (incremental) this.insert(name, value);
        } else {
          throw new BlockError('HPACK_TABLE_SIZE', 'dynamic table size update after a header field');
        }
      }
    } catch (e) {
      if (!(e instanceof BlockError)) throw e;
      this.forgetTable();
    }
  }

  private noteUnknown(result: HpackResult, index: number): void {
    if (result.problem === undefined) {
      result.problem = {
        code: 'HPACK_UNKNOWN_ENTRY',
        message: `index ${index} refers to a dynamic table entry inserted before the capture saw this connection's table`,
      };
    }
  }

  /** RFC 7541 5.1: an integer with an N-bit prefix. */
  private integer(block: Buffer, reader: { pos: number }, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = block[reader.pos++]! & mask;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      if (reader.pos >= block.length) throw new BlockError('HPACK_TRUNCATED', 'block ends inside an integer');
      const byte = block[reader.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      // (shift is checked too: zero continuation bytes do not grow the value but may go on forever)
      if (value > MAX_INTEGER || shift > 35) throw new BlockError('HPACK_BAD_INTEGER', 'integer larger than 2^31');
      if ((byte & 0x80) === 0) return value;
    }
  }

  /** RFC 7541 5.2: a string literal, as a latin1 string of its octets. */
  private string(block: Buffer, reader: { pos: number }): string {
    if (reader.pos >= block.length) throw new BlockError('HPACK_TRUNCATED', 'block ends before a string literal');
    const huffman = (block[reader.pos]! & 0x80) !== 0;
    const length = this.integer(block, reader, 7);
    if (length > this._limits.maxStringLength) {
      throw new BlockError('HPACK_STRING_TOO_LONG', `string literal of ${length} octets longer than maxStringLength ${this._limits.maxStringLength}`);
    }
    const start = reader.pos;
    const end = start + length;
    if (end > block.length) throw new BlockError('HPACK_TRUNCATED', 'block ends inside a string literal');
    reader.pos = end;
    if (!huffman) return block.toString('latin1', start, end);
    const decoded = huffmanDecode(block, start, end);
    if (decoded === undefined) throw new BlockError('HPACK_BAD_HUFFMAN', 'invalid Huffman-coded string');
    if (decoded.length > this._limits.maxStringLength) {
      throw new BlockError('HPACK_STRING_TOO_LONG', `decoded string longer than maxStringLength ${this._limits.maxStringLength}`);
    }
    return decoded;
  }

  /** The entry at `index` (static, then dynamic), or undefined when it is one we cannot know. */
  private lookup(index: number): HeaderField | undefined {
    if (index === 0) throw new BlockError('HPACK_BAD_INDEX', 'index 0');
    if (index <= STATIC_TABLE_LENGTH) return STATIC_TABLE[index - 1];
    const position = index - STATIC_TABLE_LENGTH - 1;
    if (position < this._count) {
      return this._entries[(this._head + position) % this._entries.length]!;
    }
    if (this._known) throw new BlockError('HPACK_BAD_INDEX', `index ${index} past the end of the table (${this._count} dynamic entries)`);
    return undefined;
  }

  /**
   * Adds an entry (RFC 7541 4.4). An entry whose name we do not know is still an entry in the encoder's
   * table: it evicts the same older entries, so the table becomes unknown from its position on — we keep
   * the newer known ones only.
   */
  private insert(name: string | undefined, value: string): void {
    if (name === undefined) {
      // Everything before (and including) this entry is now unknown; only later insertions will be known.
      this.clear();
      this._known = false;
      return;
    }
    const size = entrySize(name, value);
    if (size > this._maxSize) {
      // An entry larger than the table empties it (and is not added): with the exact maximum the table is
      // known (empty) again; with an assumed one the encoder may have kept it, so nothing is known.
      this.clear();
      this._known = this._maxSizeExact;
      return;
    }
    if (this._count === this._entries.length) this.grow();
    this._head = (this._head - 1 + this._entries.length) % this._entries.length;
    this._entries[this._head] = [name, value];
    this._count++;
    this._size += size;
    this.evict();
  }

  /** A size update: evict to fit; to 0 (or to less than any unknown entry could need) the table is known. */
  private resize(size: number): void {
    this._maxSize = size;
    this._maxSizeExact = true;
    this.evict();
  }

  /** Drops the oldest entries until the table fits; notices when no unknown entry can be left. */
  private evict(): void {
    while (this._size > this._maxSize && this._count > 0) {
      const tail = (this._head + this._count - 1) % this._entries.length;
      const [name, value] = this._entries[tail]!;
      this._size -= entrySize(name, value);
      this._entries[tail] = EVICTED;
      this._count--;
      // With the exact maximum, evicting a known entry proves every older (unknown) one gone; with only
      // an assumed maximum, the encoder may still hold what we dropped.
      this._known = this._maxSizeExact;
    }
    // An unknown older entry needs at least 32 octets of room; with less room left, none can be there.
    if (!this._known && this._maxSizeExact && this._size + ENTRY_OVERHEAD > this._maxSize) this._known = true;
  }

  private clear(): void {
    this._entries = [];
    this._head = 0;
    this._count = 0;
    this._size = 0;
  }

  private grow(): void {
    const capacity = Math.max(16, this._entries.length * 2);
    const entries: HeaderField[] = new Array(capacity);
    for (let i = 0; i < this._count; i++) entries[i] = this._entries[(this._head + i) % this._entries.length]!;
    this._entries = entries;
    this._head = 0;
  }
}
