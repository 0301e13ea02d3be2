// The baseline the command benchmarks compare with: node_pcap (npm "pcap" 3.1.0, installed outside the repo by
// bench/setup-node-pcap.sh; run with NODE_PATH at its node_modules) doing the same work as a pcap-pipe command.
//
//   node node-pcap.js MODE FILE
//   decode     offline session + pcap.decode.packet on every packet       (vs pcap-pipe grep)
//   track      decode + its TCPTracker                                     (reference only)
//   http       decode + TCPTracker + Node's own llhttp per direction, counting requests and responses
//              (vs http_trace --json --url '^/never-matches$': parse every exchange, print none)
//   http-json  the same, and one NDJSON line per request and response on stdout, as a node_pcap user
//              would write it: time, addresses, method/URL or status, headers, body length
//              (vs http_trace --json)
//
// node_pcap 3.x's TCPTracker emits no HTTP events (its HTTP parsing was removed), so the HTTP modes feed the
// tracker's in-order "data send" / "data recv" payloads to llhttp (Node's internal HTTPParser), one per
// direction. The tracker keys sessions by address pair and never forgets closed ones, so connections that
// reuse a client port are folded into dead sessions (it loses those exchanges; the summary line on stderr
// says how many it saw). Adapted from the shared benchmark notes' node-pcap-bench.js.
'use strict';
const pcap = require('pcap');

const [mode, file] = process.argv.slice(2);
if (!['decode', 'track', 'http', 'http-json'].includes(mode) || !file) {
  console.error('usage: NODE_PATH=.../node_modules node node-pcap.js decode|track|http|http-json FILE');
  process.exit(2);
}
const printing = mode === 'http-json';
const httpMode = mode === 'http' || printing;

let packets = 0, tcpPackets = 0, sessions = 0, payloadBytes = 0, requests = 0, responses = 0;
const tracker = mode === 'decode' ? null : new pcap.TCPTracker();
const HTTPParser = httpMode ? require('_http_common').HTTPParser : null;
const METHODS = httpMode ? require('_http_common').methods : null;

// Output gathered into 64 KiB writes, as any careful command does.
let out = '';
function emit(obj) {
  out += JSON.stringify(obj) + '\n';
  if (out.length >= 65536) { process.stdout.write(out); out = ''; }
}

function pairs(raw) {
  const h = [];
  for (let i = 0; i + 1 < raw.length; i += 2) h.push([raw[i], raw[i + 1]]);
  return h;
}

function newParser(kind, session, isRequest) {
  const p = new HTTPParser();
  p.initialize(kind, {});
  let head = null, bodyLength = 0;
  p[HTTPParser.kOnHeaders] = () => {};
  p[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url, status, reason) => {
    if (isRequest) requests++; else responses++;
    if (!printing) return 0;
    head = isRequest
      ? { type: 'request', ts: session.current_cap_time, client: session.src_name, server: session.dst_name,
          method: METHODS[method], url, version: `HTTP/${major}.${minor}`, headers: pairs(headers) }
      : { type: 'response', ts: session.current_cap_time, client: session.src_name, server: session.dst_name,
          status, reason, version: `HTTP/${major}.${minor}`, headers: pairs(headers) };
    bodyLength = 0;
    return 0;
  };
  p[HTTPParser.kOnBody] = (b) => { bodyLength += b.length; };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (head) { head.bodyLength = bodyLength; emit(head); head = null; }
  };
  p[HTTPParser.kOnExecute] = () => {};
  return p;
}

if (tracker) {
  tracker.on('session', (session) => {
    sessions++;
    if (!httpMode) {
      session.on('data send', (s, data) => { payloadBytes += data.length; });
      session.on('data recv', (s, data) => { payloadBytes += data.length; });
      return;
    }
    const req = newParser(HTTPParser.REQUEST, session, true);
    const res = newParser(HTTPParser.RESPONSE, session, false);
    session.on('data send', (s, data) => { payloadBytes += data.length; req.execute(data); });
    session.on('data recv', (s, data) => { payloadBytes += data.length; res.execute(data); });
    session.on('end', () => { req.close(); res.close(); });
  });
}

const t0 = process.hrtime.bigint();
const session = pcap.createOfflineSession(file, {});
session.on('packet', (raw) => {
  const packet = pcap.decode.packet(raw);
  packets++;
  if (tracker) tracker.track_packet(packet);
  else if (packet.payload.payload && packet.payload.payload.payload && packet.payload.payload.payload.sport) tcpPackets++;
});
session.on('complete', () => {
  if (out) process.stdout.write(out);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stderr.write(JSON.stringify({ tool: 'node_pcap ' + mode, packets, tcpPackets: tcpPackets || undefined,
    sessions: sessions || undefined, payloadBytes: payloadBytes || undefined,
    requests: httpMode ? requests : undefined, responses: httpMode ? responses : undefined,
    seconds: +s.toFixed(3) }) + '\n');
});
