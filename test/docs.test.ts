/**
 * docs/: one page per command whose usage block is exactly the command's `--help` (scripts/docs.js writes it;
 * this fails when a command's help changed and the page did not), and a JSON Schema per kind of NDJSON the
 * commands print (docs/schema/), every line the commands print on the fixtures and the bundled sample
 * validated against it with ajv. The schemas are strict where it matters (required fields, types, enums, no
 * unknown top-level fields or event types), so a changed output must change its schema too.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { addonAvailable } from '../addon/index';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'dist', 'bin');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const SAMPLE = path.join(ROOT, 'samples', 'http-sample.pcap');
const SCHEMAS = path.join(ROOT, 'docs', 'schema');

// eslint-disable-next-line @typescript-eslint/no-var-requires
const docsScript = require(path.join(ROOT, 'scripts', 'docs.js')) as {
  commands(): { page: string; args: string[]; title: string }[];
  pageUsage(text: string): string | null;
};

function run(args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(BIN, args[0] as string), ...args.slice(1)], { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const captures = [...fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(FIXTURES, f)), SAMPLE];

// ------------------------------------------------------------------------------------------------------
// command pages

test('docs/ has one page per command, and each page shows exactly what --help prints', () => {
  const commands = docsScript.commands();
  assert.ok(commands.length >= 17, `${commands.length} commands`);
  for (const c of commands) {
    const file = path.join(ROOT, 'docs', c.page);
    assert.ok(fs.existsSync(file), `docs/${c.page} is missing (run: node scripts/docs.js)`);
    const help = run(c.args);
    assert.equal(help.status, 0, help.stderr);
    const usage = docsScript.pageUsage(fs.readFileSync(file, 'utf8'));
    assert.equal(usage, help.stdout.replace(/\n+$/, ''), `docs/${c.page} differs from \`${c.title} --help\` (run: node scripts/docs.js)`);
  }
  // and no page for a command that does not exist
  const pages = new Set(commands.map((c) => c.page));
  for (const f of fs.readdirSync(path.join(ROOT, 'docs')).filter((x) => x.endsWith('.md') && x !== 'README.md')) assert.ok(pages.has(f), `docs/${f} documents no command`);
});

test('the docs script notices a page that differs from --help', () => {
  const page = path.join(ROOT, 'docs', 'pcap-pipe-print.md');
  const text = fs.readFileSync(page, 'utf8');
  const usage = docsScript.pageUsage(text) as string;
  assert.ok(usage.startsWith('usage: pcap-pipe print'));
  assert.notEqual(docsScript.pageUsage(text.replace(usage, usage.replace('--json', '--jsn'))), usage);
});

// ------------------------------------------------------------------------------------------------------
// schemas

const ajv = new Ajv({ allErrors: true, strict: true, strictTuples: false });
addFormats(ajv);
for (const f of fs.readdirSync(SCHEMAS)) ajv.addSchema(JSON.parse(fs.readFileSync(path.join(SCHEMAS, f), 'utf8')) as object, f);

function validator(name: string): ValidateFunction {
  const v = ajv.getSchema(name);
  assert.ok(v, `docs/schema/${name}`);
  return v;
}

/** Validates every NDJSON line; returns the parsed objects. */
function validateLines(name: string, text: string, what: string): Record<string, unknown>[] {
  const v = validator(name);
  const out: Record<string, unknown>[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (!v(o)) assert.fail(`${what} line ${i + 1} does not match ${name}: ${ajv.errorsText(v.errors?.slice(0, 3))}\n${line.slice(0, 400)}`);
    out.push(o);
  }
  return out;
}

function types(objs: Record<string, unknown>[]): Set<string> {
  return new Set(objs.map((o) => String(o.type)));
}

