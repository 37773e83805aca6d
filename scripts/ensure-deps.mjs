// Lets `npm start` and `npm test` be the very first commands in a fresh clone (their pre-scripts
// run this). Plain JavaScript, so the system's older Node runs it: it decides whether node_modules
// holds what package-lock.json pins, comparing the versions npm recorded at install time
// (node_modules/.package-lock.json) with the lockfile's, not file times, which git checkouts and
// `npm install` do not order reliably. Missing or stale, it runs `npm ci` with the system's Node
// (node_modules/.bin taken off PATH); that install brings the project's own Node 24, which the
// start or test script then finds in node_modules/.bin. npm's EBADENGINE warning about the older
// Node is expected there. `--check` prints the decision and installs nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** 'fresh', or why node_modules must be installed again. */
export function depsState(root) {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return 'missing: no node_modules/.package-lock.json';
  let lock;
  let recorded;
  try {
    lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')).packages ?? {};
    recorded = JSON.parse(readFileSync(installed, 'utf8')).packages ?? {};
  } catch (e) {
    return `stale: ${e.message}`;
  }
  for (const [key, entry] of Object.entries(lock)) {
    // the root itself is not installed; an optional package may be for another platform
    if (!key.startsWith('node_modules/') || entry.optional) continue;
    const have = recorded[key]?.version;
    if (have !== entry.version) return `stale: ${key.slice('node_modules/'.length)} ${have ?? 'absent'}, package-lock.json pins ${entry.version}`;
  }
  if (!existsSync(path.join(root, 'node_modules', '.bin', 'node'))) return "stale: the project's Node (node_modules/.bin/node) is absent";
  return 'fresh';
}

function main() {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const state = depsState(root);
  if (process.argv.includes('--check')) {
    process.stdout.write(`${state}\n`);
    return 0;
  }
  if (state === 'fresh') return 0;
  process.stderr.write(`cairn: installing the dependencies with npm ci (${state})\n`);
  // the install runs under the system's Node, as on a fresh clone: never under a node_modules it replaces
  const PATH = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => !dir.split(path.sep).includes('node_modules')).join(path.delimiter);
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env: { ...process.env, PATH } });
  if (npm.error) process.stderr.write(`cairn: cannot run npm: ${npm.error.message}\n`);
  return npm.status ?? 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) process.exitCode = main();
