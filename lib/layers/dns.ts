/**
 * DNS messages (RFC 1035, EDNS RFC 6891, SRV RFC 2782) over UDP and TCP. The header and the questions
 * are read at once; answer, authority and additional records are parsed on first access of any of them.
 * Names follow compression pointers only backwards (a pointer must point before itself), so a pointer
 * loop cannot exist; the number of jumps and the name length are bounded too.
 * Names are returned as tshark shows them: labels joined by ".", the root as "<Root>", label bytes as
 * Latin-1 (binary-safe; printers escape control characters).
 */
import type { DecodeFailure } from './packet';
import { formatIPv4, formatIPv6 } from '../core/addresses';
import { bufferView } from '../core/buffer-view';
import { Failure, malformed, truncated } from '../core/failure';
import { u16, u32 } from '../core/bytes';

export const DNS_HEADER_LENGTH = 12;
export const DNS_TCP_LENGTH_PREFIX = 2;
/** Named limits. */
export const DNS_MAX_NAME_LENGTH = 255; // RFC 1035 §2.3.4 (wire form)
export const DNS_MAX_POINTER_JUMPS = 64;
/** Records decoded per section at most; a count above this is cut (and reported). */
export const DNS_MAX_RECORDS_PER_SECTION = 4096;
export const DNS_ROOT_NAME = '<Root>';

/** Ports where UDP/TCP payloads are decoded as DNS: DNS, mDNS, LLMNR. */
export function isDnsPort(port: number): boolean {
  return port === 53 || port === 5353 || port === 5355;
}

export const DNS_TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV',
  35: 'NAPTR', 39: 'DNAME', 41: 'OPT', 43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 50: 'NSEC3', 64: 'SVCB',
  65: 'HTTPS', 99: 'SPF', 250: 'TSIG', 251: 'IXFR', 252: 'AXFR', 255: 'ANY', 257: 'CAA',
};

export const DNS_RCODE_NAMES: Record<number, string> = {
  0: 'NoError', 1: 'FormErr', 2: 'ServFail', 3: 'NXDomain', 4: 'NotImp', 5: 'Refused', 6: 'YXDomain',
  7: 'YXRRSet', 8: 'NXRRSet', 9: 'NotAuth', 10: 'NotZone',
};

export const DNS_OPCODE_NAMES: Record<number, string> = { 0: 'QUERY', 1: 'IQUERY', 2: 'STATUS', 4: 'NOTIFY', 5: 'UPDATE' };

export function dnsTypeName(type: number): string { return DNS_TYPE_NAMES[type] ?? `TYPE${type}`; }

export interface DnsQuestion {
  name: string;
  type: number;
  typeName: string;
  /** Class with the mDNS unicast-response bit removed. */
  class: number;
  /** mDNS: the QU bit (top bit of the class). */
  unicastResponse?: boolean;
}

