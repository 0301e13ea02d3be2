/**
 * What every command shares: argument parsing that rejects unknown flags (minimist accepts anything), capture
 * input from files or stdin, stdout that ends quietly on a broken pipe (`| head`), and the mapping from
 * errors to exit codes: 0 ok, 1 runtime error or data lost, 2 usage, 130 interrupted.
 */
import * as fs from 'node:fs';
import minimist from 'minimist';
import { pipeline, Readable, type Writable } from 'node:stream';
import { CaptureError } from '../lib/core/errors';
import { compareTimestamps, linkTypeName, type PacketRecord } from '../lib/core/record';
import { DECODABLE_LINK_TYPES } from '../lib/layers/decode';
import { CaptureReader, readCaptureFile, readCaptureStdin, type ReadCaptureOptions } from '../streams/read';

export class UsageError extends Error {
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

export interface ArgSpec {
  string?: string[];
  boolean?: string[];
  alias?: Record<string, string | string[]>;
  default?: Record<string, unknown>;
  /** Options that may be given several times (always returned as arrays). */
  repeatable?: string[];
}

export type ParsedArgs = minimist.ParsedArgs;

/**
 * minimist with the checks it lacks: an unknown option is a usage error, `--help`/`-h` is understood,
 * string options need a value, and non-repeatable options given twice keep the last value.
 */
export function parseArgs(argv: string[], spec: ArgSpec, usage: string): ParsedArgs | null {
  const known = new Set<string>(['help', 'h']);
  const strings = [...(spec.string ?? []), ...(spec.repeatable ?? [])];
  const booleans = [...(spec.boolean ?? []), 'help'];
  for (const k of [...strings, ...booleans]) known.add(k);
  for (const [k, v] of Object.entries(spec.alias ?? {})) {
    known.add(k);
    for (const a of Array.isArray(v) ? v : [v]) known.add(a);
  }
  let unknown: string | null = null;
  const args = minimist(negativeValuesJoined(argv, strings), {
    string: strings,
    boolean: booleans,
    alias: { h: 'help', ...(spec.alias ?? {}) },
    default: spec.default ?? {},
    unknown: (arg: string) => {
      if (arg.startsWith('-') && arg !== '-') {
        const name = arg.replace(/^-+/, '').split('=')[0] as string;
        const noName = name.startsWith('no-') ? name.slice(3) : name;
        if (!known.has(name) && !known.has(noName) && unknown === null) unknown = arg;
        return known.has(name) || known.has(noName);
      }
      return true;
    },
  });
  if (unknown !== null) throw new UsageError(`unknown option ${unknown}`, usage);
  if (args.help) return null;
  for (const k of spec.string ?? []) {
    const v = args[k];
    if (Array.isArray(v)) args[k] = v[v.length - 1];
    if (args[k] === '' && argv.some((a) => a === `--${k}` || a === `-${k}`)) throw new UsageError(`option ${k.length === 1 ? '-' : '--'}${k} needs a value`, usage);
  }
  for (const k of spec.repeatable ?? []) {
    const v = args[k];
    args[k] = v === undefined ? [] : Array.isArray(v) ? v : [v];
  }
  return args;
}

/**
 * minimist reads `--max-body -5` as an empty --max-body and an unknown flag -5. A value that looks like
 * a negative number after an option that takes a value is that option's value: `--max-body=-5`, so the
 * option's own check can say what is wrong with it.
 */
function negativeValuesJoined(argv: string[], valueOptions: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = /^--?([^=]+)$/.exec(arg)?.[1];
    const next = argv[i + 1];
    if (name !== undefined && valueOptions.includes(name) && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * The positional arguments exactly as typed: minimist turns "010" or "0x10" into numbers, which would change
 * their meaning (octal and hex in BPF, bytes in a pattern), so each is taken back from argv.
 */
export function rawPositionals(argv: string[], args: ParsedArgs): string[] {
  const words: string[] = [];
  let j = 0;
  for (const v of args._) {
    while (j < argv.length && !(argv[j] === String(v) || (typeof v === 'number' && argv[j] !== '' && Number(argv[j]) === v))) j++;
    words.push(j < argv.length ? (argv[j] as string) : String(v));
    j++;
  }
  return words;
}

/** A filter expression from the positional arguments, as typed (see rawPositionals). */
export function expressionFrom(argv: string[], args: ParsedArgs): string {
  return rawPositionals(argv, args).join(' ');
}

/** A whole number option, or a usage error naming it. */
export function intOption(args: ParsedArgs, name: string, usage: string, min = 0): number | undefined {
  const v = args[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`option ${name.length === 1 ? '-' : '--'}${name} needs a whole number >= ${min}, got ${JSON.stringify(v)}`, usage);
  return n;
}

/** stdout that swallows EPIPE (a reader such as `head` went away): the command then ends quietly. */
export function safeStdout(): Writable {
  const out = process.stdout;
  if (!(out as unknown as { __pcapPipeEpipe?: boolean }).__pcapPipeEpipe) {
    (out as unknown as { __pcapPipeEpipe?: boolean }).__pcapPipeEpipe = true;
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  return out;
}

/** Inputs at least this big (or pipes, whose size is unknown) get the allocator tuned for streaming. */
const BIG_INPUT_BYTES = 16 * 1024 * 1024;
let allocatorTuned = false;

/**
 * Big inputs: freed read chunks should stay in the C heap for the next read instead of faulting in afresh
 * (-30 % CPU for `pcap-pipe read` on 1 GB). Loading the addon for it costs ~20 ms, so small files skip it.
 */
function tuneAllocatorFor(path: string | undefined): void {
  if (allocatorTuned) return;
  let st: fs.Stats;
  try {
    st = path === undefined || path === '-' ? fs.fstatSync(0) : fs.statSync(path);
  } catch {
    return;
  }
  if (!(st.isFIFO() || (st.isFile() && st.size >= BIG_INPUT_BYTES))) return;
  allocatorTuned = true;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  (require('../addon/index') as typeof import('../addon/index')).tuneAllocatorForStreaming();
}

/** Opens one capture input: a path, or '-' / undefined for stdin. */
export function openCapture(path: string | undefined, opts: ReadCaptureOptions = {}): CaptureReader {
  tuneAllocatorFor(path);
  if (path === undefined || path === '-') return readCaptureStdin(opts);
  return readCaptureFile(path, opts);
}

/** A capture input whose damage is reported on stderr instead of failing the pipeline. */
export interface ReportedCapture {
  reader: CaptureReader;
  /** True once the input was found damaged (its complete packets were still used): exit with 1. */
  readonly damaged: boolean;
}

/**
 * Opens a capture input for a command. A damaged input (truncated, malformed) is reported on stderr as
 * "COMMAND: [LABEL: ]ERROR; VERB the N complete packets" and ends the reader normally, so the stages after
 * it finish their work with every complete packet; the command then exits with status 1.
 */
export function openReportedCapture(
  path: string | undefined,
  how: { command: string; verb: string; label?: string },
  opts: Omit<ReadCaptureOptions, 'onError'> = {},
): ReportedCapture {
  const input = { damaged: false } as { reader: CaptureReader; damaged: boolean };
  input.reader = openCapture(path, {
    ...opts,
    onError: (e) => {
      input.damaged = true;
      const label = how.label === undefined ? '' : `${how.label}: `;
      process.stderr.write(`${how.command}: ${label}${describeError(e)}; ${how.verb} the ${input.reader.packets} complete packets\n`);
    },
  });
  return input;
}

/**
 * "link type 147 (USER0) is not supported ..." when an input has interfaces whose packets the decoder
 * cannot read (so a protocol command would print nothing for them), else undefined.
 */
export function unsupportedLinkTypes(reader: CaptureReader): string | undefined {
  const bad = reader.linkTypes.filter((t) => !DECODABLE_LINK_TYPES.has(t));
  if (bad.length === 0) return undefined;
  const names = bad.map((t) => `${t} (${linkTypeName(t)})`).join(', ');
  return `link type ${names} is not supported by the decoder (supported: Ethernet, Linux SLL/SLL2, BSD loopback, raw IPv4/IPv6): its packets were skipped`;
}

/**
 * Several captures merged in timestamp order (a k-way merge on each reader's next record), as one
 * Readable of PacketRecord objects. Frames are renumbered 1..n in merged order.
 */
export function mergeCaptures(readers: CaptureReader[]): Readable {
  if (readers.length === 1) return readers[0] as CaptureReader;
  async function* merged(): AsyncGenerator<PacketRecord> {
    const iters = readers.map((r) => r[Symbol.asyncIterator]() as AsyncIterator<PacketRecord>);
    const heads: (PacketRecord | null)[] = await Promise.all(iters.map(async (it) => {
      const n = await it.next();
      return n.done ? null : n.value;
    }));
    let frame = 0;
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h && (best < 0 || compareTimestamps(h, heads[best] as PacketRecord) < 0)) best = i;
      }
      if (best < 0) return;
      const rec = heads[best] as PacketRecord;
      rec.frame = ++frame;
      yield rec;
      const n = await (iters[best] as AsyncIterator<PacketRecord>).next();
      heads[best] = n.done ? null : n.value;
    }
  }
  return Readable.from(merged(), { objectMode: true });
}

/** Formats an error for stderr: capture errors by their code, others by message. */
export function describeError(e: unknown): string {
  if (e instanceof CaptureError) return `${e.message} [${e.code}]`;
  if (e instanceof Error) return e.message;
  return String(e);
}

export type CommandMain = (argv: string[]) => Promise<number>;

/** Runs a command's main and exits with its status; usage errors print the usage and exit 2. */
export function runCommand(name: string, main: CommandMain, argv: string[] = process.argv.slice(2)): void {
  safeStdout();
  main(argv).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`${name}: ${e.message}\n${e.usage}\n`);
        process.exitCode = 2;
        return;
      }
      process.stderr.write(`${name}: ${describeError(e)}\n`);
      process.exitCode = 1;
    },
  );
}

/** Prints the usage when `parseArgs` returned null for --help; returns the exit code 0. */
export function printUsage(usage: string): number {
  process.stdout.write(usage + '\n');
  return 0;
}
