/**
 * tcpdump filter expressions on any stream of PacketRecords (files, pipes, live): libpcap compiles the
 * expression for the record's link type without a live handle (pcap_open_dead + pcap_compile) and tests
 * each record with pcap_offline_filter, so `filter('tcp port 80')` keeps exactly what `tcpdump -r FILE
 * 'tcp port 80'` keeps. One compiled program per link type is cached (pcapng files can mix link types).
 *
 * Chunks that are not PacketRecords (events of other stages) pass through unchanged; arrays of records
 * (batch mode) come out as arrays of the kept records. An expression that
 * does not compile for a link type (e.g. `vlan` on raw IP) errors the stream with a LiveCaptureError
 * (code BPF_SYNTAX), as tcpdump refuses it; the constructor compiles for Ethernet first so a plain
 * syntax error surfaces at once.
 */
import { BatchTransform, type Typed } from './batch';
import { LinkType, type PacketRecord } from '../lib/core/record';
import { compileBpf, type NativeBpfProgram } from '../addon/index';

export const DEFAULT_FILTER_SNAPLEN = 262144;

export interface FilterOptions {
  /** Snapshot length the program is compiled for (default 262144, as tcpdump). */
  snaplen?: number;
  /** Run libpcap's optimizer (default true, as tcpdump; `-O` turns it off there). */
  optimize?: boolean;
  /** Keep the records that do NOT match. */
  invert?: boolean;
  /** Link type to compile for first, to report a syntax error at construction (default Ethernet). */
  checkLinkType?: number;
}

/** A compiled filter, one program per link type, usable without streams. */
export class BpfFilter {
  readonly expression: string;
  private readonly snaplen: number;
  private readonly optimize: boolean;
  private readonly programs = new Map<number, NativeBpfProgram>();

  constructor(expression: string, opts: FilterOptions = {}) {
    this.expression = expression;
    this.snaplen = opts.snaplen ?? DEFAULT_FILTER_SNAPLEN;
    this.optimize = opts.optimize ?? true;
    if (expression.trim() !== '') this.program(opts.checkLinkType ?? LinkType.ETHERNET);
  }

  /** The program for a link type, compiled on first use. Throws LiveCaptureError (BPF_SYNTAX). */
  program(linkType: number): NativeBpfProgram {
    let p = this.programs.get(linkType);
    if (!p) {
      p = compileBpf(this.expression, linkType, this.snaplen, this.optimize);
      this.programs.set(linkType, p);
    }
    return p;
  }

  /** True when the record passes the filter. An empty expression passes everything (as tcpdump). */
  matches(rec: PacketRecord): boolean {
    if (this.expression.trim() === '') return true;
    return this.program(rec.linkType).matches(rec.data, rec.len);
  }
}

function isPacketRecord(chunk: unknown): chunk is PacketRecord {
  const c = chunk as Partial<PacketRecord> | null;
  return !!c && typeof c.linkType === 'number' && typeof c.len === 'number' && Buffer.isBuffer(c.data);
}

export class FilterStream extends BatchTransform<PacketRecord, PacketRecord> {
  readonly bpf: BpfFilter;
  private readonly invert: boolean;
  /** Records seen and kept so far. */
  seen = 0;
  kept = 0;

  constructor(expression: string, opts: FilterOptions = {}) {
    super({ highWaterMark: 16 });
    this.bpf = new BpfFilter(expression, opts);
    this.invert = opts.invert ?? false;
  }

  /** Chunks that are not PacketRecords (other stages' events) pass through. */
  protected override handle(item: PacketRecord): void {
    if (!isPacketRecord(item)) {
      this.out.push(item);
      return;
    }
    this.seen++;
    if (this.bpf.matches(item) !== this.invert) {
      this.kept++;
      this.out.push(item);
    }
  }
}

/** A Transform keeping the PacketRecords that match a tcpdump filter expression. */
export function filter(expression: string, opts: FilterOptions = {}): Typed<FilterStream> {
  return new FilterStream(expression, opts) as Typed<FilterStream>;
}