export interface DnsMx { preference: number; exchange: string }
export interface DnsSoa { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
export interface DnsSrv { priority: number; weight: number; port: number; target: string }
export interface DnsOpt {
  udpPayloadSize: number;
  extendedRcode: number;
  version: number;
  dnssecOk: boolean;
  options: Array<{ code: number; data: string }>;
}
/** A, AAAA: address text; CNAME/NS/PTR/DNAME: a name; TXT: strings; other types: the rdata as hex. */
export type DnsRecordData = string | string[] | DnsMx | DnsSoa | DnsSrv | DnsOpt;

export interface DnsRecord {
  name: string;
  type: number;
  typeName: string;
  /** Raw class field (for OPT: the UDP payload size). */
  class: number;
  /** Raw TTL field (for OPT: extended rcode, version, flags). */
  ttl: number;
  data: DnsRecordData;
  /** The raw rdata (a view). */
  rdata: Buffer;
}

interface Sections { answers: DnsRecord[]; authorities: DnsRecord[]; additionals: DnsRecord[] }

/** Name reader result lives here to avoid allocating a tuple per name; set by `readName`. */
let nameNext = 0;

/**
 * A name's text is assembled here (labels and dots, byte for byte) and turned into a string once: one
 * Latin-1 decode per name instead of one per label plus the joins. A name's text is shorter than its
 * wire form, which is bounded by DNS_MAX_NAME_LENGTH.
 */
const nameText = Buffer.alloc(DNS_MAX_NAME_LENGTH);

/**
 * Reads a (possibly compressed) name at `off` in `msg`. Returns the text, or a Failure; on success the
 * offset after the name (in the original position, not after a pointer target) is in `nameNext`.
 */
function readName(msg: Buffer, off: number, base: number): string | Failure {
  let p = off;
  let next = -1;
  let jumps = 0;
  let wireLength = 1;
  let textLength = 0;
  // Pointers may only go backwards, to before the label run that holds them: no loop is possible.
  let limit = off;
  for (;;) {
    if (p >= msg.length) return truncated('dns', base + p, 1, 0);
    const len = msg[p];
    if (len === 0) { p++; break; }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= msg.length) return truncated('dns', base + p, 2, msg.length - p);
      const target = ((len & 0x3f) << 8) | msg[p + 1];
      if (target >= limit) return malformed('dns', base + p, `compression pointer to ${target} does not point backwards (loop)`);
      if (++jumps > DNS_MAX_POINTER_JUMPS) return malformed('dns', base + p, `more than ${DNS_MAX_POINTER_JUMPS} compression pointers`);
      if (next < 0) next = p + 2;
      p = target;
      limit = target;
      continue;
    }
    if (kind !== 0) return malformed('dns', base + p, `label type 0x${kind.toString(16)} not supported`);
    if (p + 1 + len > msg.length) return truncated('dns', base + p, 1 + len, msg.length - p);
    wireLength += len + 1;
    if (wireLength > DNS_MAX_NAME_LENGTH) return malformed('dns', base + p, `name longer than ${DNS_MAX_NAME_LENGTH} bytes`);
    if (textLength > 0) nameText[textLength++] = 0x2e; // '.'
    for (let i = p + 1; i <= p + len; i++) nameText[textLength++] = msg[i];
    p += 1 + len;
  }
  nameNext = next >= 0 ? next : p;
  return textLength === 0 ? DNS_ROOT_NAME : nameText.toString('latin1', 0, textLength);
}

export class DnsMessage {
  // Declared fields, all set in the constructor in this order: one store each, one hidden class.
  declare readonly message: Buffer;
  declare readonly id: number;
  /** The 16-bit flags word. */
  declare readonly flags: number;
  /** True for responses. */
  declare readonly qr: boolean;
  declare readonly opcode: number;
  declare readonly aa: boolean;
  declare readonly tc: boolean;
  declare readonly rd: boolean;
  declare readonly ra: boolean;
  declare readonly ad: boolean;
  declare readonly cd: boolean;
  declare readonly rcode: number;
  declare readonly questionCount: number;
  declare readonly answerCount: number;
  declare readonly authorityCount: number;
  declare readonly additionalCount: number;
  declare readonly questions: DnsQuestion[];
  /** Offset (in the message) after the question section, or -1 when it could not be read. */
  private declare recordsOffset: number;
  private declare sections: Sections | undefined;
  private declare readonly base: number;
  private declare readonly errors: DecodeFailure[] | undefined;

  constructor(message: Buffer, base: number, errors: DecodeFailure[] | undefined) {
    const m = message;
    const flags = u16(m, 2);
    this.message = message;
    this.id = u16(m, 0);
    this.flags = flags;
    this.qr = (flags & 0x8000) !== 0;
    this.opcode = (flags >> 11) & 0xf;
    this.aa = (flags & 0x0400) !== 0;
    this.tc = (flags & 0x0200) !== 0;
    this.rd = (flags & 0x0100) !== 0;
    this.ra = (flags & 0x0080) !== 0;
    this.ad = (flags & 0x0020) !== 0;
    this.cd = (flags & 0x0010) !== 0;
    this.rcode = flags & 0xf;
    this.questionCount = u16(m, 4);
    this.answerCount = u16(m, 6);
    this.authorityCount = u16(m, 8);
    this.additionalCount = u16(m, 10);
    this.questions = [];
    this.recordsOffset = -1;
    this.sections = undefined;
    this.base = base;
    this.errors = errors;
    // Set last: the question reader uses the fields above (the -1 above only fixes the field order).
    this.recordsOffset = this.readQuestions();
  }

