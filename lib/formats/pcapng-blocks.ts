/**
 * pcapng block layout shared by the reader (lib/formats/pcapng.ts) and the writer (pcapng-writer.ts):
 * block and option codes, byte-order-aware readers, timestamp conversion, per-interface state and an
 * option cursor (draft-ietf-opsawg-pcapng).
 */
import { CaptureError } from '../core/errors';
import type { InterfaceInfo } from './format';

/** Block type codes (pcapng spec section 11.1). */
export const BlockType = {
  /** Obsolete Packet Block. */
  PACKET: 0x00000002,
  INTERFACE_DESCRIPTION: 0x00000001,
  SIMPLE_PACKET: 0x00000003,
  NAME_RESOLUTION: 0x00000004,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
  SYSTEMD_JOURNAL: 0x00000009,
  DECRYPTION_SECRETS: 0x0000000a,
  CUSTOM: 0x00000bad,
  CUSTOM_NO_COPY: 0x40000bad,
  SECTION_HEADER: 0x0a0d0d0a,
} as const;

/** Byte-order magic of the Section Header Block, as written by the host that made the section. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Smallest possible block: type, total length, trailing total length. */
export const MIN_BLOCK_BYTES = 12;
/** SHB: type, length, BOM, major, minor, section length (8), trailing length. */
export const MIN_SHB_BYTES = 28;
/** EPB fixed part: type, length, interface id, ts high, ts low, caplen, len, trailing length. */
export const EPB_FIXED_BYTES = 32;
/** SPB fixed part: type, length, original length, trailing length. */
export const SPB_FIXED_BYTES = 16;
/** Obsolete Packet Block fixed part: same layout size as EPB. */
export const PB_FIXED_BYTES = 32;
/** IDB fixed part: type, length, linktype(2), reserved(2), snaplen, trailing length. */
export const IDB_FIXED_BYTES = 20;
/** ISB fixed part: type, length, interface id, ts high, ts low, trailing length. */
export const ISB_FIXED_BYTES = 24;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;

export const SHB_HARDWARE = 2;
export const SHB_OS = 3;
export const SHB_USERAPPL = 4;

export const IF_NAME = 2;
export const IF_DESCRIPTION = 3;
export const IF_SPEED = 8;
export const IF_TSRESOL = 9;
export const IF_FILTER = 11;
export const IF_OS = 12;
export const IF_FCSLEN = 13;
export const IF_TSOFFSET = 14;
export const IF_HARDWARE = 15;

export const EPB_FLAGS = 2;
export const EPB_HASH = 3;
export const EPB_DROPCOUNT = 4;
export const EPB_PACKETID = 5;
export const EPB_QUEUE = 6;
export const EPB_VERDICT = 7;

/** Obsolete Packet Block options: pack_flags and pack_hash use the same layout as the EPB ones. */
export const PACK_FLAGS = 2;
export const PACK_HASH = 3;
/** Obsolete Packet Block: "drops count not available". */
export const PB_DROPS_UNKNOWN = 0xffff;

export const ISB_STARTTIME = 2;
export const ISB_ENDTIME = 3;
export const ISB_IFRECV = 4;
export const ISB_IFDROP = 5;
export const ISB_FILTERACCEPT = 6;
export const ISB_OSDROP = 7;
export const ISB_USRDELIV = 8;

export const NRB_RECORD_END = 0;
export const NRB_RECORD_IPV4 = 1;
export const NRB_RECORD_IPV6 = 2;

export const TWO_POW_32 = 4294967296;
export const NS_PER_SECOND = 1_000_000_000;

/** Per-interface state the packet path needs, precomputed once per IDB. */
export interface InterfaceState {
  info: InterfaceInfo;
  linkType: number;
  /** 0 = no limit. */
  snaplen: number;
  /**
   * Units per second when it is 10^k with k <= 9: the fast exact path (no BigInt) applies.
   * 0 when the resolution needs the BigInt path (powers of two, 10^k with k > 9).
   */
  decimalUnits: number;
  /** Nanoseconds per unit for the fast path (10^(9-k)). */
  nsPerUnit: number;
  unitsPerSecond: bigint;
  tsOffsetSec: number;
  fcsLength: number | undefined;
  /** Resolution finer than microseconds: records say so (writers then keep nanoseconds). */
  nanoPrecision: boolean;
}

/** Timestamp result slot, reused to avoid an object per packet. */
export interface TimeSlot { sec: number; nsec: number; }

