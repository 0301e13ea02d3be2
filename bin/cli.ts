/**
 * What every command shares: argument parsing that rejects unknown flags (minimist accepts anything),
 * `--version`, capture input from files or stdin, output files and stdout (which ends quietly on a broken
 * pipe, `| head`, and never gets binary pcap on a terminal unless asked), and the one mapping from errors
 * to a message and an exit status: every failure is ONE line on stderr, `COMMAND: WHAT: WHY`, never a
 * stack trace. Exit statuses, as tcpdump's: 0 ok, 1 runtime error (unreadable input, unwritable output,
 * a damaged capture whose complete packets were still used), 2 usage (unknown option, bad value, bad
 * filter expression, bad pattern); Ctrl-C ending a capture or a server is a success (0). grep-style commands (pcap-pipe grep, network_grep)
 * keep grep's: 1 means "nothing matched", so every error is 2 (see `setCommand`).
 */
import * as fs from 'node:fs';
import minimist from 'minimist';
import { Readable, type Writable } from 'node:stream';
import type { ColourWhen } from '../lib/core/colour';
import { CaptureError, isPcapPipeError } from '../lib/core/errors';
import { describeSystemError, isSystemError } from '../lib/core/sys-error';
import { pcapPipeVersion } from '../streams/version';
import { compareTimestamps, linkTypeName, type PacketRecord } from '../lib/core/record';
import { CaptureReader, readCaptureFile, readCaptureStdin, type ReadCaptureOptions } from '../streams/read';
import type { Progress } from '../streams/progress';

/** Exit statuses (tcpdump's convention); documented in the README's Commands section. */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

/** Thrown by parseArgs for --version: runCommand prints "NAME VERSION" and exits 0. */
export class VersionRequested extends Error {
  constructor() {
    super('--version');
    this.name = 'VersionRequested';
  }
}

/** The running command: its name (the prefix of every message) and the status its runtime errors exit with. */
interface CommandContext {
  name: string;
  runtimeErrorStatus: number;
}

const context: CommandContext = { name: 'pcap-pipe', runtimeErrorStatus: EXIT_RUNTIME };

/**
 * Names the running command ("pcap-pipe print"); `pcap-pipe` calls it when it dispatches. grep-style
 * commands pass `runtimeErrorStatus: 2`, since their 1 means "nothing matched".
 */
export function setCommand(name: string, opts: { runtimeErrorStatus?: number } = {}): void {
  context.name = name;
  context.runtimeErrorStatus = opts.runtimeErrorStatus ?? EXIT_RUNTIME;
}

/** The name messages start with. */
export function commandName(): string {
  return context.name;
}

/** The exit status for an error: usage (bad option, value, filter expression, pattern) 2, else the command's runtime status. */
export function exitStatusFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT_USAGE;
  if (isPcapPipeError(e) && (e.code === 'BPF_SYNTAX' || e.code === 'GREP_PATTERN')) return EXIT_USAGE;
  return context.runtimeErrorStatus;
}

export interface ArgSpec {
  string?: string[];
  boolean?: string[];
  alias?: Record<string, string | string[]>;
  default?: Record<string, unknown>;
  /** Options that may be given several times (always returned as arrays). */
  repeatable?: string[];
  /**
   * The command colours its output: `--color[=always|never|auto]` and `--no-color` are understood (the last
   * one given wins) and returned as `args.color`, a ColourWhen, or undefined when none was given.
   */
  color?: boolean;
}

export type ParsedArgs = minimist.ParsedArgs;

/**
 * minimist with the checks it lacks: an unknown option is a usage error, `--help`/`-h` is understood,
 * string options need a value, and non-repeatable options given twice keep the last value.
 */
export function parseArgs(argvIn: string[], spec: ArgSpec, usage: string): ParsedArgs | null {
  const { argv, color } = spec.color ? takeColourOption(argvIn, usage) : { argv: argvIn, color: undefined };
  const known = new Set<string>(['help', 'h', 'version']);
  const strings = [...(spec.string ?? []), ...(spec.repeatable ?? [])];
  const booleans = [...(spec.boolean ?? []), 'help', 'version'];
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
  if (args.version) throw new VersionRequested();
  for (const k of spec.string ?? []) {
    const v = args[k];
    if (Array.isArray(v)) args[k] = v[v.length - 1];
    if (args[k] === '' && argv.some((a) => a === `--${k}` || a === `-${k}`)) throw new UsageError(`option ${k.length === 1 ? '-' : '--'}${k} needs a value`, usage);
  }
  for (const k of spec.repeatable ?? []) {
    const v = args[k];
    args[k] = v === undefined ? [] : Array.isArray(v) ? v : [v];
  }
  if (spec.color) args.color = color;
  return args;
}

