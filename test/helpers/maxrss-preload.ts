/**
 * Preloaded (`node --require`) into a command a test runs to measure it: at exit, writes the process's
 * peak resident set size in KiB (process.resourceUsage().maxRSS) to $PCAP_PIPE_MAXRSS_FILE.
 */
import * as fs from 'node:fs';

process.on('exit', () => {
  const file = process.env.PCAP_PIPE_MAXRSS_FILE;
  if (file) fs.writeFileSync(file, String(process.resourceUsage().maxRSS));
});