/** Reads a u16/u32 in the section's byte order. */
export function u16(buf: Buffer, off: number, le: boolean): number {
  return le ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
}
export function u32(buf: Buffer, off: number, le: boolean): number {
  return le
    ? (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 0x1000000
    : buf[off]! * 0x1000000 + ((buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!);
}
export function u64(buf: Buffer, off: number, le: boolean): bigint {
  return le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
}
export function i64(buf: Buffer, off: number, le: boolean): bigint {
  return le ? buf.readBigInt64LE(off) : buf.readBigInt64BE(off);
}

export function padTo4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Converts a 64-bit timestamp in units of 1/`units` s (units = 10^k, k <= 9) to seconds + ns, exactly,
 * without BigInt. The double estimate of the seconds can be off by one; the remainder is then
 * recomputed modulo 2^32 (exact with Math.imul), which identifies and corrects the off-by-one because
 * the true remainder lies in (-units, 2*units) and that range is narrower than 2^32.
 */
export function splitDecimalTimestamp(high: number, low: number, units: number, nsPerUnit: number, out: TimeSlot): void {
  let sec = Math.floor((high * TWO_POW_32 + low) / units);
  // remainder = value - sec*units, taken mod 2^32 (the high word contributes 0 mod 2^32).
  const rem = (low - Math.imul(sec, units)) >>> 0;
  let r: number;
  if (rem >= 0x80000000) {
    // negative remainder: the estimate was one too high
    sec -= 1;
    r = rem - TWO_POW_32 + units;
  } else if (rem >= units) {
    sec += 1;
    r = rem - units;
  } else {
    r = rem;
  }
  out.sec = sec;
  out.nsec = r * nsPerUnit;
}

/** General case (powers of two, finer than ns): exact BigInt division, ns truncated toward zero. */
export function splitTimestampBig(high: number, low: number, units: bigint, out: TimeSlot): void {
  const value = (BigInt(high) << 32n) | BigInt(low);
  const sec = value / units;
  const rest = value - sec * units;
  out.sec = Number(sec);
  out.nsec = Number((rest * 1_000_000_000n) / units);
}

/** Reads the 1-byte if_tsresol value: MSB clear = 10^-v s, MSB set = 2^-(v & 0x7f) s. */
export function tsresolToUnitsPerSecond(v: number): bigint {
  return v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
}

export function makeInterfaceState(info: InterfaceInfo): InterfaceState {
  const units = info.tsUnitsPerSecond;
  let decimalUnits = 0;
  let nsPerUnit = 0;
  for (let k = 0, p = 1; k <= 9; k++, p *= 10) {
    if (units === BigInt(p)) {
      decimalUnits = p;
      nsPerUnit = NS_PER_SECOND / p;
      break;
    }
  }
  return {
    info,
    linkType: info.linkType,
    snaplen: info.snaplen,
    decimalUnits,
    nsPerUnit,
    unitsPerSecond: units,
    tsOffsetSec: Number(info.tsOffset),
    fcsLength: info.fcsLength,
    nanoPrecision: units > 1_000_000n,
  };
}

/**
 * Walks the options of one block. One instance per parser, reused for every block (no closures or
 * objects per option). `next()` returns false at opt_endofopt or at the end of the option area.
 */
export class OptionCursor {
  buf: Buffer = Buffer.alloc(0);
  le = true;
  private pos = 0;
  private end = 0;
  private blockOffset = 0;
  code = 0;
  valueStart = 0;
  valueLength = 0;

  /** Offset of the block start inside `buf`, for messages. */
  private blockStartInBuf = 0;

  reset(buf: Buffer, blockStartInBuf: number, start: number, end: number, le: boolean, blockOffset: number): void {
    this.buf = buf;
    this.blockStartInBuf = blockStartInBuf;
    this.pos = start;
    this.end = end;
    this.le = le;
    this.blockOffset = blockOffset;
  }

  /** @throws CaptureError PCAP_BAD_BLOCK when an option's length runs past the block. */
  next(): boolean {
    if (this.end - this.pos < 4) return false; // fewer bytes than an option header: no more options
    const code = u16(this.buf, this.pos, this.le);
    if (code === OPT_ENDOFOPT) return false;
    const length = u16(this.buf, this.pos + 2, this.le);
    const valueStart = this.pos + 4;
    if (valueStart + length > this.end) {
      throw new CaptureError(
        'PCAP_BAD_BLOCK',
        `pcapng option ${code} of length ${length} at block offset ${this.pos - this.blockStartInBuf} runs past the end of its block (block at offset ${this.blockOffset})`,
        this.blockOffset,
      );
    }
    this.code = code;
    this.valueStart = valueStart;
    this.valueLength = length;
    this.pos = valueStart + padTo4(length);
    return true;
  }

  string(): string {
    return this.buf.toString('utf8', this.valueStart, this.valueStart + this.valueLength);
  }
  /** A string option without trailing NULs (some writers include the terminator). */
  cleanString(): string {
    let end = this.valueStart + this.valueLength;
    while (end > this.valueStart && this.buf[end - 1] === 0) end--;
    return this.buf.toString('utf8', this.valueStart, end);
  }
  u8(): number { return this.buf[this.valueStart]!; }
  u32(): number { return u32(this.buf, this.valueStart, this.le); }
  u64(): bigint { return u64(this.buf, this.valueStart, this.le); }
  i64(): bigint { return i64(this.buf, this.valueStart, this.le); }
  /** A copy of the value bytes (options kept by the caller must not pin the chunk). */
  bytes(): Buffer { return Buffer.from(this.buf.subarray(this.valueStart, this.valueStart + this.valueLength)); }
}

export function blockTypeName(type: number): string {
  switch (type) {
    case BlockType.SECTION_HEADER: return 'Section Header Block';
    case BlockType.INTERFACE_DESCRIPTION: return 'Interface Description Block';
    case BlockType.PACKET: return 'Packet Block';
    case BlockType.SIMPLE_PACKET: return 'Simple Packet Block';
    case BlockType.NAME_RESOLUTION: return 'Name Resolution Block';
    case BlockType.INTERFACE_STATISTICS: return 'Interface Statistics Block';
    case BlockType.ENHANCED_PACKET: return 'Enhanced Packet Block';
    case BlockType.SYSTEMD_JOURNAL: return 'systemd Journal Export Block';
    case BlockType.DECRYPTION_SECRETS: return 'Decryption Secrets Block';
    case BlockType.CUSTOM: return 'Custom Block';
    case BlockType.CUSTOM_NO_COPY: return 'Custom Block (do not copy)';
    default: return `block type 0x${type.toString(16).padStart(8, '0')}`;
  }
}
