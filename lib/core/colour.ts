/**
 * Whether a command colours its output: one decision for every command that colours (http_trace,
 * `pcap-pipe http`/`ws`/`grep`, network_grep), so the flag and the environment mean the same everywhere.
 *
 * Precedence, first that applies: the explicit flag (`--color[=always|never|auto]`, `--no-color`), then
 * NO_COLOR (no-color.org: any non-empty value turns colour off), then FORCE_COLOR (as Node and chalk read
 * it: set, even empty, turns colour on where it would not be, e.g. into a pipe; "0" or "false" turns it off
 * even on a terminal), then whether the output is a terminal. `--color=auto` is "no flag": the environment
 * and the terminal decide.
 */

/** The flag's values: `--color` alone is "always" (as ls and git read it), `--no-color` is "never". */
export type ColourWhen = 'always' | 'never' | 'auto';

export const COLOUR_WHENS: readonly ColourWhen[] = ['always', 'never', 'auto'];

/** The environment variables the decision reads (a subset of process.env). */
export interface ColourEnv {
  NO_COLOR?: string | undefined;
  FORCE_COLOR?: string | undefined;
}

export interface ColourInputs {
  /** The flag as given, undefined when none was. */
  flag?: ColourWhen | undefined;
  env: ColourEnv;
  /** The output is a terminal. */
  isTTY: boolean;
}

/** True when the output should carry ANSI colours. */
export function colourWanted(inputs: ColourInputs): boolean {
  if (inputs.flag === 'always') return true;
  if (inputs.flag === 'never') return false;
  const noColor = inputs.env.NO_COLOR;
  if (noColor !== undefined && noColor !== '') return false;
  const force = inputs.env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  return inputs.isTTY;
}

/** A `--color=WHEN` value, or null when it is none of always, never, auto. */
export function parseColourWhen(value: string): ColourWhen | null {
  return (COLOUR_WHENS as readonly string[]).includes(value) ? value as ColourWhen : null;
}
