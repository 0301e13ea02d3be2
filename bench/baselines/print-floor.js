'use strict';
// The least CPU any Node program can spend printing http_trace's NDJSON for a capture: read the capture
// (1 MiB readSync, as walk.js), then JSON.stringify the very events http_trace printed and write them in
// 64 KiB pieces to /dev/null. The events are parsed from NDJSON before the timed part, so the process reports
// its timed part itself (CPU seconds on stderr, `floor-cpu <s>`): add an empty node process's CPU for the whole
// floor. Usage: node print-floor.js CAPTURE EVENTS.ndjson
const fs = require('node:fs');
const [file, ndjson] = process.argv.slice(2);
const events = fs.readFileSync(ndjson, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));

const start = process.cpuUsage();
const fd = fs.openSync(file, 'r');
const chunk = Buffer.allocUnsafe(1 << 20);
while (fs.readSync(fd, chunk) > 0);
fs.closeSync(fd);
const out = fs.openSync('/dev/null', 'w');
let text = '';
for (const event of events) {
  text += JSON.stringify(event) + '\n';
  if (text.length >= 65536) { fs.writeSync(out, text); text = ''; }
}
fs.writeSync(out, text);
const used = process.cpuUsage(start);
process.stderr.write(`floor-cpu ${((used.user + used.system) / 1e6).toFixed(3)}\n`);
