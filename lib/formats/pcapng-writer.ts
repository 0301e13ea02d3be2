/**
 * `PcapngWriter` turns PacketRecords into little-endian pcapng: one SHB, one IDB per distinct
 * (source interface, link type), and EPBs with nanosecond timestamps.
 */

import { CaptureError } from '../core/errors';
import type { PacketOptions, PacketRecord } from '../core/record';
import type { InterfaceInfo } from './format';
import {
  BlockType, EPB_DROPCOUNT, EPB_FIXED_BYTES, EPB_FLAGS, EPB_HASH, EPB_PACKETID, EPB_QUEUE, EPB_VERDICT,
  IDB_FIXED_BYTES, IF_DESCRIPTION, IF_FCSLEN, IF_HARDWARE, IF_NAME, IF_OS, IF_TSRESOL, MIN_SHB_BYTES,
  NS_PER_SECOND, OPT_COMMENT, PCAPNG_BYTE_ORDER_MAGIC, SHB_HARDWARE, SHB_OS, SHB_USERAPPL, TWO_POW_32, padTo4,
} from './pcapng-blocks';
export interface PcapngHeaderOptions {
  /** shb_userappl: the application that wrote the file. */
  userAppl?: string;
  hardware?: string;
  os?: string;
  comment?: string;
}

/** Default IDB snaplen when the source does not say (what dumpcap uses). */
const WRITER_DEFAULT_SNAPLEN = 262144;
/** Largest whole second an unsigned 64-bit count of nanoseconds can hold (2^64 ns = 18446744073.7 s). */
const WRITER_MAX_SECONDS = 18446744072;
/** if_tsresol value the writer always uses: 10^-9 s. */
const WRITER_TSRESOL_NS = 9;

interface OptionSpec { code: number; value: Buffer; }

function stringOption(code: number, s: string): OptionSpec {
  return { code, value: Buffer.from(s, 'utf8') };
}

function optionsBytes(opts: OptionSpec[]): number {
  if (opts.length === 0) return 0;
  let n = 4; // opt_endofopt
  for (const o of opts) n += 4 + padTo4(o.value.length);
  return n;
}

/** Writes options (LE) at `pos`, followed by opt_endofopt; returns the new position. */
function writeOptions(out: Buffer, pos: number, opts: OptionSpec[]): number {
  if (opts.length === 0) return pos;
  for (const o of opts) {
    if (o.value.length > 0xffff) throw new CaptureError('PCAP_WRITE', `pcapng option ${o.code} is ${o.value.length} bytes, over 65535`);
    out.writeUInt16LE(o.code, pos);
    out.writeUInt16LE(o.value.length, pos + 2);
    o.value.copy(out, pos + 4);
    const padded = padTo4(o.value.length);
    out.fill(0, pos + 4 + o.value.length, pos + 4 + padded);
    pos += 4 + padded;
  }
  out.writeUInt32LE(0, pos); // opt_endofopt, length 0
  return pos + 4;
}

function u32Value(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}
function u64Value(n: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n), 0);
  return b;
}

/** Splits sec*1e9+nsec into 32-bit words exactly, without BigInt (see splitDecimalTimestamp). */
function nsTimestampWords(tsSec: number, tsNsec: number): { high: number; low: number } {
  const low = (Math.imul(tsSec, NS_PER_SECOND) + tsNsec) >>> 0;
  // The double value of sec*1e9+nsec is within a few hundred ns of the exact one, and the exact
  // value minus `low` is a multiple of 2^32: rounding recovers the high word exactly.
  const high = Math.round((tsSec * NS_PER_SECOND - low + tsNsec) / TWO_POW_32);
  return { high, low };
}

/**
 * Serialises PacketRecords as little-endian pcapng. Stateful: remembers which IDBs it has written.
 * Call `header()` once, then `packet()` per record; concatenate the Buffers in order.
 */
export class PcapngWriter {
  private readonly interfaceIndex = new Map<string, number>();

  /** The Section Header Block (section length -1 = not given). */
  header(opts?: PcapngHeaderOptions): Buffer {
    const options: OptionSpec[] = [];
    if (opts?.comment !== undefined) options.push(stringOption(OPT_COMMENT, opts.comment));
    if (opts?.hardware !== undefined) options.push(stringOption(SHB_HARDWARE, opts.hardware));
    if (opts?.os !== undefined) options.push(stringOption(SHB_OS, opts.os));
    if (opts?.userAppl !== undefined) options.push(stringOption(SHB_USERAPPL, opts.userAppl));
    const total = MIN_SHB_BYTES + optionsBytes(options);
    const out = Buffer.alloc(total);
    out.writeUInt32LE(BlockType.SECTION_HEADER, 0);
    out.writeUInt32LE(total, 4);
    out.writeUInt32LE(PCAPNG_BYTE_ORDER_MAGIC, 8);
    out.writeUInt16LE(1, 12);
    out.writeUInt16LE(0, 14);
    out.writeBigInt64LE(-1n, 16);
    writeOptions(out, 24, options);
    out.writeUInt32LE(total, total - 4);
    return out;
  }

  /** Number of IDBs written so far. */
  get interfaceCount(): number { return this.interfaceIndex.size; }

