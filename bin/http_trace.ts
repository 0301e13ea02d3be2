#!/usr/bin/env node
/**
 * http_trace: node_pcap's HTTP tracer rebuilt on pcap-pipe. Live (-i DEV) or from a capture (-r FILE,
 * `-` for stdin): TCP reassembly → HTTP/1.x → WebSocket, one line per request, response and WebSocket
 * message (or NDJSON with --json), selected with repeatable regex filters.
 *
 * The chain is httpTracePipeline() (streams/trace.ts), the printer httpTracePrinter() (streams/http-trace.ts);
 * the flags, the source and the run are shared with `pcap-pipe http` / `pcap-pipe ws` in bin/trace-cli.ts.
 */
import { intOption, parseArgs, printUsage, runCommand, UsageError } from './cli';
import {
  DISPLAY_BOOLEANS, DISPLAY_OPTIONS_HELP, DISPLAY_STRINGS, FILTER_OPTIONS, KEY_OPTIONS, openTraceSource, runTrace, serveUntilInterrupted, traceTlsStage,
  traceOptionsFrom,
} from './trace-cli';
import { PUBLISH_STRINGS, PUBLISH_USAGE, publishOptionsFrom, runPublishing } from './publish-cli';

const NAME = 'http_trace';

export const USAGE = `usage: http_trace [-i DEV | -r FILE] [-f FILTER] [-b MB] [--method RE] [--host RE] [--url RE]
                  [--user-agent RE] [--method-ignore RE] [--host-ignore RE] [--url-ignore RE]
                  [--user-agent-ignore RE] [--headers] [--show-header RE] [--bodies] [--max-body BYTES]
                  [--tcp-verbose] [--color[=WHEN]|--no-color] [--json] [--web [PORT]]
                  [--publish redis://HOST:PORT/KEY [--sensor NAME] [--maxlen N] [--publish-queue N]]
  Prints HTTP/1.x requests and responses (and WebSocket messages after an upgrade) seen on the network
  or in a capture: time, client → server, #N (request number on its connection), method and URL;
  status, body size, content type and response time (wait: server think time).
  -i DEV             capture live on DEV (default: the first up, non-loopback interface); Ctrl-C stops
  -r FILE            read a capture file (pcap or pcapng) instead; "-" reads stdin
  -f FILTER          tcpdump filter expression (default: "tcp")
  -b MB              kernel capture buffer in MiB (live; default 32); packets reach the trace in ring
                     blocks, at most 0.1 s after capture
${DISPLAY_OPTIONS_HELP}
  --web [PORT]       show the traffic live in a web page instead (http://127.0.0.1:PORT/; default: any
                     free port, printed); serves until Ctrl-C. Not with --json (a usage error)
  --json             NDJSON, one object per event (request, response, http-upgrade, ws-frame, ws-message,
                     ws-close, http-error, ws-error; TCP events with --tcp-verbose)
${PUBLISH_USAGE}`;

/** `--web [PORT]` / `--web=PORT`: the port is optional, which minimist cannot express; take it out first. */
function takeWebOption(argv: string[]): { argv: string[]; web: number | undefined } {
  const rest: string[] = [];
  let web: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = /^--web=(.*)$/.exec(a);
    if (a !== '--web' && !eq) { rest.push(a); continue; }
    const value = eq ? eq[1] as string : /^\d+$/.test(argv[i + 1] ?? '') ? argv[++i] as string : '0';
    web = Number(value);
    if (!/^\d+$/.test(value) || web > 65535) throw new UsageError(`--web takes a port number 0..65535, got ${JSON.stringify(value)}`, USAGE);
  }
  return { argv: rest, web };
}

export async function main(argvIn: string[]): Promise<number> {
  const { argv, web } = takeWebOption(argvIn);
  const args = parseArgs(argv, {
    boolean: DISPLAY_BOOLEANS,
    string: ['i', 'r', 'f', 'b', ...DISPLAY_STRINGS, ...PUBLISH_STRINGS],
    repeatable: [...FILTER_OPTIONS, ...KEY_OPTIONS],
    color: true,
  }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(String(args._[0]))} (a filter goes after -f, a file after -r)`, USAGE);
  if (args.i !== undefined && args.r !== undefined) throw new UsageError('-i (live) and -r (file) exclude each other', USAGE);
  // the web page is the output with --web: there is no NDJSON stream to write, so the pair is refused
  if (web !== undefined && args.json) throw new UsageError('--web and --json exclude each other (the web view is the output; for NDJSON leave out --web)', USAGE);
  const opts = traceOptionsFrom(args, USAGE, argv);
  const mb = intOption(args, 'b', USAGE, 1);
  const publish = publishOptionsFrom(args, USAGE);
  if (publish !== undefined && web !== undefined) throw new UsageError('--publish and --web exclude each other (pcap-pipe serve --from shows a stream)', USAGE);
  const src = openTraceSource({
    device: args.i as string | undefined,
    file: args.r as string | undefined,
    bpf: args.f as string | undefined,
    bufferSize: mb !== undefined ? mb * 1024 * 1024 : undefined,
    name: NAME,
  });
  if (src.live) process.stderr.write(`${NAME}: listening on ${src.live.device} (filter: ${(args.f as string | undefined) ?? 'tcp'})\n`);
  if (web !== undefined) {
    // The page has its own filter box; the display options are for the terminal.
    const live = src.live;
    const tlsStream = traceTlsStage(opts, src);
    const ok = await serveUntilInterrupted(src.source, { port: web, title: (args.r as string | undefined) ?? live?.device, stats: live ? () => live.stats() : undefined, input: live ? 'live' : 'file', ...(tlsStream !== undefined ? { tls: tlsStream } : {}) }, NAME, () => src.failed());
    src.stop();
    return ok && !src.failed() ? 0 : 1;
  }
  if (publish !== undefined) return runPublishing(publish, NAME, (out) => runTrace(src, { ...opts, json: true, color: 'never' }, NAME, out));
  return runTrace(src, opts, NAME);
}

if (require.main === module) runCommand(NAME, main);
