/**
 * `pcap-pipe tcp|follow|grep --workers N` on the fixtures (the generated capture, a failing worker and the
 * usage errors: test/workers-commands-gen.test.ts; two files so each stays well inside the per-file timeout
 * on a loaded machine) (the chain descriptions of streams/chain-spec.ts run in the
 * workers of streams/shard.ts): the sharded run prints what one thread prints, byte for byte, with the
 * same stderr and exit status, as test/workers.test.ts checks for http_trace:
 * - every capture of test/fixtures at 1, 2 and 4 workers (tcp --json, follow, grep --json), and the text
 *   layouts at 2;
 * - the generated capture of test/helpers/gen-capture.ts (~1,500 interleaved connections, idle sweeps, port
 *   reuse): tcp, follow in its three layouts (blocks of connections interleaved ~13,000 times: which block is
 *   open crosses flows), grep per packet with -A, -v, -x, -W, -t, and --stream --json (its own reassembler
 *   on the whole capture's clock, "stream" renumbered); from a file and from stdin (a pipe: packets shipped);
 * - a worker that throws ends the command with one line (status 1; grep: 2, its error status); options the
 *   workers cannot honour are usage errors (status 2).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/oracle';
import { assertSame } from './helpers/workers-same';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

const captures = fs.readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(FIXTURES, f));

test('every fixture: tcp --json, follow and grep --json with 1, 2 and 4 workers print what one thread prints', () => {
  assert.ok(captures.length > 40, `fixtures found: ${captures.length}`);
  let tcpLines = 0, followBytes = 0, grepLines = 0, failed = 0;
  for (const f of captures) {
    const t = assertSame(['tcp', '--json', '-r', f], [1, 2, 4]);
    tcpLines += t.stdout.toString().split('\n').length - 1;
    if (t.status !== 0) failed++;
    followBytes += assertSame(['follow', '-r', f], [1, 2, 4]).stdout.length;
    grepLines += assertSame(['grep', '--json', '.', '-r', f], [1, 2, 4]).stdout.toString().split('\n').length - 1;
  }
  // not vacuous: the corpus has TCP events, reassembled bytes and matches, and damaged inputs
  assert.ok(tcpLines > 500 && followBytes > 50_000 && grepLines > 300, `${tcpLines} tcp lines, ${followBytes} follow bytes, ${grepLines} grep lines`);
  assert.ok(failed >= 2, `captures with status != 0: ${failed}`);
});

test('every fixture: the text layouts (tcp, follow --hex and --raw, grep --text) and grep --stream --json with 2 workers', () => {
  for (const f of captures) {
    assertSame(['grep', '--stream', '--json', 'HTTP|GET|[a-z]{12}', '-r', f], [2]);
    assertSame(['tcp', '-tt', '-r', f], [2]);
    assertSame(['follow', '--hex', '-r', f], [2]);
    assertSame(['follow', '--raw', '-r', f], [2]);
    assertSame(['grep', '--text', '-A', '1', 'HTTP|GET', '-r', f], [2]);
  }
});