  /** A Decryption Secrets Block (e.g. SECRETS_TYPE_TLS with a key log's text), as editcap --inject-secrets writes. */
  decryptionSecrets(secretsType: number, data: Buffer): Buffer {
    const total = 16 + padTo4(data.length) + 4;
    const out = Buffer.alloc(total);
    out.writeUInt32LE(BlockType.DECRYPTION_SECRETS, 0);
    out.writeUInt32LE(total, 4);
    out.writeUInt32LE(secretsType, 8);
    out.writeUInt32LE(data.length, 12);
    data.copy(out, 16);
    out.writeUInt32LE(total, total - 4);
    return out;
  }

  /**
   * The EPB for `rec`, preceded by an IDB the first time its (interfaceId, linkType) is seen.
   * @throws CaptureError PCAP_WRITE for a timestamp before 1970 or after 2554 (unsigned 64-bit ns).
   */
  packet(rec: PacketRecord, iface?: Partial<InterfaceInfo>): Buffer {
    const key = `${rec.interfaceId}/${rec.linkType}`;
    let idb: Buffer | null = null;
    let id = this.interfaceIndex.get(key);
    if (id === undefined) {
      id = this.interfaceIndex.size;
      this.interfaceIndex.set(key, id);
      idb = this.interfaceBlock(rec, iface);
    }
    if (rec.tsSec < 0 || rec.tsSec > WRITER_MAX_SECONDS) {
      throw new CaptureError('PCAP_WRITE', `frame ${rec.frame}: timestamp ${rec.tsSec} s does not fit an unsigned 64-bit nanosecond count`);
    }

    const data = rec.data;
    const options = this.packetOptionSpecs(rec.options);
    const epbTotal = EPB_FIXED_BYTES + padTo4(data.length) + optionsBytes(options);
    const idbTotal = idb ? idb.length : 0;
    const out = Buffer.allocUnsafe(idbTotal + epbTotal);
    if (idb) idb.copy(out, 0);
    let p = idbTotal;
    const { high, low } = rec.noTimestamp ? { high: 0, low: 0 } : nsTimestampWords(rec.tsSec, rec.tsNsec);
    out.writeUInt32LE(BlockType.ENHANCED_PACKET, p);
    out.writeUInt32LE(epbTotal, p + 4);
    out.writeUInt32LE(id, p + 8);
    out.writeUInt32LE(high, p + 12);
    out.writeUInt32LE(low, p + 16);
    out.writeUInt32LE(data.length, p + 20);
    out.writeUInt32LE(Math.max(rec.len, data.length), p + 24);
    data.copy(out, p + 28);
    const padEnd = p + 28 + padTo4(data.length);
    out.fill(0, p + 28 + data.length, padEnd);
    writeOptions(out, padEnd, options);
    out.writeUInt32LE(epbTotal, p + epbTotal - 4);
    return out;
  }

  private interfaceBlock(rec: PacketRecord, iface?: Partial<InterfaceInfo>): Buffer {
    const options: OptionSpec[] = [];
    if (iface?.name !== undefined) options.push(stringOption(IF_NAME, iface.name));
    if (iface?.description !== undefined) options.push(stringOption(IF_DESCRIPTION, iface.description));
    options.push({ code: IF_TSRESOL, value: Buffer.from([WRITER_TSRESOL_NS]) });
    const fcs = rec.fcsLength ?? iface?.fcsLength;
    if (fcs !== undefined) options.push({ code: IF_FCSLEN, value: Buffer.from([fcs]) });
    if (iface?.os !== undefined) options.push(stringOption(IF_OS, iface.os));
    if (iface?.hardware !== undefined) options.push(stringOption(IF_HARDWARE, iface.hardware));
    const total = IDB_FIXED_BYTES + optionsBytes(options);
    const out = Buffer.alloc(total);
    out.writeUInt32LE(BlockType.INTERFACE_DESCRIPTION, 0);
    out.writeUInt32LE(total, 4);
    out.writeUInt16LE(rec.linkType, 8);
    out.writeUInt16LE(0, 10);
    out.writeUInt32LE(iface?.snaplen ?? WRITER_DEFAULT_SNAPLEN, 12);
    writeOptions(out, 16, options);
    out.writeUInt32LE(total, total - 4);
    return out;
  }

  private packetOptionSpecs(o: PacketOptions | undefined): OptionSpec[] {
    if (o === undefined) return [];
    const specs: OptionSpec[] = [];
    if (o.comments) for (const c of o.comments) specs.push(stringOption(OPT_COMMENT, c));
    let flags = o.flags;
    if (flags === undefined && o.direction !== undefined) flags = o.direction === 'in' ? 1 : 2;
    if (flags !== undefined) specs.push({ code: EPB_FLAGS, value: u32Value(flags) });
    if (o.hashes) for (const h of o.hashes) specs.push({ code: EPB_HASH, value: h });
    if (o.dropCount !== undefined) specs.push({ code: EPB_DROPCOUNT, value: u64Value(o.dropCount) });
    if (o.packetId !== undefined) specs.push({ code: EPB_PACKETID, value: u64Value(o.packetId) });
    if (o.queue !== undefined) specs.push({ code: EPB_QUEUE, value: u32Value(o.queue) });
    if (o.verdicts) for (const v of o.verdicts) specs.push({ code: EPB_VERDICT, value: v });
    return specs;
  }
}
