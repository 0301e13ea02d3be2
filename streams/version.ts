/**
 * pcap-pipe's version, read from its package.json once. Its own module so that `--version` and every
 * command's start-up (bin/cli.ts) do not load the HAR writer (streams/har.ts re-exports it for the HAR
 * creator and the library's users).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let packageVersion: string | undefined;
/** pcap-pipe's version from its package.json (dist/streams/ → the package root). */
export function pcapPipeVersion(): string {
  if (packageVersion === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
      packageVersion = typeof pkg.version === 'string' ? pkg.version : '0';
    } catch {
      packageVersion = '0';
    }
  }
  return packageVersion;
}
