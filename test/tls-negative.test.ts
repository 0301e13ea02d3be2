/**
 * What the TLS stage does when it cannot decrypt, on captures of real Node https traffic made here:
 * missing keys, a wrong key, a capture that starts mid-connection, a truncated record, a record split
 * across a retransmission, a key that arrives late in a growing key log, the wait limits. Each is a
 * clear event; nothing throws; undecryptable connections pass through as they came; no secret is printed.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { readCaptureFile } from '../streams/read';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { tls } from '../streams/tls';
import { freePort, makeCerts, run, startTcpdump, streamsOf, tlsEvents, tmpDir, type Certs } from './helpers/tls-capture';

const skip = process.platform !== 'linux' ? 'loopback captures need Linux'
  : process.getuid && process.getuid() !== 0 ? 'tcpdump on lo needs root' : false;

type Ev = Record<string, unknown>;
let dir = '';
let certs: Certs;
const BODY = randomBytes(150 * 1024).toString('base64');
/** Per TLS version: the capture, its key log, and the decrypted streams with the right keys. */
const caps = new Map<string, { pcap: string; keys: string; port: number; good: Map<number, { client: Buffer; server: Buffer }> }>();

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}
function byType(events: Ev[], type: string): Ev[] {
  return events.filter((e) => e.type === type);
}

async function capture(version: 'TLSv1.2' | 'TLSv1.3'): Promise<{ pcap: string; keys: string; port: number }> {
  const port = await freePort();
  const pcap = path.join(dir, `${version}.pcap`);
  const keys = path.join(dir, `${version}.keys`);
  const td = await startTcpdump(pcap, port);
  const server = https.createServer({ key: fs.readFileSync(certs.rsaKey), cert: fs.readFileSync(certs.rsaCert), maxVersion: version, minVersion: version },
    (req, res) => res.end(req.url === '/big' ? BODY : 'small'));
  server.on('keylog', (line) => fs.appendFileSync(keys, line));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  for (const p of ['/a', '/big', '/b']) {
    await new Promise<void>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: p, agent, rejectUnauthorized: false, servername: 'localhost' }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      }).on('error', reject);
    });
  }
  agent.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await td.stop();
  return { pcap, keys, port };
}

