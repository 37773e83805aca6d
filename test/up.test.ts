// `cairn up` as a new user meets it: one command brings up the server, a storage server and a
// local agent; the CLI is logged in; a backup and a restore of a directory work through the CLI.
// Run again on the same folder, it carries on: same admin, same parts, same jobs and snapshots,
// and the admin password is not printed a second time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import type { RunJson, SnapshotJson } from '../src/protocol/api-types.ts';
import { runCairn } from './support/cli.ts';
import { startDaemon, tempDir } from './support/cluster.ts';
import { buildHardTree } from './support/tree-builder.ts';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it('cairn up: all-in-one, a backup and a restore through the CLI, and it carries on when run again', async () => {
  const root = tempDir('cairn-up-');
  const data = join(root, 'data');
  const env = { HOME: root, CAIRN_CONFIG: join(root, 'cli.json'), CAIRN_PASSPHRASE: '' };
  const cli = (args: string[]) => runCairn(args, env);
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await cli([...args, '--json']);
    assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  let up = await startDaemon('up', data, ['up', '--data', data, '--listen', '127.0.0.1:0'], env);
  const url = up.firstLine.trim();
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  try {
    const agent = await waitFor('the agent name in the report', async () => /agent: (\S+)/.exec(up.stdout())?.[1]);
    assert.match(up.stdout(), /admin password: \S+/, 'the first start prints the admin password once');
    assert.equal(statSync(join(data, 'server/secrets/admin-password')).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, 'cli.json')).mode & 0o777, 0o600);
    await waitFor('the agent online', async () => {
      const agents = await json<{ name: string; status: string }[]>(['agent', 'list']);
      return agents.find((a) => a.name === agent && a.status === 'online');
    });

    const src = join(root, 'home-dir');
    buildHardTree(src);
    const created = await cli(['job', 'create', 'home', '--agent', agent, '--storage', 'local', '--path', src]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /recovery passphrase/);
    const run = await json<RunJson>(['job', 'run', 'home', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const to = join(root, 'restored');
    const restored = await json<RunJson>(['restore', run.snapshot!, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', `${src}/`, `${join(to, src)}/`], { encoding: 'utf8' });
    assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);
    const password = readFileSync(join(data, 'server/secrets/admin-password'), 'utf8');

    await up.stop();
    // again, on the same folder: carries on
    up = await startDaemon('up', data, ['up', '--data', data], env);
    assert.equal(up.firstLine.trim(), url, 'the server keeps its address');
    await waitFor('the report', async () => (/agent: \S+/.test(up.stdout()) ? true : undefined));
    assert.doesNotMatch(up.stdout(), /admin password/, 'the password is shown once only');
    assert.equal(readFileSync(join(data, 'server/secrets/admin-password'), 'utf8'), password);
    await waitFor('the agent online again', async () => {
      const agents = await json<{ name: string; status: string }[]>(['agent', 'list']);
      return agents.length === 1 && agents[0]!.status === 'online' ? true : undefined;
    });
    const snaps = await json<SnapshotJson[]>(['snapshot', 'list']);
    assert.deepEqual(
      snaps.map((s) => s.id),
      [run.snapshot],
    );
    writeFileSync(join(src, 'new-file'), 'written after the first backup\n');
    const second = await json<RunJson>(['job', 'run', 'home', '--wait']);
    assert.equal(second.status, 'succeeded');
    assert.equal(second.level, 'incremental');
    assert.equal(second.filesChanged, 1, 'only the new file is read');
  } finally {
    await up.stop();
  }
});
