/**
 * http_trace and `pcap-pipe http` on files, against tshark:
 * - samples/http-sample.pcap (real programs, see samples/make-sample.js): --json gives tshark's methods,
 *   URIs, statuses, frames and decoded bodies (tshark runs here, on the same file, when installed);
 * - the corpus captures: requests, responses and decoded body sha256 from --json --bodies equal
 *   oracle/C.http.tsv and oracle/http-bodies.tsv;
 * - the article's story: the unquoted `curl -d {"foo": "bar"}` body `{foo:` is shown; --host/--url/
 *   --method filters select and hide the responses of hidden requests; -r - reads stdin; human output;
 *   unknown flags exit 2.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fixture, readOracle, REPO_ROOT } from './helpers/oracle.js';

const DIST = path.join(__dirname, '..');
const HTTP_TRACE = path.join(DIST, 'bin', 'http_trace.js');
const PCAP_PIPE = path.join(DIST, 'bin', 'pcap-pipe.js');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');

interface Run { status: number | null; stdout: string; stderr: string }

function run(script: string, args: string[], input?: Buffer): Run {
  const r = spawnSync(process.execPath, [script, ...args], { input, env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

type Json = Record<string, unknown> & { type: string; frame: number; connection: number };

function ndjson(text: string): Json[] {
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Json);
}

function bodyBytes(ev: Json): Buffer {
  if (ev.body === undefined) return Buffer.alloc(0);
  return Buffer.from(ev.body as string, ev.bodyEncoding === 'base64' ? 'base64' : 'utf8');
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function hasTshark(): boolean {
  return spawnSync('tshark', ['--version']).status === 0;
}

/** tshark's view of an HTTP capture: frame, stream, method, uri, status, file_data (text, \n escaped). */
function tsharkHttp(file: string): string[][] {
  const r = spawnSync('tshark', ['-r', file, '-Y', 'http', '-T', 'fields', '-E', 'separator=/t',
    '-e', 'frame.number', '-e', 'tcp.stream', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code', '-e', 'http.file_data'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

test('http_trace --json --bodies on the bundled sample equals tshark -Y http (methods, URIs, statuses, frames, bodies)', { skip: hasTshark() ? false : 'tshark not installed' }, () => {
  const r = run(HTTP_TRACE, ['-r', SAMPLE, '--json', '--bodies']);
  assert.equal(r.status, 0, r.stderr);
  const events = ndjson(r.stdout).filter((e) => e.type === 'request' || e.type === 'response');
  const ours = events.map((e) => [String(e.frame), String(e.connection), e.type === 'request' ? e.method : '', e.type === 'request' ? e.url : '',
    e.type === 'response' ? String(e.status) : '', bodyBytes(e).toString('utf8').replace(/\n/g, '\\n')]);
  const theirs = tsharkHttp(SAMPLE).map((row) => [row[0], row[1], row[2] ?? '', row[3] ?? '', row[4] ?? '', row[5] ?? '']);
  assert.ok(theirs.length >= 14);
  assert.deepEqual(ours, theirs);
  // the response of the POST names its request; 1xx flags; timing is present
  const post = events.find((e) => e.type === 'response' && (e.request as { url: string }).url === '/api/items');
  assert.deepEqual(post?.request, { method: 'POST', url: '/api/items' });
  assert.equal(post?.status, 400);
  for (const e of events.filter((x) => x.type === 'response')) {
    const t = e.timing as Record<string, number>;
    assert.ok(t.total !== undefined && t.total >= 0 && t.complete >= t.firstByte);
  }
});

test('the article story: the unquoted curl -d {"foo": "bar"} body is {foo: (JSON and human output)', () => {
  const json = ndjson(run(HTTP_TRACE, ['-r', SAMPLE, '--json', '--bodies']).stdout);
  const post = json.find((e) => e.type === 'request' && e.method === 'POST');
  assert.ok(post);
  assert.equal(post.body, '{foo:');
  assert.equal(post.bodyLength, 5);
  assert.equal(post.bodyEncoding, undefined);
  const human = run(HTTP_TRACE, ['-r', SAMPLE, '--bodies', '--no-color']);
  assert.equal(human.status, 0);
  const lines = human.stdout.split('\n');
  const at = lines.findIndex((l) => / #4 POST \/api\/items 5 B$/.test(l));
  assert.ok(at >= 0, human.stdout);
  assert.equal(lines[at + 1], '    {foo:');
  // the 400 JSON answer is pretty-printed
  assert.ok(human.stdout.includes('    {\n      "error": "invalid JSON",\n      "received": "{foo:"\n    }'), human.stdout);
  // and without --bodies no body is printed
  assert.ok(!run(HTTP_TRACE, ['-r', SAMPLE, '--no-color']).stdout.includes('{foo:'));
});

test('human lines: time, client → server, #N, method and URL; status, sizes, content type, response time', () => {
  const r = run(HTTP_TRACE, ['-r', SAMPLE, '--no-color']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l);
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{6} 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ #1 GET \/$/);
  assert.match(lines[1]!, /^\d\d:\d\d:\d\d\.\d{6} 127\.0\.0\.1:\d+ ← 127\.0\.0\.1:\d+ #1 200 OK 75 B text\/html [\d.]+ (µs|ms)/);
  assert.ok(lines.some((l) => / #2 200 OK 232 B gzip → 1\.1 kB application\/json /.test(l)), 'gzip sizes');
  assert.ok(lines.some((l) => / #6 HEAD \/$/.test(l)));
  assert.ok(lines.some((l) => /upgraded to websocket/.test(l)));
  assert.ok(lines.some((l) => / → .* ws text 20 B: hello over WebSocket$/.test(l)), 'websocket text after the upgrade');
  assert.ok(lines.some((l) => / ← .* ws binary 5 B \[5 bytes binary\]$/.test(l)), 'binary summarised');
  assert.ok(lines.some((l) => /ws close 1000 "done"/.test(l)));
  assert.ok(!r.stdout.includes('\x1b['), 'no colours off a terminal');
  // headers
  const h = run(HTTP_TRACE, ['-r', SAMPLE, '--headers', '--no-color']).stdout;
  assert.ok(h.includes('\n    Content-Encoding: gzip\n'));
  const only = run(HTTP_TRACE, ['-r', SAMPLE, '--show-header', '^content-type$', '--no-color']).stdout;
  assert.ok(only.includes('    Content-Type: application/json'));
  assert.ok(!only.includes('Date:') && !only.includes('Host:'));
});

test('--host / --url / --method select requests; a hidden request hides its response (and its websocket)', () => {
  const pick = (...args: string[]): string[] => ndjson(run(HTTP_TRACE, ['-r', SAMPLE, '--json', ...args]).stdout)
    .filter((e) => e.type === 'request' || e.type === 'response')
    .map((e) => e.type === 'request' ? `> ${e.method} ${e.url}` : `< ${(e.request as { url: string }).url} ${e.status}`);
  assert.deepEqual(pick('--url', '^/data', '--url', 'missing'), ['> GET /data.json', '< /data.json 200', '> GET /missing', '< /missing 404']);
  assert.deepEqual(pick('--method', 'post'), ['> POST /api/items', '< /api/items 400']);
  assert.deepEqual(pick('--method-ignore', 'GET'), ['> POST /api/items', '< /api/items 400', '> HEAD /', '< / 200']);
  assert.equal(pick('--host', '^127\\.0\\.0\\.1:').length, 14);
  assert.deepEqual(pick('--host', 'example\\.com'), []);
  assert.deepEqual(pick('--url', '^/$', '--method', 'HEAD'), ['> HEAD /', '< / 200']);
  assert.deepEqual(pick('--user-agent', '.'), [], 'node http sends no User-Agent');
  // hiding the upgrade request hides the websocket traffic; selecting it keeps it
  const ws = (...args: string[]): number => ndjson(run(HTTP_TRACE, ['-r', SAMPLE, '--json', ...args]).stdout).filter((e) => e.type.startsWith('ws-')).length;
  assert.equal(ws('--url-ignore', '^/chat$'), 0);
  assert.ok(ws('--url', '^/chat$') > 6);
  assert.equal(ws('--url', '^/chat$'), ws());
});

test('http_trace -r - reads stdin; pcap-pipe http reads stdin or FILE; same output', () => {
  const input = fs.readFileSync(SAMPLE);
  const fromFile = run(HTTP_TRACE, ['-r', SAMPLE, '--json', '--bodies']);
  const fromStdin = run(HTTP_TRACE, ['-r', '-', '--json', '--bodies'], input);
  assert.equal(fromStdin.status, 0, fromStdin.stderr);
  assert.ok(fromFile.stdout.length > 1000);
  assert.equal(fromStdin.stdout, fromFile.stdout);
  assert.equal(run(PCAP_PIPE, ['http', '--json', '--bodies'], input).stdout, fromFile.stdout);
  assert.equal(run(PCAP_PIPE, ['http', '--json', '--bodies', SAMPLE]).stdout, fromFile.stdout);
});

test('--max-body cuts bodies and flags them; binary bodies are base64 in JSON', () => {
  const json = ndjson(run(HTTP_TRACE, ['-r', SAMPLE, '--json', '--bodies', '--max-body', '10']).stdout);
  const gz = json.find((e) => e.type === 'response' && (e.request as { url: string }).url === '/data.json');
  const whole = ndjson(run(HTTP_TRACE, ['-r', SAMPLE, '--json', '--bodies']).stdout)
    .find((e) => e.type === 'response' && (e.request as { url: string }).url === '/data.json');
  assert.equal(gz?.body, '{"items":[');
  assert.equal(gz?.bodyTruncated, true);
  assert.equal(whole?.bodyTruncated, undefined);
  assert.equal(gz?.decodedLength, Buffer.byteLength(whole?.body as string));
  assert.ok((gz?.bodyLength as number) < (gz?.decodedLength as number), 'gzip on the wire is shorter');
  assert.deepEqual(gz?.contentEncoding, ['gzip']);
  const ws = ndjson(run(PCAP_PIPE, ['ws', '--json', SAMPLE]).stdout).find((e) => e.type === 'ws-message' && e.opcode === 2);
  assert.equal(ws?.dataEncoding, 'base64');
  assert.equal(Buffer.from(ws?.data as string, 'base64').length, ws?.length);
});

test('--tcp-verbose adds TCP lines and events', () => {
  const human = run(HTTP_TRACE, ['-r', SAMPLE, '--tcp-verbose', '--no-color']).stdout;
  assert.match(human, / tcp start #0\n/);
  assert.match(human, / tcp end #0 fin /);
  const json = ndjson(run(HTTP_TRACE, ['-r', SAMPLE, '--json', '--tcp-verbose']).stdout);
  assert.deepEqual(json.filter((e) => e.type === 'start').map((e) => e.connection), [0, 1, 2].slice(0, json.filter((e) => e.type === 'start').length));
  assert.ok(json.some((e) => e.type === 'end'));
  assert.ok(!json.some((e) => e.type === 'data'), 'no data events');
  assert.ok(!ndjson(run(HTTP_TRACE, ['-r', SAMPLE, '--json']).stdout).some((e) => e.type === 'start'));
});

test('usage errors exit 2: unknown flags, bad regex, -i with -r, stray arguments', () => {
  for (const args of [['--nope'], ['-x'], ['--method', '('], ['-i', 'lo', '-r', SAMPLE], ['-r', SAMPLE, 'extra'], ['--max-body', 'lots', '-r', SAMPLE]]) {
    const r = run(HTTP_TRACE, args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^http_trace: .*\(http_trace --help for usage\)\n$/);
  }
  assert.equal(run(PCAP_PIPE, ['http', '--bogus']).status, 2);
  assert.equal(run(PCAP_PIPE, ['ws', '--bodies']).status, 2);
  const help = run(HTTP_TRACE, ['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: http_trace/);
  assert.equal(run(HTTP_TRACE, ['-r', '/nonexistent.pcap']).status, 1);
});

// ------------------------------------------------------------------------------------------------
// The corpus: the CLI's JSON against the tshark oracles.

/** Captures where tshark's rows are ours one to one (the exceptions are in http-oracle.test.ts). */
const corpus = [
  'http-100-continue-chunked.pcap',
  'http-keepalive-304.pcap',
  'http-pipelined-gzip.pcap',
  'http-chunked-gzip-missing-syn.pcap',
  'null-ipv6-http-keepalive-chunked-304.pcap',
  'vlan-qinqinq-http.pcap',
  'linktype-ipv4-228-http.pcap',
];

for (const file of corpus) {
  test(`pcap-pipe http --json --bodies on ${file} equals tshark (messages and decoded body sha256)`, () => {
    const r = run(PCAP_PIPE, ['http', '--json', '--bodies', fixture(file)]);
    assert.equal(r.status, 0, r.stderr);
    const ours = ndjson(r.stdout).filter((e) => e.type === 'request' || e.type === 'response');
    const rows = readOracle(`${file}.http.tsv`).filter((x) => x['http.request.method'] !== '' || x['http.response.code'] !== '');
    assert.ok(rows.length > 0);
    const key = (e: Json): string => e.type === 'request' ? `${e.connection} ${e.frame} ${e.method} ${e.url}` : `${e.connection} ${e.frame} ${e.status}`;
    const want = rows.map((x) => x['http.request.method'] !== ''
      ? `${x['tcp.stream']} ${x['frame.number']} ${x['http.request.method']} ${x['http.request.uri']}`
      : `${x['tcp.stream']} ${x['frame.number']} ${x['http.response.code']}`);
    assert.deepEqual(ours.map(key).sort(), want.sort());
    const bodies = readOracle('http-bodies.tsv').filter((x) => x.capture === file);
    const gotBodies = ours.filter((e) => (e.decodedLength as number) > 0)
      .map((e) => `${e.frame} ${e.type} ${e.decodedLength} ${sha256(bodyBytes(e))}`);
    assert.deepEqual(gotBodies.sort(), bodies.map((x) => `${x['frame.number']} ${x.kind} ${x.body_length} ${x.body_sha256}`).sort());
    for (const e of ours.filter((x) => x.type === 'response')) {
      const status = e.status as number;
      assert.equal(e.interim, status >= 100 && status < 200 && status !== 101 ? true : undefined);
    }
  });
}

test('a 100 Continue that completes before its request is held until the request decides', () => {
  const file = fixture('http-100-continue-chunked.pcap');
  const types = (...args: string[]): string[] => ndjson(run(HTTP_TRACE, ['-r', file, '--json', ...args]).stdout)
    .map((e) => `${e.type} ${e.type === 'request' ? e.method : e.status}${e.interim ? ' interim' : ''}`);
  assert.deepEqual(types(), ['response 100 interim', 'request POST', 'response 200'], 'unfiltered: in capture order');
  assert.deepEqual(types('--method', 'POST'), ['request POST', 'response 100 interim', 'response 200']);
  assert.deepEqual(types('--method', 'GET'), []);
  assert.deepEqual(types('--url-ignore', '^/$'), []);
});

test('colours on a terminal only, and not with --no-color', { skip: spawnSync('script', ['--version']).status === 0 ? false : 'script(1) not installed' }, () => {
  const env = { ...process.env };
  delete env.NO_COLOR;
  const onTty = (extra: string): string => spawnSync('script', ['-qefc', `${JSON.stringify(process.execPath)} ${JSON.stringify(HTTP_TRACE)} -r ${JSON.stringify(SAMPLE)} ${extra}`, '/dev/null'],
    { env, encoding: 'utf8' }).stdout;
  const coloured = onTty('');
  assert.ok(coloured.includes('\x1b[32mGET\x1b[0m'), JSON.stringify(coloured.slice(0, 300)));
  const plain = onTty('--no-color');
  assert.ok(plain.includes(' GET /'));
  assert.ok(!plain.includes('\x1b['));
});

test('captured control characters are escaped in human output', () => {
  // escapeControl is applied to every captured string: a URL with ESC cannot drive the terminal
  const { formatHttpEvent } = require('../lib/trace/output.js') as typeof import('../lib/trace/output.js');
  const line = formatHttpEvent({
    type: 'request', ts: '0.000000000', frame: 1, from: 'client', connection: 0, client: '10.0.0.1:1', server: '10.0.0.2:80',
    method: 'GET', url: '/\x1b[2Jx', version: 'HTTP/1.1', headers: [['X-Evil', 'a\x07b']], index: 1,
    bodyLength: 3, decodedLength: 3, body: Buffer.from('\x1b]0;t\n'), startTs: '0.000000000', startFrame: 1,
  }, { color: false, headers: true, bodies: true, maxBody: 100, tcp: false });
  assert.ok(line !== null && !line.includes('\x1b') && !line.includes('\x07'), line ?? '');
  assert.ok(line.includes('/\\x1b[2Jx') && line.includes('a\\x07b'));
});

test('live mode warns on stderr when the kernel drops packets (watchDrops)', async () => {
  const { watchDrops } = require('../bin/trace-cli.js') as typeof import('../bin/trace-cli.js');
  let dropped = 0;
  const fake = { stats: () => ({ received: 100, dropped, ifDropped: 0, captured: 100 - dropped }) };
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => { written.push(s); return true; }) as typeof process.stderr.write;
  try {
    const stop = watchDrops(fake as never, 'http_trace', 10);
    await new Promise((r) => setTimeout(r, 40));
    dropped = 7;
    await new Promise((r) => setTimeout(r, 40));
    dropped = 9;
    stop();
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(written.map((s) => /dropped (\d+) packets \((\d+) so far\)/.exec(s)?.slice(1).join('/')), ['7/7', '2/9']);
});
