/**
 * The HTTP/2 oracle comparison: what tshark decoded from a capture and what our parser made of the same
 * capture, reduced to the same comparable lines per connection (requests, responses, trailers, pushes,
 * resets, GOAWAYs, body sizes).
 */
import { runFile } from './tcp-run';
import { Http2ConnectionParser, type Http2ParserOptions } from '../../lib/http2/connection';
import type { Http2Event } from '../../lib/http2/events';
import type { TsharkH2Frame } from './h2';

export interface H2Summary {
  requests: string[];
  responses: string[];
  trailers: string[];
  pushes: string[];
  resets: string[];
  goaways: string[];
  /** "from stream bytes" for streams that were not reset (tshark counts DATA sent after a reset too). */
  bodies: string[];
}

function empty(): H2Summary {
  return { requests: [], responses: [], trailers: [], pushes: [], resets: [], goaways: [], bodies: [] };
}

function fieldsText(fields: Array<[string, string]>): string {
  return fields.map(([n, v]) => `${n}=${v}`).join(' ');
}

function sortAll(s: H2Summary): H2Summary {
  for (const list of Object.values(s) as string[][]) list.sort();
  return s;
}

/** tshark's frames, per TCP connection (tcp.stream). */
export function summariseTshark(frames: TsharkH2Frame[]): Map<number, H2Summary> {
  const out = new Map<number, H2Summary>();
  const bodies = new Map<number, Map<string, number>>();
  const resetStreams = new Map<number, Set<number>>();
  for (const f of frames) {
    const s = out.get(f.tcpStream) ?? empty();
    out.set(f.tcpStream, s);
    const from = f.fromServer ? 'server' : 'client';
    const pseudo = new Map(f.headers.filter(([n]) => n.startsWith(':')));
    const regular = f.headers.filter(([n]) => !n.startsWith(':'));
    switch (f.type) {
      case 0: {
        const content = f.length - f.padLength - ((f.flags & 0x8) !== 0 ? 1 : 0);
        const perConn = bodies.get(f.tcpStream) ?? new Map<string, number>();
        bodies.set(f.tcpStream, perConn);
        const key = `${from} ${f.streamId}`;
        perConn.set(key, (perConn.get(key) ?? 0) + content);
        break;
      }
      case 1:
        if (pseudo.has(':method')) s.requests.push(`${f.streamId} ${pseudo.get(':method')} ${pseudo.get(':path')} ${pseudo.get(':authority') ?? ''} | ${fieldsText(regular)}`);
        else if (pseudo.has(':status')) s.responses.push(`${f.streamId} ${pseudo.get(':status')} | ${fieldsText(regular)}`);
        else s.trailers.push(`${from} ${f.streamId} | ${fieldsText(regular)}`);
        break;
      case 3:
        s.resets.push(`${from} ${f.streamId} ${f.errorCode}`);
        (resetStreams.get(f.tcpStream) ?? resetStreams.set(f.tcpStream, new Set()).get(f.tcpStream)!).add(f.streamId);
        break;
      case 5:
        s.pushes.push(`${f.streamId}->${f.promisedStreamId} ${pseudo.get(':method')} ${pseudo.get(':path')}`);
        break;
      case 7:
        s.goaways.push(`${from} ${f.lastStreamId} ${f.errorCode}`);
        break;
      default:
        break;
    }
  }
  for (const [conn, perConn] of bodies) {
    const reset = resetStreams.get(conn) ?? new Set<number>();
    for (const [key, bytes] of perConn) {
      if (bytes > 0 && !reset.has(Number(key.split(' ')[1]))) out.get(conn)!.bodies.push(`${key} ${bytes}`);
    }
  }
  for (const s of out.values()) sortAll(s);
  return out;
}

/** Our events of one connection, reduced the same way. */
export function summariseOurs(events: Http2Event[]): H2Summary {
  const s = empty();
  const reset = new Set<number>();
  for (const ev of events) if (ev.type === 'h2-rst') reset.add(ev.streamId);
  for (const ev of events) {
    switch (ev.type) {
      case 'request': {
        s.requests.push(`${ev.streamId} ${ev.method} ${ev.url} ${ev.authority ?? ''} | ${fieldsText(ev.headers)}`);
        if (ev.trailers) s.trailers.push(`client ${ev.streamId} | ${fieldsText(ev.trailers)}`);
        if (ev.bodyLength > 0 && !reset.has(ev.streamId)) s.bodies.push(`client ${ev.streamId} ${ev.bodyLength}`);
        break;
      }
      case 'response':
        s.responses.push(`${ev.streamId} ${ev.status} | ${fieldsText(ev.headers)}`);
        if (ev.trailers) s.trailers.push(`server ${ev.streamId} | ${fieldsText(ev.trailers)}`);
        if (ev.bodyLength > 0 && !reset.has(ev.streamId)) s.bodies.push(`server ${ev.streamId} ${ev.bodyLength}`);
        break;
      case 'h2-push':
        s.pushes.push(`${ev.streamId}->${ev.promisedStreamId} ${ev.method} ${ev.url}`);
        break;
      case 'h2-rst':
        s.resets.push(`${ev.from} ${ev.streamId} ${ev.errorCode}`);
        break;
      case 'h2-goaway':
        s.goaways.push(`${ev.from} ${ev.lastStreamId} ${ev.errorCode}`);
        break;
      default:
        break;
    }
  }
  return sortAll(s);
}

export interface H2Connection {
  connection: number;
  client: string;
  server: string;
  events: Http2Event[];
}

/** A capture through decode → TCP reassembly → one Http2ConnectionParser per connection. */
export function runH2Capture(file: string, opts?: Partial<Http2ParserOptions>): H2Connection[] {
  const conns = new Map<number, { parser: Http2ConnectionParser; out: H2Connection }>();
  for (const ev of runFile(file)) {
    if (ev.type === 'start') {
      const out: H2Connection = { connection: ev.connection, client: ev.client, server: ev.server, events: [] };
      conns.set(ev.connection, { parser: new Http2ConnectionParser((e) => out.events.push(e), { ...opts, start: ev.midStream ? 'midstream' : opts?.start ?? 'preface' }), out });
      continue;
    }
    const conn = conns.get(ev.connection);
    if (!conn) continue;
    if (ev.type === 'data') conn.parser.data(ev.from, ev.bytes, ev);
    else if (ev.type === 'gap') conn.parser.gap(ev.from, ev.length, ev);
    else if (ev.type === 'reset') conn.parser.reset(ev);
    else if (ev.type === 'end') conn.parser.end(ev);
  }
  return [...conns.values()].map((c) => c.out).sort((a, b) => a.connection - b.connection);
}
