/**
 * HPACK (RFC 7541): the Huffman code against Appendix B, the request examples of Appendix C (plain and
 * Huffman, the dynamic table carried across blocks), eviction and size updates, the unknown-table
 * recovery rules of a capture joined mid-connection, and typed errors for hostile blocks.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { HpackDecoder, huffmanCodes, huffmanDecode } from '../lib/http2/hpack.js';
import { hpackIndexed, hpackInteger, hpackLiteral, hpackSizeUpdate, hpackString, huffmanEncode } from './helpers/h2.js';
import { prng } from './helpers/prng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('Huffman code: rows of RFC 7541 Appendix B', () => {
  const codes = huffmanCodes();
  // (sym) code as hex, len — from the RFC's table
  const rows: Array<[number, number, number]> = [
    [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [9, 0xffffea, 24], [10, 0x3ffffffc, 30], [32, 0x14, 6], [48, 0x0, 5],
    [97, 0x3, 5], [122, 0x7b, 7], [127, 0xffffffc, 28], [255, 0x3ffffee, 26], [256, 0x3fffffff, 30],
  ];
  for (const [sym, code, length] of rows) assert.deepEqual(codes[sym], [code, length], `symbol ${sym}`);
  assert.equal(codes.length, 257);
});

test('Huffman: every byte value round-trips; EOS inside a string and bad padding are rejected', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
  assert.equal(huffmanDecode(huffmanEncode(all)), all);
  assert.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff')), 'www.example.com'); // C.4.1
  assert.equal(huffmanDecode(hex('ffff ffff')), undefined, '30 one-bits: EOS');
  // 'a' (00011) followed by 0-bits as padding: padding must be ones
  assert.equal(huffmanDecode(Buffer.from([0b00011000])), undefined);
  assert.equal(huffmanDecode(Buffer.from([0b00011111])), 'a');
  // padding of 8 or more bits (a whole 0xff byte after a complete symbol) is an error
  assert.equal(huffmanDecode(Buffer.from([0b00011111, 0xff])), undefined);
  const rand = prng(5);
  for (let i = 0; i < 200; i++) {
    const s = Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256))).toString('latin1');
    assert.equal(huffmanDecode(huffmanEncode(s)), s);
  }
});

test('RFC 7541 C.3 and C.4: three requests on one table, plain and Huffman', () => {
  const first = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
  const second = [...first, ['cache-control', 'no-cache']];
  const third = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
  const plain = new HpackDecoder();
  assert.deepEqual(plain.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')).fields, first);
  assert.deepEqual(plain.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865')).fields, second);
  assert.deepEqual(plain.decode(hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')).fields, third);
  assert.equal(plain.tableEntries, 3);
  assert.equal(plain.tableSize, 164);
  const huff = new HpackDecoder();
  assert.deepEqual(huff.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')).fields, first);
  assert.deepEqual(huff.decode(hex('8286 84be 5886 a8eb 1064 9cbf')).fields, second);
  assert.deepEqual(huff.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')).fields, third);
  assert.equal(huff.tableSize, 164);
});

test('dynamic table: eviction at the maximum size, size updates, entries larger than the table', () => {
  const d = new HpackDecoder();
  d.setAllowedMaxSize(256);
  // three entries of 32 + 10 + 90 = 132 octets: the third evicts the first
  const v = 'x'.repeat(90);
  d.decode(Buffer.concat([hpackLiteral('aaaaaaaaaa', v, 'incremental')]));
  d.decode(Buffer.concat([hpackLiteral('bbbbbbbbbb', v, 'incremental')]));
  assert.equal(d.tableEntries, 1, 'the second insertion evicted the first (264 > 256)');
  assert.deepEqual(d.decode(hpackIndexed(62)).fields, [['bbbbbbbbbb', v]]);
  const past = d.decode(hpackIndexed(63));
  assert.equal(past.problem?.code, 'HPACK_BAD_INDEX');
  // a size update to 0 empties the table; then one to 200
  const e = new HpackDecoder();
  e.decode(hpackLiteral('k', 'v', 'incremental'));
  assert.equal(e.tableEntries, 1);
  assert.deepEqual(e.decode(Buffer.concat([hpackSizeUpdate(0), hpackSizeUpdate(200), hpackIndexed(2)])).fields, [[':method', 'GET']]);
  assert.equal(e.tableEntries, 0);
  // an entry larger than the table empties it and is not added
  e.decode(hpackLiteral('k', 'v', 'incremental'));
  assert.equal(e.tableEntries, 1);
  const big = e.decode(hpackLiteral('big', 'y'.repeat(300), 'incremental'));
  assert.deepEqual(big.fields, [['big', 'y'.repeat(300)]]);
  assert.equal(e.tableEntries, 0);
  // a size update above SETTINGS_HEADER_TABLE_SIZE, or after a field, is an error
  assert.equal(new HpackDecoder().decode(hpackSizeUpdate(5000)).problem?.code, 'HPACK_TABLE_SIZE');
  assert.equal(new HpackDecoder().decode(Buffer.concat([hpackIndexed(2), hpackSizeUpdate(0)])).problem?.code, 'HPACK_TABLE_SIZE');
});

test('literal representations: indexed names, never-indexed, without indexing leave the table alone', () => {
  const d = new HpackDecoder();
  const block = Buffer.concat([
    hpackLiteral(4, '/a/b', 'none'), hpackLiteral(23, 'secret', 'never', true), hpackLiteral('x-y', 'z', 'none', true),
    hpackLiteral(1, 'example.org', 'incremental'),
  ]);
  assert.deepEqual(d.decode(block).fields, [[':path', '/a/b'], ['authorization', 'secret'], ['x-y', 'z'], [':authority', 'example.org']]);
  assert.equal(d.tableEntries, 1);
  assert.deepEqual(d.decode(hpackIndexed(62)).fields, [[':authority', 'example.org']]);
});

test('mid-stream: unknown entries are reported, new insertions are exact, a size update to 0 recovers', () => {
  const d = new HpackDecoder();
  d.forgetTable();
  assert.equal(d.tableKnown, false);
  // the encoder references its entry 62 (inserted before the capture): unknown, the rest decodes
  const r1 = d.decode(Buffer.concat([hpackIndexed(2), hpackIndexed(62), hpackLiteral(4, '/x')]));
  assert.deepEqual(r1.fields, [[':method', 'GET'], [':path', '/x']]);
  assert.equal(r1.unknownFields, 1);
  assert.equal(r1.problem?.code, 'HPACK_UNKNOWN_ENTRY');
  // a new insertion becomes position 62; older unknown entries shift to 63+
  const r2 = d.decode(Buffer.concat([hpackLiteral('x-new', '1', 'incremental'), hpackIndexed(62), hpackIndexed(63)]));
  assert.deepEqual(r2.fields, [['x-new', '1'], ['x-new', '1']]);
  assert.equal(r2.unknownFields, 1);
  // a literal with an unknown indexed name: the field is unknown, the value still inserted (position 62)
  const r3 = d.decode(hpackLiteral(70, 'value', 'incremental'));
  assert.equal(r3.unknownFields, 1);
  assert.equal(d.tableKnown, false);
  // size update to 0: the table is empty, so known
  const r4 = d.decode(Buffer.concat([hpackSizeUpdate(0), hpackSizeUpdate(4096), hpackLiteral('k', 'v', 'incremental'), hpackIndexed(62)]));
  assert.equal(r4.problem, undefined);
  assert.equal(d.tableKnown, true);
  assert.deepEqual(r4.fields, [['k', 'v'], ['k', 'v']]);
  assert.equal(d.decode(hpackIndexed(63)).problem?.code, 'HPACK_BAD_INDEX', 'known table: past the end is an error');
});

test('mid-stream: known insertions filling the exact maximum prove the unknown entries gone', () => {
  const d = new HpackDecoder();
  d.forgetTable();
  // a size update (not to 0) makes the maximum exact but keeps the table unknown
  d.decode(Buffer.concat([hpackSizeUpdate(100), hpackIndexed(2)]));
  assert.equal(d.tableKnown, false);
  // one entry of 32 + 1 + 40 = 73 octets: 73 + 32 > 100, so no unknown entry fits beside it
  d.decode(hpackLiteral('k', 'v'.repeat(40), 'incremental'));
  assert.equal(d.tableKnown, true);
});

test('hostile blocks: HPACK bomb, huge strings, endless integers, truncation — typed, bounded', () => {
  const d = new HpackDecoder({ maxHeaderListSize: 16 * 1024 });
  d.decode(hpackLiteral('bomb', 'b'.repeat(4000), 'incremental'));
  const bomb = d.decode(Buffer.alloc(1000, hpackIndexed(62)[0]));
  assert.equal(bomb.problem?.code, 'HPACK_LIST_TOO_LARGE');
  assert.ok(bomb.fields.length <= 4);
  assert.equal(d.tableKnown, true, 'a list that is only too large keeps the table in step');
  assert.equal(new HpackDecoder({ maxStringLength: 100 }).decode(hpackLiteral('a', 'x'.repeat(101))).problem?.code, 'HPACK_STRING_TOO_LONG');
  assert.equal(new HpackDecoder().decode(Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).problem?.code, 'HPACK_BAD_INTEGER');
  assert.equal(new HpackDecoder().decode(hpackLiteral('name', 'value').subarray(0, 6)).problem?.code, 'HPACK_TRUNCATED');
  assert.equal(new HpackDecoder().decode(hpackIndexed(0)).problem?.code, 'HPACK_BAD_INDEX');
  assert.equal(new HpackDecoder().decode(Buffer.concat([hpackInteger(0, 4, 0), hpackString('a'), Buffer.from([0x81, 0xff])])).problem?.code, 'HPACK_BAD_HUFFMAN');
});

test('seeded fuzz: random and mutated blocks never throw; fields stay within the list limit', () => {
  const rand = prng(1234);
  const limits = { maxHeaderListSize: 4096, maxStringLength: 1024, maxTableSize: 4096 };
  const seeds = [
    hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'),
    hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
    Buffer.concat([hpackSizeUpdate(100), hpackLiteral('a', 'b', 'incremental', true), hpackIndexed(62)]),
  ];
  let decoded = 0;
  for (let round = 0; round < 3000; round++) {
    const d = new HpackDecoder(limits);
    if (rand() < 0.3) d.forgetTable();
    for (let b = 0; b < 4; b++) {
      let block: Buffer;
      if (rand() < 0.5) {
        block = Buffer.from(seeds[Math.floor(rand() * seeds.length)]!);
        for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++) block[Math.floor(rand() * block.length)] = Math.floor(rand() * 256);
      } else {
        block = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
      }
      const r = d.decode(block);
      let size = 0;
      for (const [n, v] of r.fields) size += n.length + v.length + 32;
      assert.ok(size <= limits.maxHeaderListSize);
      assert.ok(d.tableSize <= limits.maxTableSize);
      decoded += r.fields.length;
    }
  }
  assert.ok(decoded > 1000, 'the fuzzed blocks still decode fields');
});
