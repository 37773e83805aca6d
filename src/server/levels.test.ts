import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { seedParts, type SeedIds } from '../../test/support/catalog-seed.ts';
import type { Level } from '../protocol/api-schema.ts';
import { migrate } from './catalog/migrations.ts';
import { SqliteDriver } from './catalog/sqlite-driver.ts';
import { nothingRead, planLevel, readsEverything } from './levels.ts';

let dir: string;
let db: SqliteDriver;
let ids: SeedIds;
let clock = 1000;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-levels-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
  ids = await seedParts(db);
});
after(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A backup run of the seeded job that ended `status`, with its snapshot; answers the snapshot id. */
async function backupRun(level: Level, status: 'succeeded' | 'failed'): Promise<string> {
  clock += 1000;
  const run = (
    await db.query<{ id: number }>(
      `INSERT INTO runs (job_id, kind, level, requested_level, status, queued_at, agent_id, storage_id) VALUES (?, 'backup', ?, ?, ?, ?, ?, ?) RETURNING id`,
      [ids.job, level, level, status, clock, ids.agent, ids.storage],
    )
  )[0]!.id;
  const snapshot = clock.toString(16).padStart(64, '0');
  await db.run(
    'INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1, ?)',
    [snapshot, ids.job, ids.agent, ids.storage, ids.vault, level, clock, run],
  );
  return snapshot;
}

test('levels resolve as Bacula does, against successful backups only', async () => {
  for (const asked of ['incremental', 'differential'] as const) {
    const first = await planLevel(db, ids.job, asked);
    assert.equal(first.level, 'full');
    assert.equal(first.parent, undefined);
    assert.match(first.note!, new RegExp(`running ${asked} as full`));
  }
  assert.deepEqual(await planLevel(db, ids.job, 'full'), { level: 'full', note: undefined });

  await backupRun('full', 'failed'); // a failed backup is no reference
  assert.equal((await planLevel(db, ids.job, 'incremental')).level, 'full');

  const full = await backupRun('full', 'succeeded');
  const inc1 = await backupRun('incremental', 'succeeded');
  await backupRun('incremental', 'failed');
  assert.deepEqual(await planLevel(db, ids.job, 'incremental'), { level: 'incremental', parent: inc1 });
  assert.deepEqual(await planLevel(db, ids.job, 'differential'), { level: 'differential', parent: full });
  assert.deepEqual(await planLevel(db, ids.job, 'full'), { level: 'full', parent: inc1 });
  const diff = await backupRun('differential', 'succeeded');
  assert.deepEqual(await planLevel(db, ids.job, 'incremental'), { level: 'incremental', parent: diff });
  assert.deepEqual(await planLevel(db, ids.job, 'differential'), { level: 'differential', parent: full });
});

test('full backups and --force-read read everything', () => {
  assert.equal(readsEverything('full', false), true);
  assert.equal(readsEverything('incremental', true), true);
  assert.equal(readsEverything('differential', false), false);
});

test('a backup fails only when nothing could be read', () => {
  const warning = { path: '/gone', reason: 'does not exist' };
  assert.match(nothingRead({ files: 0, warnings: [warning] })!, /^nothing could be read: 1 path\(s\) failed, first \/gone: does not exist$/);
  assert.equal(nothingRead({ files: 3, warnings: [warning] }), undefined);
  assert.equal(nothingRead({ files: 0, warnings: [] }), undefined);
  assert.equal(nothingRead({ files: 0, warnings: [{ path: '', reason: 'reference snapshot unreadable' }] }), undefined);
});
