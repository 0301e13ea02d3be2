/** `pcap-pipe devices [--json]`: the interfaces libpcap can capture on, like `tcpdump -D` with addresses. */
import { parseArgs, printUsage, UsageError } from './cli';
import { defaultDevice, devices, type Device } from '../addon/index';
import { jsonText } from '../lib/core/json-line';

export const USAGE = `usage: pcap-pipe devices [--json]
  Lists the interfaces libpcap can capture on: flags, connection status and addresses.
  The one \`pcap-pipe capture\` uses when no -i is given is marked with *.
  --json   one JSON array of { name, description, flags, connection, addresses }`;

function flagWords(d: Device): string {
  const words: string[] = [];
  if (d.flags.loopback) words.push('Loopback');
  if (d.flags.up) words.push('Up');
  if (d.flags.running) words.push('Running');
  if (d.flags.wireless) words.push('Wireless');
  if (d.connection === 'connected') words.push('Connected');
  else if (d.connection === 'disconnected') words.push('Disconnected');
  return words.join(', ');
}

/** tcpdump -D's line, "1.eth0 [Up, Running, Connected]", then one indented line per address. */
export function formatDevices(list: Device[], chosen: string | undefined): string {
  let s = '';
  list.forEach((d, i) => {
    const mark = d.name === chosen ? '*' : ' ';
    const desc = d.description ? ` (${d.description})` : '';
    s += `${mark}${i + 1}.${d.name}${desc} [${flagWords(d)}]\n`;
    for (const a of d.addresses) {
      let line = `     ${a.family === 'IPv4' ? 'inet ' : 'inet6'} ${a.address}`;
      if (a.netmask) line += ` netmask ${a.netmask}`;
      if (a.broadcast) line += ` broadcast ${a.broadcast}`;
      if (a.destination) line += ` peer ${a.destination}`;
      s += line + '\n';
    }
  });
  return s;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { boolean: ['json'] }, USAGE);
  if (!args) return printUsage(USAGE);
  if (args._.length > 0) throw new UsageError('devices takes no arguments', USAGE);
  const list = devices();
  if (args.json) process.stdout.write(jsonText(list, 2) + '\n');
  else process.stdout.write(formatDevices(list, defaultDevice(list)?.name));
  return 0;
}
