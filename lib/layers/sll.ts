/**
 * Linux "cooked" capture headers: LINKTYPE_LINUX_SLL (113, 16 bytes) and LINKTYPE_LINUX_SLL2 (276,
 * 20 bytes). See https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html and ..._SLL2.html.
 */
import { formatHexColons } from '../core/addresses';
import { Failure, truncated } from '../core/failure';
import { u16, u32 } from '../core/bytes';

export const SLL_HEADER_LENGTH = 16;
export const SLL2_HEADER_LENGTH = 20;
/** The link-layer address field holds at most 8 bytes. */
const SLL_ADDRESS_FIELD = 8;

/** Protocol values that are not EtherTypes (linux/if_ether.h). */
export const SllProtocol = { NOVELL_8023: 0x0001, LLC_8022: 0x0004, CAN: 0x000c, CANFD: 0x000d } as const;

export const SLL_PACKET_TYPES = ['host', 'broadcast', 'multicast', 'otherhost', 'outgoing'] as const;

export interface SllLayer {
  version: 1 | 2;
  /** 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us. */
  packetType: number;
  /** ARPHRD_* type of the interface. */
  hardwareType: number;
  /** Link-layer source address as hex with colons (up to 8 bytes). */
  address: string;
  addressLength: number;
  /** EtherType (or one of `SllProtocol`). */
  protocol: number;
  /** SLL2 only: the interface index. */
  interfaceIndex?: number;
}

export function decodeSll(buf: Buffer, off: number, end: number): SllLayer | Failure {
  if (end - off < SLL_HEADER_LENGTH) return truncated('sll', off, SLL_HEADER_LENGTH, end - off);
  const addressLength = u16(buf, off + 4);
  return {
    version: 1,
    packetType: u16(buf, off),
    hardwareType: u16(buf, off + 2),
    addressLength,
    address: formatHexColons(buf, off + 6, Math.min(addressLength, SLL_ADDRESS_FIELD)),
    protocol: u16(buf, off + 14),
  };
}

export function decodeSll2(buf: Buffer, off: number, end: number): SllLayer | Failure {
  if (end - off < SLL2_HEADER_LENGTH) return truncated('sll', off, SLL2_HEADER_LENGTH, end - off);
  const addressLength = buf[off + 11];
  return {
    version: 2,
    protocol: u16(buf, off),
    interfaceIndex: u32(buf, off + 4),
    hardwareType: u16(buf, off + 8),
    packetType: buf[off + 10],
    addressLength,
    address: formatHexColons(buf, off + 12, Math.min(addressLength, SLL_ADDRESS_FIELD)),
  };
}
