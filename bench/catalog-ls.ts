// Benchmark (not a test): fills a catalog with a 1,000,000-entry snapshot (1,000 directories of
// 1,000 entries) and times listDir of one directory. Target: under 200 ms (issue 4, `snapshot ls`).
// Run: node bench/catalog-ls.ts [ENTRIES]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type IndexEntry, addEntries, listDir } from '../src/server/catalog/file-index.ts';
import { migrate } from '../src/server/catalog/migrations.ts';
import { SqliteDriver } from '../src/server/catalog/sqlite-driver.ts';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const PER_DIR = 1000;
const SNAPSHOT = 'f'.repeat(64);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-catalog-'));
const db = new SqliteDriver(path.join(dir, 'catalog.db'));
try {
  await migrate(db);
  await db.run("INSERT INTO users (name, role, password_hash, created_at) VALUES ('u', 'admin', 'h', 0)");
  await db.run("INSERT INTO agents (name, cert_fingerprint, enrolled_at) VALUES ('a', 'f', 0)");
  await db.run("INSERT INTO storages (name, cert_fingerprint, enrolled_at) VALUES ('s', 'f', 0)");
  await db.run("INSERT INTO vaults (name, storage_id, key_file, created_at) VALUES ('v', 1, '{}', 0)");
  await db.run(
    "INSERT INTO snapshots (id, agent_id, storage_id, vault_id, level, time, files, bytes) VALUES (?, 1, 1, 1, 'full', 0, 0, 0)",
    [SNAPSHOT],
  );
  function* entries(): Generator<IndexEntry> {
    for (let i = 0; i < TOTAL; i++) {
      const d = Math.floor(i / PER_DIR);
      yield {
        dir: Buffer.from(`/srv/data/project-${d}/sub`),
        name: Buffer.from(`file-${(i * 7919) % PER_DIR}.dat`),
        type: 'file',
        size: i,
        mtimeNs: 1_700_000_000_000_000_000n + BigInt(i),
      };
    }
  }
  let t = performance.now();
  await addEntries(db, SNAPSHOT, entries());
  const fillMs = performance.now() - t;
  const target = Buffer.from(`/srv/data/project-${Math.floor(TOTAL / PER_DIR / 2)}/sub`);
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < 5; i++) {
    t = performance.now();
    count = (await listDir(db, SNAPSHOT, target)).length;
    times.push(performance.now() - t);
  }
  const size = fs.statSync(path.join(dir, 'catalog.db')).size + (fs.statSync(path.join(dir, 'catalog.db-wal'), { throwIfNoEntry: false })?.size ?? 0);
  console.log(
    JSON.stringify({
      entries: TOTAL,
      fillSeconds: +(fillMs / 1000).toFixed(2),
      listed: count,
      listDirMsFirst: +times[0]!.toFixed(2),
      listDirMsMedian: +times.sort((a, b) => a - b)[2]!.toFixed(2),
      catalogMiB: +(size / 2 ** 20).toFixed(1),
    }),
  );
} finally {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
