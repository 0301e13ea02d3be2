/**
 * HAR 1.2 out of captures (lib/har/build.ts through the har() sink) and back in (lib/har/read.ts):
 * - every HAR written from the corpus captures passes the HAR 1.2 JSON Schema (har-schema + ajv) and the
 *   spec rules the schema leaves out;
 * - methods, URLs, statuses and sizes agree with tshark, and so do the timings: send/wait/receive are the
 *   differences of tshark's frame times of the frames each entry names, in capture order, and connect is
 *   tshark's tcp.analysis.initial_rtt;
 * - bodies, forms, cookies, compression, WebSocket messages, cut bodies and their comments;
 * - the document is valid however the input stops (end, upstream error, destroy);
 * - HAR → events → HAR keeps the entries.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fixture, REPO_ROOT } from './helpers/oracle';
import { asHarFormat, harOfCapture, schemaErrors, specProblems, tsharkFrameTimes, tsharkInitialRtts, tsharkRows } from './har-helpers';
import { tsharkAvailable } from './web-test-helpers';
import { harEntries } from '../lib/har/build';
import { harDocument } from '../lib/har/document';
import { escapeUri, parseCookieHeader, parseMultipart, parseSetCookie, queryString, requestUrl } from '../lib/har/fields';
import { harToEvents, parseHar } from '../lib/har/read';
import type { HarEntry, HarLog } from '../lib/har/types';
import type { HttpTraceEvent } from '../lib/trace/output';
import { isCaptureError } from '../lib/core/errors';
import { httpEvents } from '../streams/trace';
import { readCaptureFile } from '../streams/read';
import { har, harText } from '../streams/har';

const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const noTshark = tsharkAvailable() ? false : 'tshark not installed';

/** The captures with HTTP in them: the http-* and websocket-* corpus, the sample, and the link-type variants. */
const CORPUS = [
  SAMPLE,
  ...fs.readdirSync(path.dirname(fixture('x'))).filter((f) => /^(http-|websocket-)/.test(f) && /\.pcapng?$/.test(f)).map(fixture),
  ...['linktype-ipv4-228-http.pcap', 'vlan-qinqinq-http.pcap', 'null-ipv6-http-keepalive-chunked-304.pcap',
    'ipv4-fragments-socks5-http.pcap', 'tcp-reassembly-synthetic.pcap', 'ipv6-ext-hdrs-atomic-frag-http.pcap'].map(fixture),
];

