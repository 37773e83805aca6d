// A lost catalog rebuilt from a vault (`cairn server rebuild-catalog`, as Bacula's bscan), as real
// processes: a cluster backs a tree up twice and is then lost but for its storage server's vault
// files; a new server (fresh `server init`) enrolls a new storage server holding those vault
// files and a new agent, and the rebuild brings back both snapshots with their file index, so
// they list, browse and restore as before. A second rebuild adds nothing; an unknown vault and a
// wrong passphrase fail and change nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LsEntryJson, RebuildJson, RunJson, SnapshotJson, VaultJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, startDaemon, tempDir } from './support/cluster.ts';
import { assertRsyncIdentical } from './support/crash-support.ts';
import { buildHardTree, pseudoRandom } from './support/tree-builder.ts';

const PASSPHRASE = 'rebuild the catalog from this passphrase';
const VAULT = 'admin.s1';

function copyTree(from: string, to: string): void {
  const r = spawnSync('rsync', ['-aH', `${from}/`, `${to}/`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** What the lost catalog said, to compare the rebuilt one with. */
type Before = { snapshots: SnapshotJson[]; lsOlder: LsEntryJson[]; src: string; olderTree: string; storageDir: string };

async function backUpTwiceAndLose(): Promise<Before> {
  const c = await startCluster({ storages: ['s1'], agents: ['a1'] });
  try {
    const src = join(tempDir('cairn-rebuild-src-'), 'data');
    buildHardTree(src);
    mkdirSync(join(src, 'more'));
    writeFileSync(join(src, 'more', 'changing.bin'), pseudoRandom(700_000, 11));
    const created = await c.cli(['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src, '--json'], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(created.code, 0, created.stderr);
    const first = await c.json<RunJson>(['job', 'run', 'j1', '--wait']);
    assert.equal(first.status, 'succeeded', JSON.stringify(first));
    const olderTree = tempDir('cairn-rebuild-older-');
    copyTree(src, olderTree);
    // the second backup sees a changed file, a new one and a removed one
    writeFileSync(join(src, 'more', 'changing.bin'), pseudoRandom(900_000, 12));
    writeFileSync(join(src, 'more', 'new.txt'), 'only in the second snapshot\n');
    spawnSync('rm', [join(src, 'small.txt')]);
    const second = await c.json<RunJson>(['job', 'run', 'j1', '--wait']);
    assert.equal(second.status, 'succeeded', JSON.stringify(second));
    const snapshots = await c.json<SnapshotJson[]>(['snapshot', 'list']);
    assert.equal(snapshots.length, 2);
    const lsOlder = await c.json<LsEntryJson[]>(['snapshot', 'ls', first.snapshot!, src]);
    return { snapshots, lsOlder, src, olderTree, storageDir: c.storages.get('s1')!.dataDir };
  } finally {
    await c.stop();
  }
}

/** A new server with agent a1 and a new storage server s1 whose data folder holds the old vault files. */
async function newSiteWithOldVaults(oldStorageDir: string): Promise<Cluster> {
  const c = await startCluster({ agents: ['a1', 'a2'] });
  const dataDir = join(tempDir('cairn-rebuild-storage-'), 'storage');
  mkdirSync(dataDir, { recursive: true });
  copyTree(join(oldStorageDir, 'vaults'), join(dataDir, 'vaults'));
  const { token } = await c.json<{ token: string }>(['token', 'create', '--kind', 'storage']);
  const storage = await startDaemon('storage s1', dataDir, ['storage', 'start', '--data', dataDir, '--listen', '127.0.0.1:0', '--server', c.url, '--token', token, '--name', 's1']);
  c.storages.set('s1', storage);
  await c.waitOnline('storage', 's1');
  return c;
}

const rebuildArgs = (vault: string, agent = 'a1') => ['server', 'rebuild-catalog', '--storage', 's1', '--vault', vault, '--agent', agent];

describe('catalog rebuild', () => {
  it('restores the snapshots and file index of a lost catalog from a vault, once', async () => {
    const before = await backUpTwiceAndLose();
    const c = await newSiteWithOldVaults(before.storageDir);
    try {
      // bad input first: each fails with one line and adopts nothing
      const unknown = await c.cli([...rebuildArgs('nope.s1'), '--passphrase-stdin'], `${PASSPHRASE}\n`);
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(unknown.stderr, /^cairn: storage s1 has no vault named nope\.s1\n$/);
      const wrong = await c.cli([...rebuildArgs(VAULT), '--passphrase-stdin'], 'not the passphrase\n');
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, /passphrase/i);
      const noPassphrase = await c.cli(rebuildArgs(VAULT));
      assert.equal(noPassphrase.code, 2, noPassphrase.stderr);
      assert.match(noPassphrase.stderr, /not in the catalog: give its passphrase/);
      const missingFlag = await c.cli(['server', 'rebuild-catalog', '--storage', 's1', '--agent', 'a1']);
      assert.equal(missingFlag.code, 2, missingFlag.stderr);
      assert.deepEqual(await c.json<VaultJson[]>(['vault', 'list']), []);
      assert.deepEqual(await c.json<SnapshotJson[]>(['snapshot', 'list']), []);

      const rebuilt = await c.json<RebuildJson>([...rebuildArgs(VAULT), '--passphrase-stdin'], `${PASSPHRASE}\n`);
      assert.equal(rebuilt.status, 'succeeded', JSON.stringify(rebuilt));
      assert.equal(rebuilt.snapshots, 2);
      assert.equal(rebuilt.files, before.snapshots[0]!.files + before.snapshots[1]!.files);
      assert.deepEqual(rebuilt.warnings, []);

      const vaults = await c.json<VaultJson[]>(['vault', 'list']);
      assert.deepEqual(vaults.map((v) => [v.name, v.storage, v.owner, v.agents]), [[VAULT, 's1', 'admin', ['a1']]]);
      const snapshots = await c.json<SnapshotJson[]>(['snapshot', 'list']);
      assert.deepEqual(
        snapshots.map((s) => ({ ...s, job: null, agent: 'a1' })),
        before.snapshots.map((s) => ({ ...s, job: null, agent: 'a1', level: 'full' })),
        'the same snapshots, newest first, with their time, files and bytes',
      );
      for (const s of snapshots) assert.equal(s.job, null, 'no job is known for a rebuilt snapshot');
      const [newer, older] = snapshots;
      assert.deepEqual(await c.json<LsEntryJson[]>(['snapshot', 'ls', older!.id, before.src]), before.lsOlder);
      const newerMore = await c.json<LsEntryJson[]>(['snapshot', 'ls', newer!.id, join(before.src, 'more')]);
      assert.deepEqual(newerMore.map((e) => e.name), ['changing.bin', 'new.txt']);

      const to = tempDir('cairn-rebuild-restore-');
      const restored = await c.json<RunJson>(['restore', older!.id, '--to', to, '--wait']);
      assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
      assertRsyncIdentical(before.olderTree, join(to, before.src));

      // again: every snapshot is known, nothing is added; the agent holding the keys needs no passphrase
      const again = await c.json<RebuildJson>(rebuildArgs(VAULT));
      assert.deepEqual([again.status, again.snapshots, again.files, again.known], ['succeeded', 0, 0, 2]);
      // another agent is granted the keys with the passphrase, and finds nothing new either
      const other = await c.cli([...rebuildArgs(VAULT, 'a2'), '--passphrase-stdin'], `${PASSPHRASE}\n`);
      assert.equal(other.code, 0, other.stderr);
      assert.equal(other.stdout, `agent a2 granted the keys of vault ${VAULT}\nrebuilt 0 snapshots (0 files) from vault ${VAULT}\n`);
      assert.equal((await c.json<SnapshotJson[]>(['snapshot', 'list'])).length, 2);
    } finally {
      await c.stop();
    }
  });
});
