/**
 * The colour decision (lib/core/colour.ts) as a table, and the flag parsing every colouring command shares
 * (takeColourOption in bin/cli.ts). The commands themselves are run in test/colour-cli.test.ts.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { colourWanted, parseColourWhen, type ColourEnv, type ColourWhen } from '../lib/core/colour';
import { takeColourOption, UsageError } from '../bin/cli';

test('precedence: flag > NO_COLOR > FORCE_COLOR > terminal', () => {
  // [flag, env, isTTY, expected]: written out by hand, not derived from the function
  const cases: [ColourWhen | undefined, ColourEnv, boolean, boolean][] = [
    [undefined, {}, true, true],
    [undefined, {}, false, false],
    ['auto', {}, true, true],
    ['auto', {}, false, false],
    ['always', {}, false, true],
    ['always', { NO_COLOR: '1' }, false, true],
    ['never', {}, true, false],
    ['never', { FORCE_COLOR: '1' }, true, false],
    // NO_COLOR: any non-empty value; empty is as if unset (no-color.org)
    [undefined, { NO_COLOR: '1' }, true, false],
    [undefined, { NO_COLOR: 'yes' }, true, false],
    [undefined, { NO_COLOR: '0' }, true, false],
    [undefined, { NO_COLOR: '' }, true, true],
    [undefined, { NO_COLOR: '' }, false, false],
    ['auto', { NO_COLOR: '1' }, true, false],
    // FORCE_COLOR: on where there is no terminal; 0/false off even on one
    [undefined, { FORCE_COLOR: '1' }, false, true],
    [undefined, { FORCE_COLOR: '3' }, false, true],
    [undefined, { FORCE_COLOR: 'true' }, false, true],
    [undefined, { FORCE_COLOR: '' }, false, true],
    [undefined, { FORCE_COLOR: '0' }, true, false],
    [undefined, { FORCE_COLOR: 'false' }, true, false],
    [undefined, { FORCE_COLOR: 'FALSE' }, true, false],
    ['auto', { FORCE_COLOR: '1' }, false, true],
    ['always', { FORCE_COLOR: '0' }, false, true],
    // NO_COLOR wins over FORCE_COLOR
    [undefined, { NO_COLOR: '1', FORCE_COLOR: '1' }, false, false],
    [undefined, { NO_COLOR: '1', FORCE_COLOR: '1' }, true, false],
    [undefined, { NO_COLOR: '', FORCE_COLOR: '1' }, false, true],
  ];
  for (const [flag, env, isTTY, want] of cases) {
    assert.equal(colourWanted({ flag, env, isTTY }), want, `flag ${flag} env ${JSON.stringify(env)} tty ${isTTY}`);
  }
});

test('--color=WHEN values', () => {
  assert.equal(parseColourWhen('always'), 'always');
  assert.equal(parseColourWhen('never'), 'never');
  assert.equal(parseColourWhen('auto'), 'auto');
  for (const bad of ['', 'yes', 'ALWAYS', 'true', '1', 'tty']) assert.equal(parseColourWhen(bad), null, bad);
});

test('the flag is taken out of argv: last one wins, nothing after --, a bad value is a usage error', () => {
  assert.deepEqual(takeColourOption(['-r', 'f.pcap'], 'u'), { argv: ['-r', 'f.pcap'], color: undefined });
  assert.deepEqual(takeColourOption(['--color', 'f.pcap'], 'u'), { argv: ['f.pcap'], color: 'always' });
  assert.deepEqual(takeColourOption(['--no-color'], 'u'), { argv: [], color: 'never' });
  assert.deepEqual(takeColourOption(['--color=never', 'x', '--color=auto'], 'u'), { argv: ['x'], color: 'auto' });
  assert.deepEqual(takeColourOption(['--color', '--no-color'], 'u'), { argv: [], color: 'never' });
  assert.deepEqual(takeColourOption(['--no-color', '--color'], 'u'), { argv: [], color: 'always' });
  assert.deepEqual(takeColourOption(['a', '--', '--color'], 'u'), { argv: ['a', '--', '--color'], color: undefined });
  // --colour, --colors: not ours, left for the unknown-option check
  assert.deepEqual(takeColourOption(['--colour', '--colors=x'], 'u'), { argv: ['--colour', '--colors=x'], color: undefined });
  assert.throws(() => takeColourOption(['--color=yes'], 'u'), (e: unknown) => e instanceof UsageError && /--color takes always, never or auto, not "yes"/.test(e.message));
  assert.throws(() => takeColourOption(['--color='], 'u'), UsageError);
});
