// Verify jobs end to end, as real processes: a snapshot of a tree with every kind of entry passes
// at all three levels; bytes flipped inside a stored pack fail `data` naming exactly the file whose
// chunks they hit while `catalog` still passes, and a restore leaves that file out and restores the
// rest identical; live files changed (content rewritten with size and mtime kept), deleted or
// added fail `disk` naming each one. Bad input: an unknown snapshot, a bad or missing level.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { damageDataBlobs, packFiles } from './support/pack-damage.ts';
import { buildHardTree, pseudoRandom } from './support/tree-builder.ts';

const PASSPHRASE = 'correct horse battery staple for verify tests';

/** A verify (or restore) with --wait --json, whatever its exit status: the run and the status. */
async function ended(c: Cluster, args: string[]): Promise<{ code: number; run: RunJson; stderr: string }> {
  const r = await c.cli([...args, '--wait', '--json']);
  assert.ok(r.stdout.trim().startsWith('{'), `cairn ${args.join(' ')} printed no run (${r.code}): ${r.stderr}`);
  return { code: r.code, run: JSON.parse(r.stdout) as RunJson, stderr: r.stderr };
}

function assertIdentical(src: string, restored: string, exclude: string[] = []): void {
  const excludes = exclude.map((e) => `--exclude=${e}`);
  const rsync = spawnSync('rsync', ['-aH', '--checksum', '--dry-run', '--itemize-changes', ...excludes, `${src}/`, `${restored}/`], { encoding: 'utf8' });
  assert.equal(rsync.status, 0, rsync.stderr);
  assert.equal(rsync.stdout, '', `rsync sees differences:\n${rsync.stdout}`);
}

