// The cap on one snapshot's reference list (LIMITS.snapshotRefs), lowered to REFS_MAX chunks for
// the agent and the storage server by CAIRN_TEST_SNAPSHOT_REFS_MAX, on the real processes: a
// backup that would reference more fails as soon as its chunk count passes the cap, naming the
// count and the cap, before uploading more: no snapshot is stored and the storage server indexed
// at most REFS_MAX chunks of it (those counted before the check tripped; the rest of the 48 MiB
// never left the agent). A backup under the cap succeeds and restores identical. A storage
// server under the same setting refuses a longer list from a client that does not check.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { StorageClient } from '../src/agent/storage-client.ts';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { assertRsyncIdentical, failedJobRun, incompressibleTree, packBytes, vaultSnapshots } from './support/crash-support.ts';
import { rejectsWith, testVaultConfig, vaultState } from './support/storage-fixtures.ts';
import { startStorage } from './support/storage-process.ts';

const REFS_MAX = 12;
const VAULT = 'admin.rc1';
const PASSPHRASE = 'refs cap passphrase for tests';
const BIG_MIB = 48;

describe('the snapshot refs cap, checked before the upload', { concurrency: 1 }, () => {
  let c: Cluster;

  before(async () => {
    c = await startCluster({ agents: ['ra'], storages: ['rc1'], env: { CAIRN_TEST: '1', CAIRN_TEST_SNAPSHOT_REFS_MAX: String(REFS_MAX) } });
  });
  after(async () => {
    await c?.stop();
  });

  async function job(name: string, src: string): Promise<void> {
    const r = await c.cli(['job', 'create', name, '--agent', 'ra', '--storage', 'rc1', '--path', src], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code, 0, r.stderr);
  }

  function indexedChunks(): number {
    const db = new DatabaseSync(join(c.storages.get('rc1')!.dataDir, 'vaults', VAULT, 'index.sqlite'), { readOnly: true });
    try {
      return Number((db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n);
    } finally {
      db.close();
    }
  }

  it('fails a backup over the cap early, naming the count and the cap, and stores no snapshot', async () => {
    // 12 files of 4 MiB (the chunker's max chunk: at least one chunk each), a small file and two
    // directories: at least 15 chunk ids, ~50 expected, against a cap of 12
    const big = incompressibleTree(join(tempDir('cairn-refs-big-'), 'data'), 12, 4);
    await job('big', big);
    const run = await failedJobRun(c, 'big');
    assert.equal(
      run.error,
      `this backup references more than ${REFS_MAX} chunks (${REFS_MAX + 1} so far), the most one snapshot can hold: stopped before uploading more; split the paths over several jobs`,
    );
    const storeDir = c.storages.get('rc1')!.dataDir;
    assert.deepEqual(vaultSnapshots(storeDir, VAULT), []);
    // only chunks counted before the check can have been uploaded, and the upload stopped there
    assert.ok(indexedChunks() <= REFS_MAX, `${indexedChunks()} chunks indexed`);
    assert.ok(packBytes(storeDir, VAULT) < (REFS_MAX + 4) * 4 * 1024 * 1024 && packBytes(storeDir, VAULT) < BIG_MIB * 1024 * 1024);
    const listed = await c.json<unknown[]>(['snapshot', 'list']);
    assert.deepEqual(listed, []);
  });

  it('a backup under the cap succeeds and restores identical; the next one, grown past it, fails', async () => {
    const small = join(tempDir('cairn-refs-small-'), 'data');
    mkdirSync(small, { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(small, `f${i}.txt`), `file ${i}\n`);
    await job('small', small);
    const run = await c.json<RunJson>(['job', 'run', 'small', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.deepEqual(vaultSnapshots(c.storages.get('rc1')!.dataDir, VAULT), [run.snapshot]);
    const to = tempDir('cairn-refs-to-');
    const restored = await c.json<RunJson>(['restore', run.snapshot!, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    assertRsyncIdentical(small, join(to, small));

    // the next backup of the same job, grown past the cap: unchanged files' reused chunks count
    // too; it fails the same way and the first snapshot stays the vault's only one
    for (let i = 4; i < 4 + REFS_MAX; i++) writeFileSync(join(small, `f${i}.txt`), `file ${i}\n`);
    const grown = await failedJobRun(c, 'small');
    assert.match(grown.error ?? '', new RegExp(`^this backup references more than ${REFS_MAX} chunks \\(${REFS_MAX + 1} so far\\)`));
    assert.deepEqual(vaultSnapshots(c.storages.get('rc1')!.dataDir, VAULT), [run.snapshot]);
  });
});

describe('the storage server under a lowered refs cap', () => {
  it('refuses a snapshot naming more chunks (413), storing nothing', async () => {
    const server = await startStorage({ env: { CAIRN_TEST: '1', CAIRN_TEST_SNAPSHOT_REFS_MAX: String(REFS_MAX) } });
    const client = await StorageClient.fromFiles(server);
    try {
      await client.createVault('main', await testVaultConfig());
      const before = vaultState(server, 'main');
      const refs = Buffer.concat(Array.from({ length: REFS_MAX + 1 }, () => randomBytes(32)).sort(Buffer.compare));
      await rejectsWith(client.putSnapshot('main', randomBytes(32).toString('hex'), randomBytes(100), refs), 'E_TOO_LARGE', new RegExp(`^snapshot names more than ${REFS_MAX} chunks$`));
      assert.deepEqual(vaultState(server, 'main'), before, 'nothing stored may change');
    } finally {
      client.close();
      assert.equal(await server.stop(), 0, `clean exit on SIGTERM; stderr: ${server.stderr()}`);
    }
  });
});
