#!/usr/bin/env node
/**
 * pcap-pipe: subcommands that talk classic pcap over stdin/stdout, so they chain with each other and with
 * tcpdump, tshark and Wireshark:  tcpdump -w - | pcap-pipe filter 'tcp port 80' | pcap-pipe http
 */
import { runCommand, setCommand, UsageError, VersionRequested, type CommandMain } from './cli';

/** Subcommand → module under bin/ exporting `main(argv)`, and a one-line description. */
const COMMANDS: Record<string, [string, string]> = {
  read: ['./cmd-read', 'read pcap/pcapng files (or stdin), write classic pcap to stdout; several files are merged by time'],
  write: ['./cmd-write', 'read a capture on stdin, write it to a file (pcap or pcapng)'],
  info: ['./cmd-info', 'summarise capture files, like capinfos'],
  print: ['./cmd-print', 'one line per packet (or --json), from a capture on stdin'],
  capture: ['./cmd-capture', 'live capture with libpcap; classic pcap to stdout'],
  devices: ['./cmd-devices', 'list capture interfaces'],
  filter: ['./cmd-filter', 'keep the packets that match a tcpdump filter expression'],
  tcp: ['./cmd-tcp', 'TCP connection events (start, end, reset, retransmit, ...)'],
  follow: ['./cmd-follow', 'reassembled TCP streams, like Follow TCP Stream / tcpflow'],
  http: ['./cmd-http', 'HTTP requests and responses from a capture on stdin'],
  ws: ['./cmd-ws', 'WebSocket messages from a capture on stdin'],
  har2ndjson: ['./cmd-har2ndjson', 'a HAR file (a browser\'s, or --har output) as the NDJSON events of http --json'],
  tls: ['./cmd-tls', 'TLS connections: version, cipher, SNI, ALPN, certificate, JA4, decryptable with --keylog?'],
  grep: ['./cmd-grep', 'packets (or reassembled streams) whose payload matches a pattern'],
  serve: ['./cmd-serve', 'live view of HTTP/WebSocket traffic in a browser'],
  consume: ['./cmd-consume', 'events published to a Redis stream (--publish), read as a consumer group'],
};

/** Commands that keep grep's exit statuses (1 = nothing matched), so their errors exit with 2. */
const GREP_STYLE = new Set(['grep']);

export const USAGE = `usage: pcap-pipe COMMAND [options]   (pcap-pipe COMMAND --help for its options)
       pcap-pipe --version

commands:
${Object.entries(COMMANDS).map(([name, [, what]]) => `  ${name.padEnd(10)} ${what}`).join('\n')}

Exit status: 0 ok; 1 runtime error (an input that cannot be read or is not a capture, an output that
cannot be written, a damaged capture whose complete packets were still used); 2 usage (unknown option,
bad value, bad filter expression); grep: 0 matched, 1 nothing matched, 2 any error. A closed pipe
(| head) ends a command quietly with 0. Errors are one line on stderr: COMMAND: WHAT: WHY.`;

function loadCommand(name: string): CommandMain {
  const entry = COMMANDS[name];
  if (!entry) throw new UsageError(`unknown command ${JSON.stringify(name)}`, USAGE);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mod = require(entry[0]) as { main: CommandMain };
  setCommand(`pcap-pipe ${name}`, { runtimeErrorStatus: GREP_STYLE.has(name) ? 2 : 1 });
  return mod.main;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError('no command given', USAGE);
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (name === '--version') throw new VersionRequested();
  return loadCommand(name)(rest);
}

if (require.main === module) runCommand('pcap-pipe', main);
