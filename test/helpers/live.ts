/** Helpers for the live-capture tests: only 127.0.0.1 traffic, on the loopback device. */
import './plain-env';
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { addonAvailable } from '../../addon/index';

export const LOOPBACK = 'lo';

/** Why live tests cannot run here, or false. CI runs them as root. */
export function liveSkipReason(): string | false {
  if (process.platform !== 'linux') return 'live tests use the Linux loopback device "lo"';
  if (!addonAvailable()) return 'libpcap addon not built';
  if (process.getuid && process.getuid() !== 0) return 'live capture needs root (or CAP_NET_RAW)';
  return false;
}

/** A UDP socket bound to 127.0.0.1 on a free port, that just swallows what it gets. */
export async function udpSink(): Promise<{ port: number; received: () => number; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  let n = 0;
  sock.on('message', () => { n++; });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return { port: sock.address().port, received: () => n, close: () => sock.close() };
}

/** Sends `count` datagrams of `size` bytes to 127.0.0.1:port, `gapMs` apart (0: back to back). */
export async function sendUdp(port: number, count: number, size = 64, gapMs = 0): Promise<void> {
  const sock = dgram.createSocket('udp4');
  const payload = Buffer.alloc(size, 0x61);
  for (let i = 0; i < count; i++) {
    payload.writeUInt32BE(i, 0);
    await new Promise<void>((resolve, reject) => sock.send(payload, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    if (gapMs > 0) await sleep(gapMs);
  }
  sock.close();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A separate process that floods 127.0.0.1:port with UDP datagrams for `ms` milliseconds (or until it has
 * sent `maxBytes`), then prints the number of bytes it sent and exits. A separate process, so the flood does not depend on the event
 * loop of the process under test.
 */
export function udpFlood(port: number, ms: number, size = 1200, maxBytes = Infinity): { child: ChildProcess; done: Promise<number> } {
  const code = `
    const dgram = require('node:dgram');
    const s = dgram.createSocket('udp4');
    const buf = Buffer.alloc(${size}, 0x62);
    const end = Date.now() + ${ms};
    let bytes = 0;
    function burst() {
      if (Date.now() >= end || bytes >= ${maxBytes}) { s.close(); process.stdout.write(String(bytes)); return; }
      let pending = 64;
      for (let i = 0; i < 64; i++) s.send(buf, ${port}, '127.0.0.1', (e) => { if (!e) bytes += buf.length; if (--pending === 0) setImmediate(burst); });
    }
    burst();`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => resolve(Number(out)));
  });
  return { child, done };
}
