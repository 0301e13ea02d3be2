/**
 * tcpflow as the second oracle for reassembled streams (tshark's is in tcp-oracle.test.ts).
 *
 * Where tcpflow and tshark agree, we must agree with both, byte for byte. Where tcpflow differs, the
 * difference must be one of its documented habits, checked by arithmetic on the capture itself:
 *  - tcpflow writes each segment at its sequence offset, so a hole (capture loss, snaplen cut) becomes NUL
 *    bytes in its file, where we report a gap and deliver no invented bytes;
 *  - tcpflow takes everything after the TCP header as payload, so an Ethernet trailer (a padded short
 *    frame) ends up in the stream; we stop at the IP packet's length, as tshark does.
 * So tcpflow's file length must equal max(offset + bytes after the TCP header) over the direction's packets.
 * A live loopback exchange (no padding, no loss) must come out identical from tcpflow and from us.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { parseCapture } from '../lib/formats/detect';
import { decodePacket } from '../lib/layers/decode';
import { TCP_SYN } from '../lib/layers/packet';
import { fixture, readOracle, REPO_ROOT } from './helpers/oracle';

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
const hasTcpflow = spawnSync('tcpflow', ['-h']).status === 0; // (-V exits 1)
const skip = hasTcpflow ? false : 'tcpflow not installed';

interface OurDirection { src: string; dst: string; bytes: number; gaps: number; sha256: string }

/** Our reassembled directions of a capture, via `pcap-pipe follow -o`. */
function followDirections(file: string): OurDirection[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-flow-'));
  try {
    // A capture cut short still yields its complete packets' streams (exit status 1 says it was damaged).
    const r = spawnSync(process.execPath, [CLI, 'follow', '--no-defragment', '-o', dir, file]);
    assert.ok(r.status === 0 || (r.status === 1 && /PCAP_TRUNCATED/.test(r.stderr.toString())), `follow ${file}: ${r.stderr}`);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as
      { file: string; client: string; server: string; direction: string; bytes: number; gaps: number }[];
    return index.map((e) => {
      const clientToServer = e.direction === 'client-to-server';
      const data = fs.readFileSync(path.join(dir, e.file));
      return {
        src: clientToServer ? e.client : e.server,
        dst: clientToServer ? e.server : e.client,
        bytes: e.bytes,
        gaps: e.gaps,
        sha256: crypto.createHash('sha256').update(data).digest('hex'),
      };
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** "192.168.001.011.33779" / "2001:db8::1.00080" → "192.168.1.11:33779" / "[2001:db8::1]:80" */
function tcpflowEndpoint(s: string): string {
  const dot = s.lastIndexOf('.');
  const ip = s.slice(0, dot);
  const port = Number(s.slice(dot + 1));
  if (ip.includes(':')) return `[${ip}]:${port}`;
  return `${ip.split('.').map((o) => String(Number(o))).join('.')}:${port}`;
}

/**
 * tcpflow's file length by its own rule: every segment written at (seq - first seq) with everything after
 * the TCP header, trailer included. Keyed "src>dst".
 */
function tcpflowLengths(file: string, synTrailer: Set<string>): Map<string, number> {
  const base = new Map<string, number>();
  const len = new Map<string, number>();
  for (const rec of parseCapture(fs.readFileSync(file)).packets) {
    const pkt = decodePacket(rec, { depth: 'transport' });
    const ip = pkt.ipv4 ?? pkt.ipv6;
    const tcp = pkt.tcp;
    if (!ip || !tcp) continue;
    const fmt = (addr: string, port: number) => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);
    const key = `${fmt(ip.src, tcp.srcPort)}>${fmt(ip.dst, tcp.dstPort)}`;
    const syn = (tcp.flags & TCP_SYN) !== 0;
    if (!base.has(key)) base.set(key, syn ? (tcp.seq + 1) >>> 0 : tcp.seq);
    const payloadStart = tcp.payload.byteOffset - rec.data.byteOffset;
    const extended = rec.data.length - payloadStart; // what tcpflow takes as payload
    if (extended <= 0) continue;
    if (syn) { synTrailer.add(key); continue; } // tcpflow: "SYN with data", a file of its own (cN)
    const offset = (tcp.seq - (base.get(key) as number)) >>> 0;
    if (offset > 0x7fffffff) continue; // before the first seen byte
    len.set(key, Math.max(len.get(key) ?? 0, offset + extended));
  }
  return len;
}

/** Captures whose tcpflow output we compare (the MANIFEST explains the ones left out). */
const LEFT_OUT: Record<string, string> = {
  'ipv4-fragments-socks5-http.pcap': 'tcpflow does not reassemble IP fragments (28/16 bytes against 419/942)',
  'tcp-reassembly-synthetic.pcap': 'reused 4-tuples: tcpflow numbers them c1, c2 by its own rules; tcp-oracle.test.ts checks every connection against tshark',
  'tcp-handshake-synthetic.pcap': 'reused 4-tuples and SYN-ACK before SYN: tcpflow numbers files by its own rules',
  'tcp-seq-synthetic-zerowin.pcap': 'its first two packets are fuzz with sequence numbers 2^28 apart: tcpflow drops data that far past its start (9 of 251 MB); tcp-oracle.test.ts checks the file against tshark',
};

const captures = fs.readdirSync(path.join(path.dirname(fixture('x')), 'oracle'))
  .filter((f) => f.endsWith('.tcpflow.tsv')).map((f) => f.replace(/\.tcpflow\.tsv$/, ''))
  .filter((f) => !LEFT_OUT[f]);

for (const file of captures) {
  test(`${file}: our streams equal tcpflow's, or differ only by tcpflow's NUL-filled holes and trailers`, () => {
    const ours = followDirections(fixture(file));
    const synTrailer = new Set<string>();
    const model = tcpflowLengths(fixture(file), synTrailer);
    const rows = readOracle(`${file}.tcpflow.tsv`).filter((r) => !/c\d+$/.test(r.flow as string)); // cN: reused tuples
    assert.ok(rows.length > 0);
    for (const row of rows) {
      const [a, b] = (row.flow as string).split('-') as [string, string];
      const src = tcpflowEndpoint(a), dst = tcpflowEndpoint(b);
      const mine = ours.filter((d) => d.src === src && d.dst === dst);
      assert.ok(mine.length >= 1, `${file}: no stream of ours for tcpflow's ${row.flow}`);
      if (mine.some((d) => d.sha256 === row.sha256)) continue;
      // Different: must be tcpflow's habits, not lost or extra bytes of ours.
      const tcpflowBytes = Number(row.bytes);
      const key = `${src}>${dst}`;
      const ourBytes = mine.reduce((n, d) => n + d.bytes, 0);
      assert.ok(tcpflowBytes >= ourBytes, `${file} ${row.flow}: we delivered bytes tcpflow does not have (${ourBytes} > ${tcpflowBytes})`);
      if (synTrailer.has(key)) continue; // tcpflow's own numbering around a padded SYN; the bytes check above still holds
      assert.equal(tcpflowBytes, model.get(key), `${file} ${row.flow}: tcpflow's ${tcpflowBytes} bytes are not explained by holes and trailers`);
    }
  });
}

test('a live loopback exchange: tcpflow and pcap-pipe follow write identical streams', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcap-pipe-tcpflow-'));
  const capFile = path.join(dir, 'lo.pcap');
  const server = net.createServer((sock) => {
    sock.on('data', (d) => sock.write(Buffer.concat([Buffer.from('echo:'), d])));
    sock.on('end', () => sock.end(crypto.randomBytes(200_000)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const dump = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-B', '32768', '-U', '-w', capFile, `tcp port ${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve) => dump.stderr.on('data', (d: Buffer) => { if (/listening/.test(d.toString())) resolve(); }));
    for (let c = 0; c < 3; c++) {
      await new Promise<void>((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.write(`hello ${c}\n`);
          sock.write(crypto.randomBytes(50_000 * (c + 1)));
          sock.end();
        });
        sock.on('data', () => undefined);
        sock.on('end', resolve);
        sock.on('error', reject);
      });
    }
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    dump.kill('SIGINT');
    await new Promise((r) => dump.on('exit', r));
    server.close();
  }
  const flowDir = path.join(dir, 'tcpflow');
  fs.mkdirSync(flowDir);
  execFileSync('tcpflow', ['-r', capFile, '-o', flowDir], { stdio: 'ignore' });
  const theirs = new Map<string, string>();
  for (const f of fs.readdirSync(flowDir).filter((n) => /^\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{5}-/.test(n))) {
    const [a, b] = f.split('-') as [string, string];
    theirs.set(`${tcpflowEndpoint(a)}>${tcpflowEndpoint(b)}`, crypto.createHash('sha256').update(fs.readFileSync(path.join(flowDir, f))).digest('hex'));
  }
  const ours = followDirections(capFile);
  assert.equal(ours.length, 6, 'three connections, two directions each');
  assert.equal(theirs.size, 6);
  for (const d of ours) {
    assert.equal(d.gaps, 0);
    assert.equal(theirs.get(`${d.src}>${d.dst}`), d.sha256, `${d.src} > ${d.dst}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
