/**
 * Where a printed line holds connection numbers, for a sharded run (`--workers N`): a worker numbers its
 * connections 0, 1, ... and the merge (lib/shard/merge.ts) puts the whole capture's number in at the byte
 * positions found here. One function per printer of streams/chain-spec.ts; each knows its own layout.
 *
 * A position is a byte offset into the line's UTF-8 (text lines may hold non-ASCII before the number).
 * Each locator checks that the number it expects is where it looks, and throws otherwise: a layout that
 * changes fails loudly in the workers test instead of printing wrong numbers.
 */

/** [pos1, id1, pos2, id2]: -1 where there is none (pos2 always after pos1). */
export type Located = [number, number, number, number];

const NONE: Located = [-1, -1, -1, -1];

/** The byte position of the number `id` right after the first `key` in `text` (-1: no `key`). */
export function idAt(text: string, key: string, id: number): number {
  const at = text.indexOf(key);
  if (at < 0) return -1;
  const pos = at + key.length;
  if (!text.startsWith(String(id), pos)) throw new Error(`shard worker: connection ${id} not where expected in ${JSON.stringify(text.slice(0, 200))}`);
  return isAscii(text, pos) ? pos : Buffer.byteLength(text.slice(0, pos));
}

function isAscii(text: string, end: number): boolean {
  for (let i = 0; i < end; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

interface Numbered { type: string; connection?: unknown; previous?: unknown }

/**
 * http_trace's lines (streams/http-trace.ts): NDJSON has "connection" (and "previous" on port-reuse);
 * text lines show `#N` on start, end and port-reuse (port-reuse shows the previous number).
 */
export function locateHttpTrace(ev: Numbered, text: string, json: boolean): Located {
  if (json) {
    if (typeof ev.connection !== 'number') return NONE;
    const p1 = idAt(text, '"connection":', ev.connection);
    if (ev.type === 'port-reuse' && typeof ev.previous === 'number') return [p1, ev.connection, idAt(text, '"previous":', ev.previous), ev.previous];
    return [p1, ev.connection, -1, -1];
  }
  if (ev.type !== 'start' && ev.type !== 'end' && ev.type !== 'port-reuse') return NONE;
  const id = (ev.type === 'port-reuse' ? ev.previous : ev.connection) as number;
  const p = idAt(text, '#', id);
  return p < 0 ? NONE : [p, id, -1, -1];
}

/**
 * `pcap-pipe tcp`'s lines (lib/tcp/print.ts, tcpEventToJson): every event has its number — `#N` in text
 * (port-reuse also `previous=#M`), "connection" in NDJSON (port-reuse also "previous").
 */
export function locateTcp(ev: Numbered, text: string, json: boolean): Located {
  if (typeof ev.connection !== 'number') return NONE;
  const p1 = idAt(text, json ? '"connection":' : '#', ev.connection);
  if (ev.type === 'port-reuse' && typeof ev.previous === 'number') {
    return [p1, ev.connection, idAt(text, json ? '"previous":' : 'previous=#', ev.previous), ev.previous];
  }
  return [p1, ev.connection, -1, -1];
}

/** `pcap-pipe grep --stream --json` match lines (grepMatchToJson): "stream" is the connection's number. */
export function locateGrep(ev: { stream?: unknown }, text: string, json: boolean): Located {
  if (!json || typeof ev.stream !== 'number') return NONE;
  return [idAt(text, '"stream":', ev.stream), ev.stream, -1, -1];
}
