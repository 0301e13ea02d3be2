/**
 * The web view fed from sensors: `pcap-pipe serve --from redis://HOST:PORT/KEY` reads the events that
 * `--publish` put into a Redis stream (streams/redis-tail.ts, plain XREAD: the stream is left as it is, any
 * number of views can watch it), turns each back into the parser event the model takes
 * (lib/web/published.ts), and serves the same page as for a capture, its rows with a Sensor column and the
 * filter box's `sensor:NAME`. The table is a window of the newest rows (--max-rows), as for a live capture.
 * There are no packets here (the packet counters stay 0) and no HAR (/har is not served: building HAR
 * entries needs TCP ends, which a sensor publishes only with --tcp-verbose).
 *
 *   const view = await startPublishedWebView(parseRedisStreamUrl('redis://127.0.0.1:6379/events'), { port: 0 });
 */
import type { RedisStreamTarget } from '../lib/redis/url';
import { WebModel, type WebModelLimits } from '../lib/web/model';
import { PublishedEventAdapter, type PublishedAdapterCounts } from '../lib/web/published';
import { RedisStreamTail } from './redis-tail';
import { WebViewServer, type WebServerOptions } from './web';

export interface PublishedWebViewOptions extends Omit<WebServerOptions, 'har' | 'stats'> {
  /** Where reading starts: '$' new entries only (default), '0' every entry the stream holds, or an entry id. */
  start?: string;
  /** Model limits (rows kept, body bytes, ...). */
  limits?: Partial<WebModelLimits>;
  /** Entries per XREAD (default 500). */
  count?: number;
  /** XREAD BLOCK milliseconds (default 1000). */
  blockMs?: number;
}

export interface PublishedWebViewCounts extends PublishedAdapterCounts {
  /** Entries read from the stream. */
  entries: number;
  /** Entries that were no event (no `event` field, not JSON). */
  unreadable: number;
}

export interface PublishedWebView {
  url: string;
  model: WebModel;
  server: WebViewServer;
  /** Where reading continues (the id of the last entry read, or where it started). */
  position(): string | undefined;
  counts(): PublishedWebViewCounts;
  /** Settles when the reading stops: close(), or a Redis error that is not a lost connection (rejects). */
  done: Promise<void>;
  close(): Promise<void>;
}

/** Serves the view of the events published to `target`, until close(). */
export async function startPublishedWebView(target: RedisStreamTarget, opts: PublishedWebViewOptions = {}): Promise<PublishedWebView> {
  const model = new WebModel({ ...opts.limits });
  const server = new WebViewServer(model, { title: target.display, ...opts });
  const tail = new RedisStreamTail({ target, ...(opts.start !== undefined ? { start: opts.start } : {}), ...(opts.count !== undefined ? { count: opts.count } : {}), ...(opts.blockMs !== undefined ? { blockMs: opts.blockMs } : {}) });
  const adapter = new PublishedEventAdapter();
  let unreadable = 0;
  let stopped = false;
  let url: string;
  try {
    url = await server.listen();
    await tail.start();
  } catch (e) {
    tail.close();
    await server.close();
    throw e;
  }
  const done = (async (): Promise<void> => {
    while (!stopped) {
      let entries;
      try {
        entries = await tail.read();
      } catch (e) {
        if (stopped) return; // the client was disconnected under a blocked read
        throw e;
      }
      for (const entry of entries) {
        if (entry.event === null) {
          unreadable++;
          continue;
        }
        const adapted = adapter.adapt(entry.sensor, entry.event);
        if (adapted !== null) model.event(adapted.event, adapted.sensor);
      }
    }
  })();
  done.catch(() => undefined); // the caller decides what a failed read means
  const close = async (): Promise<void> => {
    stopped = true;
    tail.close();
    await server.close();
  };
  return {
    url, model, server, done, close,
    position: () => tail.position,
    counts: () => ({ ...adapter.counts, entries: tail.entries, unreadable }),
  };
}
