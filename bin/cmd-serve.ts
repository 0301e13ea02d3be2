/**
 * `pcap-pipe serve [--port N] [--host ADDR] [FILE]`: a live view of the HTTP and WebSocket traffic of a
 * capture (stdin by default) in the browser. Prints the URL, then keeps serving after the input ends so
 * the page can still be looked at, until Ctrl-C.
 *
 *   pcap-pipe capture -i lo | pcap-pipe serve
 *   pcap-pipe read big.pcap | pcap-pipe serve --port 8080
 */
import type { Readable } from 'node:stream';
import { intOption, openReportedCapture, parseArgs, printUsage, describeError, UsageError } from './cli';
import { KEYLOG_USAGE, keyLogFiles, tlsStage } from './tls-options';
import { DEFAULT_WEB_HOST, isLoopbackHost, startWebView, type WebView, type WebViewOptions } from '../streams/web';
import { DEFAULT_WEB_MODEL_LIMITS, FILE_MAX_ROWS } from '../lib/web/model';
import * as fs from 'node:fs';

export { startWebView };
export type { WebView, WebViewOptions };

const NAME = 'pcap-pipe serve';

export const USAGE = `usage: pcap-pipe serve [--port N] [--host ADDR] [--max-rows N] [--keylog FILE] [FILE]
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
  const args = parseArgs(argv, { string: ['port', 'host', 'max-rows'], repeatable: ['keylog'] }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const port = intOption(args, 'port', USAGE) ?? 0;
  if (port > 65535) throw new UsageError(`option --port needs a port number 0..65535, got ${port}`, USAGE);
  const maxRows = intOption(args, 'max-rows', USAGE, 1);
  const host = args.host === undefined || args.host === '' ? DEFAULT_WEB_HOST : String(args.host);
  const file = args._.length ? String(args._[0]) : undefined;
  if (file === undefined && process.stdin.isTTY) throw new UsageError('reads a capture on stdin: pipe one in (pcap-pipe capture | pcap-pipe serve) or name a FILE', USAGE);

  const input = openReportedCapture(file, { command: NAME, verb: 'used' }, { batch: true });
  // A file (named, or redirected to stdin) is shown whole; a pipe may be a live capture: a window of it.
  const whole = file !== undefined || fs.fstatSync(0).isFile();
  const ok = await serveUntilInterrupted(input.reader, { port, host, title: file ?? 'stdin', input: whole ? 'file' : 'live', limits: maxRows === undefined ? {} : { maxRows }, tls: tlsStage(keyLogFiles(args), input.reader) }, NAME);
  input.reader.destroy();
  return ok && !input.damaged ? 0 : 1;
}

/**
 * Starts the web view on `source`, prints the URL, and serves until Ctrl-C (also after the input ended, so
 * the page can still be looked at). Returns false when the source failed. Shared with `http_trace --web`.
 */
export async function serveUntilInterrupted(source: Readable, opts: WebViewOptions, name: string): Promise<boolean> {
  let ok = true;
  const view = await startWebView(source, opts);
  const address = view.server.address;
  process.stdout.write(`${name}: open ${view.url}  (listening on ${address}; Ctrl-C to stop)\n`);
  if (!isLoopbackHost(opts.host ?? DEFAULT_WEB_HOST)) {
    process.stderr.write(`${name}: WARNING: listening on ${address}, not a loopback address: anyone who can reach ` +
      `this machine can load this page, which shows captured traffic (bodies included); only the Origin check ` +
      `guards its WebSocket. Use --host 127.0.0.1 unless that is what you want.\n`);
  }
  view.done.then(
    () => process.stderr.write(`${name}: input ended after ${view.model.snapshot().counters.packets} packets; still serving ${view.url}\n`),
    (e: unknown) => {
      ok = false;
      process.stderr.write(`${name}: ${describeError(e)}; still serving ${view.url}\n`);
    },
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await view.close();
  return ok;
}
