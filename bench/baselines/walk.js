// The read floor in Node: read a capture file in 1 MiB readSync calls into one reused buffer and walk its
// records without decoding them: classic pcap's 16-byte record headers, or pcapng's block headers (type,
// total length), counting the packet blocks. `pcap-pipe read`'s target is >= 70 % of this walk's rate.
// Adapted from the shared benchmark notes' walk-pcap.js (which reads classic pcap only).
//
//   node walk.js FILE      prints {packets, bytes, seconds} on stderr
'use strict';
const fs = require('fs');

const CHUNK = 1 << 20;

function walk(path) {
  const fd = fs.openSync(path, 'r');
  let buf = Buffer.allocUnsafe(2 * CHUNK);
  let start = 0, end = 0, packets = 0, bytes = 0, kind = null, le = true;
  for (;;) {
    if (end - start < 16 || buf.length - end < CHUNK) {
      // move the partial record to the front (and grow for a record larger than the buffer)
      if (start > 0) { buf.copy(buf, 0, start, end); end -= start; start = 0; }
      if (buf.length - end < CHUNK) { const b = Buffer.allocUnsafe(end + 2 * CHUNK); buf.copy(b, 0, 0, end); buf = b; }
    }
    const n = fs.readSync(fd, buf, end, CHUNK, null);
    if (n === 0) break;
    end += n;
    if (kind === null) {
      const magic = buf.readUInt32LE(0);
      if (magic === 0x0a0d0d0a) { kind = 'pcapng'; le = buf.readUInt32LE(8) === 0x1a2b3c4d; }
      else if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) { kind = 'pcap'; start = 24; }
      else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) { kind = 'pcap'; le = false; start = 24; }
      else throw new Error('not a pcap or pcapng file');
    }
    if (kind === 'pcap') {
      while (end - start >= 16) {
        const caplen = le ? buf.readUInt32LE(start + 8) : buf.readUInt32BE(start + 8);
        if (end - start < 16 + caplen) break;
        packets++;
        bytes += caplen;
        start += 16 + caplen;
      }
    } else {
      while (end - start >= 12) {
        const type = le ? buf.readUInt32LE(start) : buf.readUInt32BE(start);
        const total = le ? buf.readUInt32LE(start + 4) : buf.readUInt32BE(start + 4);
        if (end - start < total) break;
        if (type === 6 || type === 3 || type === 2) {
          packets++;
          bytes += type === 3 ? total - 16 : (le ? buf.readUInt32LE(start + 20) : buf.readUInt32BE(start + 20));
        }
        start += total;
      }
    }
  }
  fs.closeSync(fd);
  return { packets, bytes, format: kind };
}

module.exports = { walk };

if (require.main === module) {
  const file = process.argv[2];
  if (!file) { console.error('usage: node walk.js FILE'); process.exit(2); }
  const t0 = process.hrtime.bigint();
  const r = walk(file);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stderr.write(JSON.stringify({ tool: 'walk.js', ...r, seconds: +s.toFixed(3) }) + '\n');
}
