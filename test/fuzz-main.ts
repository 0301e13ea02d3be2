/**
 * `npm run fuzz -- [--seed N] [--budget SECONDS] [--no-commands] [--out DIR]`: the long run of the
 * fuzzer in test/helpers/fuzz.ts. Cases (seed, 0), (seed, 1), ... go through every parser in-process;
 * every 25th case also through one command (rotating, as a file or on stdin). Each crasher is saved
 * as DIR/crash-SEED-INDEX.pcap with a .txt saying what failed; make it a fixture (fuzz-crash-*.pcap,
 * a MANIFEST line) once fixed, and test/fuzz.test.ts replays it forever.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import minimist from 'minimist';
import { COMMANDS, crashReason, loadCorpus, makeCase, runCommandCase, runLibraryCase } from './helpers/fuzz';
import { FIXTURES } from './helpers/oracle';

async function main(): Promise<number> {
  const args = minimist(process.argv.slice(2), { string: ['seed', 'budget', 'out'], boolean: ['commands'], default: { commands: true } });
  const seed = args.seed !== undefined ? Number(args.seed) : Math.floor(Math.random() * 2 ** 31);
  const budgetMs = Number(args.budget ?? 60) * 1000;
  const out = String(args.out ?? path.join(os.tmpdir(), `pcap-pipe-fuzz-${seed}`));
  fs.mkdirSync(out, { recursive: true });
  const corpus = loadCorpus(FIXTURES);
  const bin = path.join(__dirname, '..', 'bin');
  const started = Date.now();
  let cases = 0, commandRuns = 0, crashes = 0;
  const save = (index: number, input: Buffer, why: string): void => {
    crashes++;
    const base = path.join(out, `crash-${seed}-${index}`);
    fs.writeFileSync(`${base}.pcap`, input);
    fs.writeFileSync(`${base}.txt`, why + '\n');
    process.stderr.write(`CRASH seed ${seed} index ${index}: ${why.split('\n')[0]}\n  saved ${base}.pcap\n`);
  };
  process.stderr.write(`fuzz: seed ${seed}, budget ${budgetMs / 1000} s, corpus ${corpus.length} files, crashers to ${out}\n`);
  for (let index = 0; Date.now() - started < budgetMs; index++) {
    const input = makeCase(corpus, seed, index);
    cases++;
    try {
      runLibraryCase(input, seed + index);
    } catch (e) {
      save(index, input, `library: ${(e as Error).stack ?? String(e)}`);
    }
    if (args.commands && index % 25 === 0) {
      const spec = COMMANDS[(index / 25) % COMMANDS.length]!;
      const via = spec.stdin && index % 50 === 0 ? 'stdin' : 'file';
      const r = await runCommandCase(bin, spec, input, via, path.join(out, 'current.pcap'), 120_000);
      commandRuns++;
      const why = crashReason(r, spec);
      if (why) save(index, input, `command ${spec.name} (${via}): ${why}`);
    }
  }
  fs.rmSync(path.join(out, 'current.pcap'), { force: true });
  process.stderr.write(`fuzz: ${cases} cases, ${commandRuns} command runs, ${crashes} crashes in ${((Date.now() - started) / 1000).toFixed(0)} s (seed ${seed})\n`);
  return crashes > 0 ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => { console.error(e); process.exitCode = 2; });
