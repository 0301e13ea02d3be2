/**
 * lib/tls without streams: key log parsing (growing files, bad lines without their secrets), the record
 * layer under every split, the JA4 reference value, the TLS 1.2 PRF and TLS 1.3 HKDF-Expand-Label
 * against Node's own TLS (exportKeyingMaterial of a live loopback connection, with the secrets from its
 * `keylog` event), ClientHello parsing of a real Node ClientHello, and record decryption failures.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tlsNode from 'node:tls';
import { KeyLog, KeyLogFile } from '../lib/tls/keylog';
import { MAX_RECORD_FRAGMENT, TlsRecordReader, type TlsRecord } from '../lib/tls/record';
import { ja4, ja4Raw } from '../lib/tls/ja4';
import { HandshakeReader, parseClientHello, type ClientHello } from '../lib/tls/handshake';
import { hkdfExpandLabel, prf12, trafficKeys13 } from '../lib/tls/keys';
import { cipherSuite, RecordDecryptor } from '../lib/tls/cipher';
import { TlsSession } from '../lib/tls/session';
import { makeCerts, tmpDir } from './helpers/tls-capture';
import { prng } from './helpers/prng';

const R1 = 'aa'.repeat(32);
const R2 = 'bb'.repeat(32);
const SECRET = 'c0ffee'.repeat(16);

test('key log: labels by client random, comments and blank lines, problems reported without the secret', () => {
  const log = new KeyLog();
  log.addText([
    '# a comment', '',
    `CLIENT_RANDOM ${R1} ${SECRET}`,
    `CLIENT_HANDSHAKE_TRAFFIC_SECRET ${R2} ${SECRET.slice(0, 64)}`,
    `SERVER_TRAFFIC_SECRET_0 ${R2.toUpperCase()} ${SECRET.slice(0, 64)}`,
    `RSA 0011223344556677 ${SECRET}`,
    `CLIENT_RANDOM nothex ${SECRET}`,
    `CLIENT_RANDOM ${R1} abc`,
    'garbage',
  ].join('\r\n'));
  assert.equal(log.lookup(Buffer.from(R1, 'hex'))?.masterSecret?.toString('hex'), SECRET);
  const s2 = log.lookup(Buffer.from(R2, 'hex'));
  assert.ok(s2?.clientHandshakeTraffic && s2.serverTraffic0);
  assert.deepEqual(log.problems.map((p) => p.reason), ['unknown-label', 'bad-client-random', 'bad-secret', 'malformed']);
  assert.ok(!JSON.stringify(log.problems).includes(SECRET.slice(0, 12)));
  assert.equal(log.lookup(Buffer.alloc(32)), undefined);
});

test('key log: a growing file is read as it grows, a partial last line waits for its newline', () => {
  const dir = tmpDir('keylog');
  const file = path.join(dir, 'keys.log');
  const kf = new KeyLogFile(file);
  assert.equal(kf.refresh(), 0, 'a file that does not exist yet is not an error');
  const line = `CLIENT_RANDOM ${R1} ${SECRET}\n`;
  fs.writeFileSync(file, line.slice(0, 50));
  kf.refresh();
  assert.equal(kf.keyLog.lookup(Buffer.from(R1, 'hex')), undefined);
  const gen = kf.keyLog.generation;
  fs.appendFileSync(file, line.slice(50));
  kf.refresh();
  assert.equal(kf.keyLog.lookup(Buffer.from(R1, 'hex'))?.masterSecret?.toString('hex'), SECRET);
  assert.ok(kf.keyLog.generation > gen);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('key log: bounded by maxEntries (oldest dropped)', () => {
  const log = new KeyLog({ maxEntries: 2 });
  for (const r of ['01', '02', '03']) log.addText(`CLIENT_RANDOM ${r.repeat(32)} ${SECRET}\n`);
  assert.equal(log.size, 2);
  assert.equal(log.lookup(Buffer.from('01'.repeat(32), 'hex')), undefined);
});

function record(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 0xff]), body]);
}

test('record layer: the same records whatever the segment boundaries, several per segment, one across many', () => {
  const rand = prng(17);
  const bodies = [randomBytes(5), randomBytes(16384), randomBytes(0), randomBytes(300), randomBytes(1)];
  const stream = Buffer.concat(bodies.map((b, i) => record(i % 2 === 0 ? 23 : 22, b)));
  for (let round = 0; round < 200; round++) {
    const reader = new TlsRecordReader();
    const got: TlsRecord[] = [];
    let off = 0;
    while (off < stream.length) {
      const n = round === 0 ? 1 : 1 + Math.floor(rand() * 3000);
      assert.equal(reader.push(stream.subarray(off, off + n), (r) => got.push(r)), undefined);
      off += n;
    }
    assert.deepEqual(got.map((r) => r.fragment.toString('hex')), bodies.map((b) => b.toString('hex')));
    assert.equal(got[1].offset, 5 + 5);
    assert.equal(reader.buffered, 0);
  }
});

test('record layer: not TLS, or a record over the limit, stops the reader with a reason', () => {
  const r1 = new TlsRecordReader();
  assert.equal(r1.push(Buffer.from('GET / HTTP/1.1\r\n'), () => assert.fail()), 'not-tls');
  const r2 = new TlsRecordReader();
  const big = MAX_RECORD_FRAGMENT + 1;
  assert.equal(r2.push(Buffer.from([23, 3, 3, big >> 8, big & 0xff]), () => assert.fail()), 'record-too-large');
  assert.equal(r2.push(Buffer.from([23, 3, 3, 0, 0]), () => assert.fail()), 'record-too-large', 'stays failed');
});

test('handshake reader: messages across records and several per record; oversized message refused', () => {
  const m1 = Buffer.concat([Buffer.from([1, 0, 0, 3]), Buffer.from('abc')]);
  const m2 = Buffer.concat([Buffer.from([2, 0, 0, 0])]);
  const all = Buffer.concat([m1, m2]);
  const hr = new HandshakeReader();
  assert.deepEqual(hr.push(all.subarray(0, 2)), []);
  const got = hr.push(all.subarray(2));
  assert.deepEqual(got?.map((m) => [m.type, m.body.toString()]), [[1, 'abc'], [2, '']]);
  assert.equal(new HandshakeReader().push(Buffer.from([11, 0xff, 0xff, 0xff])), undefined);
});

test('JA4: the reference value of the JA4 specification (Chrome ClientHello)', () => {
  const hello: ClientHello = {
    legacyVersion: 0x0303, random: Buffer.alloc(32), sessionId: Buffer.alloc(0),
    cipherSuites: [0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
    extensions: [0x1a1a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d, 0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x4469, 0x0015]
      .map((type) => ({ type, data: Buffer.alloc(0) })),
    sni: 'example.com', alpn: ['h2', 'http/1.1'], supportedVersions: [0x2a2a, 0x0304, 0x0303],
    signatureAlgorithms: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
    supportedGroups: [], keyShareGroups: [], extendedMasterSecret: true, encryptThenMac: false, preSharedKey: false, earlyData: false,
  };
  assert.equal(ja4(hello), 't13d1516h2_8daaf6152771_e5627efa2ab1');
  assert.equal(ja4Raw(hello).split('_')[0], 't13d1516h2');
  assert.equal(ja4({ ...hello, sni: undefined, alpn: [], supportedVersions: [] }).slice(0, 10), 't12i151600');
});

test('ClientHello of a real Node client: SNI, ALPN, versions, key shares', async () => {
  const srv = net.createServer();
  const bytes = new Promise<Buffer>((resolve) => srv.on('connection', (s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); })));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const c = tlsNode.connect({ host: '127.0.0.1', port, servername: 'example.test', ALPNProtocols: ['h2', 'http/1.1'] });
  c.on('error', () => undefined);
  const data = await bytes;
  srv.close();
  const reader = new TlsRecordReader();
  const hr = new HandshakeReader();
  let hello: ClientHello | undefined;
  reader.push(data, (r) => { for (const m of hr.push(r.fragment) ?? []) hello = parseClientHello(m.body); });
  assert.ok(hello);
  assert.equal(hello.sni, 'example.test');
  assert.deepEqual(hello.alpn, ['h2', 'http/1.1']);
  assert.ok(hello.supportedVersions.includes(0x0304));
  assert.ok(hello.keyShareGroups.length > 0);
  assert.match(ja4(hello), /^t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
  assert.equal(parseClientHello(Buffer.alloc(10)), undefined, 'short input: undefined, not a throw');
});

/**
 * A live Node TLS connection of `version` through a recording TCP proxy; returns its key log lines, the
 * randoms (read from the recorded hellos with our parsers) and an exported keying material value
 * (RFC 5705 / RFC 8446 §7.5), which Node computes with OpenSSL.
 */
