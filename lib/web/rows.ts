/**
 * The web view's table: every kept row in id order, the oldest dropped first, and the filtered views the
 * page scrolls through. Row ids are consecutive, so a row is found by its id in constant time.
 */
import { MAX_ROW_RANGE, type ExchangeRow, type RowRange } from './types.js';
import { parseRowFilter, rowMatches } from './row-filter.js';

/** A copy the caller may hand out: rows change in place when their response arrives. */
export function copyRow(row: ExchangeRow): ExchangeRow {
  return { ...row, tcp: [...row.tcp] };
}

export class RowTable {
  /** Every kept row, oldest first, from `head` on (dropping the oldest just moves `head`). */
  private list: (ExchangeRow | undefined)[] = [];
  private head = 0;
  private nextId = 1;
  /** Bumped whenever a row is added, changed or dropped: the filtered view below is then recomputed. */
  private version = 0;
  /** The ids matching the last filter asked for, at `version`. */
  private filtered: { filter: string; version: number; ids: number[] } | undefined;

  /** Rows in the table now. */
  get count(): number {
    return this.list.length - this.head;
  }

  /** Rows ever added (kept or dropped). */
  get total(): number {
    return this.nextId - 1;
  }

  get firstId(): number {
    return this.list[this.head]?.id ?? this.nextId;
  }

  /** The id the next row gets. */
  newId(): number {
    return this.nextId++;
  }

  add(row: ExchangeRow): void {
    this.list.push(row);
    this.version++;
  }

  /** A kept row changed in place (its response, a TCP flag). */
  changed(): void {
    this.version++;
  }

  /** The kept row with this id, or undefined. */
  byId(id: number): ExchangeRow | undefined {
    const i = id - this.firstId;
    return i >= 0 && i < this.count ? this.list[this.head + i] : undefined;
  }

  /** Removes and returns the oldest row (the table is not empty). */
  dropOldest(): ExchangeRow {
    const row = this.list[this.head] as ExchangeRow;
    this.list[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.list.length) {
      this.list = this.list.slice(this.head);
      this.head = 0;
    }
    this.version++;
    return row;
  }

  /** Copies of the newest `n` rows, oldest first. */
  tail(n: number): ExchangeRow[] {
    const rows: ExchangeRow[] = [];
    for (let i = Math.max(this.head, this.list.length - n); i < this.list.length; i++) rows.push(copyRow(this.list[i] as ExchangeRow));
    return rows;
  }

  /**
   * Rows `from` .. `from + count - 1` of the table, or of the rows matching `filter` (the page's filter box
   * syntax, see parseRowFilter); at most MAX_ROW_RANGE. `total` is how many rows the (filtered) table has.
   */
  range(from: number, count: number, filter = ''): RowRange {
    const n = Math.max(0, Math.min(Math.floor(count), MAX_ROW_RANGE));
    const start = Math.max(0, Math.floor(from));
    const rows: ExchangeRow[] = [];
    const terms = parseRowFilter(filter);
    let total: number;
    if (terms.length === 0) {
      total = this.count;
      for (let i = start; i < Math.min(total, start + n); i++) rows.push(copyRow(this.list[this.head + i] as ExchangeRow));
    } else {
      const key = terms.map((t) => `${t.field ?? ''}:${t.value}`).join(' ');
      if (!this.filtered || this.filtered.filter !== key || this.filtered.version !== this.version) {
        const ids: number[] = [];
        for (let i = this.head; i < this.list.length; i++) {
          const row = this.list[i] as ExchangeRow;
          if (rowMatches(row, terms)) ids.push(row.id);
        }
        this.filtered = { filter: key, version: this.version, ids };
      }
      const ids = this.filtered.ids;
      total = ids.length;
      for (let i = start; i < Math.min(total, start + n); i++) rows.push(copyRow(this.byId(ids[i] as number) as ExchangeRow));
    }
    return { filter, from: start, total, rows, rowsKept: this.count, firstRowId: this.firstId };
  }
}
