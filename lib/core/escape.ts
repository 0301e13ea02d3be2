/**
 * Captured bytes shown to a human: `escapeControl`, which every printer (packets, HTTP, grep) applies so
 * captured bytes can never drive the terminal, and a hex + ASCII dump.
 */

/**
 * Makes untrusted text safe for a terminal: C0 controls, DEL and C1 controls become \xHH (tab, CR and LF
 * too), and a backslash becomes "\\", so the output is unambiguous.
 */
export function escapeControl(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => (c === '\\' ? '\\\\' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')));
}

/** Hex + ASCII dump, 16 bytes a line: "0000  45 00 00 34 ...  |E..4............|". */
export function hexDump(buf: Uint8Array, indent = '  '): string {
  const lines: string[] = [];
  for (let off = 0; off < buf.length; off += 16) {
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      if (off + i < buf.length) {
        const b = buf[off + i];
        hex += b.toString(16).padStart(2, '0') + ' ';
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else hex += '   ';
      if (i === 7) hex += ' ';
    }
    lines.push(`${indent}${off.toString(16).padStart(4, '0')}  ${hex} |${ascii}|`);
  }
  return lines.join('\n');
}