test('print --json: every packet of every fixture matches docs/schema/packet.schema.json', () => {
  let packets = 0;
  const layers = new Set<string>();
  for (const file of captures) {
    for (const args of [['pcap-pipe.js', 'print', '--json'], ['pcap-pipe.js', 'print', '--json', '--defragment']]) {
      const r = run(args, fs.readFileSync(file));
      const objs = validateLines('packet.schema.json', r.stdout, `${path.basename(file)} ${args.slice(1).join(' ')}`);
      packets += objs.length;
      for (const o of objs) for (const l of o.layers as string[]) layers.add(l);
    }
  }
  assert.ok(packets > 5000, `${packets} packets`);
  for (const l of ['eth', 'vlan', 'sll', 'null', 'raw', 'arp', 'ipv4', 'ipv6', 'icmp', 'icmpv6', 'igmp', 'tcp', 'udp', 'dns', 'fragment', 'data']) assert.ok(layers.has(l), `no ${l} layer seen`);
});

test('tcp --json: every event matches docs/schema/tcp-event.schema.json', () => {
  const seen = new Set<string>();
  for (const file of captures) {
    const r = run(['pcap-pipe.js', 'tcp', '--json'], fs.readFileSync(file));
    for (const t of types(validateLines('tcp-event.schema.json', r.stdout, path.basename(file)))) seen.add(t);
  }
  for (const t of ['start', 'data', 'end', 'reset', 'retransmit', 'gap', 'out-of-order', 'zero-window', 'keep-alive']) assert.ok(seen.has(t), `no ${t} event seen (${[...seen].join(', ')})`);
});

test('http / http_trace / ws --json: every event matches docs/schema/http-event.schema.json', () => {
  const seen = new Set<string>();
  for (const file of captures) {
    const input = fs.readFileSync(file);
    for (const t of types(validateLines('http-event.schema.json', run(['pcap-pipe.js', 'http', '--json', '--bodies', '--tcp-verbose'], input).stdout, `http ${path.basename(file)}`))) seen.add(t);
    const ws = validateLines('http-event.schema.json', run(['pcap-pipe.js', 'ws', '--json'], input).stdout, `ws ${path.basename(file)}`);
    for (const t of types(ws)) assert.ok(t.startsWith('ws-') || t === 'http-upgrade', `ws printed a ${t}`);
  }
  const trace = run(['http_trace.js', '-r', SAMPLE, '--json', '--bodies', '--max-body', '10']);
  const objs = validateLines('http-event.schema.json', trace.stdout, 'http_trace -r sample');
  assert.ok(objs.some((o) => o.bodyTruncated === true), 'a body cut by --max-body');
  for (const t of ['request', 'response', 'http-upgrade', 'ws-frame', 'ws-message', 'ws-close', 'start', 'end', 'retransmit']) assert.ok(seen.has(t), `no ${t} event seen (${[...seen].join(', ')})`);
});

test('grep --json and network_grep --json: every match matches docs/schema/grep-match.schema.json', () => {
  const input = fs.readFileSync(SAMPLE);
  const perPacket = validateLines('grep-match.schema.json', run(['pcap-pipe.js', 'grep', '--json', '-i', 'html|json'], input).stdout, 'grep');
  const stream = validateLines('grep-match.schema.json', run(['pcap-pipe.js', 'grep', '--json', '--stream', '-i', 'html|json'], input).stdout, 'grep --stream');
  const ngrep = validateLines('grep-match.schema.json', run(['network_grep.js', '--json', '-q', '-I', SAMPLE, 'GET']).stdout, 'network_grep');
  assert.ok(perPacket.length > 0 && stream.length > 0 && ngrep.length > 0);
  assert.ok(perPacket.every((o) => o.stream === undefined) && stream.every((o) => typeof o.stream === 'number'));
});

