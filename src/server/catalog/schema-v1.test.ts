// The initial schema holds what SPEC.md prints for runs and snapshots, and refuses what it forbids.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { migrate } from './migrations.ts';
import { SqliteDriver } from './sqlite-driver.ts';
import { seedParts } from '../../../test/support/catalog-seed.ts';

let dir: string;
let db: SqliteDriver;
let ids: Awaited<ReturnType<typeof seedParts>>;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-schema-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
  ids = await seedParts(db);
});
after(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a run keeps every field SPEC.md lists and reads back the same', async () => {
  const warnings = JSON.stringify([{ path: '/etc/shadow', reason: 'permission denied' }]);
  const [run] = await db.query<{ id: number }>(
    `INSERT INTO runs (job_id, kind, level, requested_level, status, reason, queued_at, started_at, ended_at, agent_id,
       storage_id, snapshot, files, files_changed, bytes, bytes_read, bytes_new, warnings, error, damaged, pretreatment)
     VALUES (?, 'backup', 'full', 'incremental', 'succeeded', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '[]', NULL)
     RETURNING id`,
    [ids.job, 1000, 2000, 3000, ids.agent, ids.storage, 'ab'.repeat(32), 12, 11, 5_000_000_000, 4_000_000_000, 123, warnings],
  );
  assert.ok(run);
  const rows = await db.query(
    `SELECT r.kind, r.level, r.requested_level, r.status, r.queued_at, r.started_at, r.ended_at, r.snapshot, r.files,
       r.files_changed, r.bytes, r.bytes_read, r.bytes_new, r.warnings, r.error, r.damaged, j.name AS job, a.name AS agent,
       s.name AS storage
     FROM runs r JOIN jobs j ON j.id = r.job_id JOIN agents a ON a.id = r.agent_id JOIN storages s ON s.id = r.storage_id
     WHERE r.id = ?`,
    [run.id],
  );
  assert.deepEqual(rows, [
    {
      kind: 'backup', level: 'full', requested_level: 'incremental', status: 'succeeded', queued_at: 1000,
      started_at: 2000, ended_at: 3000, snapshot: 'ab'.repeat(32), files: 12, files_changed: 11, bytes: 5_000_000_000,
      bytes_read: 4_000_000_000, bytes_new: 123, warnings, error: null, damaged: '[]', job: 'home', agent: 'laptop',
      storage: 'nas',
    },
  ]);
});

test('a run with an unknown status or kind is refused', async () => {
  await assert.rejects(db.run("INSERT INTO runs (kind, status, queued_at) VALUES ('backup', 'paused', 0)"), /CHECK/);
  await assert.rejects(db.run("INSERT INTO runs (kind, status, queued_at) VALUES ('dance', 'queued', 0)"), /CHECK/);
});

test('snapshots read back newest first for a job', async () => {
  for (const [i, level] of (['full', 'incremental', 'differential'] as const).entries()) {
    await db.run(
      `INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [String(i).repeat(64), ids.job, ids.agent, ids.storage, ids.vault, level, 1000 * (i + 1), 10 + i, 2 ** 40 + i],
    );
  }
  const rows = await db.query<{ id: string; level: string; time: number; bytes: number }>(
    'SELECT id, level, time, bytes FROM snapshots WHERE job_id = ? ORDER BY time DESC',
    [ids.job],
  );
  assert.deepEqual(rows.map((r) => [r.id[0], r.level, r.time, r.bytes]), [
    ['2', 'differential', 3000, 2 ** 40 + 2],
    ['1', 'incremental', 2000, 2 ** 40 + 1],
    ['0', 'full', 1000, 2 ** 40],
  ]);
});

test('a removed agent frees its name; two live agents cannot share one', async () => {
  const add = () => db.run("INSERT INTO agents (name, cert_fingerprint, enrolled_at) VALUES ('twin', 'f', 0)");
  await add();
  await assert.rejects(add(), { code: 'E_CONFLICT', message: /agents.name/ });
  await db.run("UPDATE agents SET removed_at = 1 WHERE name = 'twin'");
  await add();
});

test('foreign keys are enforced', async () => {
  await assert.rejects(db.run("INSERT INTO run_log (run_id, time, message) VALUES (999999, 0, 'x')"), /FOREIGN KEY/);
});
