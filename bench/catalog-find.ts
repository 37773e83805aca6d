// Benchmark (not a test): `GET /api/jobs/:name/find` at its bound. Fills a catalog with 10
// snapshots of one job, each of 1,000,000 entries (1,000 directories of 1,000 files), and times
// the find behind the route for globs of each form, among them one that matches nothing (every
// snapshot read whole) and ones that stop at the limit. Target: under 2 s each (issue 14).
// Run: npm run bench:find [-- ENTRIES_PER_SNAPSHOT]   (exit 1 when a glob takes 2 s or more)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Caller } from '../src/server/auth/accounts.ts';
import { type IndexEntry, addEntries } from '../src/server/catalog/file-index.ts';
import { migrate } from '../src/server/catalog/migrations.ts';
import { SqliteDriver } from '../src/server/catalog/sqlite-driver.ts';
import { FIND_LIMIT, findInJob } from '../src/server/snapshot-find.ts';
import { seedParts } from '../test/support/catalog-seed.ts';

const PER_SNAPSHOT = Number(process.argv[2] ?? 1_000_000);
const SNAPSHOTS = 10;
const PER_DIR = 1000;
const TARGET_MS = 2000;
const GLOBS = ['*.nomatch', 'file-123456.dat', 'file-12345?.dat', '*[7]7777*', '[!f]*', '*.dat'];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-find-'));
const db = new SqliteDriver(path.join(dir, 'catalog.db'));
try {
  await migrate(db);
  const ids = await seedParts(db);
  const caller: Caller = { id: ids.user, name: 'ann', role: 'user' };
  const snapshotId = (s: number) => s.toString(16).padStart(64, '0');
  for (let s = 1; s <= SNAPSHOTS; s++) {
    await db.run(`INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes) VALUES (?, ?, ?, ?, ?, 'full', ?, ?, 0)`, [
      snapshotId(s), ids.job, ids.agent, ids.storage, ids.vault, s * 86_400_000, PER_SNAPSHOT,
    ]);
  }
  function* entries(): Generator<IndexEntry> {
    for (let i = 0; i < PER_SNAPSHOT; i++) {
      yield { dir: Buffer.from(`/home/ann/project-${Math.floor(i / PER_DIR)}/sub`), name: Buffer.from(`file-${i}.dat`), type: 'file', size: i, mtimeNs: 1_700_000_000_000_000_000n + BigInt(i) };
    }
  }
  let t = performance.now();
  await addEntries(db, snapshotId(1), entries());
  // the later snapshots hold the same files, as daily backups of a quiet tree do
  for (let s = 2; s <= SNAPSHOTS; s++)
    await db.run('INSERT INTO files SELECT ?, path_id, name, type, size, mtime_ns, mode, uid, gid, target FROM files WHERE snapshot_pk = 1', [s]);
  const fillSeconds = +((performance.now() - t) / 1000).toFixed(1);
  const results: Record<string, { ms: number; matches: number; truncated: boolean }> = {};
  for (const glob of GLOBS) {
    t = performance.now();
    const answer = await findInJob(db, caller, 'home', glob, FIND_LIMIT);
    results[glob] = { ms: Math.round(performance.now() - t), matches: answer.matches.length, truncated: answer.truncated };
  }
  const slowest = Math.max(...Object.values(results).map((r) => r.ms));
  console.log(JSON.stringify({ snapshots: SNAPSHOTS, entriesPerSnapshot: PER_SNAPSHOT, fillSeconds, limit: FIND_LIMIT, results, slowestMs: slowest, targetMs: TARGET_MS }, null, 1));
  if (slowest >= TARGET_MS) process.exitCode = 1;
} finally {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
