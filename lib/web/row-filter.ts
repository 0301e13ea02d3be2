/** The web view's row filter: the text the page's filter box holds, parsed into terms and matched on rows. */
import type { ExchangeRow } from './types.js';

/** One word of the page's filter box: `method:POST`, `status:4xx`, `host:api`, or free text. */
export interface RowFilterTerm {
  field: 'method' | 'host' | 'url' | 'status' | 'client' | 'server' | 'sensor' | null;
  value: string;
}

/**
 * Words match method, host, URL, status or sensor; `method:`, `host:`, `url:`, `status:` (4xx), `client:`,
 * `server:`, `sensor:` (rows of the sensors whose name contains it) narrow a field.
 */
export function parseRowFilter(text: string): RowFilterTerm[] {
  const out: RowFilterTerm[] = [];
  for (const word of text.trim().toLowerCase().split(/\s+/)) {
    if (!word) continue;
    const m = /^(method|host|url|status|client|server|sensor):(.*)$/.exec(word);
    out.push(m ? { field: m[1] as RowFilterTerm['field'], value: m[2] as string } : { field: null, value: word });
  }
  return out;
}

function statusMatches(status: number | null, value: string): boolean {
  if (status === null) return value === 'pending' || value === '-';
  const s = String(status);
  if (/^[1-5]xx$/.test(value)) return s[0] === value[0];
  return s.startsWith(value);
}

/** The fields of a row the filter looks at (the HAR download filters its entries by the same rules). */
export type RowFilterRow = Pick<ExchangeRow, 'method' | 'host' | 'url' | 'status' | 'client' | 'server' | 'sensor'>;

/** True when `row` matches every term (all words must match). */
export function rowMatches(row: RowFilterRow, terms: readonly RowFilterTerm[]): boolean {
  for (const f of terms) {
    const method = (row.method ?? '').toLowerCase();
    const host = row.host.toLowerCase();
    const url = (row.url ?? '').toLowerCase();
    const sensor = (row.sensor ?? '').toLowerCase();
    let ok: boolean;
    switch (f.field) {
      case 'method': ok = method.startsWith(f.value); break;
      case 'host': ok = host.includes(f.value); break;
      case 'url': ok = url.includes(f.value); break;
      case 'status': ok = statusMatches(row.status, f.value); break;
      case 'client': ok = row.client.includes(f.value); break;
      case 'server': ok = row.server.includes(f.value); break;
      case 'sensor': ok = row.sensor !== undefined && sensor.includes(f.value); break;
      default: ok = method === f.value || host.includes(f.value) || url.includes(f.value) || statusMatches(row.status, f.value) || (sensor !== '' && sensor.includes(f.value));
    }
    if (!ok) return false;
  }
  return true;
}
