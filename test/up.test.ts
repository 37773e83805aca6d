// `cairn up` as a new user meets it: one command brings up the server, a storage server and a
// local agent; the CLI is logged in; a backup and a restore of a directory work through the CLI.
// Run again on the same folder, it carries on: same admin, same parts, same jobs and snapshots,
// and the admin password is not printed a second time. A saved login to another server is left
// alone (its own goes to DATA/cli.json, with the export line to use it), its suggestions work as
// printed, and a part that dies takes everything down, named.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
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

it('cairn up: leaves a login to another server alone, prints suggestions that work as printed, and names a part that exits', async () => {
  const root = tempDir('cairn-up-other-');
  const data = join(root, 'data');
  const usual = join(root, 'cli.json');
  const other = `${JSON.stringify({ server: 'https://other.example:7350', ca: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n', token: 't', user: 'ann' })}\n`;
  writeFileSync(usual, other, { mode: 0o600 });
  const env = { HOME: root, CAIRN_CONFIG: usual, CAIRN_PASSPHRASE: '' };
  const up = await startDaemon('up', data, ['up', '--data', data, '--listen', '127.0.0.1:0'], env);
  try {
    await waitFor('the suggestions', async () => (/^try:$/m.test(up.stdout()) && /snapshot list$/m.test(up.stdout()) ? true : undefined));
    assert.equal(readFileSync(usual, 'utf8'), other, 'the other login is left as it was');
    const own = join(data, 'cli.json');
    assert.equal(statSync(own).mode & 0o777, 0o600);
    assert.match(up.stdout(), new RegExp(`^  export CAIRN_CONFIG=${own}$`, 'm'));
    assert.match(up.stdout(), /logs in to another server and was left alone/);
    // each suggestion, run by a shell as printed (after the export), works
    const bin = relative(process.cwd(), join(import.meta.dirname, '../bin/cairn'));
    const tried = up.stdout().split('\n').filter((l) => l.startsWith(`  ${bin} `)).map((l) => l.trim());
    assert.deepEqual(tried.map((l) => l.split(' ').slice(1, 3).join(' ')), ['job create', 'job run', 'snapshot list']);
    for (const line of [tried[0]!, tried[2]!]) {
      const r = spawnSync('sh', ['-c', line], { encoding: 'utf8', env: { ...process.env, ...env, CAIRN_CONFIG: own } });
      assert.equal(r.status, 0, `${line}: ${r.stderr}`);
    }

    const agentPid = Number(readFileSync(join(data, 'agent', 'lock'), 'utf8'));
    const storagePid = Number(readFileSync(join(data, 'storage', 'lock'), 'utf8'));
    // the agent runs with the settings bin/cairn gives it (its memory is measured with them)
    assert.ok(readFileSync(`/proc/${agentPid}/cmdline`, 'utf8').split('\0').includes('--max-semi-space-size=1'), 'the agent has a 1 MiB young generation');
    assert.match(readFileSync(`/proc/${agentPid}/environ`, 'utf8'), /(^|\0)MALLOC_ARENA_MAX=1\0/);
    process.kill(agentPid, 'SIGKILL');
    const [code] = (await once(up.process, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(up.stderr(), /^cairn up: the agent exited \(killed by SIGKILL\); stopping everything$/m);
    assert.throws(() => process.kill(storagePid, 0), 'the storage server was stopped too');
  } finally {
    await up.stop();
  }
});