before(async () => {
  if (skip) return;
  dir = tmpDir('neg');
  certs = makeCerts(dir);
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const c = await capture(v);
    const good = streamsOf(await tlsEvents(c.pcap, { keyLogFiles: [c.keys] }));
    caps.set(v, { ...c, good });
  }
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

/** Raw TCP bytes per connection and side (the pipeline without tls()). */
async function rawStreams(pcap: string): Promise<Map<number, { client: Buffer; server: Buffer }>> {
  const events: Ev[] = [];
  await pipeline(readCaptureFile(pcap), decode({ depth: 'transport' }), tcp(),
    new Writable({ objectMode: true, write(e: Ev, _x, cb) { events.push(e); cb(); } }));
  return streamsOf(events);
}

function assertNoSecrets(events: Ev[], keys: string): void {
  const text = JSON.stringify(events.map((e) => ({ ...e, bytes: undefined })));
  for (const line of fs.readFileSync(keys, 'utf8').split('\n')) {
    const secret = line.split(' ')[2];
    if (secret && secret.length >= 32) assert.ok(!text.includes(secret) && !text.includes(secret.toUpperCase()), 'a secret in the output');
  }
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`${version}: the right keys decrypt (baseline for the cases below)`, { skip }, () => {
    const c = caps.get(version);
    assert.ok(c);
    const s = c.good.get(0);
    assert.ok(s?.server.toString('latin1').includes(BODY));
  });

  test(`${version}: no keys → tls-connection not decryptable, a no-key error, the raw bytes pass on`, { skip }, async () => {
    const c = caps.get(version)!;
    const empty = path.join(dir, `${version}-empty.keys`);
    fs.writeFileSync(empty, '');
    const events = await tlsEvents(c.pcap, { keyLogFiles: [empty] });
    const conn = byType(events, 'tls-connection')[0];
    assert.equal(conn.decryptable, false);
    assert.equal(conn.reason, 'no-key');
    assert.equal(conn.sni, 'localhost');
    assert.match(String(conn.ja4), /^t1[23]d/);
    const errs = byType(events, 'tls-error');
    assert.equal(errs.length, 1);
    assert.equal(errs[0].reason, 'no-key');
    const raw = (await rawStreams(c.pcap)).get(0)!;
    const passed = streamsOf(events).get(0)!;
    assert.ok(passed.client.equals(raw.client) && passed.server.equals(raw.server), 'raw TLS bytes passed on unchanged');
  });

  test(`${version}: a wrong key → bad-record-mac, reported once, no crash, no secret printed`, { skip }, async () => {
    const c = caps.get(version)!;
    const wrong = path.join(dir, `${version}-wrong.keys`);
    const flipped = fs.readFileSync(c.keys, 'utf8').split('\n').map((l) => {
      const p = l.split(' ');
      if (p.length !== 3) return l;
      const first = (parseInt(p[2].slice(0, 2), 16) ^ 0xff).toString(16).padStart(2, '0');
      return `${p[0]} ${p[1]} ${first}${p[2].slice(2)}`;
    }).join('\n');
    fs.writeFileSync(wrong, flipped);
    const events = await tlsEvents(c.pcap, { keyLogFiles: [wrong] }, true);
    const errs = byType(events, 'tls-error');
    assert.equal(errs.length, 1);
    assert.equal(errs[0].reason, 'bad-record-mac');
    assert.equal(errs[0].code, 'TLS_BAD_RECORD_MAC');
    assert.equal(byType(events, 'tls-connection')[0].decryptable, false);
    assertNoSecrets(events, wrong);
    assertNoSecrets(events, c.keys);
  });

  test(`${version}: a capture that starts mid-connection → handshake-not-captured`, { skip }, async () => {
    const c = caps.get(version)!;
    // Keep the packets from the client's last request on (a segment that starts with a record header).
    const frames = run('tshark', ['-r', c.pcap, '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.len', '-e', 'tcp.dstport'])
      .split('\n').filter(Boolean).map((l) => l.split('\t').map(Number));
    const clientData = frames.filter(([, len, dport]) => len > 0 && dport === c.port).map(([f]) => f);
    const from = clientData[clientData.length - 1];
    const mid = path.join(dir, `${version}-mid.pcap`);
    run('editcap', ['-r', c.pcap, mid, `${from}-${frames.length}`]);
    const events = await tlsEvents(mid, { keyLogFiles: [c.keys] });
    const errs = byType(events, 'tls-error');
    assert.deepEqual(errs.map((e) => e.reason), ['handshake-not-captured']);
    assert.equal(byType(events, 'tls-connection')[0].decryptable, false);
    const raw = (await rawStreams(mid)).get(0)!;
    assert.ok(streamsOf(events).get(0)!.client.equals(raw.client), 'the raw bytes pass on');
    assert.ok(byType(events, 'data').length > 0, 'the bytes pass on');
  });

  test(`${version}: a capture cut inside a record → truncated-record after the decrypted prefix`, { skip }, async () => {
    const c = caps.get(version)!;
    const frames = run('tshark', ['-r', c.pcap, '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.len', '-e', 'tcp.srcport'])
      .split('\n').filter(Boolean).map((l) => l.split('\t').map(Number));
    // The server's data frames of the big body: cut after the middle one (segments of 64 KB on lo split records).
    const serverData = frames.filter(([, len, sport]) => len > 1000 && sport === c.port).map(([f]) => f);
    const cutAt = serverData[Math.floor(serverData.length / 2)];
    const cut = path.join(dir, `${version}-cut.pcap`);
    fs.writeFileSync(cut, cutInside(fs.readFileSync(c.pcap), cutAt));
    const events = await tlsEvents(cut, { keyLogFiles: [c.keys] });
    const server = streamsOf(events).get(0)?.server ?? Buffer.alloc(0);
    assert.ok(server.length > 0);
    assert.ok(c.good.get(0)!.server.subarray(0, server.length).equals(server), 'what was decrypted is a prefix of the whole');
    const errs = byType(events, 'tls-error');
    assert.deepEqual(errs.map((e) => e.reason), ['truncated-record']);
    assert.equal(errs[0].from, 'server');
  });

  test(`${version}: a record split across a retransmission decrypts the same`, { skip }, async () => {
    const c = caps.get(version)!;
    const split = path.join(dir, `${version}-retrans.pcap`);
    fs.writeFileSync(split, withPartialRetransmissions(fs.readFileSync(c.pcap), c.port));
    const events = await tlsEvents(split, { keyLogFiles: [c.keys] });
    assert.deepEqual(byType(events, 'tls-error'), []);
    const s = streamsOf(events).get(0)!;
    const g = c.good.get(0)!;
    assert.equal(sha256(s.server), sha256(g.server));
    assert.equal(sha256(s.client), sha256(g.client));
  });

  test(`${version}: a key that appears later in a growing key log file is used (records held meanwhile)`, { skip }, async () => {
    const c = caps.get(version)!;
    const growing = path.join(dir, `${version}-growing.keys`);
    fs.writeFileSync(growing, '');
    const tcpEvents: Ev[] = [];
    await pipeline(readCaptureFile(c.pcap), decode({ depth: 'transport' }), tcp(),
      new Writable({ objectMode: true, write(e: Ev, _x, cb) { tcpEvents.push(e); cb(); } }));
    const stage = tls({ keyLogFiles: [growing], limits: { keyLogPollMs: 0, keyWaitSeconds: 3600 } });
    const out: Ev[] = [];
    stage.on('data', (e: Ev) => out.push(e));
    const half = Math.floor(tcpEvents.length / 2);
    for (let i = 0; i < tcpEvents.length; i++) {
      if (i === half) {
        assert.equal(byType(out, 'data').length, 0, 'nothing decrypted or passed before the key');
        fs.appendFileSync(growing, fs.readFileSync(c.keys));
      }
      stage.write(tcpEvents[i]);
    }
    stage.end();
    await new Promise<void>((r) => stage.on('end', () => r()));
    assert.deepEqual(byType(out, 'tls-error'), []);
    assert.equal(sha256(streamsOf(out).get(0)!.server), sha256(c.good.get(0)!.server));
  });

  test(`${version}: waiting for a key is bounded: maxHeldBytes and keyWaitSeconds end it with no-key before the connection ends`, { skip }, async () => {
    const c = caps.get(version)!;
    const empty = path.join(dir, `${version}-empty2.keys`);
    fs.writeFileSync(empty, '');
    for (const limits of [{ maxHeldBytes: 4096 }, { keyWaitSeconds: 0 }]) {
      const events = await tlsEvents(c.pcap, { keyLogFiles: [empty], limits });
      const errIndex = events.findIndex((e) => e.type === 'tls-error');
      const endIndex = events.findIndex((e) => e.type === 'end');
      assert.ok(errIndex >= 0 && errIndex < endIndex, `no-key before the end with ${JSON.stringify(limits)}`);
      assert.equal(events[errIndex].reason, 'no-key');
      const raw = (await rawStreams(c.pcap)).get(0)!;
      assert.ok(streamsOf(events).get(0)!.server.equals(raw.server));
    }
  });
}