/** The help lines of --color (ArgSpec.color), shared by every command that colours, 21 columns to the text. */
export const COLOR_USAGE = `  --color[=WHEN]     colours: always (--color alone), never (--no-color the same) or auto (the default:
                     on a terminal). Without a flag, NO_COLOR=1 turns them off and FORCE_COLOR=1 on (also
                     into a pipe or file; FORCE_COLOR=0 off); a flag wins over both`;

/**
 * `--color`, `--color=WHEN` and `--no-color` taken out of argv before minimist, which can express neither
 * a flag with an optional value nor refuse a bad one. The value is only ever joined with '=' (as ls, grep
 * and git read it), so `--color FILE` keeps FILE a positional word. Nothing after `--` is looked at.
 */
export function takeColourOption(argv: readonly string[], usage: string): { argv: string[]; color: ColourWhen | undefined } {
  const rest: string[] = [];
  let color: ColourWhen | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') { rest.push(...argv.slice(i)); break; }
    if (a === '--color') { color = 'always'; continue; }
    if (a === '--no-color') { color = 'never'; continue; }
    const eq = /^--color=(.*)$/s.exec(a);
    if (eq === null) { rest.push(a); continue; }
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const when = (require('../lib/core/colour') as typeof import('../lib/core/colour')).parseColourWhen(eq[1] as string);
    if (when === null) throw new UsageError(`--color takes always, never or auto, not ${JSON.stringify(eq[1])}`, usage);
    color = when;
  }
  return { argv: rest, color };
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

/**
 * stdout for a command. A reader that went away (EPIPE, `| head -1`) ends the command quietly with the
 * status it had so far, like tcpdump; a failed write of its own (ENOSPC on `> /dev/full`, EIO) is one
 * line, "COMMAND: stdout: no space left on device", and status 1. Errors that a pipeline merely passes on
 * to stdout as it tears down (the input failed) are the pipeline's to report: they are left alone here.
 */
export function safeStdout(): Writable {
  const out = process.stdout;
  if (!(out as unknown as { __pcapPipeEpipe?: boolean }).__pcapPipeEpipe) {
    (out as unknown as { __pcapPipeEpipe?: boolean }).__pcapPipeEpipe = true;
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      if (isSystemError(e) && e.syscall === 'write' && e.path === undefined) {
        process.stderr.write(`${context.name}: ${describeError(e, 'stdout')}\n`);
        process.exit(context.runtimeErrorStatus);
      }
    });
  }
  return out;
}

/**
 * stdout for binary pcap: refused (a usage error, status 2) when it is a terminal, unless the user asked
 * for it explicitly (`-w -`), as tcpdump does; capture and grep print text on a terminal instead.
 */
export function binaryStdout(explicit: boolean, usage: string): Writable {
  if (!explicit && process.stdout.isTTY === true) {
    throw new UsageError('not writing binary pcap to a terminal: redirect or pipe stdout, give -w FILE, or -w - to insist', usage);
  }
  return safeStdout();
}

/**
 * Checks that a capture input can be read before a stream is built on it, so a missing, unreadable or
 * directory path fails at once with "PATH: no such file or directory" (a system error with the path),
 * instead of a stream error without one (reading a directory says only "EISDIR ... read").
 */
