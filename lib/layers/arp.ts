/**
 * ARP and RARP (RFC 826, RFC 903). Ethernet/IPv4 addresses are formatted as MAC and dotted quad; any
 * other hardware/protocol pairing (the generic form) gets colon-separated hex.
 */
import { formatHexColons, formatIPv4, formatMac } from '../core/addresses';
import { Failure, truncated } from '../core/failure';
import { u16 } from '../core/bytes';

export const ARP_FIXED_LENGTH = 8;

export const ARP_OPCODE_NAMES: Record<number, string> = {
  1: 'request', 2: 'reply', 3: 'rarp-request', 4: 'rarp-reply', 8: 'inarp-request', 9: 'inarp-reply',
};

export interface ArpLayer {
  hardwareType: number;
  protocolType: number;
  hardwareLength: number;
  protocolLength: number;
  /** Opcode: 1 request, 2 reply, 3/4 RARP. */
  op: number;
  opName: string;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

function formatHw(buf: Buffer, off: number, len: number): string {
  return len === 6 ? formatMac(buf, off) : formatHexColons(buf, off, len);
}

function formatProto(buf: Buffer, off: number, len: number, ptype: number): string {
  return len === 4 && ptype === 0x0800 ? formatIPv4(buf, off) : formatHexColons(buf, off, len);
}

export function decodeArp(buf: Buffer, off: number, end: number): ArpLayer | Failure {
  if (end - off < ARP_FIXED_LENGTH) return truncated('arp', off, ARP_FIXED_LENGTH, end - off);
  const hardwareType = u16(buf, off);
  const protocolType = u16(buf, off + 2);
  const hl = buf[off + 4];
  const pl = buf[off + 5];
  const op = u16(buf, off + 6);
  const need = ARP_FIXED_LENGTH + 2 * hl + 2 * pl;
  if (end - off < need) return truncated('arp', off, need, end - off);
  const sha = off + ARP_FIXED_LENGTH;
  const spa = sha + hl;
  const tha = spa + pl;
  const tpa = tha + hl;
  return {
    hardwareType, protocolType, hardwareLength: hl, protocolLength: pl, op, opName: ARP_OPCODE_NAMES[op] ?? `op${op}`,
    senderMac: formatHw(buf, sha, hl), senderIp: formatProto(buf, spa, pl, protocolType),
    targetMac: formatHw(buf, tha, hl), targetIp: formatProto(buf, tpa, pl, protocolType),
  };
}
