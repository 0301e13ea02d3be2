/** TCP connection events as text: one line per event (`pcap-pipe tcp`). */
import type { TcpEvent } from './events';
import type { TimeFormatter } from '../core/time';

/** One human-readable line for an event; its time as `time` formats it (default: epoch seconds, 9 decimals). */
export function formatTcpEvent(ev: TcpEvent, time?: TimeFormatter): string {
  const ts = time === undefined ? ev.ts : time.formatText(ev.ts);
  const head = `${ts === '' ? '' : `${ts} `}#${ev.connection} ${ev.client} > ${ev.server} ${ev.type}`;
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
