/**
 * HTTP parser against tshark on every capture of the corpus where tshark finds HTTP:
 * - oracle/C.http.tsv (make-oracle.sh): every request's method, URI, version and Host, every response's
 *   status, Content-Length, Transfer-Encoding and Content-Encoding, per connection, in order, and the
 *   frame that completes each message;
 * - oracle/http-bodies.tsv (make-http-bodies.py): every body's length and sha256 after de-chunking and
 *   content decoding.
 * The captures run through the real decode → defrag → TCP reassembly path (test/helpers/tcp-run).
 * Where we differ from tshark on purpose, EXCEPTIONS says so and why.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fixture, readOracle } from './helpers/oracle.js';
import type { OracleRow } from './helpers/oracle.js';
import { headerValue } from '../lib/http/parser.js';
import type { HttpRequestEvent, HttpResponseEvent } from '../lib/http/events.js';
import { runHttpCapture } from './http-test-helpers.js';
import type { ConnectionEvents } from './http-test-helpers.js';

const sha256 = (b: Buffer | undefined): string => createHash('sha256').update(b ?? Buffer.alloc(0)).digest('hex');

const httpFiles = [
  'http-100-continue-chunked.pcap',
  'http-206-long-flow-zerowin-ooo.pcap',
  'http-chunked-gzip-missing-syn.pcap',
  'http-keepalive-304.pcap',
  'http-methods-head-te-chunked.pcap',
  'http-pipelined-gzip.pcap',
  'http-post-chunked-retrans.pcap',
  'http-upgrade-non-websocket-docker.pcap',
  'linktype-ipv4-228-http.pcap',
  'null-ipv6-http-keepalive-chunked-304.pcap',
  'rawip-ipv4-tcp-syn-payload.pcap',
  'tcp-handshake-synthetic.pcap',
  'tcp-reassembly-synthetic.pcap',
  'truncated-last-record-mid-data.pcap',
  'truncated-last-record-mid-header.pcap',
  'vlan-qinqinq-http.pcap',
  'websocket-fragmented-ping-close.pcap',
  'websocket-jupyter-multi-frame.pcap',
  'websocket-oversized-close-frame.pcapng',
  'websocket-reply-ping-coalesced.pcap',
  'websocket-text-binary.pcap',
];

type Msg = HttpRequestEvent | HttpResponseEvent;

interface Exchange {
  requests: HttpRequestEvent[];
  responses: HttpResponseEvent[];
}

function messagesByConnection(conns: ConnectionEvents[]): Map<number, Exchange> {
  const out = new Map<number, Exchange>();
  for (const c of conns) {
    out.set(c.connection, {
      requests: c.events.filter((e): e is HttpRequestEvent => e.type === 'request'),
      responses: c.events.filter((e): e is HttpResponseEvent => e.type === 'response'),
    });
  }
  return out;
}

function rowsByStream(rows: OracleRow[], pick: (r: OracleRow) => boolean): Map<number, OracleRow[]> {
  const out = new Map<number, OracleRow[]>();
  for (const r of rows.filter(pick)) {
    const s = Number(r['tcp.stream']);
    out.set(s, [...(out.get(s) ?? []), r]);
  }
  return out;
}

/** tshark prints the parsed Content-Length; empty when absent. */
function contentLengthField(m: Msg): string {
  const v = headerValue(m.headers, 'content-length');
  return v === undefined ? '' : String(Number(v.split(',')[0]));
}

