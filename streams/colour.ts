/** When the printers may colour their output: the decision of lib/core/colour.ts on this process's environment. */
import type { Writable } from 'node:stream';
import { colourWanted, type ColourWhen } from '../lib/core/colour';

/**
 * True when colour is to be used on `out`: `when` is the command's --color flag (undefined: none given),
 * then NO_COLOR, FORCE_COLOR, and whether `out` is a terminal (a tty.WriteStream) decide.
 */
export function colorFor(out: Writable | NodeJS.WritableStream, when?: ColourWhen): boolean {
  return colourWanted({ flag: when, env: process.env, isTTY: (out as { isTTY?: unknown }).isTTY === true });
}