test('tls --json: every event matches docs/schema/tls-event.schema.json; the schema refuses key material', () => {
  // real openssl s_server + curl traffic (test/fixtures/MANIFEST.md): TLS 1.3 and 1.2 decrypted, one TLS 1.3 without its key
  const pcap = path.join(FIXTURES, 'tls', 'openssl-s_server-curl-tls13-tls12-nokey.pcap');
  const keys = pcap.replace(/\.pcap$/, '.keys');
  const env = { ...process.env, SSLKEYLOGFILE: '' };
  const r = spawnSync(process.execPath, [path.join(BIN, 'pcap-pipe.js'), 'tls', '--json', '--keylog', keys, pcap], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const objs = validateLines('tls-event.schema.json', r.stdout, 'tls --json');
  const conns = objs.filter((o) => o.type === 'tls-connection');
  assert.deepEqual(conns.map((o) => [o.version, o.decryptable, o.reason ?? null]), [['TLS 1.3', true, null], ['TLS 1.2', true, null], ['TLS 1.3', false, 'no-key']]);
  assert.ok(objs.some((o) => o.type === 'tls-error' && o.code === 'TLS_NO_KEY'));
  assert.ok(conns.some((o) => (o.certificates as unknown[]).length > 0), 'a certificate (TLS 1.2 sends it in the clear)');
  const v = validator('tls-event.schema.json');
  const [first] = conns;
  assert.ok(!v({ ...first, masterSecret: '00'.repeat(48) }), 'a secret is not a documented member');
  assert.ok(!v({ ...first, clientRandom: 'xyz' }), 'a client random that is not 32 bytes of hex');
  const { decryptable: _d, ...noVerdict } = first as Record<string, unknown>;
  assert.ok(!v(noVerdict), 'a connection without its verdict');
});

test('info --json: every file, damaged ones too, matches docs/schema/info.schema.json', () => {
  const r = run(['pcap-pipe.js', 'info', '--json', ...captures]);
  const objs = validateLines('info.schema.json', r.stdout, 'info');
  assert.equal(objs.length, captures.length);
  assert.ok(objs.some((o) => o.error !== null), 'a damaged fixture reports its error');
});

test('devices --json matches docs/schema/devices.schema.json', { skip: addonAvailable() ? false : 'the libpcap addon is not built' }, () => {
  const r = run(['pcap-pipe.js', 'devices', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const v = validator('devices.schema.json');
  const list = JSON.parse(r.stdout) as unknown;
  assert.ok(v(list), ajv.errorsText(v.errors));
  assert.ok((list as { name: string }[]).some((d) => d.name === 'lo'));
});

test('the schemas reject what the commands must not print', () => {
  const sample = fs.readFileSync(SAMPLE);
  const pkt = JSON.parse(run(['pcap-pipe.js', 'print', '--json'], sample).stdout.split('\n')[0] as string) as Record<string, unknown>;
  const packet = validator('packet.schema.json');
  assert.ok(packet(pkt));
  assert.ok(!packet({ ...pkt, surprise: 1 }), 'an undocumented top-level field');
  assert.ok(!packet({ ...pkt, ts: 1795699464.5 }), 'ts as a number');
  assert.ok(!packet({ ...pkt, tcp: { ...(pkt.tcp as object), srcPort: 70000 } }), 'a port out of range');
  const [req] = run(['pcap-pipe.js', 'http', '--json'], sample).stdout.split('\n').map((l) => (l ? JSON.parse(l) as Record<string, unknown> : null));
  const httpEvent = validator('http-event.schema.json');
  assert.ok(httpEvent(req));
  const { method: _m, ...noMethod } = req as Record<string, unknown>;
  assert.ok(!httpEvent(noMethod), 'a request without its method');
  assert.ok(!httpEvent({ ...req, type: 'requests' }), 'an unknown event type');
  const tcpEvent = validator('tcp-event.schema.json');
  assert.ok(!tcpEvent({ type: 'data', ts: '1.000000000', tsSec: 1, tsNsec: 0, frame: 1, connection: 0, client: '1.2.3.4:1', server: '1.2.3.4:2' }), 'data without its bytes');
});