export function checkInputFile(path: string): void {
  const st = fs.statSync(path);
  if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: is a directory, open '${path}'`), { code: 'EISDIR', syscall: 'open', path });
  fs.accessSync(path, fs.constants.R_OK);
}

/** An output file opened by openOutputFile: its descriptor and a stream over it. */
export interface OutputFile {
  fd: number;
  stream: fs.WriteStream;
}

/**
 * An output file opened now, synchronously (so an unwritable path fails before any input is read, and a
 * file opened before `-Z` drops privileges stays writable afterwards, as with tcpdump), as a write stream.
 */
export function openOutputFile(path: string): OutputFile {
  const fd = fs.openSync(path, 'w', 0o666);
  return { fd, stream: fs.createWriteStream(path, { fd }) };
}

/**
 * Whether descriptor 0, 1 or 2 is a terminal, told without making process.stdin/stdout/stderr when it cannot
 * be one: a file, pipe or socket is no character device (fstat), and making the stream for it loads
 * built-in modules compiled at every start-up (stdin from a file: fs streams, fs/promises, readline; a pipe:
 * net and its sockets), ~10 modules that a command reading a file and printing nothing on stderr never uses.
 */
export function isTerminal(fd: 0 | 1 | 2): boolean {
  try {
    if (!fs.fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return (fd === 0 ? process.stdin : fd === 1 ? process.stdout : process.stderr).isTTY === true;
}

/** One hint line when a command is about to wait for a capture on a terminal (nobody types pcap). */
export function hintIfTerminalStdin(what = 'a capture'): void {
  if (!isTerminal(0)) return;
  process.stderr.write(`${context.name}: reading ${what} from stdin, which is a terminal: name a FILE (or -r FILE), or pipe one in; Ctrl-D ends\n`);
}

/** Inputs at least this big (or pipes, whose size is unknown) get the allocator tuned for streaming. */
const BIG_INPUT_BYTES = 16 * 1024 * 1024;
let allocatorTuned = false;

/** What kind of big input `path` is (undefined: not big, or not known): see tuneAllocator. */
function bigInput(path: string | undefined): 'pipe' | 'file' | undefined {
  if (allocatorTuned) return undefined;
  let st: fs.Stats;
  try {
    st = path === undefined || path === '-' ? fs.fstatSync(0) : fs.statSync(path);
  } catch {
    return undefined;
  }
  return st.isFIFO() ? 'pipe' : st.isFile() && st.size >= BIG_INPUT_BYTES ? 'file' : undefined;
}

/**
 * Big inputs: freed read chunks should stay in the C heap for the next read instead of faulting in afresh
 * (-30 % CPU for `pcap-pipe read` on 1 GB). Loading the addon for it costs ~20 ms, so small files skip it.
 */
function tuneAllocator(): void {
  if (allocatorTuned) return;
  allocatorTuned = true;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  (require('../addon/index') as typeof import('../addon/index')).tuneAllocatorForStreaming();
  // and V8's young generation held where a long run would not outgrow a short one (bin/young-generation.ts)
  // (required here: perf_hooks and v8, ~15 built-in modules, for big inputs only)
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  (require('./young-generation') as typeof import('./young-generation')).capYoungGeneration();
}

/** Opens one capture input: a path, or '-' / undefined for stdin. */
export function openCapture(path: string | undefined, opts: ReadCaptureOptions = {}): CaptureReader {
  return openCaptureTuned(path, opts, false);
}

/**
 * openCapture for a reader that is given a skipper (grep's fast path, runGrep in streams/trace.ts): its read
 * chunks are reused as long as no packet is built from them, so a big file's allocator tuning (the addon and
 * its libraries, perf_hooks and v8: ~5-10 ms of start-up) waits until the reader keeps a chunk beyond the
 * first (which holds the file header); a grep that builds no packet never loads them.
 */
export function openSkippedCapture(path: string | undefined, opts: ReadCaptureOptions = {}): CaptureReader {
  return openCaptureTuned(path, opts, true);
}

function openCaptureTuned(path: string | undefined, opts: ReadCaptureOptions, deferTuning: boolean): CaptureReader {
  if (path !== undefined && path !== '-') checkInputFile(path);
  else hintIfTerminalStdin();
  const big = bigInput(path);
  // a pipe is read through process.stdin, whose chunks are never reused
  if (big === 'pipe' || (big === 'file' && !deferTuning)) tuneAllocator();
  const reader = path === undefined || path === '-' ? readCaptureStdin(opts) : readCaptureFile(path, opts);
  if (big === 'file' && deferTuning) reader.onChunksKept = tuneAllocator;
  return reader;
}

const NO_PROGRESS: Progress = { tick: () => undefined, stop: () => undefined };

/**
 * The progress line (streams/progress.ts) for a command reading capture inputs: `readers()` are the readers
 * so far (summed: several inputs merged, or read one after another), `paths` the inputs ('-' or undefined:
 * stdin), whose sizes are the total (unknown when one of them is a pipe). `stdoutUsed`: the command's
 * output goes to stdout (so a terminal there hides the line).
 */
export function progressFor(readers: () => readonly Pick<CaptureReader, 'bytes' | 'packets'>[], paths: readonly (string | undefined)[], quiet: boolean, stdoutUsed = true): Progress {
  // -q, or stderr not a terminal: never shown (progressWanted), and nothing to load for it
  if (quiet || !isTerminal(2)) return NO_PROGRESS;
  // required here, not at the top: --version and the commands that read no capture do not load it
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { inputSize, startProgress } = require('../streams/progress') as typeof import('../streams/progress');
  let total: number | undefined = 0;
  for (const p of paths) {
    const size = inputSize(p);
    total = size === undefined || total === undefined ? undefined : total + size;
  }
  return startProgress({
    name: context.name,
    total,
    quiet,
    stdoutUsed,
    sample: () => {
      let bytes = 0;
      let packets = 0;
      for (const r of readers()) { bytes += r.bytes; packets += r.packets; }
      return { bytes, packets };
    },
  });
}

/** The one line for a damaged input: "COMMAND: LABEL: ERROR [CODE]; VERB the N complete packets" (no tail when N is 0). */
export function reportDamagedInput(how: { command: string; verb: string }, label: string, e: CaptureError, packets: number): void {
  const n = packets;
  process.stderr.write(`${how.command}: ${label}: ${describeError(e)}${n > 0 ? `; ${how.verb} the ${n} complete packet${n === 1 ? '' : 's'}` : ''}\n`);
}

/** A capture input whose damage is reported on stderr instead of failing the pipeline. */
export interface ReportedCapture {
  reader: CaptureReader;
  /** True once the input was found damaged (its complete packets were still used): exit with 1. */
  readonly damaged: boolean;
}

/**
 * Opens a capture input for a command. A damaged input (truncated, malformed) is reported on stderr as one
 * line, "COMMAND: FILE: ERROR [CODE]; VERB the N complete packets" (FILE is "stdin" for stdin; the tail
 * is left out when there were none), and ends the reader normally, so the stages after it finish their
 * work with every complete packet; the command then exits with status 1 (grep-style commands: 2).
 * `open` makes the reader (default: openCapture).
 */
export function openReportedCapture(
  path: string | undefined,
  how: { command: string; verb: string; label?: string },
  opts: Omit<ReadCaptureOptions, 'onError'> = {},
  open: (path: string | undefined, opts: ReadCaptureOptions) => CaptureReader = openCapture,
): ReportedCapture {
  const input = { damaged: false } as { reader: CaptureReader; damaged: boolean };
  const label = how.label ?? (path === undefined || path === '-' ? 'stdin' : path);
  input.reader = open(path, {
    ...opts,
    onError: (e) => {
      input.damaged = true;
      reportDamagedInput(how, label, e, input.reader.packets);
    },
  });
  return input;
}

/**
 * "link type 147 (USER0) is not supported ..." when an input has interfaces whose packets the decoder
 * cannot read (so a protocol command would print nothing for them), else undefined.
 */
export function unsupportedLinkTypes(reader: Pick<CaptureReader, 'linkTypes'>): string | undefined {
  // Required here, not at the top: the decoder is ~20 modules that read, filter and write never use.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { DECODABLE_LINK_TYPES } = require('../lib/layers/decode') as typeof import('../lib/layers/decode');
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

/**
 * Formats an error for a one-line message: capture errors with their code ("... [PCAP_TRUNCATED]"),
 * system errors in strerror's words with their path ("/x.pcap: permission denied"; `where` names what
 * an error without a path was about), others by their message. Control characters (a message may quote
 * bytes of the input) are escaped, so the message stays one line and cannot drive the terminal.
 */
export function describeError(e: unknown, where?: string): string {
  let text: string;
  if (e instanceof CaptureError) text = `${e.message} [${e.code}]`;
  else if (isSystemError(e)) text = describeSystemError(e, where) as string;
  else if (e instanceof Error) text = e.message;
  else text = String(e);
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

/** describeError for an input's failure, prefixed with the input's name unless the error already names its path. */
export function describeInputError(e: unknown, label: string): string {
  return isSystemError(e) && typeof e.path === 'string' ? describeError(e) : `${label}: ${describeError(e)}`;
}

export type CommandMain = (argv: string[]) => Promise<number>;

/** Reports an error as one line on stderr and returns its exit status (usage errors point at --help). */
export function reportError(e: unknown): number {
  if (e instanceof UsageError) {
    process.stderr.write(`${context.name}: ${describeError(e)} (${context.name} --help for usage)\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`${context.name}: ${describeError(e)}\n`);
  return exitStatusFor(e);
}

