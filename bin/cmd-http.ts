/**
 * `pcap-pipe http [options] [FILE]`: http_trace's output (chain, printer and flags shared in
 * bin/trace-cli.ts) for a capture on stdin or in FILE, so it chains: tcpdump -w - | pcap-pipe filter 'port 8080' | pcap-pipe http --bodies
 */
import { parseArgs, printUsage, rawPositionals } from './cli';
import { inputFile } from './habits';
import { DISPLAY_BOOLEANS, DISPLAY_OPTIONS_HELP, DISPLAY_STRINGS, FILTER_OPTIONS, KEY_OPTIONS, openTraceSource, runTrace, traceOptionsFrom } from './trace-cli';
import { PUBLISH_STRINGS, PUBLISH_USAGE, publishOptionsFrom, runPublishing } from './publish-cli';

const NAME = 'pcap-pipe http';

export const USAGE = `usage: pcap-pipe http [--method RE] [--host RE] [--url RE] [--user-agent RE] [--method-ignore RE]
                     [--host-ignore RE] [--url-ignore RE] [--user-agent-ignore RE] [--headers]
                     [--show-header RE] [--bodies] [--max-body BYTES] [--tcp-verbose] [--color[=WHEN]|--no-color] [--json] [-q]
                     [-t|-tt|-ttt|-tttt] [--publish URL ...] [-r FILE | FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and prints its HTTP/1.x requests and responses
  (and WebSocket messages after an upgrade), like http_trace -r: time, client → server, #N (request
  number on its connection), method and URL; status, body size, content type and response time.
${DISPLAY_OPTIONS_HELP}
  --json             NDJSON, one object per event (see http_trace --help)
  -r FILE            read FILE (as tcpdump -r)
${PUBLISH_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    boolean: DISPLAY_BOOLEANS,
    string: [...DISPLAY_STRINGS, 'r', ...PUBLISH_STRINGS],
    repeatable: [...FILTER_OPTIONS, ...KEY_OPTIONS],
    color: true,
  }, USAGE);
  if (!args) return printUsage(USAGE);
  const file = inputFile(args, rawPositionals(argv, args), USAGE);
  const opts = traceOptionsFrom(args, USAGE, argv);
  const publish = publishOptionsFrom(args, USAGE);
  const src = openTraceSource({ file: file ?? '-', name: NAME });
  if (publish !== undefined) return runPublishing(publish, NAME, (out) => runTrace(src, { ...opts, json: true, color: 'never' }, NAME, out));
  return runTrace(src, opts, NAME);
}
