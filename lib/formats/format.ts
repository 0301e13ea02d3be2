/**
 * What the capture-file parsers (lib/formats/pcap.ts, lib/formats/pcapng.ts) report besides packets, and the sink
 * interface they report through. Parsers are push-style state machines: `write(chunk)` any number of
 * times with chunks of any size, then `end()`. They call the sink synchronously and never buffer more than
 * one incomplete record (bounded by `maxRecordBytes`).
 */
import type { PacketRecord } from '../core/record';

export type CaptureFormat = 'pcap' | 'pcapng';

/** A capture interface: the classic pcap file header, or a pcapng Interface Description Block. */
export interface InterfaceInfo {
  /** Index within its section (pcapng); 0 for classic pcap. */
  id: number;
  /** 0-based section number (pcapng); 0 for classic pcap. */
  section: number;
  linkType: number;
  snaplen: number;
  /** Timestamp resolution: units per second as a bigint power (10^6, 10^9, 2^n...). */
  tsUnitsPerSecond: bigint;
  /** if_tsoffset seconds, added to every timestamp. */
  tsOffset: bigint;
  name?: string;
  description?: string;
  filter?: string;
  os?: string;
  fcsLength?: number;
  speed?: bigint;
  hardware?: string;
  comments?: string[];
}

/** Section Header Block (pcapng) or the classic file header. */
export interface SectionInfo {
  format: CaptureFormat;
  section: number;
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  /** Classic pcap: true when the magic says nanoseconds. */
  nanosecond?: boolean;
  hardware?: string;
  os?: string;
  userAppl?: string;
  comments?: string[];
}

/** pcapng Interface Statistics Block. */
export interface InterfaceStats {
  interfaceId: number;
  section: number;
  tsSec: number;
  tsNsec: number;
  ifRecv?: bigint;
  ifDrop?: bigint;
  filterAccept?: bigint;
  osDrop?: bigint;
  userDeliv?: bigint;
  startTime?: { tsSec: number; tsNsec: number };
  endTime?: { tsSec: number; tsNsec: number };
  comments?: string[];
}

/** One pcapng Name Resolution Block entry. */
export interface NameRecord { address: string; names: string[]; }

export interface ParserSink {
  packet(rec: PacketRecord): void;
  section?(info: SectionInfo): void;
  interface?(info: InterfaceInfo): void;
  stats?(stats: InterfaceStats): void;
  names?(records: NameRecord[]): void;
  /**
   * A pcapng Decryption Secrets Block: `secretsType` (SECRETS_TYPE_TLS for an NSS key log) and its bytes
   * (a private copy). Without this handler the block counts as skipped.
   */
  decryptionSecrets?(secretsType: number, data: Buffer): void;
  /** A block the parser skipped (custom, unknown, decryption secrets...), by type. */
  skippedBlock?(blockType: number, length: number): void;
  /**
   * Asked before a packet's record is made (after the block was validated): true when the consumer does
   * not want the packet, which is then counted (frame numbers stay right) but never built. Its captured
   * bytes are `caplen` bytes of `data` from `offset`. grep uses it to leave out packets it would not
   * select without building them (lib/grep/prefilter.ts). `tsSec`/`tsNsec`: the record's time as its record
   * would have it (a sharded worker keeps the capture's TCP clock over packets it leaves out: streams/shard-file.ts).
   */
  skip?(data: Buffer, offset: number, caplen: number, linkType: number, fcsLength: number | undefined, tsSec: number, tsNsec: number): boolean;
  /**
   * Optional, with skip (classic pcap only): an offset in `data` (from <= it <= end) such that skip() would
   * say yes to every packet whose record lies wholly in data[from, offset). The parser leaves such records
   * out without asking skip() about each, and tells how many with skippedRun(). Why: grep with no match
   * in a read chunk then costs a walk of record headers, not a call per packet (lib/grep/prefilter.ts).
   */
  skipUntil?(data: Buffer, from: number, end: number): number;
  /** `count` packets were left out by skipUntil() (counted as skip() counts them). */
  skippedRun?(count: number): void;
  /**
   * pcapng only: takes each packet in place of packet(), as its fields and `caplen` bytes of `data` from
   * `offset` (valid during the call only), without a record being made: `pcap-pipe read` converts pcapng
   * to classic pcap with it (lib/formats/pcapng-copy.ts). Timestamps are 0 for a Simple Packet Block.
   */
  rawPacket?(data: Buffer, offset: number, caplen: number, len: number, linkType: number, tsSec: number, tsNsec: number,
    fcsLength: number | undefined, nanoPrecision: boolean, frame: number): void;
}

/** Judges packets from their bytes before records are made (ParserSink.skip); see CaptureReader.setSkipper. */
export interface PacketSkipper {
  /** True: leave this packet out, unbuilt. */
  skip(data: Buffer, offset: number, caplen: number, linkType: number, fcsLength: number | undefined): boolean;
  /** Called before each input chunk is parsed (a skipper that remembers something about a buffer forgets it). */
  reset?(): void;
  /** As ParserSink.skipUntil: every packet wholly in data[from, returned offset) would be skipped. */
  skipUntil?(data: Buffer, from: number, end: number): number;
}

/** pcapng DSB secrets type of a TLS key log in the NSS format ("TLSK"). */
export const SECRETS_TYPE_TLS = 0x544c534b;

/** Named limits, documented defaults in one place. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024; // one record or block larger than this is an error
