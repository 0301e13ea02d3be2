#!/usr/bin/env node
// The command pages in docs/: one per command, each with the command's `--help` text between
// <!-- usage:begin --> and <!-- usage:end -->. `--help` is the source: this script copies it in, so the page
// and the help cannot drift apart (test/docs.test.ts fails when they differ and says to run this).
//
//   node scripts/docs.js          rewrite the usage blocks (creating missing pages) from dist/bin
//   node scripts/docs.js --check  exit 1 listing the pages that differ
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = path.join(root, 'dist', 'bin');
const docs = path.join(root, 'docs');

/** The subcommands of pcap-pipe, from its own help (the lines under "commands:"). */
function subcommands() {
  const help = run(['pcap-pipe.js', '--help']);
  const out = [];
  let inList = false;
  for (const line of help.split('\n')) {
    if (/^commands:/.test(line)) { inList = true; continue; }
    const m = inList && /^ {2}([a-z]+) {2,}(.*)$/.exec(line);
    if (m) out.push({ name: m[1], summary: m[2] });
    else if (inList && line.trim() === '') inList = false;
  }
  return out;
}

function run(args) {
  const r = spawnSync(process.execPath, [path.join(bin, args[0]), ...args.slice(1)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Every documented command: page file, how to get its help, a title and a one-line summary for new pages. */
function commands() {
  const list = [{ page: 'pcap-pipe.md', args: ['pcap-pipe.js', '--help'], title: 'pcap-pipe', summary: 'Subcommands that speak classic pcap over stdin and stdout, so they chain with each other and with tcpdump, tshark and Wireshark.' }];
  for (const c of subcommands()) list.push({ page: `pcap-pipe-${c.name}.md`, args: ['pcap-pipe.js', c.name, '--help'], title: `pcap-pipe ${c.name}`, summary: `${c.summary[0].toUpperCase()}${c.summary.slice(1)}.` });
  list.push(
    { page: 'http_trace.md', args: ['http_trace.js', '--help'], title: 'http_trace', summary: 'HTTP/1.x requests and responses (and WebSocket messages) on any port, live or from a file.' },
    { page: 'simple_capture.md', args: ['simple_capture.js', '--help'], title: 'simple_capture', summary: 'libpcap\'s version, the devices, then one line per packet: the original article\'s example.' },
    { page: 'network_grep.md', args: ['network_grep.js', '--help'], title: 'network_grep', summary: 'ngrep\'s flags: packets (or reassembled streams) whose payload matches a pattern.' },
  );
  return list;
}

const BEGIN = '<!-- usage:begin (generated from --help by scripts/docs.js; edit the command, not this block) -->';
const END = '<!-- usage:end -->';

function usageBlock(help) {
  return `${BEGIN}\n\`\`\`text\n${help.replace(/\n+$/, '')}\n\`\`\`\n${END}`;
}

/** The usage text a page holds, or null. */
function pageUsage(text) {
  const m = /<!-- usage:begin[^\n]*-->\n```text\n([\s\S]*?)\n```\n<!-- usage:end -->/.exec(text);
  return m ? m[1] : null;
}

function main() {
  const check = process.argv.includes('--check');
  const bad = [];
  for (const c of commands()) {
    const help = run(c.args).replace(/\n+$/, '');
    const file = path.join(docs, c.page);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (text !== null && pageUsage(text) === help) continue;
    bad.push(c.page);
    if (check) continue;
    const next = text === null
      ? `# ${c.title}\n\n${c.summary}\n\n## Usage\n\n${usageBlock(help)}\n`
      : pageUsage(text) === null
        ? `${text.replace(/\n*$/, '')}\n\n## Usage\n\n${usageBlock(help)}\n`
        : text.replace(/<!-- usage:begin[^\n]*-->\n```text\n[\s\S]*?\n```\n<!-- usage:end -->/, () => usageBlock(help));
    fs.mkdirSync(docs, { recursive: true });
    fs.writeFileSync(file, next);
  }
  if (check && bad.length) {
    console.error(`docs out of date with --help: ${bad.join(', ')} (run: npm run build && node scripts/docs.js)`);
    process.exit(1);
  }
  if (!check) console.log(bad.length ? `updated ${bad.join(', ')}` : 'docs up to date');
}

module.exports = { commands, pageUsage, BEGIN, END };
if (require.main === module) main();
