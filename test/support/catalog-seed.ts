// Test helper for the catalog's tests: one user, agent, storage server, vault and job, ids returned;
// and a migrated catalog so seeded in a temporary folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CatalogDriver } from '../../src/server/catalog/driver.ts';
import { migrate } from '../../src/server/catalog/migrations.ts';
import { SqliteDriver } from '../../src/server/catalog/sqlite-driver.ts';

export type SeedIds = { user: number; agent: number; storage: number; vault: number; job: number };

export async function seedParts(db: CatalogDriver): Promise<SeedIds> {
  const id = async (sql: string, params: (string | number)[]) => (await db.query<{ id: number }>(`${sql} RETURNING id`, params))[0]!.id;
  const user = await id('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)', ['ann', 'user', 'h', 0]);
  const agent = await id('INSERT INTO agents (name, owner_id, cert_fingerprint, enrolled_at) VALUES (?, ?, ?, ?)', ['laptop', user, 'aa', 0]);
  const storage = await id('INSERT INTO storages (name, cert_fingerprint, enrolled_at) VALUES (?, ?, ?)', ['nas', 'bb', 0]);
  const vault = await id('INSERT INTO vaults (name, storage_id, owner_id, key_file, created_at) VALUES (?, ?, ?, ?, ?)', [
    'ann', storage, user, '{}', 0,
  ]);
  const job = await id('INSERT INTO jobs (name, owner_id, agent_id, storage_id, vault_id, paths, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
    'home', user, agent, storage, vault, '["/home/ann"]', 0,
  ]);
  return { user, agent, storage, vault, job };
}

/** A migrated, seeded catalog in a temporary folder for one test file; `close` removes it. */
export async function seededCatalog(prefix: string): Promise<{ db: SqliteDriver; ids: SeedIds; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = new SqliteDriver(join(dir, 'catalog.db'));
  await migrate(db);
  const ids = await seedParts(db);
  return {
    db,
    ids,
    close: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