function tmpFile(name: string): { file: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'har-test-'));
  return { file: path.join(dir, name), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// ------------------------------------------------------------------------------------------------
// The validator itself can fail

test('the schema check rejects what HAR 1.2 forbids (so passing it means something)', async () => {
  const doc = await harOfCapture(SAMPLE);
  assert.equal(schemaErrors(doc), '');
  const bad = JSON.parse(JSON.stringify(doc)) as { log: { entries: Record<string, unknown>[] } };
  (bad.log.entries[0]!.response as Record<string, unknown>).status = '200';
  assert.match(schemaErrors(bad), /status/);
  const noTimings = JSON.parse(JSON.stringify(doc)) as { log: { entries: Record<string, unknown>[] } };
  delete noTimings.log.entries[0]!.timings;
  assert.match(schemaErrors(noTimings), /timings/);
  const badDate = JSON.parse(JSON.stringify(doc)) as HarLog;
  badDate.log.entries[0]!.startedDateTime = 'yesterday';
  assert.match(schemaErrors(badDate), /date-time/);
  const badTime = JSON.parse(JSON.stringify(doc)) as HarLog;
  badTime.log.entries[0]!.timings.wait = -5;
  assert.ok(specProblems(badTime).length > 0);
  // and it is a HAR as @types/har-format has it
  assert.equal(asHarFormat(doc).log.version, '1.2');
});

// ------------------------------------------------------------------------------------------------
// The corpus: schema, spec rules, tshark

for (const file of CORPUS) {
  test(`HAR of ${path.basename(file)}: valid HAR 1.2 (schema and spec rules)`, async () => {
    const doc = await harOfCapture(file);
    assert.equal(schemaErrors(doc), '', 'har-schema');
    assert.deepEqual(specProblems(doc), []);
    // bodies cut small: still valid, and every cut is said
    const small = await harOfCapture(file, { maxBody: 100 });
    assert.equal(schemaErrors(small), '');
    assert.deepEqual(specProblems(small), []);
    for (const e of small.log.entries) {
      const c = e.response.content;
      if (c.text !== undefined && c.size > 100 && c.comment === undefined) assert.fail(`${e.request.url}: cut content without a comment`);
      if (c.text !== undefined && c.encoding === undefined) assert.ok(Buffer.byteLength(c.text) <= 100);
    }
  });
}

/** How tshark's view of a file differs from ours, where it does (each for a reason). */
const TSHARK_RESPONSES: Record<string, { relation: 'subset' | 'superset'; why: string }> = {
  'http-methods-head-te-chunked.pcap': { relation: 'subset', why: 'responses to malformed request lines have no request to pair with (counted in the log comment)' },
  'http-post-chunked-retrans.pcap': { relation: 'subset', why: 'tshark lists two retransmitted response segments as responses again' },
  'http-206-long-flow-zerowin-ooo.pcap': { relation: 'superset', why: 'tshark does not reassemble the first 206 across the lost segments (malformed)' },
};

for (const file of CORPUS) {
  test(`HAR of ${path.basename(file)}: methods, URLs, statuses and sizes as tshark sees them`, { skip: noTshark }, async () => {
    const doc = await harOfCapture(file);
    const entries = doc.log.entries;
    // requests: stream, frame of the last byte, method, full URI
    const ours = entries.filter((e) => e._pcap!.requestFrames[1] > 0)
      .map((e) => `${e._pcap!.connection} ${e._pcap!.requestFrames[1]} ${e.request.method} ${e.request.url}`).sort();
    const theirs = tsharkRows(file, 'http.request', ['tcp.stream', 'frame.number', 'http.request.method', 'http.request.full_uri', 'http.request.uri', 'http.host'])
      .map(([stream, frame, method, fullUri, uri, host]) => {
        const e = entries.find((x) => x._pcap!.connection === Number(stream) && x._pcap!.requestFrames[1] === Number(frame));
        // tshark leaves the host out when there is no Host header (we take the server's address) and
        // does not prefix CONNECT's target; compare those by the target
        let url = fullUri ?? '';
        if (method === 'CONNECT' || !host) url = e && new URL(e.request.url).pathname === new URL(`http://x${uri}`).pathname ? e.request.url : `(target ${uri})`;
        return `${stream} ${frame} ${method} ${url}`;
      }).sort();
    assert.deepEqual(ours, theirs);

    // final responses: stream, frame of the last byte, status
    const ourResponses = entries.filter((e) => e.response.status > 0)
      .map((e) => `${e._pcap!.connection} ${e._pcap!.responseFrames![1]} ${e.response.status}`).sort();
    const theirResponses = [...new Set(tsharkRows(file, 'http.response && !(http.response.code >= 100 && http.response.code < 200 && http.response.code != 101)', ['tcp.stream', 'frame.number', 'http.response.code'])
      .map((r) => r.join(' ')))].sort();
    const relation = TSHARK_RESPONSES[path.basename(file)]?.relation;
    if (relation === 'subset') for (const r of ourResponses) assert.ok(theirResponses.includes(r), `${r} not in tshark's`);
    else if (relation === 'superset') for (const r of theirResponses) assert.ok(ourResponses.includes(r), `tshark's ${r} missing`);
    else assert.deepEqual(ourResponses, theirResponses);

    // sizes: Content-Length as tshark read it is the body size on the wire (not for HEAD or 304, which have none)
    for (const [stream, frame, length] of tsharkRows(file, 'http.response && http.content_length_header', ['tcp.stream', 'frame.number', 'http.content_length_header'])) {
      const e = entries.find((x) => x._pcap!.connection === Number(stream) && x._pcap!.responseFrames?.[1] === Number(frame));
      if (!e || e.request.method === 'HEAD' || e.response.status === 304 || e.response.comment !== undefined) continue;
      if (/missing|incomplete/.test(e.comment ?? '')) continue;
      assert.equal(e.response.bodySize, Number(length), `${e.request.url} bodySize`);
      if (e.response.content.compression === undefined) assert.equal(e.response.content.size, Number(length));
    }
    for (const [stream, frame, length] of tsharkRows(file, 'http.request && http.content_length_header', ['tcp.stream', 'frame.number', 'http.content_length_header'])) {
      const e = entries.find((x) => x._pcap!.connection === Number(stream) && x._pcap!.requestFrames[1] === Number(frame));
      if (e && !/missing|incomplete/.test(e.comment ?? '')) assert.equal(e.request.bodySize, Number(length), `${e.request.url} request bodySize`);
    }
  });

  test(`HAR of ${path.basename(file)}: timings are tshark's frame times, in capture order`, { skip: noTshark }, async () => {
    const doc = await harOfCapture(file);
    const times = tsharkFrameTimes(file);
    const rtts = tsharkInitialRtts(file);
    const ms = (a: number, b: number): number => (times.get(b)! - times.get(a)!) * 1000;
    const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 0.002, `${what}: ${a} vs tshark ${b}`);
    const firstOfConnection = new Map<number, HarEntry>();
    for (const e of doc.log.entries) {
      const p = e._pcap!;
      const prev = firstOfConnection.get(p.connection);
      if (!prev || prev._pcap!.index > p.index) firstOfConnection.set(p.connection, e);
      if (p.requestFrames[0] === 0 || !p.responseFrames) continue;
      const [q0, q1] = p.requestFrames;
      const [r0, r1] = p.responseFrames;
      const what = `${e.request.method} ${e.request.url}`;
      close(e.timings.send, ms(q0, q1), `${what} send`);
      assert.ok(times.get(q0)! <= times.get(q1)! && times.get(r0)! <= times.get(r1)!, `${what}: frames out of order`);
      if (times.get(r0)! >= times.get(q1)!) {
        close(e.timings.wait, ms(q1, r0), `${what} wait`);
        close(e.timings.receive, ms(r0, r1), `${what} receive`);
      } else {
        // the response began before the request ended (100-continue, early answers): said in the comment
        assert.match(e.comment ?? '', /began .* before the request was complete/);
        close(e.timings.receive, ms(q1, r1), `${what} receive`);
      }
      // the entry ends at the response's last byte
      const end = Date.parse(e.startedDateTime) + e.time;
      assert.ok(Math.abs(end - times.get(r1)! * 1000) < 1.01, `${what}: startedDateTime + time ${end} vs ${times.get(r1)! * 1000}`);
    }
    // the first exchange of a connection starts at its (last) SYN, and connect is the handshake's RTT
    const synTimes = new Map<number, number>();
    for (const [s, t] of tsharkRows(file, 'tcp.flags.syn == 1 && tcp.flags.ack == 0', ['tcp.stream', 'frame.time_epoch'])) synTimes.set(Number(s), Number(t));
    for (const [connection, e] of firstOfConnection) {
      if (e.timings.connect === -1) continue;
      const syn = synTimes.get(connection);
      assert.ok(syn !== undefined, `connect on #${connection} where tshark saw no SYN`);
      assert.ok(Math.abs(Date.parse(e.startedDateTime) - syn * 1000) < 1.01, `#${connection} starts at the SYN`);
      const rtt = rtts.get(connection);
      if (rtt !== undefined) close(e.timings.connect!, rtt * 1000, `#${connection} connect`);
    }
    // later exchanges on a connection carry no connect
    for (const e of doc.log.entries) {
      if (firstOfConnection.get(e._pcap!.connection) !== e) assert.equal(e.timings.connect, -1);
    }
  });
}