for (const file of httpFiles) {
  test(`http oracle: ${file}`, () => {
    assert.ok(readOracle(`${file}.http.tsv`).length > 0, 'oracle exists');
    const conns = runHttpCapture(fixture(file));
    const ours = messagesByConnection(conns);
    // A retransmitted segment that completes a message again gives tshark a second row: not a message.
    const retransmitted = retransmittedFrames(file);
    const rows = readOracle(`${file}.http.tsv`).filter((r) => !retransmitted.has(Number(r['frame.number'])));
    const exceptions = EXCEPTIONS[file];

    const requestRows = rowsByStream(rows, (r) => r['http.request.method'] !== '');
    for (const [stream, want] of requestRows) {
      const got = ours.get(stream)?.requests ?? [];
      const expect = exceptions?.requests?.(stream, want) ?? want;
      assert.deepEqual(
        got.map((r) => [r.frame, r.method, r.url, r.version, headerValue(r.headers, 'host') ?? '']),
        expect.map((r) => [Number(r['frame.number']), r['http.request.method'], r['http.request.uri'], r['http.request.version'], r['http.host']]),
        `stream ${stream} requests`,
      );
    }
    for (const [conn, ex] of ours) {
      if (!requestRows.has(conn)) assert.equal(ex.requests.length, exceptions?.extraRequests?.[conn] ?? 0, `connection ${conn}: requests tshark does not show`);
    }

    const responseRows = rowsByStream(rows, (r) => r['http.response.code'] !== '');
    for (const [stream, want] of responseRows) {
      const got = ours.get(stream)?.responses ?? [];
      const expect = exceptions?.responses?.(stream, want) ?? want;
      assert.deepEqual(
        got.map((r) => [r.frame, r.status, contentLengthField(r), headerValue(r.headers, 'transfer-encoding') ?? '', headerValue(r.headers, 'content-encoding') ?? '']),
        expect.map((r) => [Number(r['frame.number']), Number(r['http.response.code']), r['http.content_length'], r['http.transfer_encoding'], r['http.content_encoding']]),
        `stream ${stream} responses`,
      );
    }

    // Bodies: de-chunked and decoded, length and sha256, in order per connection and kind.
    const bodies = readOracle('http-bodies.tsv').filter((r) => r.capture === file);
    for (const kind of ['request', 'response'] as const) {
      const byStream = rowsByStream(bodies, (r) => r.kind === kind);
      for (const [stream, want] of byStream) {
        const ex = ours.get(stream);
        const got: Msg[] = (kind === 'request' ? ex?.requests : ex?.responses) ?? [];
        const withBody = got.filter((m) => m.decodedLength > 0 && !exceptions?.notInTshark?.includes(m.frame));
        assert.deepEqual(
          withBody.map((m) => [m.frame, m.decodedLength, sha256(m.body)]),
          want.map((r) => [Number(r['frame.number']), Number(r.body_length), r.body_sha256]),
          `stream ${stream} ${kind} bodies`,
        );
        for (const m of withBody) assert.equal(m.decodeError, undefined);
      }
    }

    // Pairing: every final response answers the oldest unanswered request of its connection.
    for (const [, ex] of ours) {
      const finals = ex.responses.filter((r) => !r.interim);
      finals.forEach((r, i) => {
        if (r.request) assert.equal(r.request.index, ex.requests[i]?.index ?? r.request.index);
      });
    }
    // Errors: exactly one HTTP_BAD_START_LINE per request tshark shows with a malformed request line
    // (http-methods-head-te-chunked.pcap sends "GET /HTTP/1.1", "OPTIONS", "PUT / HTTP/1." on purpose),
    // plus what EXCEPTIONS lists; nothing else.
    for (const c of conns) {
      const errors = c.events.filter((e) => e.type === 'http-error').map((e) => (e as { code: string }).code);
      const malformed = (requestRows.get(c.connection) ?? []).filter((r) => !/^HTTP\/\d\.\d$/.test(r['http.request.version']));
      const expected = [...malformed.map(() => 'HTTP_BAD_START_LINE'), ...(exceptions?.errors?.[c.connection] ?? [])];
      assert.deepEqual(errors, expected, `connection ${c.connection} errors`);
    }
  });
}

/** Frames whose TCP segment repeats an earlier one of the same direction (same seq, same length). */
function retransmittedFrames(file: string): Set<number> {
  const seen = new Set<string>();
  const out = new Set<number>();
  for (const r of readOracle(`${file}.frames.tsv`)) {
    if (r['tcp.len'] === '' || r['tcp.len'] === '0') continue;
    const key = `${r['tcp.srcport']}/${r['tcp.dstport']}/${r['tcp.seq_raw']}/${r['tcp.len']}`;
    if (seen.has(key)) out.add(Number(r['frame.number']));
    seen.add(key);
  }
  return out;
}

interface Exceptions {
  /** Frames of messages we decode and tshark does not show (no tshark body row to compare with). */
  notInTshark?: number[];
  /** The rows we are expected to match, when tshark's differ for a stated reason. */
  requests?: (stream: number, rows: OracleRow[]) => OracleRow[];
  responses?: (stream: number, rows: OracleRow[]) => OracleRow[];
  /** Requests we decode on connections where tshark shows none. */
  extraRequests?: Record<number, number>;
  /** http-error codes expected per connection. */
  errors?: Record<number, string[]>;
}

/** Adds a row tshark should have had. */
function row(fields: Record<string, string>): OracleRow {
  return { 'http.request.method': '', 'http.request.uri': '', 'http.request.version': '', 'http.host': '', 'http.response.code': '', 'http.content_length': '', 'http.transfer_encoding': '', 'http.content_encoding': '', ...fields };
}

const EXCEPTIONS: Record<string, Exceptions> = {
  // Stream 0's first response (206, Content-Length: 816896, headers in frame 5) ends exactly in frame 953:
  // 815936 + 1287 = 817223 = 327 header bytes + 816896 (tshark: "Seq=815936 Len=1287"), and the next
  // request follows in frame 956. tshark marks frame 953 "TCP segment of a reassembled PDU" and never
  // completes the PDU (the flow has out-of-order and zero-window segments), so it shows no row. The
  // TCP oracle (follow.tsv) confirms the byte stream we parse is tshark's.
  'http-206-long-flow-zerowin-ooo.pcap': {
    responses: (stream, rows) =>
      stream === 0 ? [row({ 'frame.number': '953', 'http.response.code': '206', 'http.content_length': '816896' }), ...rows] : rows,
    notInTshark: [953],
  },
  // The request rides on the SYN (frame 1). The TCP reassembler delivers SYN data once the handshake
  // completes (frame 3), so the request event is stamped with frame 3. The 100-byte SYN payload ends in
  // 14 NUL bytes after the request's empty line: not a message start, reported.
  'rawip-ipv4-tcp-syn-payload.pcap': {
    requests: (_stream, rows) => rows.map((r) => ({ ...r, 'frame.number': '3' })),
    errors: { 0: ['HTTP_BAD_START_LINE'] },
  },
};
