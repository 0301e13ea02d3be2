/**
 * Under CI=true every program the tests run must be installed (by .ci/run): a test that finds a tool
 * missing would otherwise skip itself, or worse degrade silently, and a green run on a machine where the
 * tool was installed by hand would hide the missing install step (this happened with ethtool). On a
 * user's machine (no CI) this test reports what is missing and skips.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { addonAvailable } from '../addon/index';

/** Every program some test spawns, with the argument that makes it print a version and exit. */
export const TEST_TOOLS: ReadonlyArray<readonly [string, string[]]> = [
  ['tshark', ['--version']],
  ['tcpdump', ['--version']],
  ['tcpflow', ['-h']],
  ['ngrep', ['-V']],
  ['ip', ['-V']],
  ['iptables', ['--version']],
  ['ethtool', ['--version']],
  ['nginx', ['-v']],
  ['chromium', ['--version']],
  ['curl', ['--version']],
  ['openssl', ['version']],
  ['editcap', ['-V']],
  ['script', ['--version']],
  ['runuser', ['--version']],
  // npm pack's prebuild (test/package-install.test.ts) strips the addon; binutils comes with g++.
  ['strip', ['--version']],
  ['tar', ['--version']],
  // The Redis Streams tests (test/redis-*.test.ts) start their own redis-server on a loopback port.
  ['redis-server', ['--version']],
  // test/helpers/redis-cluster.ts joins the cluster's nodes with `redis-cli --cluster create`.
  ['redis-cli', ['--version']],
];

function missing(): string[] {
  const out: string[] = [];
  for (const [tool] of TEST_TOOLS) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) out.push(tool);
  }
  if (!addonAvailable()) out.push('the libpcap addon (build/Release/pcap_pipe.node)');
  if (process.getuid?.() !== 0) out.push('root (live capture and network namespaces)');
  if (spawnSync('id', ['nobody']).status !== 0) out.push('the user nobody');
  return out;
}

const absent = missing();
const inCi = process.env.CI === 'true' || process.env.CI === '1';

test('every program the tests run is installed (required under CI=true)', { skip: !inCi && absent.length > 0 ? `missing here: ${absent.join(', ')}` : false }, () => {
  assert.deepEqual(absent, [], `missing under CI: ${absent.join(', ')} — .ci/run must install them`);
});
