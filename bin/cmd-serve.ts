/**
 * `pcap-pipe serve [--port N] [--host ADDR] [FILE]`: a live view of the HTTP and WebSocket traffic of a
 * capture (stdin by default) in the browser. Prints the URL, then keeps serving after the input ends so
 * the page can still be looked at, until Ctrl-C. `--from redis://HOST:PORT/KEY`: the same view of the
 * events sensors published to a Redis stream (streams/web-redis.ts), with a Sensor column.
 *
 *   pcap-pipe capture -i lo | pcap-pipe serve
 *   pcap-pipe read big.pcap | pcap-pipe serve --port 8080
 *   pcap-pipe serve --from redis://10.0.0.5:6379/{pcap}:events
 */
import * as fs from 'node:fs';
import { describeError, intOption, openReportedCapture, parseArgs, printUsage, rawPositionals, untilInterrupted, UsageError } from './cli';
import { inputFile } from './habits';
import { serveUntilInterrupted } from './trace-cli';
import { workersOption } from './workers-cli';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';
import { DEFAULT_WEB_HOST, isLoopbackHost } from '../streams/web';
import { parseRedisStreamUrl, RedisUrlError, withMovedHint, type RedisStreamTarget } from '../lib/redis/url';
import { DEFAULT_WEB_MODEL_LIMITS, FILE_MAX_ROWS } from '../lib/web/model';

const NAME = 'pcap-pipe serve';

export const USAGE = `usage: pcap-pipe serve [--port N] [--host ADDR] [--max-rows N] [--keylog FILE] [--workers N] [-r FILE | FILE]
       pcap-pipe serve --from redis://HOST:PORT/KEY [--start ID] [--port N] [--host ADDR] [--max-rows N]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and shows its HTTP exchanges, WebSocket
  messages and TCP trouble live in a web page: prints the URL to open. Keeps serving after the
  input ends, until Ctrl-C.
    pcap-pipe capture -i lo | pcap-pipe serve
    pcap-pipe read big.pcap | pcap-pipe serve
  --from URL   show the events sensors publish to a Redis stream (http_trace --publish URL --sensor
               NAME, on many machines) instead of a capture: one table for all sensors, with a Sensor
               column; type sensor:NAME in the page's filter box for one sensor's rows. Reads with
               XREAD (the stream is left as it is; any number of views may watch it). The table is a
               window of the newest --max-rows exchanges. Bodies show when the sensors publish them
               (--bodies); WebSocket messages always; TCP trouble with --tcp-verbose. A Redis
               Cluster: redis://HOST:PORT/KEY?cluster=1 with any node as HOST:PORT.
  --start ID   with --from, where reading starts: $ (default) the entries published from now on, 0 every
               entry the stream still holds (up to the publishers' --maxlen), or an entry id: those after it
  --port N     TCP port to listen on (default 0: any free port; the URL printed says which)
  --host ADDR  address to bind (default ${DEFAULT_WEB_HOST}: only this machine can see the page,
               which shows other people's traffic). Only pages from this server's own origin may
               connect to its WebSocket.
  --max-rows N HTTP exchanges kept in the table; older ones drop off and are counted. Default: all
               of them (up to ${FILE_MAX_ROWS}) for a FILE or a file redirected to stdin, the newest
               ${DEFAULT_WEB_MODEL_LIMITS.maxRows} for a pipe (a live capture).
${KEYLOG_USAGE}
  --workers N  decode, reassemble and parse on N worker threads, connections spread by a flow hash; the
               page shows what one thread shows (0: one thread, the default; not with --from)`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['port', 'host', 'max-rows', 'r', 'from', 'start', 'workers'], repeatable: ['keylog'] }, USAGE);
  if (!args) return printUsage(USAGE);
  const port = intOption(args, 'port', USAGE) ?? 0;
  if (port > 65535) throw new UsageError(`option --port needs a port number 0..65535, got ${port}`, USAGE);
  const maxRows = intOption(args, 'max-rows', USAGE, 1);
  const host = args.host === undefined || args.host === '' ? DEFAULT_WEB_HOST : String(args.host);
  const workers = workersOption(args, USAGE, { refuse: [[args.from !== undefined, '--workers and --from exclude each other (the sensors parsed the traffic)']] });
  if (args.from !== undefined) {
    if (args.r !== undefined || rawPositionals(argv, args).length > 0 || keyLogFiles(args).length > 0) throw new UsageError('--from reads a Redis stream: no capture FILE, -r or --keylog with it', USAGE);
    const start = args.start === undefined ? '$' : String(args.start);
    if (start !== '$' && !/^\d{1,20}(-\d{1,20})?$/.test(start)) throw new UsageError(`--start needs $, 0 or an entry id (MS or MS-SEQ), got ${JSON.stringify(start)}`, USAGE);
    let target: RedisStreamTarget;
    try {
      target = parseRedisStreamUrl(String(args.from));
    } catch (e) {
      if (e instanceof RedisUrlError) throw new UsageError(`--from: ${e.message}`, USAGE);
      throw e;
    }
    return servePublished(target, { port, host, start, ...(maxRows !== undefined ? { limits: { maxRows } } : {}) });
  }
  if (args.start !== undefined) throw new UsageError('--start needs --from', USAGE);
  const file = inputFile(args, rawPositionals(argv, args), USAGE);
  if (file === undefined && process.stdin.isTTY) throw new UsageError('reads a capture on stdin: pipe one in (pcap-pipe capture | pcap-pipe serve) or name a FILE', USAGE);

  const input = openReportedCapture(file, { command: NAME, verb: 'used' }, { batch: true });
  // A file (named, or redirected to stdin) is shown whole; a pipe may be a live capture: a window of it.
  const whole = file !== undefined || fs.fstatSync(0).isFile();
  const files = keyLogFiles(args);
  const ok = await serveUntilInterrupted(input.reader, {
    port, host, title: file ?? 'stdin', input: whole ? 'file' : 'live', limits: maxRows === undefined ? {} : { maxRows },
    // the tls stage here, or in each worker with the key log files and the reader's pcapng secrets
    ...(workers !== undefined ? { workers: { count: workers, keyLogFiles: files, secrets: input.reader } } : { tls: tlsStage(files, input.reader) }),
  }, NAME, () => input.damaged);
  input.reader.destroy();
  return ok && !input.damaged ? 0 : 1;
}