test('sample: every connection with a captured handshake has connect on its first exchange', { skip: noTshark }, async () => {
  const doc = await harOfCapture(SAMPLE);
  const rtts = tsharkInitialRtts(SAMPLE);
  const withConnect = doc.log.entries.filter((e) => e.timings.connect! >= 0).map((e) => e._pcap!.connection).sort();
  assert.deepEqual(withConnect, [...new Set(doc.log.entries.map((e) => e._pcap!.connection))].filter((c) => rtts.has(c)).sort());
  assert.ok(withConnect.length >= 2);
});

// ------------------------------------------------------------------------------------------------
// Fields

test('sample: bodies, compression, form and JSON posts, WebSocket messages, connection grouping', async () => {
  const doc = await harOfCapture(SAMPLE);
  const byPath = new Map(doc.log.entries.map((e) => [new URL(e.request.url).pathname, e]));
  const json = byPath.get('/data.json')!;
  assert.deepEqual(json.response.content.mimeType, 'application/json');
  assert.ok(json.response.content.compression! > 0, 'gzip saved bytes');
  assert.equal(json.response.content.size - json.response.bodySize, json.response.content.compression);
  assert.doesNotThrow(() => JSON.parse(json.response.content.text!));
  assert.equal(Buffer.byteLength(json.response.content.text!), json.response.content.size);
  const post = byPath.get('/api/items')!;
  assert.equal(post.request.method, 'POST');
  assert.equal(post.request.bodySize, Buffer.byteLength(post.request.postData!.text!));
  const chat = byPath.get('/chat')!;
  assert.equal(chat.response.status, 101);
  const messages = chat._webSocketMessages!;
  assert.ok(messages.some((m) => m.type === 'send') && messages.some((m) => m.type === 'receive'));
  for (let i = 1; i < messages.length; i++) assert.ok(messages[i]!.time >= messages[i - 1]!.time);
  // exchanges on one TCP connection share `connection` (the client port), and only they do
  const ports = new Map<number, string>();
  for (const e of doc.log.entries) {
    const known = ports.get(e._pcap!.connection);
    if (known !== undefined) assert.equal(e.connection, known);
    ports.set(e._pcap!.connection, e.connection!);
    assert.equal(e.connection, e._pcap!.client.split(':').pop());
    assert.equal(e.serverIPAddress, '127.0.0.1');
  }
  // headersSize is the head on the wire: start line + fields + CRLFs
  for (const e of doc.log.entries) {
    const head = `${e.request.method} ${new URL(e.request.url).pathname}${new URL(e.request.url).search} ${e.request.httpVersion}\r\n`
      + e.request.headers.map((h) => `${h.name}: ${h.value}\r\n`).join('') + '\r\n';
    assert.equal(e.request.headersSize, Buffer.byteLength(head), e.request.url);
  }
});

