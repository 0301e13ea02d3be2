/**
 * `pcap-pipe har2ndjson [--max-body BYTES] [FILE]`: a HAR file (a browser's, or one written with --har)
 * read back into the events `pcap-pipe http --json` prints (request, response, http-upgrade, ws-message),
 * one NDJSON object per line in time order, so a browser's trace goes through the same tools as a capture.
 */
import * as fs from 'node:fs';
import { checkInputFile, describeInputError, hintIfTerminalStdin, intOption, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { jsonText } from '../lib/core/json-line';
import { MAX_HAR_BYTES, parseHar } from '../lib/har/read';
import { DEFAULT_MAX_BODY, httpEventToJson } from '../lib/trace/output';

const NAME = 'pcap-pipe har2ndjson';

export const USAGE = `usage: pcap-pipe har2ndjson [--max-body BYTES] [FILE]
  Reads a HAR 1.2 file (FILE, or stdin) and prints its exchanges as the NDJSON events of
  \`pcap-pipe http --json --bodies\`: request, response (with timing from the HAR's timings), http-upgrade
  and ws-message (from _webSocketMessages), in time order. Frames are 0 (not from a capture); a client
  address the HAR does not hold is 0.0.0.0 with the entry's connection as port.
  --max-body BYTES   body bytes printed per message (default ${DEFAULT_MAX_BODY}); longer is cut`;

/** The whole input, at most MAX_HAR_BYTES. */
function readInput(file: string): string {
  if (file !== '-') {
    checkInputFile(file);
    const size = fs.statSync(file).size;
    if (size > MAX_HAR_BYTES) throw new Error(`${file}: ${size} bytes, more than the ${MAX_HAR_BYTES} a HAR may have here`);
    return fs.readFileSync(file, 'utf8');
  }
  hintIfTerminalStdin('a HAR');
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_HAR_BYTES) throw new Error(`stdin: more than the ${MAX_HAR_BYTES} bytes a HAR may have here`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { string: ['max-body'] }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 1) throw new UsageError('at most one FILE', USAGE);
  const maxBody = intOption(args, 'max-body', USAGE, 0) ?? DEFAULT_MAX_BODY;
  const file = args._.length ? String(args._[0]) : '-';
  let result;
  try {
    result = parseHar(readInput(file));
  } catch (e) {
    process.stderr.write(`${NAME}: ${describeInputError(e, file === '-' ? 'stdin' : file)}\n`);
    return 1;
  }
  for (const s of result.skipped) process.stderr.write(`${NAME}: entry ${s.entry} skipped: ${s.reason}\n`);
  const out = safeStdout();
  let text = '';
  for (const ev of result.events) {
    const obj = httpEventToJson(ev, { bodies: true, maxBody });
    if (obj === null) continue;
    text += jsonText(obj) + '\n';
    if (text.length > 1 << 16) {
      if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
      text = '';
    }
  }
  await new Promise<void>((resolve) => out.write(text, () => resolve()));
  return 0;
}
