/**
 * tcpdump's packet dumps, byte for byte (print-ascii.c): -x hex, -X hex and ASCII, -A ASCII. Each hex line
 * is "\t0x0000:  4500 003c ..." (16 bytes as eight 16-bit groups); -X pads the hex to 40 columns and adds
 * the bytes as ASCII, '.' for anything not printable. -A writes printable bytes, tabs and newlines as they
 * are, a CR before a LF not at all, anything else as '.': so no control character reaches the terminal.
 */

/** Hex digits of every byte value, made once. */
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const printable = (b: number): boolean => b >= 0x20 && b <= 0x7e;
/** -X shows a space as '.' too (tcpdump tests isgraph there). */
const graphic = (b: number): boolean => b > 0x20 && b <= 0x7e;

/** tcpdump -x: hex lines, each "\t0xOOOO: " then " hhhh" per 16-bit group (no trailing spaces). */
export function tcpdumpHex(buf: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < buf.length; off += 16) {
    const end = Math.min(off + 16, buf.length);
    let line = `\t0x${off.toString(16).padStart(4, '0')}: `;
    for (let i = off; i < end; i += 2) line += ' ' + HEX2[buf[i] as number] + (i + 1 < end ? HEX2[buf[i + 1] as number] : '');
    lines.push(line);
  }
  return lines.join('\n');
}

/** tcpdump -X: like -x, the hex padded to 40 columns, two spaces, then the 16 bytes as ASCII ('.' for a space or anything not printable). */
export function tcpdumpHexAscii(buf: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < buf.length; off += 16) {
    const end = Math.min(off + 16, buf.length);
    let hex = '';
    let ascii = '';
    for (let i = off; i < end; i += 2) hex += ' ' + HEX2[buf[i] as number] + (i + 1 < end ? HEX2[buf[i + 1] as number] : '');
    for (let i = off; i < end; i++) ascii += graphic(buf[i] as number) ? String.fromCharCode(buf[i] as number) : '.';
    lines.push(`\t0x${off.toString(16).padStart(4, '0')}: ${hex.padEnd(40)}  ${ascii}`);
  }
  return lines.join('\n');
}

/**
 * tcpdump -A: the bytes as text. Printable ASCII, space, tab and LF as they are; a CR directly before a
 * LF is dropped (tcpdump: it does not belong at the end of a line); every other byte is '.'.
 */
export function tcpdumpAscii(buf: Uint8Array): string {
  let s = '';
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i] as number;
    if (b === 0x0d) {
      if (i + 1 >= buf.length || buf[i + 1] !== 0x0a) s += '.';
    } else if (printable(b) || b === 0x09 || b === 0x0a) s += String.fromCharCode(b);
    else s += '.';
  }
  return s;
}