test('WebSocket captures: _webSocketMessages has the text and binary messages tshark sees', { skip: noTshark }, async () => {
  for (const name of ['websocket-text-binary.pcap', 'websocket-reply-ping-coalesced.pcap', 'websocket-fragmented-ping-close.pcap']) {
    const file = fixture(name);
    const doc = await harOfCapture(file);
    const upgraded = doc.log.entries.filter((e) => e.response.status === 101);
    assert.equal(upgraded.length, 1, name);
    const messages = upgraded[0]!._webSocketMessages ?? [];
    // tshark: data frames that start a message (text 1 / binary 2)
    const starts = tsharkRows(file, 'websocket', ['websocket.opcode']).flatMap(([ops]) => (ops ?? '').split(',')).filter((op) => op === '1' || op === '2');
    assert.deepEqual(messages.map((m) => String(m.opcode)), starts, name);
  }
});

test('forms, cookies, query strings and URLs', () => {
  assert.deepEqual(queryString('http://h/p?a=1&b=x%20y+z&c&&d=%zz#frag'), [
    { name: 'a', value: '1' }, { name: 'b', value: 'x y z' }, { name: 'c', value: '' }, { name: 'd', value: '%zz' },
  ]);
  assert.deepEqual(parseCookieHeader('a=1; b = 2 ;c=x=y'), [{ name: 'a', value: '1' }, { name: 'b', value: '2' }, { name: 'c', value: 'x=y' }]);
  assert.deepEqual(parseSetCookie('sid=abc; Path=/; HttpOnly; Secure; Max-Age=60; Domain=example.test', 1_700_000_000), {
    name: 'sid', value: 'abc', path: '/', httpOnly: true, secure: true, domain: 'example.test', expires: '2023-11-14T22:14:20.000Z',
  });
  assert.equal(parseSetCookie('x=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT', 0)!.expires, '2015-10-21T07:28:00.000Z');
  assert.equal(parseSetCookie('novalue', 0), undefined);
  assert.equal(requestUrl('/a b?q={x}', 'example.test:8080', '10.0.0.1:8080', 'http'), 'http://example.test:8080/a%20b?q=%7Bx%7D');
  assert.equal(requestUrl('/', undefined, '10.0.0.1:80', 'http'), 'http://10.0.0.1/');
  assert.equal(requestUrl('/', undefined, '[::1]:8080', 'http'), 'http://[::1]:8080/');
  assert.equal(requestUrl('http://proxy.test/x', 'ignored', '10.0.0.1:3128', 'http'), 'http://proxy.test/x');
  assert.equal(requestUrl('/a/../b', 'h', '1.2.3.4:80', 'http'), 'http://h/a/../b', 'not normalised');
  assert.equal(escapeUri('/\u00e9'), '/%E9', 'latin1 bytes of the head are encoded as bytes');
  const body = Buffer.from('--XX\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n'
    + '--XX\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XX--\r\n', 'latin1');
  assert.deepEqual(parseMultipart(body, 'XX'), [
    { name: 'title', value: 'hello' }, { name: 'file', fileName: 'a.png', contentType: 'image/png' },
  ]);
  assert.deepEqual(parseMultipart(body.subarray(0, 70), 'XX'), [{ name: 'title', value: 'hello' }], 'a cut body keeps the complete parts');
});

