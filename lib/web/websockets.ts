/**
 * The web view's WebSocket panel: the connections that upgraded (the newest maxWsConnections) and their
 * messages (the newest maxWsMessages over all connections), with what changed since the last update.
 */
import type { ConnectionFields } from '../tcp/events.js';
import type { WsCloseEvent, WsMessageEvent } from '../http/ws-events.js';
import type { WebModelLimits, WsConnectionInfo, WsMessageRow } from './types.js';
import { RecentLog } from './recent.js';

export class WebSocketPanel {
  private readonly connections = new Map<number, WsConnectionInfo>();
  private readonly changed = new Set<number>();
  readonly messages: RecentLog<WsMessageRow>;
  private nextId = 1;

  constructor(private readonly limits: Pick<WebModelLimits, 'maxWsConnections' | 'maxWsMessages' | 'maxWsPreviewBytes'>) {
    this.messages = new RecentLog(limits.maxWsMessages);
  }

  /** A connection upgraded to WebSocket; `url` is its 101 exchange's request URL when still known. */
  open(ev: ConnectionFields, url: string | null): void {
    this.connection(ev).url = url;
  }

  /** The TCP connection ended. */
  close(connection: number): void {
    const c = this.connections.get(connection);
    if (c && !c.closed) {
      c.closed = true;
      this.changed.add(connection);
    }
  }

  message(ev: WsMessageEvent & ConnectionFields): void {
    const max = this.limits.maxWsPreviewBytes;
    const text = ev.opcode === 1;
    const shown = ev.data.subarray(0, Math.min(ev.data.length, max));
    this.add(ev, {
      kind: text ? 'text' : 'binary',
      length: ev.length,
      preview: text ? shown.toString('utf8') : shown.toString('base64'),
      truncated: ev.data.length > max,
      compressed: ev.compressed,
    });
  }

  /** A close frame, shown as a message. */
  closeFrame(ev: WsCloseEvent & ConnectionFields): void {
    const preview = `${ev.code ?? 'no status'}${ev.reason ? ` ${ev.reason}` : ''}`;
    this.add(ev, { kind: 'close', length: 0, preview, truncated: false, compressed: false });
  }

  /** Copies of every listed connection. */
  all(): WsConnectionInfo[] {
    return [...this.connections.values()].map((c) => ({ ...c }));
  }

  get hasChanged(): boolean {
    return this.changed.size > 0;
  }

  /** Copies of the connections changed since the last call. */
  takeChanged(): WsConnectionInfo[] {
    const out: WsConnectionInfo[] = [];
    for (const id of this.changed) {
      const c = this.connections.get(id);
      if (c) out.push({ ...c });
    }
    this.changed.clear();
    return out;
  }

  private connection(ev: ConnectionFields): WsConnectionInfo {
    let c = this.connections.get(ev.connection);
    if (!c) {
      c = { connection: ev.connection, client: ev.client, server: ev.server, url: null, messages: 0, closed: false };
      this.connections.set(ev.connection, c);
      while (this.connections.size > this.limits.maxWsConnections) {
        const oldest = this.connections.keys().next().value as number;
        this.connections.delete(oldest);
        this.changed.delete(oldest);
      }
    }
    this.changed.add(ev.connection);
    return c;
  }

  private add(
    ev: (WsMessageEvent | WsCloseEvent) & ConnectionFields,
    m: Pick<WsMessageRow, 'kind' | 'length' | 'preview' | 'truncated' | 'compressed'>,
  ): void {
    const c = this.connection(ev);
    c.messages++;
    this.messages.push({ id: this.nextId++, connection: ev.connection, time: Number(ev.ts), from: ev.from, ...m });
  }
}
