/** When the printers may colour their output. */
import type { Writable } from 'node:stream';

/** True when colour may be used on `out`: a terminal (a tty.WriteStream), and NO_COLOR unset (no-color.org). */
export function colorFor(out: Writable | NodeJS.WritableStream): boolean {
  return (out as { isTTY?: unknown }).isTTY === true && !process.env.NO_COLOR;
}