/** Events of a made-up exchange on one connection (what streams/http.ts would emit). */
function exchangeEvents(opts: { reqHeaders: [string, string][]; reqBody?: Buffer; resHeaders?: [string, string][]; resBody?: Buffer; status?: number }): HttpTraceEvent[] {
  const conn = { connection: 7, client: '10.1.1.1:40000', server: '10.1.1.2:80' };
  const reqBody = opts.reqBody;
  const resBody = opts.resBody;
  return [
    { type: 'start', ts: '100.000000000', tsSec: 100, tsNsec: 0, frame: 3, midStream: false, handshakeRtt: 0.002, ...conn },
    {
      type: 'request', ts: '100.010000000', frame: 5, from: 'client', method: 'POST', url: '/submit?x=1', version: 'HTTP/1.1',
      headers: opts.reqHeaders, index: 1, headerBytes: 100, bodyLength: reqBody?.length ?? 0, decodedLength: reqBody?.length ?? 0,
      ...(reqBody ? { body: reqBody } : {}), startTs: '100.004000000', startFrame: 4, ...conn,
    },
    {
      type: 'response', ts: '100.050000000', frame: 9, from: 'server', status: opts.status ?? 200, reason: 'OK', version: 'HTTP/1.1',
      headers: opts.resHeaders ?? [], request: { method: 'POST', url: '/submit?x=1', index: 1 }, headerBytes: 50,
      bodyLength: resBody?.length ?? 0, decodedLength: resBody?.length ?? 0, ...(resBody ? { body: resBody } : {}),
      startTs: '100.030000000', startFrame: 7, ...conn,
      timing: { requestStart: 100.004, requestSent: 100.01, firstByte: 100.03, complete: 100.05, wait: 0.02, transfer: 0.02, total: 0.046 },
    },
    { type: 'end', ts: '100.060000000', tsSec: 100, tsNsec: 60_000_000, frame: 10, reason: 'fin', ...conn,
      stats: { clientToServer: { bytes: 0, packets: 0, retransmissions: 0, gapBytes: 0 }, serverToClient: { bytes: 0, packets: 0, retransmissions: 0, gapBytes: 0 }, handshakeRtt: 0.002, duration: 0.062 } },
  ];
}

