/**
 * `--workers N` for every command that shards (http_trace, `pcap-pipe http|ws|tcp|follow|grep`): the option
 * checked against the others, and the sharded run of a command's chain description (streams/chain-spec.ts)
 * on worker threads (streams/shard.ts). A helper module, not a command; small, so that a command that is
 * not given --workers loads nothing more (streams/shard is required when used).
 */
import type { Readable, Writable } from 'node:stream';
import { UsageError, type ParsedArgs } from './cli';
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
 * `out` in the order one thread prints them. The test hook PCAP_PIPE_TEST_WORKER_THROW_AT makes a worker throw.
 */
export async function runShardedChain(opts: {
  workers: number; source: Readable; out: Writable; chain: TraceWorkerConfig['chain']; counts?: boolean; secrets?: SecretsSource;
}): Promise<ShardRunResult> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { runSharded } = require('../streams/shard') as typeof import('../streams/shard');
  const throwAt = process.env.PCAP_PIPE_TEST_WORKER_THROW_AT;
  return runSharded({
    workers: opts.workers,
    source: opts.source,
    out: opts.out,
    ...(opts.secrets !== undefined ? { secrets: opts.secrets } : {}),
    config: {
      chain: opts.chain,
      counts: opts.counts === true,
      ...(throwAt !== undefined && /^\d+$/.test(throwAt) ? { throwAt: Number(throwAt) } : {}),
    },
  });
}
