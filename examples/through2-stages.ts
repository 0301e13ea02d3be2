/**
 * Your own stages in a pcap-pipe chain: one written with through2, one a plain Transform, between
 * pcap-pipe's reader and its decode → tcp → http stages, all composed with stream.pipeline.
 *
 *   node dist/examples/through2-stages.js [FILE]        (default: samples/http-sample.pcap)
 *
 * Prints one line per HTTP exchange, "GET /data.json -> 200 (27 bytes)", then the packets and bytes
 * counted on the way in. In your own code, import from 'pcap-pipe' instead of '../index'.
 */
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import through2 from 'through2';
import { decode, http, readCaptureFile, tcp, type HttpStreamOutput, type PacketRecord } from '../index';

async function main(file: string): Promise<void> {
  let packets = 0;
  let bytes = 0;

  // through2: count the records on their way to the decoder, passing each one on unchanged.
  const counter = through2.obj(function (rec: PacketRecord, _enc, done) {
    packets++;
    bytes += rec.len;
    done(null, rec);
  });

  // A plain Transform: HTTP events in (TCP events pass through http() too), one text line per response.
  const exchanges = new Transform({
    writableObjectMode: true,
    transform(ev: HttpStreamOutput, _enc, done) {
      if (ev.type !== 'response' || ev.interim) return done();
      const request = ev.request ? `${ev.request.method} ${ev.request.url}` : '(request not captured)';
      done(null, `${request} -> ${ev.status} (${ev.bodyLength} bytes)\n`);
    },
    // At the end of input, the totals (pipeline ends stdout after this stage ends, so not console.log after it).
    flush(done) {
      done(null, `${packets} packets, ${bytes} bytes\n`);
    },
  });

  await pipeline(readCaptureFile(file), counter, decode({ depth: 'transport' }), tcp(), http(), exchanges, process.stdout);
}

const file = process.argv[2] ?? path.join(__dirname, '..', '..', 'samples', 'http-sample.pcap');
main(file).catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