test('an exchange: connect, blocked, send, wait, receive from capture times; form params; binary bodies as base64', () => {
  const [e] = harEntries(exchangeEvents({
    reqHeaders: [['Host', 'shop.test'], ['Content-Type', 'application/x-www-form-urlencoded'], ['Cookie', 'sid=1']],
    reqBody: Buffer.from('q=a+b&n=%C3%A9'),
    resHeaders: [['Content-Type', 'image/png'], ['Set-Cookie', 'sid=2; Path=/'], ['Location', '/next']],
    resBody: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff]),
  }));
  assert.ok(e);
  // SYN at 99.998 (handshake done at 100.000 after 2 ms), request 100.004-100.010, response 100.030-100.050
  assert.equal(e.startedDateTime, new Date(99_998).toISOString());
  assert.deepEqual(e.timings, { blocked: 4, dns: -1, connect: 2, send: 6, wait: 20, receive: 20, ssl: -1 });
  assert.equal(e.time, 52);
  assert.equal(e.request.url, 'http://shop.test/submit?x=1');
  assert.deepEqual(e.request.queryString, [{ name: 'x', value: '1' }]);
  assert.deepEqual(e.request.postData!.params, [{ name: 'q', value: 'a b' }, { name: 'n', value: 'é' }]);
  assert.deepEqual(e.request.cookies, [{ name: 'sid', value: '1' }]);
  assert.deepEqual(e.response.cookies, [{ name: 'sid', value: '2', path: '/' }]);
  assert.equal(e.response.redirectURL, '/next');
  assert.equal(e.response.content.encoding, 'base64');
  assert.deepEqual(Buffer.from(e.response.content.text!, 'base64'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff]));
  assert.equal(e.request.headersSize, 100);
  assert.equal(e.response.headersSize, 50);
  assert.equal(e.connection, '40000');
  assert.equal(e.serverIPAddress, '10.1.1.2');
  assert.equal(schemaErrors(harDocument([e], { creator: { name: 't', version: '1' } })), '');
});

test('a cut body says what was cut; a request without a response gets status 0 and _error', () => {
  const events = exchangeEvents({ reqHeaders: [['Host', 'h']], resHeaders: [['Content-Type', 'text/plain']], resBody: Buffer.from('é'.repeat(50)) });
  const [cut] = harEntries(events, { maxBody: 9 });
  assert.equal(cut!.response.content.text, 'éééé', 'cut at 9 bytes, not inside a character');
  assert.match(cut!.response.content.comment!, /content cut: 9 of 100 bytes kept \(maxBody 9\)/);
  const noResponse = events.filter((e) => e.type !== 'response');
  const [open] = harEntries(noResponse);
  assert.equal(open!.response.status, 0);
  assert.equal(open!._error, 'connection closed before a response');
  assert.equal(open!.timings.wait, 50, 'waited from the request until the connection ended');
  assert.deepEqual(specProblems(harDocument([open!], { creator: { name: 't', version: '1' } })), []);
});

// ------------------------------------------------------------------------------------------------
// Valid however the input stops

test('har(): a valid document after an upstream error, and after destroy() mid-capture', async () => {
  // a capture file that ends inside a record: the reader errors after the complete packets
  const t1 = tmpFile('a.har');
  try {
    await assert.rejects(pipeline(httpEvents(readCaptureFile(fixture('truncated-last-record-mid-data.pcap'))), har(t1.file)));
  } catch {
    // the reader may also just warn and end: either way the file must be valid
  }
  try {
    const doc = JSON.parse(fs.readFileSync(t1.file, 'utf8')) as HarLog;
    assert.equal(schemaErrors(doc), '');
  } finally {
    t1.cleanup();
  }

  // destroy() after some events (what Ctrl-C does in a command): the open exchanges come out, valid JSON
  const t2 = tmpFile('b.har');
  try {
    const sink = har(t2.file, { comment: 'live' });
    const events: unknown[] = [];
    for await (const ev of httpEvents(readCaptureFile(SAMPLE))) events.push(ev);
    const firstResponse = events.findIndex((e) => (e as { type: string }).type === 'response');
    const upTo = events.findIndex((e, i) => i > firstResponse && (e as { type: string }).type === 'request');
    await new Promise<void>((resolve) => {
      for (const ev of events.slice(0, upTo + 1)) sink.write(ev);
      sink.on('close', resolve);
      setImmediate(() => sink.destroy());
    });
    assert.ok(!fs.readdirSync(path.dirname(t2.file)).some((f) => f.endsWith('.partial')), 'no temporary file left');
    const doc = JSON.parse(fs.readFileSync(t2.file, 'utf8')) as HarLog;
    assert.equal(schemaErrors(doc), '');
    assert.equal(doc.log.entries.length, 2, 'the answered exchange and the open one');
    assert.equal(doc.log.entries[1]!.response.status, 0);
    assert.match(doc.log.comment!, /^live; input stopped early/);
  } finally {
    t2.cleanup();
  }
});

