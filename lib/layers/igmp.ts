/** IGMP v1/v2 (RFC 2236) messages and the v3 query/report shapes (RFC 3376). */
import { formatIPv4 } from '../core/addresses';
import { Failure, truncated } from '../core/failure';
import { u16 } from '../core/bytes';

export const IGMP_MIN_LENGTH = 8;

export const IGMP_TYPE_NAMES: Record<number, string> = {
  0x11: 'membership-query', 0x12: 'v1-membership-report', 0x16: 'v2-membership-report', 0x17: 'leave-group',
  0x22: 'v3-membership-report',
};

export interface IgmpLayer {
  type: number;
  typeName: string;
  /** Max response time (v2/v3 queries), raw. */
  maxResponse: number;
  checksum: number;
  /** Group address (v1/v2 and queries); undefined for v3 reports. */
  group?: string;
  /** v3 report: number of group records. v3 query: number of sources. */
  recordCount?: number;
  version: 1 | 2 | 3;
}

export function decodeIgmp(buf: Buffer, off: number, end: number): IgmpLayer | Failure {
  const have = end - off;
  if (have < IGMP_MIN_LENGTH) return truncated('igmp', off, IGMP_MIN_LENGTH, have);
  const type = buf[off];
  const layer: IgmpLayer = {
    type, typeName: IGMP_TYPE_NAMES[type] ?? `type${type}`, maxResponse: buf[off + 1], checksum: u16(buf, off + 2), version: 2,
  };
  if (type === 0x22) {
    layer.version = 3;
    layer.recordCount = u16(buf, off + 6);
    return layer;
  }
  layer.group = formatIPv4(buf, off + 4);
  if (type === 0x12) layer.version = 1;
  if (type === 0x11) {
    if (have >= 12) { layer.version = 3; layer.recordCount = u16(buf, off + 10); }
    else if (layer.maxResponse === 0) layer.version = 1;
  }
  return layer;
}