  get rcodeName(): string { return DNS_RCODE_NAMES[this.rcode] ?? `RCODE${this.rcode}`; }
  get opcodeName(): string { return DNS_OPCODE_NAMES[this.opcode] ?? `OPCODE${this.opcode}`; }

  get answers(): DnsRecord[] { return this.records().answers; }
  get authorities(): DnsRecord[] { return this.records().authorities; }
  get additionals(): DnsRecord[] { return this.records().additionals; }

  /** The EDNS OPT pseudo-record from the additional section, if any. */
  get edns(): DnsOpt | undefined {
    const opt = this.additionals.find((r) => r.type === 41);
    return opt ? (opt.data as DnsOpt) : undefined;
  }

  private fail(f: Failure): void { if (this.errors) this.errors.push(f); }

  private readQuestions(): number {
    const m = this.message;
    let p = DNS_HEADER_LENGTH;
    const count = Math.min(this.questionCount, DNS_MAX_RECORDS_PER_SECTION);
    for (let i = 0; i < count; i++) {
      const name = readName(m, p, this.base);
      if (name instanceof Failure) { this.fail(name); return -1; }
      p = nameNext;
      if (m.length - p < 4) { this.fail(truncated('dns', this.base + p, 4, m.length - p)); return -1; }
      const type = u16(m, p);
      const cls = u16(m, p + 2);
      const q: DnsQuestion = { name, type, typeName: dnsTypeName(type), class: cls & 0x7fff };
      if (cls & 0x8000) q.unicastResponse = true;
      this.questions.push(q);
      p += 4;
    }
    if (count < this.questionCount) { this.fail(malformed('dns', this.base + 4, `question count ${this.questionCount} above the limit`)); return -1; }
    return p;
  }

  private records(): Sections {
    if (this.sections !== undefined) return this.sections;
    const s: Sections = { answers: [], authorities: [], additionals: [] };
    this.sections = s;
    if (this.recordsOffset < 0) return s;
    let p = this.readSection(s.answers, this.answerCount, this.recordsOffset);
    if (p >= 0) p = this.readSection(s.authorities, this.authorityCount, p);
    if (p >= 0) this.readSection(s.additionals, this.additionalCount, p);
    return s;
  }

  /** Reads `total` records at `p` into `list`; returns the offset after them, or -1 after a failure. */
  private readSection(list: DnsRecord[], total: number, p: number): number {
    const count = Math.min(total, DNS_MAX_RECORDS_PER_SECTION);
    for (let i = 0; i < count; i++) {
      const r = this.readRecord(p);
      if (r instanceof Failure) { this.fail(r); return -1; }
      list.push(r);
      p = nameNext;
    }
    if (count < total) { this.fail(malformed('dns', this.base + 6, `record count ${total} above the limit`)); return -1; }
    return p;
  }

  /** Reads one resource record at `p`; sets `nameNext` to the offset after it. */
  private readRecord(p: number): DnsRecord | Failure {
    const m = this.message;
    const name = readName(m, p, this.base);
    if (name instanceof Failure) return name;
    p = nameNext;
    if (m.length - p < 10) return truncated('dns', this.base + p, 10, m.length - p);
    const type = u16(m, p);
    const cls = u16(m, p + 2);
    const ttl = u32(m, p + 4);
    const rdlength = u16(m, p + 8);
    const rdStart = p + 10;
    const rdEnd = rdStart + rdlength;
    if (rdEnd > m.length) return truncated('dns', this.base + rdStart, rdlength, m.length - rdStart);
    const data = this.readRdata(type, cls, ttl, rdStart, rdEnd);
    if (data instanceof Failure) return data;
    nameNext = rdEnd;
    return { name, type, typeName: dnsTypeName(type), class: cls, ttl, data, rdata: bufferView(m, rdStart, rdlength) };
  }

