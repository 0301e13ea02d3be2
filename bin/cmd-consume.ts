/**
 * `pcap-pipe consume redis://HOST:PORT/KEY --group G --consumer C [--json]`: the events that sensors
 * published (`--publish`), read as one consumer of a Redis consumer group and printed like the local
 * commands print them. Several consumers of one group share the stream, each entry going to one of them;
 * an entry is acknowledged (XACK) only after it was written to stdout, and the entries of a consumer that
 * died before acknowledging are claimed (XAUTOCLAIM) after --claim-idle. The reading is
 * streams/redis-consume.ts; the human lines lib/redis/print.ts.
 */
import type { Writable } from 'node:stream';
import { intOption, parseArgs, printUsage, safeStdout, UsageError } from './cli';
import { jsonText } from '../lib/core/json-line';
import type { StreamEntry } from '../lib/redis/entry';
import { formatStreamEntry } from '../lib/redis/print';
import { parseRedisStreamUrl, RedisUrlError, withMovedHint, type RedisStreamTarget } from '../lib/redis/url';
import { DEFAULT_BLOCK_MS, DEFAULT_CLAIM_IDLE_MS, DEFAULT_READ_COUNT, RedisGroupReader } from '../streams/redis-consume';
import { clientErrorText } from '../streams/redis-client';

const NAME = 'pcap-pipe consume';

export const USAGE = `usage: pcap-pipe consume redis://HOST:PORT/KEY --group G --consumer C [--json] [--count N]
                         [--until-idle MS] [--claim-idle MS] [--batch N] [--block MS] [--start ID]
  Reads the events sensors published with --publish (http_trace, pcap-pipe http|ws|tcp|tls|grep) from
  the Redis stream KEY as consumer C of consumer group G, and prints them: one line per event led by its
  sensor, or with --json the NDJSON event as published (the command's --json event plus "sensor").
  Consumers of one group share the work (each entry goes to one of them); an entry is acknowledged
  (XACK) once it is written, so a consumer that stops, or dies, loses nothing: its unacknowledged entries
  are read again when it comes back, or claimed by another consumer after --claim-idle.
  A Redis Cluster: redis://HOST:PORT/KEY?cluster=1 with any node as HOST:PORT.
  --group G          consumer group (created with the stream if missing, XGROUP CREATE ... MKSTREAM)
  --consumer C       this consumer's name in the group
  --json             NDJSON: the published events
  --count N          stop after N events
  --until-idle MS    stop when nothing arrived for MS milliseconds and nothing is pending in the group
  --claim-idle MS    claim other consumers' entries unacknowledged for MS ms (default ${DEFAULT_CLAIM_IDLE_MS})
  --batch N          entries per read (XREADGROUP/XAUTOCLAIM COUNT; default ${DEFAULT_READ_COUNT})
  --block MS         how long one read waits for new entries (XREADGROUP BLOCK; default ${DEFAULT_BLOCK_MS})
  --start ID         where a new group starts: 0 = every entry still in the stream (default), $ = new ones
  Ctrl-C stops after the batch being written (acknowledged first); a read waiting in Redis is abandoned.`;

interface ConsumeOptions {
  target: RedisStreamTarget;
  group: string;
  consumer: string;
  json: boolean;
  count?: number;
  untilIdleMs?: number;
  claimIdleMs: number;
  batch: number;
  blockMs: number;
  start: string;
}

