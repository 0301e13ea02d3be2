/**
 * `pcap-pipe ws [--json] [FILE]`: only the WebSocket traffic of a capture on stdin (or FILE): the
 * upgrades, messages (text as text, JSON pretty-printed, binary summarised), pings/pongs and closes; with
 * --json every ws-frame, ws-message and ws-close (and ws-error, http-upgrade) as NDJSON.
 */
import { COLOR_USAGE, intOption, parseArgs, printUsage, rawPositionals } from './cli';
import type { ColourWhen } from '../lib/core/colour';
import { inputFile } from './habits';
import { openTraceSource, runTrace } from './trace-cli';
import { PUBLISH_STRINGS, PUBLISH_USAGE, publishOptionsFrom, runPublishing } from './publish-cli';
import { KEYLOG_USAGE, keyLogFiles } from './tls-options';
import { DEFAULT_MAX_BODY } from '../lib/trace/output';
import { emptyFilterSpec } from '../lib/trace/filter';

const NAME = 'pcap-pipe ws';

export const USAGE = `usage: pcap-pipe ws [--json] [--max-body BYTES] [--color[=WHEN]|--no-color] [--keylog FILE] [-q] [--publish URL ...]
                   [-r FILE | FILE]
  Reads a capture (pcap or pcapng) from stdin (or FILE) and prints its WebSocket traffic (RFC 6455,
  permessage-deflate inflated): the upgrade, then each message (text as text, JSON pretty-printed,
  binary as "[N bytes binary]"), ping, pong and close, with time and direction.
  --json             NDJSON: every ws-frame (from, opcode, fin, rsv1, rsv2, rsv3, masked, length, data),
                     ws-message (from, opcode, length, compressed, frames, data) and ws-close (from,
                     closeCode, closeReason), plus http-upgrade and ws-error; "data" is text when valid
                     UTF-8, else base64 with "dataEncoding": "base64"
  --max-body BYTES   payload bytes printed per frame or message (default ${DEFAULT_MAX_BODY}); longer is cut
${COLOR_USAGE}
  -r FILE            read FILE (as tcpdump -r)
  -q                 no progress line on a terminal
${KEYLOG_USAGE}
${PUBLISH_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json', 'q'], string: ['max-body', 'r', ...PUBLISH_STRINGS], repeatable: ['keylog'], color: true }, USAGE);
  if (!args) return printUsage(USAGE);
  const file = inputFile(args, rawPositionals(argv, args), USAGE);
  const maxBody = intOption(args, 'max-body', USAGE, 0) ?? DEFAULT_MAX_BODY;
  const publish = publishOptionsFrom(args, USAGE);
  const src = openTraceSource({ file: file ?? '-', name: NAME });
  const opts = {
    json: Boolean(args.json) || publish !== undefined, headers: false, bodies: false, maxBody, tcpVerbose: false,
    color: publish === undefined ? args.color as ColourWhen | undefined : 'never' as const, quiet: Boolean(args.q), filter: emptyFilterSpec(), websocketOnly: true, keyLogFiles: keyLogFiles(args),
  };
  if (publish !== undefined) return runPublishing(publish, NAME, (out) => runTrace(src, opts, NAME, out));
  return runTrace(src, opts, NAME);
}
