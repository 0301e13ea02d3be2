/**
 * IEEE 802.1Q / 802.1ad VLAN tags. Stacks of any depth are decoded (the loop lives in lib/layers/decode.ts and
 * is bounded by the captured bytes: every tag consumes 4).
 */
import type { VlanTag } from './packet';
import { Failure, truncated } from '../core/failure';
import { u16 } from '../core/bytes';

export const VLAN_TAG_LENGTH = 4;

/** TPIDs that introduce a tag: 802.1Q, 802.1ad (S-tag) and the pre-standard 0x9100 QinQ. */
export function isVlanTpid(type: number): boolean {
  return type === 0x8100 || type === 0x88a8 || type === 0x9100;
}

/** Decodes the 4 bytes after a TPID (`off` points at the TCI). */
export function decodeVlanTag(tpid: number, buf: Buffer, off: number, end: number): VlanTag | Failure {
  if (end - off < VLAN_TAG_LENGTH) return truncated('vlan', off, VLAN_TAG_LENGTH, end - off);
  const tci = u16(buf, off);
  return { tpid, id: tci & 0x0fff, pcp: tci >> 13, dei: (tci >> 12) & 1, type: u16(buf, off + 2) };
}