/**
 * Runs a command's main and exits with its status: --version prints "NAME VERSION"; every error is one
 * line (reportError). An exception nothing caught (a bug) is one line too, "NAME: internal error: ...",
 * status 1; PCAP_PIPE_DEBUG=1 shows its stack.
 */
export function runCommand(name: string, main: CommandMain, opts: { runtimeErrorStatus?: number; argv?: string[] } = {}): void {
  const argv = opts.argv ?? process.argv.slice(2);
  setCommand(name, opts);
  safeStdout();
  const internal = (e: unknown): void => {
    process.stderr.write(`${context.name}: internal error: ${describeError(e)}\n`);
    if (process.env.PCAP_PIPE_DEBUG) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    process.exit(EXIT_RUNTIME);
  };
  process.on('uncaughtException', internal);
  process.on('unhandledRejection', internal);
  main(argv).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      if (e instanceof VersionRequested) {
        process.stdout.write(`${context.name} ${pcapPipeVersion()}\n`);
        process.exitCode = EXIT_OK;
        return;
      }
      process.exitCode = reportError(e);
    },
  );
}

/** Prints the usage when `parseArgs` returned null for --help; returns the exit code 0. */
export function printUsage(usage: string): number {
  process.stdout.write(usage + '\n');
  return 0;
}

/** Resolves at the first Ctrl-C (SIGINT) or SIGTERM: how the servers (serve, --web) end, like tcpdump. */
export function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
