/**
 * Imported for its effect by the test helpers: `node --test` sets FORCE_COLOR=1 for the test files when its
 * own output is a terminal, the commands honour FORCE_COLOR (lib/core/colour.ts), and the commands the
 * tests run inherit the environment: their text would then be coloured only when the suite is run from a
 * terminal. The tests about colour set the variables themselves (test/colour-cli.test.ts).
 */
delete process.env.FORCE_COLOR;
export {};
