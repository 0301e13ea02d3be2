/** `pcap-pipe tcp [--json] [--no-data] [--no-defragment] [FILE]`: TCP connection events, one per line. */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openReportedCapture, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { decode } from '../streams/decode';
import { tcp } from '../streams/tcp';
import { isTcpEvent, tcpEventToJson, type TcpEvent } from '../lib/tcp/events';
import { jsonText } from '../lib/core/json-line';

export const USAGE = `usage: pcap-pipe tcp [--json] [--no-data] [--no-defragment] [FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE), reassembles TCP and prints one line per event:
  start, data, gap, end (with per-direction stats), reset, retransmit, syn-retry, out-of-order,
  port-reuse, zero-window, keep-alive, evicted, overlap-conflict.
  --json           NDJSON: type, ts, frame, connection, client, server and the event's fields
                   (data events: length and the bytes in base64 under "data")
  --no-data        leave out data events
  --no-defragment  do not reassemble IP fragments first`;

/** One human-readable line for an event. */
export function formatTcpEvent(ev: TcpEvent): string {
  const head = `${ev.ts} #${ev.connection} ${ev.client} > ${ev.server} ${ev.type}`;
  switch (ev.type) {
    case 'start': return `${head}${ev.midStream ? ' (joined mid-stream)' : ''}`;
    case 'data': return `${head} ${ev.from} offset=${ev.offset} len=${ev.bytes.length}`;
    case 'gap': return `${head} ${ev.from} offset=${ev.offset} len=${ev.length} ${ev.reason}`;
    case 'end': {
      const s = ev.stats;
      const rtt = s.handshakeRtt === null ? '-' : `${(s.handshakeRtt * 1000).toFixed(3)}ms`;
      return `${head} ${ev.reason} c>s ${s.clientToServer.bytes}B/${s.clientToServer.packets}p s>c ${s.serverToClient.bytes}B/${s.serverToClient.packets}p`
        + ` retrans ${s.clientToServer.retransmissions + s.serverToClient.retransmissions} gaps ${s.clientToServer.gapBytes + s.serverToClient.gapBytes}B`
        + ` rtt ${rtt} duration ${s.duration.toFixed(6)}s`;
    }
    case 'reset': return `${head} by ${ev.from}`;
    case 'retransmit': return `${head} ${ev.from} ${ev.kind} seq=${ev.seq} len=${ev.length}`;
    case 'out-of-order': return `${head} ${ev.from} seq=${ev.seq} len=${ev.length}`;
    case 'syn-retry': return `${head} seq=${ev.seq} attempt=${ev.attempt}`;
    case 'port-reuse': return `${head} previous=#${ev.previous} seq=${ev.seq}`;
    case 'zero-window': return `${head} ${ev.from}`;
    case 'keep-alive': return `${head} ${ev.from} seq=${ev.seq}`;
    case 'evicted': return `${head} ${ev.limit}`;
    case 'overlap-conflict': return `${head} ${ev.from} offset=${ev.offset} len=${ev.length}`;
  }
}

class EventPrinter extends Transform {
  constructor(private readonly json: boolean, private readonly data: boolean) {
    super({ writableObjectMode: true, readableObjectMode: false });
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    let text = '';
    for (const ev of Array.isArray(chunk) ? chunk : [chunk]) {
      if (!isTcpEvent(ev) || (!this.data && ev.type === 'data')) continue;
      text += (this.json ? jsonText(tcpEventToJson(ev)) : formatTcpEvent(ev)) + '\n';
    }
    if (text) this.push(text);
    done();
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json', 'data', 'defragment'], default: { data: true, defragment: true } }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const file = args._.length ? String(args._[0]) : undefined;
  const input = openReportedCapture(file, { command: 'pcap-pipe tcp', verb: 'used' }, { batch: true });
  await pipeline(
    input.reader,
    decode({ depth: 'transport', defragment: Boolean(args.defragment) }),
    tcp(),
    new EventPrinter(Boolean(args.json), Boolean(args.data)),
    safeStdout(),
  );
  return input.damaged ? 1 : 0;
}
