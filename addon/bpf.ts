/**
 * tcpdump filter expressions without a live handle: libpcap compiles the expression for a link type
 * (pcap_open_dead + pcap_compile) and tests records with pcap_offline_filter, so a BpfFilter keeps exactly
 * what `tcpdump -r FILE EXPR` keeps. One compiled program per link type is cached (pcapng files can mix
 * link types). Not a stream: streams/filter.ts is the stage over it.
 */
import { LinkType, type PacketRecord } from '../lib/core/record';
import { compileBpf, type NativeBpfProgram } from './index';

export const DEFAULT_FILTER_SNAPLEN = 262144;

export interface BpfFilterOptions {
  /** Snapshot length the program is compiled for (default 262144, as tcpdump). */
  snaplen?: number;
  /** Run libpcap's optimizer (default true, as tcpdump; `-O` turns it off there). */
  optimize?: boolean;
  /** Link type to compile for first, to report a syntax error at construction (default Ethernet). */
  checkLinkType?: number;
}

/** A compiled filter, one program per link type, usable without streams. */
export class BpfFilter {
  readonly expression: string;
  private readonly snaplen: number;
  private readonly optimize: boolean;
  private readonly programs = new Map<number, NativeBpfProgram>();

  constructor(expression: string, opts: BpfFilterOptions = {}) {
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
