/** Test helpers: the fixture corpus and its tshark oracle tables (test/fixtures/oracle, see MANIFEST.md). */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** test/fixtures, found from the compiled test (dist/test/...) or the source tree. */
export const FIXTURES = (() => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures');
    if (fs.existsSync(path.join(candidate, 'MANIFEST.md'))) return candidate;
  }
  throw new Error('test/fixtures not found');
})();

export const REPO_ROOT = path.dirname(path.dirname(FIXTURES));

export function fixture(name: string): string { return path.join(FIXTURES, name); }

/** Every capture file of the corpus. */
export function captureFiles(): string[] {
  return fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
}

export type OracleRow = Record<string, string>;

/** Reads a tshark TSV oracle (header row + rows); [] when the file does not exist. */
export function readOracle(name: string): OracleRow[] {
  const p = path.join(FIXTURES, 'oracle', name);
  if (!fs.existsSync(p)) return [];
  const lines = fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.length > 0);
  const header = (lines.shift() ?? '').split('\t');
  return lines.map((line) => {
    const cells = line.split('\t');
    const row: OracleRow = {};
    header.forEach((h, i) => { row[h] = cells[i] ?? ''; });
    return row;
  });
}

/** frames.tsv rows that are packets: tshark 4.0 also lists pcapng custom blocks as "data" records. */
export function oracleFrames(file: string): OracleRow[] {
  return readOracle(`${file}.frames.tsv`).filter((r) => !(r['frame.protocols'] === 'data' && r['frame.interface_id'] === '' && file.endsWith('.pcapng')));
}

/** Splits a buffer into chunks of `size` bytes (views, no copies). */
export function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; off += size) out.push(buf.subarray(off, off + size));
  return out;
}