async function exported(version: 'TLSv1.2' | 'TLSv1.3'): Promise<{ lines: string[]; clientRandom: Buffer; serverRandom: Buffer; ekm: Buffer; cipher: string }> {
  const dir = tmpDir('ekm');
  const certs = makeCerts(dir);
  const lines: string[] = [];
  const server = tlsNode.createServer({ key: fs.readFileSync(certs.rsaKey), cert: fs.readFileSync(certs.rsaCert), maxVersion: version, minVersion: version }, (s) => s.end());
  server.on('keylog', (l: Buffer) => lines.push(l.toString().trim()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const recorded: Buffer[] = [];
  const proxy = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    up.on('data', (d: Buffer) => { recorded.push(d); down.write(d); });
    down.pipe(up);
    up.on('error', () => undefined);
    down.on('error', () => undefined);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const c = tlsNode.connect({ host: '127.0.0.1', port: (proxy.address() as net.AddressInfo).port, rejectUnauthorized: false });
  await new Promise<void>((r) => c.on('secureConnect', () => r()));
  const ekm = c.exportKeyingMaterial(48, 'EXPERIMENTAL pcap-pipe', Buffer.from('ctx'));
  const cipher = c.getCipher().standardName;
  c.destroy();
  server.close();
  proxy.close();
  fs.rmSync(dir, { recursive: true, force: true });
  let serverRandom: Buffer = Buffer.alloc(0);
  const reader = new TlsRecordReader();
  const hr = new HandshakeReader();
  reader.push(Buffer.concat(recorded), (r) => {
    if (r.contentType !== 22 || serverRandom.length > 0) return;
    for (const m of hr.push(r.fragment) ?? []) if (m.type === 2) serverRandom = Buffer.from(m.body.subarray(2, 34));
  });
  const clientRandom = Buffer.from(lines[0].split(' ')[1], 'hex');
  return { lines, clientRandom, serverRandom, ekm, cipher };
}

test('TLS 1.3 HKDF-Expand-Label: the exporter of a live Node connection (EXPORTER_SECRET from its key log)', async () => {
  const { lines, ekm, cipher } = await exported('TLSv1.3');
  const secretLine = lines.find((l) => l.startsWith('EXPORTER_SECRET '));
  assert.ok(secretLine);
  const exporterSecret = Buffer.from(secretLine.split(' ')[2], 'hex');
  const suite = cipherSuite({ TLS_AES_128_GCM_SHA256: 0x1301, TLS_AES_256_GCM_SHA384: 0x1302, TLS_CHACHA20_POLY1305_SHA256: 0x1303 }[cipher] ?? 0);
  assert.ok(suite);
  const h = suite.prfHash;
  // TLS-Exporter(label, context, L) = HKDF-Expand-Label(Derive-Secret(exporter_secret, label, ""), "exporter", Hash(context), L)
  const derived = hkdfExpandLabel(h, exporterSecret, 'EXPERIMENTAL pcap-pipe', createHash(h).update('').digest(), exporterSecret.length);
  const mine = hkdfExpandLabel(h, derived, 'exporter', createHash(h).update('ctx').digest(), 48);
  assert.equal(mine.toString('hex'), ekm.toString('hex'));
});

test('TLS 1.3 traffic keys and AEAD: a record sealed with keys derived by us opens; a changed byte is bad-record-mac', () => {
  const suite = cipherSuite(0x1301)!;
  const secret = randomBytes(32);
  const keys = trafficKeys13(suite, secret);
  const inner = Buffer.concat([Buffer.from('hello'), Buffer.from([23]), Buffer.alloc(3)]);
  const len = inner.length + 16;
  const header = Buffer.from([23, 3, 3, len >> 8, len & 0xff]);
  const seal = (seq: number): Buffer => {
    const nonce = Buffer.from(keys.iv);
    nonce[11] ^= seq;
    const c = createCipheriv('aes-128-gcm', keys.key, nonce, { authTagLength: 16 });
    c.setAAD(header);
    return Buffer.concat([c.update(inner), c.final(), c.getAuthTag()]);
  };
  const d = new RecordDecryptor(suite, keys, true);
  const r0 = d.decrypt(23, 0x0303, seal(0));
  assert.ok(r0.ok && r0.plaintext.toString() === 'hello' && r0.contentType === 23);
  const bad = seal(1);
  bad[3] ^= 1;
  assert.deepEqual(d.decrypt(23, 0x0303, bad), { ok: false, failure: 'bad-record-mac' });
  assert.deepEqual(d.decrypt(23, 0x0303, Buffer.alloc(3)), { ok: false, failure: 'bad-record' });
});

test('TLS 1.2 PRF: the exporter of a live Node TLS 1.2 connection equals PRF(master, label, randoms + context)', async () => {
  const { lines, ekm, clientRandom, serverRandom, cipher } = await exported('TLSv1.2');
  const line = lines.find((l) => l.startsWith('CLIENT_RANDOM '));
  assert.ok(line);
  assert.equal(serverRandom.length, 32);
  const master = Buffer.from(line.split(' ')[2], 'hex');
  const hash = cipher.endsWith('SHA384') ? 'sha384' : 'sha256';
  const context = Buffer.from('ctx');
  const seed = Buffer.concat([clientRandom, serverRandom, Buffer.from([0, context.length]), context]);
  assert.equal(prf12(hash, master, 'EXPERIMENTAL pcap-pipe', seed, 48).toString('hex'), ekm.toString('hex'));
});

test('session fuzz: random and mutated records never throw; every outcome is an event', async () => {
  // A real ClientHello from Node, then mutations of it and random records, cut at random points.
  const srv = net.createServer();
  const bytes = new Promise<Buffer>((resolve) => srv.on('connection', (s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); })));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = tlsNode.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, servername: 'fuzz.test' });
  c.on('error', () => undefined);
  const hello = await bytes;
  srv.close();
  const rand = prng(4242);
  const keyLog = new KeyLog();
  keyLog.addText(`CLIENT_RANDOM ${hello.subarray(11, 43).toString('hex')} ${'11'.repeat(48)}\n`);
  let events = 0;
  for (let round = 0; round < 300; round++) {
    const session = new TlsSession<number>(keyLog, {
      data: () => { events++; }, error: () => { events++; }, connection: () => { events++; },
    });
    const client = Buffer.from(hello);
    for (let i = 0; i < 1 + Math.floor(rand() * 8); i++) client[Math.floor(rand() * client.length)] = Math.floor(rand() * 256);
    const serverParts: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      const body = Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
      const type = [20, 21, 22, 23][Math.floor(rand() * 4)];
      if (type === 22 && rand() < 0.5) body[0] = 2; // something shaped like a ServerHello
      serverParts.push(Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 0xff]), body]));
    }
    const server = Buffer.concat(serverParts);
    const cut = (b: Buffer): Buffer[] => { const out: Buffer[] = []; let o = 0; while (o < b.length) { const n = 1 + Math.floor(rand() * 200); out.push(b.subarray(o, o + n)); o += n; } return out; };
    for (const p of cut(client)) session.data('client', p, round);
    for (const p of cut(server)) session.data('server', p, round);
    if (rand() < 0.3) session.gap('server', round);
    session.end(round);
    assert.ok(session.bufferedBytes <= 64 * 1024, 'bounded');
  }
  assert.ok(events >= 300, 'each connection reported');
});
