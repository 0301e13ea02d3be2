/**
 * tcpdump filter expressions on any stream of PacketRecords (files, pipes, live), a stage over BpfFilter
 * (addon/bpf.ts): `filter('tcp port 80')` keeps exactly what `tcpdump -r FILE 'tcp port 80'` keeps.
 *
 * Chunks that are not PacketRecords (events of other stages) pass through unchanged; arrays of records
 * (batch mode) come out as arrays of the kept records. An expression that
 * does not compile for a link type (e.g. `vlan` on raw IP) errors the stream with a LiveCaptureError
 * (code BPF_SYNTAX), as tcpdump refuses it; the constructor compiles for Ethernet first so a plain
 * syntax error surfaces at once.
 */
import { BatchTransform, type Typed } from './batch';
import type { PacketRecord } from '../lib/core/record';
import { BpfFilter, DEFAULT_FILTER_SNAPLEN, type BpfFilterOptions } from '../addon/bpf';

export { BpfFilter, DEFAULT_FILTER_SNAPLEN };
export type { BpfFilterOptions };

export interface FilterOptions extends BpfFilterOptions {
  /** Keep the records that do NOT match. */
  invert?: boolean;
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
