import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { MIGRATIONS, type Migration, catalogVersion, migrate } from './migrations.ts';
import { SqliteDriver } from './sqlite-driver.ts';

let dir: string;
let file: string;
let db: SqliteDriver;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-migrate-'));
  file = path.join(dir, 'catalog.db');
  db = new SqliteDriver(file);
});
afterEach(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('migrate creates every table on a fresh file and records its version', async () => {
  const r = await migrate(db);
  assert.deepEqual(r, { applied: MIGRATIONS.map((m) => m.version), version: MIGRATIONS.length });
  const tables = (await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).map(
    (t) => t.name,
  );
  for (const t of ['users', 'sessions', 'api_tokens', 'enrollment_tokens', 'agents', 'storages', 'vaults', 'jobs', 'runs',
    'run_log', 'snapshots', 'audit_log', 'net_history', 'paths', 'files', 'schema_migrations']) {
    assert.ok(tables.includes(t), `missing table ${t}`);
  }
  assert.equal(await catalogVersion(db), MIGRATIONS.length);
});

test('running migrate again applies nothing, also after reopening the file', async () => {
  await migrate(db);
  assert.deepEqual((await migrate(db)).applied, []);
  await db.close();
  db = new SqliteDriver(file);
  assert.deepEqual(await migrate(db), { applied: [], version: MIGRATIONS.length });
  assert.deepEqual(await db.query('SELECT COUNT(*) AS n FROM schema_migrations'), [{ n: MIGRATIONS.length }]);
});

test('only the missing migrations run, in order', async () => {
  await migrate(db);
  const next: Migration = { version: MIGRATIONS.length + 1, name: 'add a column', statements: () => ['ALTER TABLE users ADD COLUMN email TEXT'] };
  assert.deepEqual((await migrate(db, [...MIGRATIONS, next])).applied, [next.version]);
  await db.run("INSERT INTO users (name, role, password_hash, created_at, email) VALUES ('a', 'admin', 'h', 0, 'a@x')");
});

test('a failing migration leaves the catalog at the previous version', async () => {
  await migrate(db);
  const bad: Migration = {
    version: MIGRATIONS.length + 1,
    name: 'broken',
    statements: () => ['CREATE TABLE half (x INTEGER)', 'THIS IS NOT SQL'],
  };
  await assert.rejects(migrate(db, [...MIGRATIONS, bad]));
  assert.equal(await catalogVersion(db), MIGRATIONS.length);
  assert.deepEqual(await db.query("SELECT name FROM sqlite_master WHERE name = 'half'"), []);
});

test('a catalog from a newer Cairn is refused with E_CONFLICT', async () => {
  await migrate(db);
  await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [MIGRATIONS.length + 1, 'future', 0]);
  await assert.rejects(migrate(db), (e: { code?: string; message?: string }) => {
    assert.equal(e.code, 'E_CONFLICT');
    assert.match(e.message!, new RegExp(`schema version ${MIGRATIONS.length + 1} .*up to ${MIGRATIONS.length}`));
    return true;
  });
});

test('a migration list with a gap is a programming error', async () => {
  await assert.rejects(migrate(db, [{ version: 2, name: 'skips one', statements: () => [] }]), { code: 'E_INTERNAL' });
});
