/**
 * Ethernet II and IEEE 802.3 framing. An EtherType field <= 1500 is an 802.3 length; then an 802.2 LLC
 * header follows, and a SNAP header (DSAP = SSAP = 0xAA, control 3) carries an EtherType again, which is
 * how IP and ARP travel over 802.3.
 */
import type { EthernetLayer } from './packet';
import { formatMac } from '../core/addresses';
import { Failure, truncated } from '../core/failure';
import { u16 } from '../core/bytes';

export const ETHERNET_HEADER_LENGTH = 14;
/** EtherType values below this are 802.3 length fields (IEEE 802.3 clause 3.2.6: 1500 and less). */
export const ETHERNET_MAX_LENGTH_FIELD = 1500;

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  RARP: 0x8035,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
  QINQ_OLD: 0x9100,
} as const;

export class EthernetHeader implements EthernetLayer {
  // Fields are declared (no class-field initialisers) and all set in the constructor, in one order: one
  // store each, and every header has the same hidden class whichever getter runs first.
  /** EtherType, or the 802.3 length field when <= 1500. */
  declare readonly type: number;
  private declare readonly buf: Buffer;
  private declare readonly off: number;
  private declare _src: string | undefined;
  private declare _dst: string | undefined;

  constructor(buf: Buffer, off: number) {
    this.type = (buf[off + 12] << 8) | buf[off + 13];
    this.buf = buf;
    this.off = off;
    this._src = undefined;
    this._dst = undefined;
  }

  get dst(): string { return this._dst ??= formatMac(this.buf, this.off); }
  get src(): string { return this._src ??= formatMac(this.buf, this.off + 6); }

  /** True when `type` is an 802.3 length and an LLC header follows. */
  get isLength(): boolean { return this.type <= ETHERNET_MAX_LENGTH_FIELD; }

  toJSON(): EthernetLayer { return { src: this.src, dst: this.dst, type: this.type }; }
}

export function decodeEthernet(buf: Buffer, off: number, end: number): EthernetHeader | Failure {
  if (end - off < ETHERNET_HEADER_LENGTH) return truncated('eth', off, ETHERNET_HEADER_LENGTH, end - off);
  return new EthernetHeader(buf, off);
}

/** IEEE 802.2 LLC header, with the SNAP extension when present. */
export interface LlcLayer {
  dsap: number;
  ssap: number;
  control: number;
  /** SNAP organisation code, when DSAP/SSAP are 0xAA. */
  oui?: number;
  /** SNAP protocol id: an EtherType when `oui` is 0. */
  pid?: number;
  /** Header length (3, or 8 with SNAP). */
  headerLength: number;
}

export const LLC_SAP_SNAP = 0xaa;

export function decodeLlc(buf: Buffer, off: number, end: number): LlcLayer | Failure {
  if (end - off < 3) return truncated('llc', off, 3, end - off);
  const dsap = buf[off];
  const ssap = buf[off + 1];
  const control = buf[off + 2];
  if (dsap === LLC_SAP_SNAP && ssap === LLC_SAP_SNAP && control === 3) {
    if (end - off < 8) return truncated('llc', off, 8, end - off);
    const oui = (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5];
    return { dsap, ssap, control, oui, pid: u16(buf, off + 6), headerLength: 8 };
  }
  return { dsap, ssap, control, headerLength: 3 };
}
