/**
 * tcpdump's habits in `pcap-pipe print`, with tcpdump itself as the oracle where the formats overlap: the
 * -t letters (times), -x/-X/-xx/-XX/-A dumps byte for byte, -e link headers, -c, -r and a trailing filter
 * expression (one argument or several words). Times are local like tcpdump's: TZ is set for both programs,
 * so the test does not depend on the machine's zone. Plus unit tests of lib/core/time.ts and
 * lib/core/tcpdump-hex.ts.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { countLetterFlag, formatDuration, tcpdumpTimeStyle, TimeFormatter } from '../lib/core/time';
import { tcpdumpAscii, tcpdumpHex, tcpdumpHexAscii } from '../lib/core/tcpdump-hex';
import { fixture, REPO_ROOT } from './helpers/oracle';

const PCAP_PIPE = path.join(REPO_ROOT, 'dist', 'bin', 'pcap-pipe.js');
/** A zone with a DST rule and a non-whole-hour offset would do too; this one is not UTC on any machine. */
const ZONE = 'America/New_York';
const env = { ...process.env, TZ: ZONE };

function ours(args: string[]): string {
  const r = spawnSync(process.execPath, [PCAP_PIPE, 'print', ...args], { env, encoding: 'utf8' });
  assert.strictEqual(r.status, 0, `print ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function tcpdump(args: string[]): string {
  const r = spawnSync('tcpdump', ['-n', ...args], { env, encoding: 'utf8' });
  assert.strictEqual(r.status, 0, `tcpdump ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
/** The dump lines (tab first) of an output. */
const dumpLines = (s: string): string[] => lines(s).filter((l) => l.startsWith('\t'));

const FILES = ['http-keepalive-304.pcap', 'icmpv6-mixed.pcap', 'vlan-dot1q-icmp-arp.pcap', 'null-ipv4-ipv6-irc.pcap', 'pcap-nsec-sll-tcp-handshake.pcap', 'rawip-ipv6-dns.pcap'];

test('TimeFormatter: each style, local time from TZ, deltas signed', () => {
  const saved = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    const t = (style: Parameters<typeof tcpdumpTimeStyle>[0]): TimeFormatter => new TimeFormatter(tcpdumpTimeStyle(style));
    assert.strictEqual(t(0).format(1320329757, 458867999), '14:15:57.458867'); // truncated, as libpcap does
    assert.strictEqual(t(1).format(1320329757, 458867000), '');
    assert.strictEqual(t(2).format(1320329757, 5000), '1320329757.000005');
    assert.strictEqual(t(4).format(1320329757, 5000), '2011-11-03 14:15:57.000005');
    const delta = t(3);
    assert.strictEqual(delta.format(100, 0), ' 00:00:00.000000');
    assert.strictEqual(delta.format(3761, 250_000_000), ' 01:01:01.250000');
    assert.strictEqual(delta.format(3761, 0), '-00:00:00.250000'); // out of order: negative, as tcpdump
    const sinceFirst = t(5);
    sinceFirst.format(10, 0);
    sinceFirst.format(11, 0);
    assert.strictEqual(sinceFirst.format(12, 500_000_000), ' 00:00:02.500000');
    assert.strictEqual(new TimeFormatter('ngrep-date').format(1320329757, 1000), '2011/11/03 14:15:57.000001');
    const ng = new TimeFormatter('ngrep-delta');
    assert.strictEqual(ng.format(5, 0), '+0.000000');
    assert.strictEqual(ng.format(7, 250_000_000), '+2.250000');
    assert.strictEqual(formatDuration(100n * 3600n * 1_000_000n), ' 100:00:00.000000'); // hours do not wrap
    assert.strictEqual(tcpdumpTimeStyle(9), 'since-first');
    assert.strictEqual(countLetterFlag(['-ttt', '-n', '-t', '--tt', '--', '-t'], 't'), 4);
    assert.strictEqual(countLetterFlag(['-c5', '-nt'], 't'), 1);
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('tcpdump dumps: -x hex groups, -X padded to 40 columns with ASCII, -A text without control bytes', () => {
  const b = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\x1b[2J\x00', 'latin1');
  assert.strictEqual(tcpdumpHex(b.subarray(0, 3)), '\t0x0000:  4745 54');
  assert.strictEqual(tcpdumpHex(b).split('\n')[1], '\t0x0010:  486f 7374 3a20 610d 0a1b 5b32 4a00');
  assert.strictEqual(tcpdumpHexAscii(b.subarray(0, 3)), `\t0x0000:  4745 54${' '.repeat(32)}  GET`);
  assert.strictEqual(tcpdumpHexAscii(b).split('\n')[0], '\t0x0000:  4745 5420 2f20 4854 5450 2f31 2e31 0d0a  GET./.HTTP/1.1..');
  assert.strictEqual(tcpdumpAscii(b), 'GET / HTTP/1.1\nHost: a\n.[2J.');
  assert.strictEqual(tcpdumpAscii(Buffer.from('a\rb\r')), 'a.b.');
  assert.strictEqual(tcpdumpHex(Buffer.alloc(0)), '');
});

test('print -x -X -xx -XX -A: the dump lines are tcpdump\'s, byte for byte', () => {
  for (const f of FILES) {
    for (const flag of ['-x', '-X', '-xx', '-XX']) {
      assert.deepStrictEqual(dumpLines(ours(['-r', fixture(f), flag])), dumpLines(tcpdump(['-r', fixture(f), flag])), `${f} ${flag}`);
    }
  }
  // -A: the text after each packet line; compared on a capture where both print whole lines of HTTP
  const f = fixture('http-keepalive-304.pcap');
  const mine = ours(['-r', f, '-A', '-t']).replace(/^[0-9a-f]{2}(:[0-9a-f]{2}){5} > .*$/gm, '#');
  const theirs = tcpdump(['-r', f, '-A', '-t']).replace(/^IP6? .*$/gm, '#');
  assert.ok(mine.includes('GET / HTTP/1.1\nHost: '), 'CR LF shown as a line end');
  assert.strictEqual(mine, theirs);
});

test('print times: the default and -tt/-ttt/-tttt/-ttttt give tcpdump\'s times, in local time (TZ)', () => {
  for (const f of FILES) {
    for (const flags of [[], ['-tt'], ['-ttt'], ['-tttt'], ['-t', '-t', '-t', '-t', '-t']]) {
      const time = flags.join('') === '-tttt' ? /^(\S+ \S+)/ : /^( ?\S+)/;
      const mine = lines(ours(['-r', fixture(f), ...flags])).filter((l) => !l.startsWith('\t')).map((l) => time.exec(l)?.[1]);
      const theirs = lines(tcpdump(['-r', fixture(f), ...flags])).map((l) => time.exec(l)?.[1]);
      assert.deepStrictEqual(mine, theirs, `${f} ${flags.join(' ')}`);
    }
  }
  // -t: no time at all
  const noTime = lines(ours(['-r', fixture('http-keepalive-304.pcap'), '-t']))[0] as string;
  assert.match(noTime, /^08:00:27:87:94:24 > /);
});

test('print -e: the link-level header as tcpdump -e prints it (Ethernet, VLAN, Linux cooked, BSD loopback)', () => {
  for (const f of ['http-keepalive-304.pcap', 'vlan-dot1q-icmp-arp.pcap', 'pcap-nsec-sll-tcp-handshake.pcap', 'null-ipv4-ipv6-irc.pcap']) {
    const header = /^\S+ (.*?length \d+)/;
    const theirs = lines(tcpdump(['-r', fixture(f), '-e'])).map((l) => header.exec(l)?.[1]);
    // tcpdump continues a VLAN header with its own text; compare up to the first "length N"
    const mine = lines(ours(['-r', fixture(f), '-e'])).map((l) => header.exec(l)?.[1]);
    assert.deepStrictEqual(mine, theirs, f);
  }
});

test('print: -r, -c, -n, a trailing filter expression (one word or several), FILE still positional', () => {
  const f = fixture('http-keepalive-304.pcap');
  const all = lines(ours([f]));
  assert.deepStrictEqual(lines(ours(['-r', f])), all);
  assert.deepStrictEqual(lines(ours(['-n', '-r', f, '-c', '3'])), all.slice(0, 3));
  const oneWord = lines(ours(['-r', f, '-n', 'tcp src port 80']));
  const words = lines(ours(['-r', f, 'tcp', 'src', 'port', '80']));
  const positional = lines(ours([f, 'tcp src port 80']));
  assert.deepStrictEqual(words, oneWord);
  assert.deepStrictEqual(positional, oneWord);
  assert.strictEqual(oneWord.length, lines(tcpdump(['-r', f, 'tcp src port 80'])).length);
  assert.ok(oneWord.length > 0 && oneWord.length < all.length);
  assert.ok(oneWord.every((l) => / 192\.150\.187\.43:80 > /.test(l)), oneWord.join('\n'));
  assert.deepStrictEqual(lines(ours(['-r', f, '-c', '2', 'tcp src port 80'])), oneWord.slice(0, 2));
  const bad = spawnSync(process.execPath, [PCAP_PIPE, 'print', '-r', f, 'tcp port'], { encoding: 'utf8' });
  assert.strictEqual(bad.status === 0, false, 'a bad filter expression is an error');
  const both = spawnSync(process.execPath, [PCAP_PIPE, 'print', '-c', '0', '-r', f], { encoding: 'utf8' });
  assert.strictEqual(both.status, 2, '-c needs a count >= 1');
});
