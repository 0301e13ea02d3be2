/**
 * The packet record: the one object every source (classic pcap, pcapng, stdin, live capture) emits.
 *
 * Timestamps are kept as two integers, whole seconds and nanoseconds, because epoch nanoseconds
 * (~1.8e18) do not fit a JS number exactly. `tsSec` is exact up to 2^53 s and `tsNsec` is 0..999999999.
 */

/** Per-packet options from a pcapng Enhanced Packet Block. */
export interface PacketOptions {
  /** epb_flags word, raw. */
  flags?: number;
  /** Direction from epb_flags bits 0-1: 'in', 'out' or undefined when not given. */
  direction?: 'in' | 'out';
  /** Every opt_comment, in order. */
  comments?: string[];
  /** epb_dropcount: packets lost between this one and the previous on the interface. */
  dropCount?: bigint;
  /** epb_packetid. */
  packetId?: bigint;
  /** epb_queue. */
  queue?: number;
  /** epb_hash entries, raw (algorithm byte + digest). */
  hashes?: Buffer[];
  /** epb_verdict entries, raw. */
  verdicts?: Buffer[];
}

export interface PacketRecord {
  /** 1-based position of the packet in its source, like tshark's frame.number. */
  frame: number;
  /** LINKTYPE_* value, with any FCS/reserved bits of the pcap header removed (see `fcsLength`). */
  linkType: number;
  /** Whole seconds since the epoch (may be negative for odd captures). */
  tsSec: number;
  /** Nanoseconds within the second, 0..999999999. */
  tsNsec: number;
  /** Bytes captured (data.length). */
  caplen: number;
  /** Length of the packet on the wire. */
  len: number;
  /** pcapng interface index within its section, or 0 for classic pcap and live capture. */
  interfaceId: number;
  /** The captured bytes: a view into the chunk the source read, never reused by the producer. */
  data: Buffer;
  /** True when the source had no timestamp (pcapng Simple Packet Block). */
  noTimestamp?: boolean;
  /** pcapng EPB options, when present. */
  options?: PacketOptions;
  /** Bytes of FCS at the end of each frame, when the link header says so (pcap FCS bits, if_fcslen). */
  fcsLength?: number;
  /**
   * True when the source's timestamps are finer than microseconds (pcap ns magic, pcapng if_tsresol > 6,
   * live capture opened with nanosecond precision). Writers use it to choose ns output automatically.
   */
  nanoPrecision?: boolean;
}

/** "000" .. "999": nanoseconds are written three digits at a time, with no number-to-string conversion. */
const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
// The "seconds." text of the last timestamp formatted: consecutive packets mostly share their second,
// and this runs once per TCP event (hundreds of thousands per second), so it is formatted once per second.
let lastSec = NaN;
let lastSecText = '';

/** Seconds with 9 decimals, exactly as tshark prints frame.time_epoch. */
export function formatTimestamp(tsSec: number, tsNsec: number): string {
  if (tsSec < 0 && tsNsec > 0) {
    // -1.5 s is stored as tsSec=-2, tsNsec=5e8
    const s = tsSec + 1;
    const ns = 1_000_000_000 - tsNsec;
    return `${s === 0 ? '-0' : String(s)}.${String(ns).padStart(9, '0')}`;
  }
  if (tsSec !== lastSec) {
    lastSec = tsSec;
    lastSecText = `${tsSec}.`;
  }
  if (tsNsec >= 0 && tsNsec < 1_000_000_000 && Number.isInteger(tsNsec)) {
    const ms = Math.floor(tsNsec / 1_000_000);
    const us = Math.floor(tsNsec / 1000) % 1000;
    return lastSecText + (THREE_DIGITS[ms]! + THREE_DIGITS[us]! + THREE_DIGITS[tsNsec % 1000]!);
  }
  return lastSecText + String(tsNsec).padStart(9, '0'); // not a valid nanosecond count: as it is
}

export function recordTimestamp(rec: { tsSec: number; tsNsec: number }): string {
  return formatTimestamp(rec.tsSec, rec.tsNsec);
}

/** Timestamp as bigint nanoseconds since the epoch. */
export function timestampNs(rec: { tsSec: number; tsNsec: number }): bigint {
  return BigInt(rec.tsSec) * 1_000_000_000n + BigInt(rec.tsNsec);
}

/** Timestamp as a JS number of seconds (loses sub-microsecond precision; fine for durations and display). */
export function timestampSeconds(rec: { tsSec: number; tsNsec: number }): number {
  return rec.tsSec + rec.tsNsec / 1e9;
}

/** Orders two records by capture time. */
export function compareTimestamps(a: { tsSec: number; tsNsec: number }, b: { tsSec: number; tsNsec: number }): number {
  return a.tsSec !== b.tsSec ? a.tsSec - b.tsSec : a.tsNsec - b.tsNsec;
}

/** LINKTYPE_* values this project knows by name (https://www.tcpdump.org/linktypes.html). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW_DLT12: 12,
  RAW_DLT14: 14,
  LOOP: 108,
  RAW: 101,
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  ETHERNET_MPACKET: 274,
  LINUX_SLL2: 276,
} as const;

const LINK_TYPE_NAMES: Record<number, string> = {
  0: 'NULL', 1: 'EN10MB', 12: 'RAW', 14: 'RAW', 101: 'RAW', 105: 'IEEE802_11', 108: 'LOOP', 113: 'LINUX_SLL',
  127: 'IEEE802_11_RADIOTAP', 228: 'IPV4', 229: 'IPV6', 274: 'ETHERNET_MPACKET', 276: 'LINUX_SLL2',
};

export function linkTypeName(linkType: number): string {
  return LINK_TYPE_NAMES[linkType] ?? `LINKTYPE_${linkType}`;
}
