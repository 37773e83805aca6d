// `npm run fuzz`: the fuzz tests of test/fuzz (issue 13 item 8) run long, with a random seed,
// not part of `npm test` (which runs them briefly with a fixed seed). Each parser gets
// --seconds of inputs; the real-server REST fuzzing sends 20 times its quick count of requests.
// Prints the seed (to replay a finding: --seed N), then the inputs each parser took and every
// failure with its counterexample; exit 1 when any parser broke its contract.
//   npm run fuzz -- [--seconds 20] [--seed N] [--only NAME]   (NAME: a test/fuzz file, e.g. formats)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    seed: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('npm run fuzz -- [--seconds 20] [--seed N] [--only FILE]\n  runs test/fuzz long with a random (or the given) seed; exit 1 on a finding');
  process.exit(0);
}
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`--seconds must be a positive number, not ${values.seconds}`);
  process.exit(2);
}
if (values.seed !== undefined && !/^-?\d+$/.test(values.seed)) {
  console.error(`--seed must be an integer, not ${values.seed}`);
  process.exit(2);
}
const seed = values.seed ?? String(Math.floor(Math.random() * 2 ** 31));
const dir = resolve(import.meta.dirname, '../test/fuzz');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts') && (values.only === undefined || f.startsWith(values.only)))
  .map((f) => join(dir, f));
if (files.length === 0) {
  console.error(`no fuzz test file starts with ${values.only}`);
  process.exit(2);
}

console.log(`fuzzing ${files.length} files, ${seconds} s per parser, seed ${seed} (replay: npm run fuzz -- --seed ${seed})`);
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=0', '--test-reporter=spec', ...files], {
  env: { ...process.env, CAIRN_FUZZ_SEED: seed, CAIRN_FUZZ_MS: String(Math.round(seconds * 1000)) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
child.stdout.on('data', (c: Buffer) => {
  out += c.toString();
  process.stdout.write(c);
});
const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));

// the summary: one line per parser, the total, and the failures
const counts = [...out.matchAll(/fuzz (.+?): (\d+) (inputs|requests) in ([\d.]+) s/g)];
console.log('\n## inputs per parser');
for (const [, name, n, unit, s] of counts) console.log(`${name}: ${n} ${unit} in ${s} s`);
const total = counts.reduce((sum, m) => sum + Number(m[2]), 0);
console.log(`total: ${total} inputs over ${counts.length} parsers, seed ${seed}; ${code === 0 ? 'no findings' : 'FINDINGS above (✖)'}`);
process.exit(code === 0 ? 0 : 1);