describe('verify jobs', { concurrency: 1 }, () => {
  it('catalog, data and disk levels find what is damaged or changed, and a restore leaves damaged files out', async () => {
    const c = await startCluster({ agents: ['agent1'], storages: ['store1'] });
    try {
      const src = join(tempDir('cairn-verify-src-'), 'data');
      buildHardTree(src);
      const bigA = join(src, 'more', 'big-a.bin');
      writeFileSync(join(src, 'big-b.bin'), pseudoRandom(4 * 1024 * 1024 + 5, 12));
      mkdirSync(join(src, 'more'));
      writeFileSync(bigA, pseudoRandom(3 * 1024 * 1024 + 77, 11));
      utimesSync(bigA, 1_650_000_000.5, 1_650_000_000.5);
      const created = await c.cli(['job', 'create', 'tree', '--agent', 'agent1', '--storage', 'store1', '--path', src, '--json'], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
      assert.equal(created.code, 0, created.stderr);

      // a fresh snapshot passes at every level
      const first = await c.json<RunJson>(['job', 'run', 'tree', '--wait']);
      assert.equal(first.status, 'succeeded', JSON.stringify(first));
      for (const level of ['catalog', 'data', 'disk']) {
        const v = await ended(c, ['verify', first.snapshot!, '--level', level]);
        assert.equal(v.code, 0, `${level}: ${v.stderr}`);
        assert.equal(v.run.kind, 'verify');
        assert.equal(v.run.status, 'succeeded', `${level}: ${JSON.stringify(v.run)}`);
        assert.deepEqual(v.run.damaged, [], level);
        assert.equal(v.run.snapshot, first.snapshot);
        assert.equal(v.run.files, first.files, `${level} checks every regular file`);
        assert.equal(v.run.bytes, first.bytes, level);
      }
      const log = await c.json<{ message: string }[]>(['run', 'log', String((await c.json<RunJson[]>(['run', 'list']))[0]!.id)]);
      assert.ok(log.some((l) => l.message.startsWith(`verify (disk) of snapshot ${first.snapshot}`)), JSON.stringify(log));

      // one more file, backed up alone into new packs; every data blob of those packs damaged
      const storageDir = c.storages.get('store1')!.dataDir;
      const before = packFiles(storageDir, 'admin.store1');
      const victim = join(src, 'more', 'victim.bin');
      writeFileSync(victim, pseudoRandom(3 * 1024 * 1024 + 1, 99));
      const second = await c.json<RunJson>(['job', 'run', 'tree', '--wait']);
      assert.equal(second.status, 'succeeded', JSON.stringify(second));
      const added = [...packFiles(storageDir, 'admin.store1')].filter((p) => !before.has(p));
      assert.ok(added.length > 0, 'the second backup stored new packs');
      const damagedBlobs = added.reduce((n, p) => n + damageDataBlobs(p), 0);
      assert.ok(damagedBlobs >= 2, `victim.bin spans several chunks (${damagedBlobs} data blobs damaged)`);

      const data = await ended(c, ['verify', second.snapshot!, '--level', 'data']);
      assert.equal(data.code, 1, 'a verify that finds damage exits 1');
      assert.equal(data.run.status, 'failed');
      assert.deepEqual(data.run.damaged.map((d) => d.path), [victim]);
      assert.match(data.run.damaged[0]!.reason, /^chunk [0-9a-f]{8} fails its check/);
      assert.equal(data.run.error, '1 damaged file(s)');
      assert.equal(data.run.files, second.files, 'the undamaged files were all checked too');
      const catalog = await ended(c, ['verify', second.snapshot!, '--level', 'catalog']);
      assert.equal(catalog.run.status, 'succeeded', 'every chunk is still present');
      assert.equal(catalog.code, 0);
      const earlier = await ended(c, ['verify', first.snapshot!, '--level', 'data']);
      assert.equal(earlier.run.status, 'succeeded', 'the first snapshot shares none of the damaged chunks');

      // a restore of the damaged snapshot writes everything but the damaged file
      const to = tempDir('cairn-verify-restore-');
      const restored = await ended(c, ['restore', second.snapshot!, '--to', to]);
      assert.equal(restored.code, 1, restored.stderr);
      assert.equal(restored.run.status, 'failed');
      assert.deepEqual(restored.run.damaged.map((d) => d.path), [victim]);
      assert.equal(existsSync(join(to, victim)), false, 'a damaged file is never written');
      assert.deepEqual(readdirSync(join(to, src, 'more')), ['big-a.bin']);
      assertIdentical(src, join(to, src), ['/more/victim.bin']);

      // the live tree against the first snapshot: big-a.bin rewritten with its size and mtime
      // kept, text-3m-copy.txt deleted, victim.bin added since
      const fd = openSync(bigA, 'r+');
      writeSync(fd, Buffer.from('changed on disk'), 0, 15, 2 * 1024 * 1024);
      closeSync(fd);
      utimesSync(bigA, 1_650_000_000.5, 1_650_000_000.5);
      rmSync(join(src, 'text-3m-copy.txt'));
      const disk = await ended(c, ['verify', first.snapshot!, '--level', 'disk']);
      assert.equal(disk.code, 1);
      assert.equal(disk.run.status, 'failed');
      const reasons = new Map(disk.run.damaged.map((d) => [d.path, d.reason]));
      assert.deepEqual([...reasons.keys()].sort(), [bigA, victim, join(src, 'text-3m-copy.txt')].sort(), JSON.stringify(disk.run.damaged));
      assert.match(reasons.get(bigA)!, /^differs on disk: content differs from the snapshot from byte \d+/);
      assert.equal(reasons.get(join(src, 'text-3m-copy.txt')), 'missing on disk');
      assert.equal(reasons.get(victim), 'on disk, not in the snapshot');
      assert.equal(disk.run.error, '3 damaged file(s)');
    } finally {
      await c.stop();
    }
  });

  it('refuses an unknown snapshot (exit 1) and a bad or missing level (exit 2)', async () => {
    const c = await startCluster({ agents: ['agent1'], storages: ['store1'] });
    try {
      const unknown = await c.cli(['verify', '0123456789abcdef', '--level', 'data', '--wait']);
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(unknown.stderr, /no snapshot 0123456789abcdef/);
      const bad = await c.cli(['verify', '0123456789abcdef', '--level', 'everything']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--level must be one of catalog, data, disk/);
      const missing = await c.cli(['verify', '0123456789abcdef']);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--level is required/);
      const runs = await c.json<RunJson[]>(['run', 'list']);
      assert.deepEqual(runs, [], 'nothing was queued');
    } finally {
      await c.stop();
    }
  });
});