/** The frames of a classic pcap (Ethernet, IPv4): record header + frame, with the TCP payload located. */
function* frames(pcap: Buffer): Generator<{ rec: Buffer; tcpOff: number; dataOff: number; payload: number; sport: number; totalLength: number }> {
  let off = 24;
  while (off + 16 <= pcap.length) {
    const incl = pcap.readUInt32LE(off + 8);
    const rec = pcap.subarray(off, off + 16 + incl);
    off += 16 + incl;
    const frame = rec.subarray(16);
    const ihl = (frame[14] & 0x0f) * 4;
    const totalLength = frame.readUInt16BE(16);
    const tcpOff = 14 + ihl;
    const dataOff = (frame[tcpOff + 12] >> 4) * 4;
    yield { rec, tcpOff, dataOff, payload: totalLength - ihl - dataOff, sport: frame.readUInt16BE(tcpOff), totalLength };
  }
}

/** A copy of frame `f` with only the first `keep` payload bytes (lengths fixed up). */
function shortened(f: { rec: Buffer; tcpOff: number; dataOff: number; payload: number; totalLength: number }, keep: number): Buffer {
  const cut = Buffer.from(f.rec.subarray(0, 16 + f.tcpOff + f.dataOff + keep));
  cut.writeUInt32LE(cut.length - 16, 8);
  cut.writeUInt32LE(cut.length - 16, 12);
  cut.writeUInt16BE(f.totalLength - (f.payload - keep), 16 + 14 + 2);
  return cut;
}

/** Frames 1..frameNo, the last one with half its payload: the capture ends inside a record. */
function cutInside(pcap: Buffer, frameNo: number): Buffer {
  const out: Buffer[] = [pcap.subarray(0, 24)];
  let n = 0;
  for (const f of frames(pcap)) {
    n++;
    if (n < frameNo) out.push(f.rec);
    else { out.push(shortened(f, Math.floor(f.payload / 2))); break; }
  }
  return Buffer.concat(out);
}

/**
 * Rewrites a classic pcap (Ethernet, IPv4) so that every server data segment longer than 200 bytes is
 * preceded by a copy of itself carrying only its first half: the full segment then arrives as a
 * retransmission overlapping the half, and records are split across the two.
 */
function withPartialRetransmissions(pcap: Buffer, serverPort: number): Buffer {
  const out: Buffer[] = [pcap.subarray(0, 24)];
  let changed = 0;
  for (const f of frames(pcap)) {
    if (f.sport === serverPort && f.payload > 200 && changed < 20) {
      changed++;
      out.push(shortened(f, Math.floor(f.payload / 2)));
    }
    out.push(f.rec);
  }
  assert.ok(changed > 0, 'segments were split');
  return Buffer.concat(out);
}