function optionsFrom(argv: string[]): ConsumeOptions | null {
  const args = parseArgs(argv, { boolean: ['json'], string: ['group', 'consumer', 'count', 'until-idle', 'claim-idle', 'batch', 'block', 'start'] }, USAGE);
  if (!args) return null;
  if (args._.length !== 1) throw new UsageError(args._.length === 0 ? 'no stream URL given' : 'one stream URL only', USAGE);
  let target: RedisStreamTarget;
  try {
    target = parseRedisStreamUrl(String(args._[0]));
  } catch (e) {
    if (e instanceof RedisUrlError) throw new UsageError(e.message, USAGE);
    throw e;
  }
  const name = (o: string): string => {
    const v = args[o];
    if (typeof v !== 'string' || v === '') throw new UsageError(`--${o} is required`, USAGE);
    return v;
  };
  const start = typeof args.start === 'string' ? args.start : '0';
  if (!/^(\$|0|\d+(-\d+)?)$/.test(start)) throw new UsageError(`--start takes 0, $ or a stream id, got ${JSON.stringify(start)}`, USAGE);
  return {
    target, group: name('group'), consumer: name('consumer'), json: Boolean(args.json),
    count: intOption(args, 'count', USAGE, 1),
    untilIdleMs: intOption(args, 'until-idle', USAGE, 0),
    claimIdleMs: intOption(args, 'claim-idle', USAGE, 1) ?? DEFAULT_CLAIM_IDLE_MS,
    batch: intOption(args, 'batch', USAGE, 1) ?? DEFAULT_READ_COUNT,
    blockMs: intOption(args, 'block', USAGE, 1) ?? DEFAULT_BLOCK_MS,
    start,
  };
}

/** The text of a batch: human lines, or the published NDJSON (unreadable entries go to stderr then). */
function batchText(entries: StreamEntry[], json: boolean): string {
  let out = '';
  for (const e of entries) {
    if (!json) out += formatStreamEntry(e) + '\n';
    else if (e.event !== null) out += e.text + '\n';
    else process.stderr.write(`${NAME}: entry ${jsonText(e.id)} skipped: ${e.error ?? 'unreadable'}\n`);
  }
  return out;
}

function write(out: Writable, text: string): Promise<void> {
  if (text === '') return Promise.resolve();
  return new Promise((resolve, reject) => out.write(text, (e) => (e ? reject(e) : resolve())));
}

export async function main(argv: string[]): Promise<number> {
  const o = optionsFrom(argv);
  if (!o) return printUsage(USAGE);
  const out = safeStdout();
  // Once per outage: the client's failed (re)connects, or commands sent again (a cluster's node away).
  let waitingNotice = false;
  const waiting = (e: Error): void => {
    if (waitingNotice) return;
    waitingNotice = true;
    process.stderr.write(`${NAME}: ${o.target.display} unreachable (${clientErrorText(e)}); waiting for it\n`);
  };
  const reader = new RedisGroupReader({
    target: o.target, group: o.group, consumer: o.consumer, count: o.batch, blockMs: o.blockMs, claimIdleMs: o.claimIdleMs, start: o.start, onRetry: waiting,
  });
  reader.client.on('error', waiting);
  reader.client.on('ready', () => { waitingNotice = false; });
  // Ctrl-C: a read waiting in Redis is abandoned (nothing it got is lost: unacknowledged entries stay
  // pending); a batch being written is finished and acknowledged first.
  let stopping = false;
  let reading = false;
  const stop = (): void => {
    stopping = true;
    if (reading) reader.close();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let printed = 0;
  try {
    await reader.ensureGroup();
    let lastActivity = Date.now();
    while (!stopping && (o.count === undefined || printed < o.count)) {
      reading = true;
      let batch;
      try {
        batch = await reader.read(o.count !== undefined ? o.count - printed : undefined);
        waitingNotice = false;
      } catch (e) {
        if (stopping) break;
        throw e;
      } finally {
        reading = false;
      }
      if (batch.entries.length > 0) {
        await write(out, batchText(batch.entries, o.json));
        await reader.ack(batch.entries.map((e) => e.id));
        printed += batch.entries.length;
        lastActivity = Date.now();
      } else if (o.untilIdleMs !== undefined && Date.now() - lastActivity >= o.untilIdleMs && await reader.pendingCount() === 0) {
        break;
      }
    }
  } catch (e) {
    throw withMovedHint(e);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    reader.close();
  }
  process.stderr.write(`${NAME}: ${printed} events from ${o.target.display} as ${jsonText(o.consumer)} of group ${jsonText(o.group)}` +
    `${reader.claimed > 0 ? ` (${reader.claimed} claimed from other consumers)` : ''}\n`);
  return 0;
}
