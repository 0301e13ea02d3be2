/**
 * `--workers N` for every command that shards (http_trace, `pcap-pipe http|ws|tcp|follow|grep`): the option
 * checked against the others, and the sharded run of a command's chain description (streams/chain-spec.ts)
 * on worker threads (streams/shard.ts). A helper module, not a command; small, so that a command that is
 * not given --workers loads nothing more (streams/shard is required when used).
 */
import type { Readable, Writable } from 'node:stream';
import { progressFor, reportDamagedInput, UsageError, type ParsedArgs } from './cli';
import { CaptureError, type CaptureErrorCode } from '../lib/core/errors';
import type { CaptureReader } from '../streams/read';
import type { TimeFormatter } from '../lib/core/time';
import type { SecretsSource } from '../streams/tls';
import type { ShardRunResult } from '../streams/shard';
import type { TraceWorkerConfig } from '../streams/shard-worker';

/** The --workers help line, shared by the trace commands. */
export const WORKERS_HELP = `  --workers N        run the trace on N worker threads, connections spread by a flow hash; the output is
                     the same, in the same order (capture files and stdin; 0: one thread, the default)`;

/** Most worker threads --workers takes. */
export const MAX_WORKERS = 64;

/**
 * `--workers N` checked against the other options: a whole number 0..MAX_WORKERS, and only where the
 * sharded run prints what one thread prints (file or stdin input, the terminal/NDJSON output, times that
 * do not depend on the line before).
 */
export function workersOption(args: ParsedArgs, usage: string, what: {
  live?: boolean; web?: boolean; publish?: boolean; har?: boolean; json?: boolean; time?: TimeFormatter;
  /** Other options the sharded run cannot honour: [given, the usage message]. */
  refuse?: Array<[boolean, string]>;
}): number | undefined {
  const v = args.workers;
  if (v === undefined) return undefined;
  const text = String(v);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n > MAX_WORKERS) throw new UsageError(`--workers takes a whole number 0..${MAX_WORKERS}, got ${JSON.stringify(text)}`, usage);
  if (n === 0) return undefined;
  if (what.live) throw new UsageError('--workers reads capture files (-r FILE or -r -), not live captures (yet)', usage);
  if (what.web) throw new UsageError('--workers and --web exclude each other', usage);
  if (what.publish) throw new UsageError('--workers and --publish exclude each other', usage);
  if (what.har) throw new UsageError('--workers and --har exclude each other', usage);
  for (const [given, message] of what.refuse ?? []) if (given) throw new UsageError(message, usage);
  const style = what.time?.style;
  if (!what.json && (style === 'delta' || style === 'since-first')) {
    throw new UsageError('--workers and -ttt / -ttttt exclude each other (each line\'s time depends on the line before it)', usage);
  }
  return n;
}

/**
 * A command's chain on `workers` threads: records from `source` (a capture reader), the printer's lines to
 * `out` in the order one thread prints them. `file`: the capture the reader reads ('-': stdin), when the
 * reader feeds the chain unfiltered — if it is a regular file the workers read it themselves
 * (streams/shard-file.ts) and the reader is left unread; then the progress line counts the workers'
 * reading, and a damaged file is reported here as the reader would have (`damaged` in the result).
 * The test hook PCAP_PIPE_TEST_WORKER_THROW_AT makes a worker throw.
 */
export async function runShardedChain(opts: {
  workers: number; source: Readable; out: Writable; chain: TraceWorkerConfig['chain']; counts?: boolean; secrets?: SecretsSource;
  file?: string;
  /** The progress line (none when -q or stderr is no terminal; `stdoutUsed`: the output goes to stdout). */
  progress?: { reader: CaptureReader; quiet: boolean; stdoutUsed: boolean };
  /** How a damaged file read by the workers is reported (the command's name, and 'used' / 'searched'). */
  report?: { command: string; verb: string };
}): Promise<ShardRunResult & { damaged: boolean }> {
  /* eslint-disable @typescript-eslint/no-var-requires */
  const { runSharded } = require('../streams/shard') as typeof import('../streams/shard');
  const direct = opts.file !== undefined && opts.progress?.reader === opts.source
    ? (require('../streams/shard-file') as typeof import('../streams/shard-file')).fileShardSource(opts.file) : undefined;
  /* eslint-enable @typescript-eslint/no-var-requires */
  const read = { bytes: 0, packets: 0 };
  const p = opts.progress;
  const progress = p === undefined ? undefined : progressFor(() => [direct !== undefined ? read : p.reader], [opts.file], p.quiet, p.stdoutUsed);
  const throwAt = process.env.PCAP_PIPE_TEST_WORKER_THROW_AT;
  let result: ShardRunResult;
  try {
    result = await runSharded({
      workers: opts.workers,
      source: opts.source,
      out: opts.out,
      ...(direct !== undefined ? { file: direct, onRead: (r: typeof read) => { read.bytes = r.bytes; read.packets = r.packets; } } : {}),
      ...(opts.secrets !== undefined && direct === undefined ? { secrets: opts.secrets } : {}),
      config: {
        chain: opts.chain,
        counts: opts.counts === true,
        ...(throwAt !== undefined && /^\d+$/.test(throwAt) ? { throwAt: Number(throwAt) } : {}),
      },
    });
  } finally {
    progress?.stop();
  }
  // what the workers found reading the file, reported as the one-thread reader reports it
  const d = result.input?.damaged;
  if (d !== undefined && opts.report !== undefined) {
    reportDamagedInput(opts.report, opts.file === '-' ? 'stdin' : opts.file ?? '', new CaptureError(d.code as CaptureErrorCode, d.message, d.offset), result.input?.packets ?? 0);
  }
  return { ...result, damaged: d !== undefined };
}
