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
import { harClosing, harOpening, type HarDocumentInfo } from '../lib/har/document';
import type { HarEntry } from '../lib/har/types';
import type { HttpTraceEvent } from '../lib/trace/output';
import { parseRowFilter, rowMatches, type RowFilterRow } from '../lib/web/row-filter';
import { ownString, StringPool } from '../lib/web/strings';
import { MemoryRecords, TempFileRecords, type RecordRun } from './web-spill';

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
  /** The fields the table's filter looks at, as the table's row has them. */
  row: RowFilterRow;
  /** Where the entry's JSON is in `records`, then its JSON without bodies (what the waterfall asks for). */
  offset: number;
  fullBytes: number;
  leanBytes: number;
  /** Its size as the limits count it (characters of its JSON). */
  bytes: number;
}

/** The request target of a full URL ("http://h/p?q" → "/p?q"), as the table shows it. */
function targetOf(url: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(url);
  return m ? (m[1] || '/') : url;
}

/**
 * The entries, as JSON in an unlinked temp file (streams/web-spill.ts; in memory only where no temp file
 * can be made): with their bodies the kept entries are up to maxBytes, 128 MiB, which the page reads only
 * when it asks for a HAR. In memory stays what the filter needs, about 200 bytes an entry.
 */
export class WebHarStore {
  private kept: Kept[] = [];
  private head = 0;
  private bytes = 0;
  private readonly records: RecordRun;
  private readonly pool = new StringPool();
  private closed = false;
  /** Entries that left the store (limits). */
  dropped = 0;
  readonly limits: WebHarLimits;

  constructor(limits: Partial<WebHarLimits> = {}, private readonly info: HarDocumentInfo = { creator: { name: 'pcap-pipe', version: '0' } }, records?: RecordRun) {
    this.limits = { ...DEFAULT_WEB_HAR_LIMITS, ...limits };
    this.records = records ?? tempFileOrMemory();
  }

  get size(): number {
    return this.kept.length - this.head;
  }

  add(entry: HarEntry): void {
    if (this.closed) return; // the view was closed while its input still ran
    const host = entry.request.headers.find((h) => h.name.toLowerCase() === 'host')?.value ?? entry._pcap?.server ?? '';
    const row: RowFilterRow = {
      method: this.pool.get(entry.request.method),
      host: this.pool.get(host),
      url: ownString(targetOf(entry.request.url)),
      status: entry.response.status > 0 ? entry.response.status : null,
      client: this.pool.get(entry._pcap?.client ?? ''),
      server: this.pool.get(entry._pcap?.server ?? ''),
    };
    const full = JSON.stringify(entry);
    const fullBuf = Buffer.from(full, 'utf8');
    const leanBuf = Buffer.from(JSON.stringify(withoutBodies(entry)), 'utf8');
    const offset = this.records.append(fullBuf);
    this.records.append(leanBuf);
    this.kept.push({ row, offset, fullBytes: fullBuf.length, leanBytes: leanBuf.length, bytes: full.length });
    this.bytes += full.length;
    while (this.size > this.limits.maxEntries || (this.bytes > this.limits.maxBytes && this.size > 1)) {
      this.bytes -= this.kept[this.head]!.bytes;
      this.kept[this.head] = undefined as unknown as Kept;
      this.head++;
      this.dropped++;
    }
    this.records.dropBefore(this.size > 0 ? this.kept[this.head]!.offset : offset + fullBuf.length + leanBuf.length);
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head);
      this.head = 0;
    }
  }

  /** The kept entries whose row matches the filter text, oldest first; at most the newest `last`. */
  private select(filter: string, last = Infinity): Kept[] {
    const terms = parseRowFilter(filter);
    const out: Kept[] = [];
    for (let i = this.kept.length - 1; i >= this.head && out.length < last; i--) {
      const k = this.kept[i]!;
      if (rowMatches(k.row, terms)) out.push(k);
    }
    return out.reverse();
  }

  /** The entries whose row matches the filter text, oldest first; at most the newest `last`. */
  entries(filter: string, last = Infinity): HarEntry[] {
    return this.select(filter, last).map((k) => JSON.parse(this.records.read(k.offset, k.fullBytes).toString('utf8')) as HarEntry);
  }

  /** The HAR document text of the matching entries (bodies left out when `bodies` is false). */
  document(filter: string, opts: { bodies: boolean; last?: number }): string {
    const kept = this.select(filter, opts.last);
    const notes: string[] = [];
    if (filter.trim() !== '') notes.push(`exchanges matching ${JSON.stringify(filter.trim())}`);
    if (this.dropped > 0) notes.push(`${this.dropped} older exchanges no longer kept`);
    if (!opts.bodies) notes.push('bodies left out');
    const info: HarDocumentInfo = { ...this.info, ...(notes.length > 0 ? { comment: [this.info.comment, ...notes].filter(Boolean).join('; ') } : {}) };
    let text = harOpening(info);
    kept.forEach((k, i) => {
      // the JSON kept is harEntryText's JSON.stringify of the entry (or of withoutBodies(entry))
      const json = opts.bodies ? this.records.read(k.offset, k.fullBytes) : this.records.read(k.offset + k.fullBytes, k.leanBytes);
      text += `${i === 0 ? '\n' : ',\n'}${json.toString('utf8')}`;
    });
    return text + harClosing(info);
  }

  /** Gives back the temp file (the store is then empty). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.records.close();
    this.kept = [];
    this.head = 0;
    this.bytes = 0;
  }
}

function tempFileOrMemory(): RecordRun {
  try {
    return new TempFileRecords();
  } catch {
    return new MemoryRecords();
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
