// Versioned migrations of the catalog's schema. Each migration is applied once, in its own
// transaction together with its row in schema_migrations, so a crash leaves the catalog at the
// previous version or the next, never between. A catalog written by a newer Cairn is refused
// rather than used by code that does not know its tables.
import { CairnError } from '../../core/errors.ts';
import type { CatalogDriver, Dialect } from './driver.ts';
import { schemaV1 } from './schema-v1.ts';
import { schemaV2 } from './schema-v2.ts';
import { schemaV3 } from './schema-v3.ts';
import { schemaV4 } from './schema-v4.ts';
import { schemaV5 } from './schema-v5.ts';
import { schemaV6 } from './schema-v6.ts';
import { schemaV7 } from './schema-v7.ts';

export type Migration = {
  version: number;
  name: string;
  /** The statements to run, in order, for the driver's dialect. */
  statements: (d: Dialect) => string[];
};

/** In version order, starting at 1, without gaps. Never edit a shipped migration: add the next. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', statements: schemaV1 },
  { version: 2, name: 'agent-wrapped vault keys, run of a snapshot', statements: schemaV2 },
  { version: 3, name: 'force-read backup runs', statements: schemaV3 },
  { version: 4, name: 'unattended operation: job settings, part limits, retries', statements: schemaV4 },
  { version: 5, name: 'retention, forget and garbage collection', statements: schemaV5 },
  { version: 6, name: 'monitoring: network samples, throughput, storage figures, alerts, file metadata', statements: schemaV6 },
  { version: 7, name: 'audit log: address, action and target of each entry', statements: schemaV7 },
];

export type MigrateResult = { applied: number[]; version: number };

export async function migrate(driver: CatalogDriver, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  checkOrder(migrations);
  await driver.run(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  const known = migrations.at(-1)?.version ?? 0;
  const current = await catalogVersion(driver);
  if (current > known) {
    throw new CairnError(
      'E_CONFLICT',
      `the catalog is at schema version ${current} but this Cairn knows versions up to ${known}: run a newer Cairn`,
    );
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    await driver.transaction(async (tx) => {
      // Checked again inside the transaction: another process may have applied it meanwhile.
      const done = await tx.query('SELECT version FROM schema_migrations WHERE version = ?', [m.version]);
      if (done.length > 0) return;
      for (const sql of m.statements(tx.dialect)) await tx.run(sql);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        Date.now(),
      ]);
      applied.push(m.version);
    });
  }
  return { applied, version: Math.max(current, known) };
}

/** The highest migration recorded in the catalog; 0 for a fresh one. */
export async function catalogVersion(driver: CatalogDriver): Promise<number> {
  const rows = await driver.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  return Number(rows[0]?.v ?? 0);
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new CairnError('E_INTERNAL', `migration "${m.name}" has version ${m.version}, expected ${i + 1}`);
    }
  });
}
