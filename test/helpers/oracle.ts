/** Test helpers: the fixture corpus and its tshark oracle tables (test/fixtures/oracle, see MANIFEST.md). */
import './plain-env';
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

/** One WebSocket frame as tshark saw it (websocket.* columns of C.http.tsv). */
export interface OracleWsFrame { frame: number; stream: number; fin: boolean; rsv: string; opcode: number; mask: boolean; len7: number; length: number }

/**
 * Every WebSocket frame of a capture's http.tsv, one entry per frame: several frames in one segment are
 * ';'-joined there, and the 7-bit length (126/127) says which extended-length column holds the real one.
 */
export function websocketOracleFrames(file: string): OracleWsFrame[] {
  const out: OracleWsFrame[] = [];
  for (const r of readOracle(`${file}.http.tsv`)) {
    if (r['websocket.fin'] === '') continue;
    const col = (name: string): string[] => (r[name] ?? '').split(';');
    const fin = col('websocket.fin');
    const ext16 = r['websocket.payload_length_ext_16'] === '' ? [] : col('websocket.payload_length_ext_16');
    const ext64 = r['websocket.payload_length_ext_64'] === '' ? [] : col('websocket.payload_length_ext_64');
    let i16 = 0;
    let i64 = 0;
    for (let i = 0; i < fin.length; i++) {
      const len7 = Number(col('websocket.payload_length')[i]);
      const length = len7 === 126 ? Number(ext16[i16++]) : len7 === 127 ? Number(ext64[i64++]) : len7;
      out.push({
        frame: Number(r['frame.number']), stream: Number(r['tcp.stream']), fin: fin[i] === '1',
        rsv: col('websocket.rsv')[i] as string, opcode: Number(col('websocket.opcode')[i]),
        mask: col('websocket.mask')[i] === '1', len7, length,
      });
    }
  }
  return out;
}
