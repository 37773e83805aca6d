// The pre-script of `npm start` and `npm test` (scripts/ensure-deps.mjs), copied into scratch
// checkouts: it installs with `npm ci` exactly when node_modules is missing or does not hold what
// package-lock.json pins, under the system's Node (node_modules/.bin off PATH), and otherwise does
// nothing. A stand-in `npm` records what it was asked, so no real install runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from './support/cluster.ts';

const SCRIPT = join(import.meta.dirname, '../scripts/ensure-deps.mjs');
const LOCK = {
  name: 'cairn',
  lockfileVersion: 3,
  packages: {
    '': { name: 'cairn', version: '0.1.0' },
    'node_modules/ws': { version: '8.23.0' },
    'node_modules/@scope/lib': { version: '1.2.3', dev: true },
    'node_modules/platform-only': { version: '2.0.0', optional: true },
  },
};

/** A scratch checkout: the script, package-lock.json, and node_modules as `installed` says (undefined: none). */
function checkout(installed?: Record<string, { version: string }>, projectNode = true): string {
  const root = tempDir('cairn-deps-');
  mkdirSync(join(root, 'scripts'));
  copyFileSync(SCRIPT, join(root, 'scripts', 'ensure-deps.mjs'));
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify(LOCK));
  if (installed) {
    mkdirSync(join(root, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(join(root, 'node_modules', '.package-lock.json'), JSON.stringify({ name: 'cairn', lockfileVersion: 3, packages: installed }));
    if (projectNode) writeFileSync(join(root, 'node_modules', '.bin', 'node'), '');
  }
  return root;
}

/** Runs the script in `root` with a stand-in npm that records its arguments, cwd and PATH, and exits `npmStatus`. */
function ensure(root: string, args: string[] = [], npmStatus = 0) {
  const fakeBin = tempDir('cairn-fake-npm-');
  const record = join(fakeBin, 'called');
  writeFileSync(join(fakeBin, 'npm'), `#!/bin/sh\nprintf '%s\\n%s\\n%s\\n' "$*" "$(pwd)" "$PATH" > '${record}'\nexit ${npmStatus}\n`);
  chmodSync(join(fakeBin, 'npm'), 0o755);
  const PATH = [join(root, 'node_modules', '.bin'), fakeBin, '/usr/bin', '/bin'].join(':');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-deps.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, PATH } });
  const called = existsSync(record) ? readFileSync(record, 'utf8').split('\n') : undefined;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, npm: called && { args: called[0], cwd: called[1], path: called[2] } };
}

const AS_PINNED = { 'node_modules/ws': { version: '8.23.0' }, 'node_modules/@scope/lib': { version: '1.2.3' } };

describe('npm start and npm test on a fresh clone: the dependencies pre-script', () => {
  it('decides missing, stale or fresh from what npm recorded, not from file times', () => {
    const cases: [string, string, RegExp][] = [
      ['no node_modules', checkout(), /^missing: no node_modules\/\.package-lock\.json$/],
      ['an older ws', checkout({ ...AS_PINNED, 'node_modules/ws': { version: '8.18.0' } }), /^stale: ws 8\.18\.0, package-lock\.json pins 8\.23\.0$/],
      ['a dev package absent', checkout({ 'node_modules/ws': { version: '8.23.0' } }), /^stale: @scope\/lib absent, package-lock\.json pins 1\.2\.3$/],
      ["without the project's Node", checkout(AS_PINNED, false), /^stale: the project's Node/],
      ['as pinned (an optional package for another platform absent)', checkout(AS_PINNED), /^fresh$/],
    ];
    for (const [what, root, expected] of cases) {
      const r = ensure(root, ['--check']);
      assert.equal(r.status, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout.trim(), expected, what);
      assert.equal(r.npm, undefined, `${what}: --check installs nothing`);
    }
  });

  it('runs npm ci under the system Node when missing or stale, passes on its failure, and does nothing when fresh', () => {
    for (const root of [checkout(), checkout({ ...AS_PINNED, 'node_modules/ws': { version: '1.0.0' } })]) {
      const r = ensure(root);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^cairn: installing the dependencies with npm ci \((missing|stale): /);
      assert.deepEqual([r.npm?.args, r.npm?.cwd], ['ci --no-audit --no-fund', root]);
      assert.ok(!r.npm!.path!.includes('node_modules'), `npm ci runs with node_modules/.bin off PATH: ${r.npm!.path!}`);
    }
    const failed = ensure(checkout(), [], 3);
    assert.equal(failed.status, 3, 'a failed install fails npm start / npm test');
    const fresh = ensure(checkout(AS_PINNED));
    assert.deepEqual([fresh.status, fresh.stderr, fresh.npm], [0, '', undefined]);
  });

  it("runs under the system's older Node too, and is the pre-script of npm start and npm test", () => {
    // the `node` a fresh clone's npm scripts find: the first on PATH outside node_modules
    const systemNode = (process.env.PATH ?? '').split(':').filter((d) => d && !d.includes('node_modules')).map((d) => join(d, 'node')).find((f) => existsSync(f));
    assert.ok(systemNode, 'a system node on PATH');
    const system = spawnSync(systemNode, [SCRIPT, '--check'], { encoding: 'utf8' });
    assert.equal(system.status, 0, `${systemNode}: ${system.stderr}`);
    assert.match(system.stdout, /^(fresh|missing|stale)/);
    const scripts = (JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.equal(scripts.prestart, 'node scripts/ensure-deps.mjs');
    assert.equal(scripts.pretest, 'node scripts/ensure-deps.mjs');
  });
});
