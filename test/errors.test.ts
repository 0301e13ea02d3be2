// The one error model (lib/core/errors.ts): every typed failure carries a code from PcapPipeErrorCode, and
// the table in the file's doc comment lists exactly the codes of the union.
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CaptureError, GrepPatternError, LiveCaptureError, PcapPipeError, isCaptureError, isPcapPipeError,
} from '../lib/core/errors';
import { compileMatcher } from '../lib/grep/grep';
import { fromNativeError } from '../addon/index';
import { decodePacket } from '../lib/layers/decode';
import { packetToJson } from '../lib/layers/print';
import { LinkType } from '../lib/core/record';
import { REPO_ROOT } from './helpers/oracle';

const ERRORS_SOURCE = path.join(REPO_ROOT, 'lib', 'core', 'errors.ts');

/** The string literals of every `export type XxxCode = | 'A' | 'B' ...` union in errors.ts. */
function unionCodes(source: string): string[] {
  const codes: string[] = [];
  // a union ends at the blank line after it (its comments may hold ';')
  for (const m of source.matchAll(/export type (\w+Code) =([\s\S]*?)\n\n/g)) {
    for (const lit of m[2]!.matchAll(/'([A-Z0-9_]+)'/g)) codes.push(lit[1]!);
  }
  return codes;
}

/** The first column of the table in the doc comment. */
function tableCodes(source: string): string[] {
  return [...source.matchAll(/^ \* \| ([A-Z][A-Z0-9_]+) +\|/gm)].map((m) => m[1]!);
}

test('errors.ts: the doc table lists every code of the unions, once, and nothing else', () => {
  const source = fs.readFileSync(ERRORS_SOURCE, 'utf8');
  const inUnions = unionCodes(source);
  const inTable = tableCodes(source);
  assert.ok(inUnions.length >= 30, `found ${inUnions.length} codes`);
  assert.ok(inTable.length >= 30, `found ${inTable.length} table rows`);
  assert.deepStrictEqual([...new Set(inTable)].length, inTable.length, 'a code appears twice in the table');
  assert.deepStrictEqual([...inTable].sort(), [...new Set(inUnions)].sort());
});

test('GrepPatternError: code GREP_PATTERN, a PcapPipeError', () => {
  assert.throws(() => compileMatcher('('), (e: unknown) => {
    assert.ok(e instanceof GrepPatternError);
    assert.ok(isPcapPipeError(e, 'GREP_PATTERN'));
    assert.strictEqual(e.name, 'GrepPatternError');
    assert.match(e.message, /invalid regular expression/);
    return true;
  });
});

test('LiveCaptureError: an addon error becomes a CaptureError with its code and libpcap reason', () => {
  const e = fromNativeError(Object.assign(new Error('syntax error in filter expression'), { code: 'BPF_SYNTAX', reason: 'ERROR' }));
  assert.ok(e instanceof LiveCaptureError);
  assert.ok(e instanceof CaptureError);
  assert.ok(e instanceof PcapPipeError);
  assert.ok(isCaptureError(e, 'BPF_SYNTAX'));
  assert.strictEqual(e.reason, 'ERROR');
  // an error that is not the addon's stays what it was
  const other = new TypeError('x');
  assert.strictEqual(fromNativeError(other), other);
});

test('CaptureError keeps code, offset and name', () => {
  const e = new CaptureError('PCAP_TRUNCATED', 'cut', 24);
  assert.deepStrictEqual([e.name, e.code, e.offset, e.message], ['CaptureError', 'PCAP_TRUNCATED', 24, 'cut']);
  assert.ok(isPcapPipeError(e) && !isPcapPipeError(new Error('plain')));
});

test('DecodeFailure: code follows kind; JSON output keeps its four fields', () => {
  // an Ethernet frame cut inside its header, then an IPv4 header with IHL 15 in a 20-byte packet
  const shortEth = Buffer.from('00112233445566778899aabb08', 'hex');
  const ipv4 = Buffer.concat([Buffer.from('00112233445566778899aabb0800', 'hex'), Buffer.from('4f000014000000004006000001020304', 'hex'), Buffer.from('05060708', 'hex')]);
  const record = (data: Buffer, frame: number) => ({
    frame, linkType: LinkType.ETHERNET, tsSec: 1, tsNsec: 0, caplen: data.length, len: data.length, interfaceId: 0, data,
  });
  const a = decodePacket(record(shortEth, 1));
  assert.deepStrictEqual(a.errors.map((e) => [e.kind, e.code]), [['truncated', 'DECODE_TRUNCATED']]);
  const b = decodePacket(record(ipv4, 2));
  assert.ok(b.errors.length > 0);
  for (const e of b.errors) assert.strictEqual(e.code, `DECODE_${e.kind.toUpperCase()}`);
  const json = packetToJson(a) as { errors: object[] };
  assert.deepStrictEqual(Object.keys(json.errors[0]!), ['layer', 'kind', 'offset', 'message']);
});