test('harText(): the same document as text on a stream', async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  await pipeline(httpEvents(readCaptureFile(SAMPLE)), harText(), out);
  const doc = JSON.parse(text) as HarLog;
  assert.equal(schemaErrors(doc), '');
  assert.deepEqual(doc.log.entries.map((e) => e.request.url), (await harOfCapture(SAMPLE)).log.entries.map((e) => e.request.url));
});

// ------------------------------------------------------------------------------------------------
// HAR in

test('HAR → events → HAR: the entries come back (methods, URLs, statuses, headers, bodies, timings, messages)', async () => {
  for (const file of [SAMPLE, fixture('http-pipelined-gzip.pcap'), fixture('http-100-continue-chunked.pcap'), fixture('websocket-text-binary.pcap')]) {
    const doc = await harOfCapture(file);
    const { events, skipped } = harToEvents(JSON.parse(JSON.stringify(doc)));
    assert.deepEqual(skipped, []);
    const again = harEntries(events);
    assert.equal(again.length, doc.log.entries.length, file);
    const key = (e: HarEntry): unknown => ({
      method: e.request.method, url: e.request.url, status: e.response.status, reqHeaders: e.request.headers,
      resHeaders: e.response.headers, text: e.response.content.text, post: e.request.postData?.text,
      size: e.response.content.size, bodySize: e.response.bodySize, headersSize: e.response.headersSize,
      ws: (e._webSocketMessages ?? []).map((m) => [m.type, m.opcode, m.data]),
      send: e.timings.send, wait: e.timings.wait, receive: e.timings.receive, connection: e._pcap!.connection,
    });
    const sortKey = (e: HarEntry): string => `${e._pcap!.connection}/${e._pcap!.index}`;
    const a = [...doc.log.entries].sort((x, y) => sortKey(x).localeCompare(sortKey(y))).map(key);
    const b = [...again].sort((x, y) => sortKey(x).localeCompare(sortKey(y))).map(key);
    for (let i = 0; i < a.length; i++) {
      const [x, y] = [a[i] as Record<string, number>, b[i] as Record<string, number>];
      for (const k of ['send', 'wait', 'receive']) assert.ok(Math.abs(x[k]! - y[k]!) < 0.01, `${file} ${k}`);
      assert.deepEqual({ ...x, send: 0, wait: 0, receive: 0 }, { ...y, send: 0, wait: 0, receive: 0 });
    }
  }
});

test('reading a HAR: bad input is a typed error or a skipped entry, never a crash', () => {
  assert.throws(() => parseHar('{'), (e: unknown) => isCaptureError(e, 'HAR_INVALID'));
  assert.throws(() => parseHar('{"log":{}}'), (e: unknown) => isCaptureError(e, 'HAR_INVALID'));
  const { events, skipped } = harToEvents({ log: { entries: [
    null, { request: {} }, { startedDateTime: 'never', request: { method: 'GET', url: 'http://a/' } },
    { startedDateTime: '2024-01-01T00:00:00.000Z', request: { method: 'GET', url: 'https://example.test:8443/x?y', httpVersion: 'h2', headers: [{ name: ':authority', value: 'example.test' }] },
      response: { status: 204, statusText: '', httpVersion: 'h2', headers: [], content: { size: 0 } }, timings: { send: 1, wait: 2, receive: 3 } },
  ] } });
  assert.deepEqual(skipped.map((s) => s.entry), [0, 1, 2]);
  assert.deepEqual(events.map((e) => e.type), ['request', 'response']);
  const [req, res] = events;
  assert.ok(req?.type === 'request' && res?.type === 'response');
  assert.equal(req.url, 'https://example.test:8443/x?y', 'no Host header: the absolute URL');
  assert.equal(req.version, 'HTTP/2');
  assert.equal(req.server, 'example.test:8443');
  assert.ok(Math.abs(res.timing.complete - (Date.parse('2024-01-01T00:00:00.000Z') / 1000 + 0.006)) < 1e-6);
});
