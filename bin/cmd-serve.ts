/**
 * `pcap-pipe serve [--port N] [--host ADDR] [FILE]`: a live view of the HTTP and WebSocket traffic of a
 * capture (stdin by default) in the browser. Prints the URL, then keeps serving after the input ends so
 * the page can still be looked at, until Ctrl-C.
 *
 *   pcap-pipe capture -i lo | pcap-pipe serve
 *   pcap-pipe read big.pcap | pcap-pipe serve --port 8080
 */
import * as fs from 'node:fs';
import { intOption, openReportedCapture, parseArgs, printUsage, rawPositionals, UsageError } from './cli';
import { inputFile } from './habits';
import { serveUntilInterrupted } from './trace-cli';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';
import { DEFAULT_WEB_HOST } from '../streams/web';
import { DEFAULT_WEB_MODEL_LIMITS, FILE_MAX_ROWS } from '../lib/web/model';

const NAME = 'pcap-pipe serve';

export const USAGE = `usage: pcap-pipe serve [--port N] [--host ADDR] [--max-rows N] [--keylog FILE] [-r FILE | FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and shows its HTTP exchanges, WebSocket
  messages and TCP trouble live in a web page: prints the URL to open. Keeps serving after the
  input ends, until Ctrl-C.
    pcap-pipe capture -i lo | pcap-pipe serve
    pcap-pipe read big.pcap | pcap-pipe serve
  --port N     TCP port to listen on (default 0: any free port; the URL printed says which)
  --host ADDR  address to bind (default ${DEFAULT_WEB_HOST}: only this machine can see the page,
               which shows other people's traffic). Only pages from this server's own origin may
               connect to its WebSocket.
  --max-rows N HTTP exchanges kept in the table; older ones drop off and are counted. Default: all
               of them (up to ${FILE_MAX_ROWS}) for a FILE or a file redirected to stdin, the newest
               ${DEFAULT_WEB_MODEL_LIMITS.maxRows} for a pipe (a live capture).
${KEYLOG_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['port', 'host', 'max-rows', 'r'], repeatable: ['keylog'] }, USAGE);
  if (!args) return printUsage(USAGE);
  const port = intOption(args, 'port', USAGE) ?? 0;
  if (port > 65535) throw new UsageError(`option --port needs a port number 0..65535, got ${port}`, USAGE);
  const maxRows = intOption(args, 'max-rows', USAGE, 1);
  const host = args.host === undefined || args.host === '' ? DEFAULT_WEB_HOST : String(args.host);
  const file = inputFile(args, rawPositionals(argv, args), USAGE);
  if (file === undefined && process.stdin.isTTY) throw new UsageError('reads a capture on stdin: pipe one in (pcap-pipe capture | pcap-pipe serve) or name a FILE', USAGE);

  const input = openReportedCapture(file, { command: NAME, verb: 'used' }, { batch: true });
  // A file (named, or redirected to stdin) is shown whole; a pipe may be a live capture: a window of it.
  const whole = file !== undefined || fs.fstatSync(0).isFile();
  const ok = await serveUntilInterrupted(input.reader, { port, host, title: file ?? 'stdin', input: whole ? 'file' : 'live', limits: maxRows === undefined ? {} : { maxRows }, tls: tlsStage(keyLogFiles(args), input.reader) }, NAME, () => input.damaged);
  input.reader.destroy();
  return ok && !input.damaged ? 0 : 1;
}
