/**
 * Fuzz over the real HTTP/WebSocket captures: the reassembled byte streams of every connection, with
 * random byte mutations, random re-segmentation and random gaps, never make the parser throw, and what
 * it holds stays within its named limits.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { fixture } from './helpers/oracle.js';
import { runFile } from './helpers/tcp-run.js';
import { HttpConnectionParser } from '../lib/http/parser.js';
import type { HttpParserEvent } from '../lib/http/events.js';
import type { TcpSide } from '../lib/tcp/events.js';
import { atFrame, prng } from './http-test-helpers.js';

const files = [
  'http-100-continue-chunked.pcap',
  'http-chunked-gzip-missing-syn.pcap',
  'http-keepalive-304.pcap',
  'http-methods-head-te-chunked.pcap',
  'http-pipelined-gzip.pcap',
  'http-post-chunked-retrans.pcap',
  'http-upgrade-non-websocket-docker.pcap',
  'null-ipv6-http-keepalive-chunked-304.pcap',
  'websocket-fragmented-ping-close.pcap',
  'websocket-jupyter-multi-frame.pcap',
  'websocket-oversized-close-frame.pcapng',
  'websocket-reply-ping-coalesced.pcap',
  'websocket-text-binary.pcap',
];

const LIMITS = { maxHeaderBytes: 4096, maxBody: 8192, maxEncodedBody: 8192, maxDecodedLength: 65536, maxUpgradeBuffer: 8192, websocket: { maxMessageSize: 8192 } };
/** Heads and chunk lines (maxHeaderBytes / start line / hunting tail per direction), held upgrade bytes, partial frames. */
const MAX_BUFFERED = 2 * (8 * 1024 + 4096) + 8192 + 2 * (8192 + 14);

for (const file of files) {
  test(`fuzz: ${file} mutated, re-split and with gaps never throws and stays bounded`, () => {
    const streams = new Map<number, Array<[TcpSide, Buffer]>>();
    for (const ev of runFile(fixture(file))) {
      if (ev.type !== 'data') continue;
      const list = streams.get(ev.connection) ?? [];
      list.push([ev.from, ev.bytes]);
      streams.set(ev.connection, list);
    }
    assert.ok(streams.size > 0);
    const rand = prng(file.length * 7919);
    let decoded = 0;
    for (let round = 0; round < 30; round++) {
      for (const [, segments] of streams) {
        const events: HttpParserEvent[] = [];
        const parser = new HttpConnectionParser((e) => events.push(e), LIMITS);
        let frame = 0;
        for (const [from, bytes] of segments) {
          let data = bytes;
          if (rand() < 0.2) {
            data = Buffer.from(bytes);
            for (let i = 0, n = 1 + Math.floor(rand() * 4); i < n; i++) data[Math.floor(rand() * data.length)] = Math.floor(rand() * 256);
          }
          for (let off = 0; off < data.length; ) {
            const n = 1 + Math.floor(rand() * 1500);
            if (rand() < 0.01) parser.gap(from, 1 + Math.floor(rand() * 100), atFrame(++frame));
            parser.data(from, data.subarray(off, off + n), atFrame(++frame));
            off += n;
            assert.ok(parser.bufferedBytes <= MAX_BUFFERED, `buffered ${parser.bufferedBytes}`);
          }
        }
        parser.end(atFrame(++frame));
        decoded += events.filter((e) => e.type === 'request' || e.type === 'response' || e.type === 'ws-message').length;
        for (const e of events) {
          if ((e.type === 'request' || e.type === 'response') && e.body) assert.ok(e.body.length <= LIMITS.maxBody);
          if (e.type === 'ws-message') assert.ok(e.length <= 8192);
        }
      }
    }
    assert.ok(decoded > 0, 'the fuzzed streams still decode messages');
  });
}