/** `--from`: serves the view of a Redis stream until Ctrl-C; 1 when reading failed (the page stays up). */
async function servePublished(target: RedisStreamTarget, opts: import('../streams/web-redis').PublishedWebViewOptions): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { startPublishedWebView } = require('../streams/web-redis') as typeof import('../streams/web-redis');
  const view = await startPublishedWebView(target, opts).catch((e: unknown) => { throw withMovedHint(e); });
  const address = view.server.address;
  process.stdout.write(`${NAME}: open ${view.url}  (listening on ${address}; showing ${target.display} from ${opts.start === '$' ? 'now on' : `after ${view.position()}`}; Ctrl-C to stop)\n`);
  if (!isLoopbackHost(opts.host ?? DEFAULT_WEB_HOST)) {
    process.stderr.write(`${NAME}: WARNING: listening on ${address}, not a loopback address: anyone who can reach this machine can load ` +
      `this page, which shows captured traffic; only the Origin check guards its WebSocket.\n`);
  }
  let ok = true;
  view.done.catch((e: unknown) => {
    ok = false;
    process.stderr.write(`${NAME}: reading ${target.display}: ${describeError(withMovedHint(e))}; still serving ${view.url}\n`);
  });
  await untilInterrupted();
  await view.close();
  const c = view.counts();
  process.stderr.write(`${NAME}: read ${c.entries} entries from ${target.display}: ${c.adapted} events shown, ${c.skipped} of kinds the page does not show` +
    `${c.malformed + c.unreadable > 0 ? `, ${c.malformed + c.unreadable} not readable as published events` : ''}\n`);
  return ok ? 0 : 1;
}
