/**
 * The web view's HAR: entries built (lib/har/build.ts) from the same event stream the table gets, kept
 * (newest first out when a limit is reached), and served at `/har` — the page's waterfall draws them and
 * its "Download HAR" button saves them, both for the rows the filter box selects (lib/web/row-filter.ts,
 * the table's own filter).
 *
 *   GET /har?filter=TEXT            the HAR document of the matching exchanges (an attachment)
 *   GET /har?filter=TEXT&bodies=0&last=N   without bodies, only the newest N: what the waterfall needs
 */
import { Transform, type TransformCallback } from 'node:stream';
import { HarBuilder, type HarBuildOptions } from '../lib/har/build';
import { harClosing, harEntryText, harOpening, type HarDocumentInfo } from '../lib/har/document';
import type { HarEntry } from '../lib/har/types';
import type { HttpTraceEvent } from '../lib/trace/output';
import { parseRowFilter, rowMatches, type RowFilterRow } from '../lib/web/row-filter';

export interface WebHarLimits {
  /** Entries kept; the oldest go first. */
  maxEntries: number;
  /** Bytes of entry JSON kept (bodies included, each cut at the model's maxBodyBytes). */
  maxBytes: number;
}

export const DEFAULT_WEB_HAR_LIMITS: Readonly<WebHarLimits> = {
  maxEntries: 20_000,
  maxBytes: 128 * 1024 * 1024,
};

/** Most entries one waterfall answer carries (the page draws them all). */
export const MAX_WATERFALL_ENTRIES = 2000;

interface Kept {
  entry: HarEntry;
  /** The fields the table's filter looks at, as the table's row has them. */
  row: RowFilterRow;
  bytes: number;
}

/** The request target of a full URL ("http://h/p?q" → "/p?q"), as the table shows it. */
function targetOf(url: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(url);
  return m ? (m[1] || '/') : url;
}

export class WebHarStore {
  private kept: Kept[] = [];
  private head = 0;
  private bytes = 0;
  /** Entries that left the store (limits). */
  dropped = 0;
  readonly limits: WebHarLimits;

  constructor(limits: Partial<WebHarLimits> = {}, private readonly info: HarDocumentInfo = { creator: { name: 'pcap-pipe', version: '0' } }) {
    this.limits = { ...DEFAULT_WEB_HAR_LIMITS, ...limits };
  }

  get size(): number {
    return this.kept.length - this.head;
  }

  add(entry: HarEntry): void {
    const host = entry.request.headers.find((h) => h.name.toLowerCase() === 'host')?.value ?? entry._pcap?.server ?? '';
    const row: RowFilterRow = {
      method: entry.request.method,
      host,
      url: targetOf(entry.request.url),
      status: entry.response.status > 0 ? entry.response.status : null,
      client: entry._pcap?.client ?? '',
      server: entry._pcap?.server ?? '',
    };
    const bytes = JSON.stringify(entry).length;
    this.kept.push({ entry, row, bytes });
    this.bytes += bytes;
    while (this.size > this.limits.maxEntries || (this.bytes > this.limits.maxBytes && this.size > 1)) {
      this.bytes -= this.kept[this.head]!.bytes;
      this.kept[this.head] = undefined as unknown as Kept;
      this.head++;
      this.dropped++;
    }
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head);
      this.head = 0;
    }
  }

  /** The entries whose row matches the filter text, oldest first; at most the newest `last`. */
  select(filter: string, last = Infinity): HarEntry[] {
    const terms = parseRowFilter(filter);
    const out: HarEntry[] = [];
    for (let i = this.kept.length - 1; i >= this.head && out.length < last; i--) {
      const k = this.kept[i]!;
      if (rowMatches(k.row, terms)) out.push(k.entry);
    }
    return out.reverse();
  }

  /** The HAR document text of the matching entries (bodies left out when `bodies` is false). */
  document(filter: string, opts: { bodies: boolean; last?: number }): string {
    const entries = this.select(filter, opts.last);
    const notes: string[] = [];
    if (filter.trim() !== '') notes.push(`exchanges matching ${JSON.stringify(filter.trim())}`);
    if (this.dropped > 0) notes.push(`${this.dropped} older exchanges no longer kept`);
    if (!opts.bodies) notes.push('bodies left out');
    const info: HarDocumentInfo = { ...this.info, ...(notes.length > 0 ? { comment: [this.info.comment, ...notes].filter(Boolean).join('; ') } : {}) };
    let text = harOpening(info);
    entries.forEach((e, i) => { text += harEntryText(opts.bodies ? e : withoutBodies(e), i === 0); });
    return text + harClosing(info);
  }
}

function withoutBodies(e: HarEntry): HarEntry {
  const { text: _content, encoding: _encoding, ...content } = e.response.content;
  const request = e.request.postData ? { ...e.request, postData: { mimeType: e.request.postData.mimeType } } : e.request;
  const out: HarEntry = { ...e, request, response: { ...e.response, content } };
  if (out._webSocketMessages) out._webSocketMessages = [];
  return out;
}

/** Passes every chunk on unchanged and builds HAR entries into `store` on the way. */
export class HarTap extends Transform {
  private readonly builder: HarBuilder;

  constructor(store: WebHarStore, opts: Partial<HarBuildOptions> = {}) {
    super({ objectMode: true, highWaterMark: 16 });
    this.builder = new HarBuilder((entry) => store.add(entry), opts);
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    if (Array.isArray(chunk)) for (const ev of chunk) this.feed(ev);
    else this.feed(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.builder.finish();
    done();
  }

  private feed(ev: unknown): void {
    if (typeof ev === 'object' && ev !== null && typeof (ev as { type?: unknown }).type === 'string') this.builder.push(ev as HttpTraceEvent);
  }
}

/** The query of a `/har` request: filter text, bodies wanted, newest N. */
export function harQuery(query: string): { filter: string; bodies: boolean; last?: number } {
  const params = new URLSearchParams(query);
  const lastText = params.get('last');
  const last = lastText !== null && /^\d{1,7}$/.test(lastText) ? Math.min(Number(lastText), MAX_WATERFALL_ENTRIES) : undefined;
  return { filter: (params.get('filter') ?? '').slice(0, 1024), bodies: params.get('bodies') !== '0', ...(last !== undefined ? { last } : {}) };
}