  /** The failure for rdata that does not fit its type. */
  private badRdata(type: number, start: number, end: number): Failure {
    return malformed('dns', this.base + start, `${dnsTypeName(type)} rdata of ${end - start} bytes`);
  }

  /** A name inside rdata [.., end): a failure when it runs past the rdata. Sets `nameNext`. */
  private rdataName(type: number, at: number, start: number, end: number): string | Failure {
    const n = readName(this.message, at, this.base);
    if (n instanceof Failure) return n;
    if (nameNext > end) return this.badRdata(type, start, end);
    return n;
  }

  private readRdata(type: number, cls: number, ttl: number, start: number, end: number): DnsRecordData | Failure {
    const m = this.message;
    const len = end - start;
    switch (type) {
      case 1: return len === 4 ? formatIPv4(m, start) : this.badRdata(type, start, end);
      case 28: return len === 16 ? formatIPv6(m, start) : this.badRdata(type, start, end);
      case 2: case 5: case 12: case 39: return this.rdataName(type, start, start, end);
      case 15: {
        if (len < 3) return this.badRdata(type, start, end);
        const exchange = this.rdataName(type, start + 2, start, end);
        return exchange instanceof Failure ? exchange : { preference: u16(m, start), exchange };
      }
      case 16: case 99: {
        const strings: string[] = [];
        for (let q = start; q < end; ) {
          const l = m[q];
          if (q + 1 + l > end) return this.badRdata(type, start, end);
          strings.push(m.toString('latin1', q + 1, q + 1 + l));
          q += 1 + l;
        }
        return strings;
      }
      case 6: {
        const mname = this.rdataName(type, start, start, end);
        if (mname instanceof Failure) return mname;
        const rname = this.rdataName(type, nameNext, start, end);
        if (rname instanceof Failure) return rname;
        const q = nameNext;
        if (end - q !== 20) return this.badRdata(type, start, end);
        return { mname, rname, serial: u32(m, q), refresh: u32(m, q + 4), retry: u32(m, q + 8), expire: u32(m, q + 12), minimum: u32(m, q + 16) };
      }
      case 33: {
        if (len < 7) return this.badRdata(type, start, end);
        const target = this.rdataName(type, start + 6, start, end);
        return target instanceof Failure ? target : { priority: u16(m, start), weight: u16(m, start + 2), port: u16(m, start + 4), target };
      }
      case 41: {
        const options: Array<{ code: number; data: string }> = [];
        for (let q = start; q < end; ) {
          if (end - q < 4) return this.badRdata(type, start, end);
          const ol = u16(m, q + 2);
          if (q + 4 + ol > end) return this.badRdata(type, start, end);
          options.push({ code: u16(m, q), data: m.toString('hex', q + 4, q + 4 + ol) });
          q += 4 + ol;
        }
        return { udpPayloadSize: cls, extendedRcode: ttl >>> 24, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0, options };
      }
      default: return m.toString('hex', start, end);
    }
  }

  toJSON(): Record<string, unknown> {
    const rec = (r: DnsRecord) => ({ name: r.name, type: r.type, typeName: r.typeName, class: r.class, ttl: r.ttl, data: r.data });
    return {
      id: this.id, qr: this.qr ? 1 : 0, opcode: this.opcode, opcodeName: this.opcodeName, flags: this.flags,
      aa: this.aa, tc: this.tc, rd: this.rd, ra: this.ra, ad: this.ad, cd: this.cd,
      rcode: this.rcode, rcodeName: this.rcodeName, questions: this.questions,
      answers: this.answers.map(rec), authorities: this.authorities.map(rec), additionals: this.additionals.map(rec),
    };
  }
}

/**
 * Decodes a DNS message (no TCP length prefix). `base` is the message's offset in the frame, for failure
 * offsets; record failures found later (on access) are appended to `errors`.
 */
export function decodeDns(msg: Buffer, base: number, errors?: DecodeFailure[]): DnsMessage | Failure {
  if (msg.length < DNS_HEADER_LENGTH) return truncated('dns', base, DNS_HEADER_LENGTH, msg.length);
  return new DnsMessage(msg, base, errors);
}
