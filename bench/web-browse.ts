// Benchmark (not a test): the web console's file browser on a 1,000,000-file snapshot (issue 14).
// A real server (`server init`, then `server start`) on a catalog seeded directly: a root of ten
// folders and 100 files, one of the folders (`/big`) a directory of 100,000 files, the nine others 100 folders of 1,000
// files each. Debian's Chromium logs in and opens the browser on the root and on `/big`, three times
// each, both as a fresh page load and as a move inside the app (a folder's link, followed by
// Enter); the time runs from the navigation to the first 50 rows visible. Target: every median
// under 1 s. Prints JSON; exit 1 when a median is 1 s or more.
// Run: npm run bench:web [-- ENTRIES_IN_BIG FILES_PER_FOLDER]
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { type IndexEntry, addEntries } from '../src/server/catalog/file-index.ts';
import { SqliteDriver } from '../src/server/catalog/sqlite-driver.ts';
import { logIn, openConsole } from '../test/e2e/harness.ts';
import { seedParts } from '../test/support/catalog-seed.ts';
import { runCairn } from '../test/support/cli.ts';
import { startDaemon, tempDir } from '../test/support/cluster.ts';

const BIG = Number(process.argv[2] ?? 100_000);
const PER_FOLDER = Number(process.argv[3] ?? 1000);
const TREES = 9;
/** files beside the root's folders, so the root too has more than 50 rows to show */
const ROOT_FILES = 100;
const FOLDERS_PER_TREE = 100;
const ROWS = 50;
const RUNS = 3;
const TARGET_MS = 1000;
const SNAPSHOT = 'b'.repeat(64);
const MTIME = 1_760_000_000_000_000_000n;

function* entries(): Generator<IndexEntry> {
  const dir = (name: string, parent: string) => ({ dir: Buffer.from(parent), name: Buffer.from(name), type: 'dir', size: 0, mtimeNs: MTIME, mode: 0o755 });
  yield dir('big', '/');
  for (let i = 0; i < ROOT_FILES; i++) yield { dir: Buffer.from('/'), name: Buffer.from(`readme-${String(i).padStart(3, '0')}.txt`), type: 'file', size: i, mtimeNs: MTIME, mode: 0o644 };
  for (let i = 0; i < BIG; i++) yield { dir: Buffer.from('/big'), name: Buffer.from(`f-${String(i).padStart(6, '0')}.dat`), type: 'file', size: i, mtimeNs: MTIME + BigInt(i), mode: 0o644 };
  for (let t = 0; t < TREES; t++) {
    const tree = `tree-${t}`;
    yield dir(tree, '/');
    for (let f = 0; f < FOLDERS_PER_TREE; f++) {
      const folder = `sub-${String(f).padStart(3, '0')}`;
      yield dir(folder, `/${tree}`);
      for (let i = 0; i < PER_FOLDER; i++) yield { dir: Buffer.from(`/${tree}/${folder}`), name: Buffer.from(`file-${i}.txt`), type: 'file', size: i, mtimeNs: MTIME, mode: 0o644 };
    }
  }
}

/** Milliseconds from `go` (a navigation) until the first ROWS rows of the listing are visible. */
async function time(page: Page, go: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await go();
  await page.locator('tr[data-entry]').nth(ROWS - 1).waitFor({ state: 'visible', timeout: 30_000 });
  return performance.now() - t;
}

const median = (xs: number[]) => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);

const dataDir = join(tempDir('cairn-bench-web-'), 'server');
const password = 'bench-admin-password';
const init = await runCairn(['server', 'init', '--data', dataDir, '--admin-password-stdin'], {}, `${password}\n`);
if (init.code !== 0) throw new Error(`server init failed: ${init.stderr}`);
// seeded before the server starts: the catalog is the server's own, migrated by `server init`
const db = new SqliteDriver(join(dataDir, 'catalog.db'));
const t = performance.now();
let files = 0;
try {
  const ids = await seedParts(db);
  files = ROOT_FILES + BIG + TREES * FOLDERS_PER_TREE * PER_FOLDER;
  await db.run(`INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes) VALUES (?, ?, ?, ?, ?, 'full', ?, ?, 0)`, [
    SNAPSHOT, ids.job, ids.agent, ids.storage, ids.vault, Date.now(), files,
  ]);
  await addEntries(db, SNAPSHOT, entries());
} finally {
  await db.close();
}
const fillSeconds = +((performance.now() - t) / 1000).toFixed(1);
const server = await startDaemon('server', dataDir, ['server', 'start', '--data', dataDir, '--listen', '127.0.0.1:0']);
const con = await openConsole(server.firstLine.trim());
try {
  const { page } = con;
  await logIn(page, 'admin', password);
  const url = (path: string) => `/snapshots/${SNAPSHOT}?path=${encodeURIComponent(path)}`;
  const results: Record<string, { ms: number[]; medianMs: number }> = {};
  const record = (name: string, ms: number[]) => (results[name] = { ms: ms.map(Math.round), medianMs: median(ms) });
  for (const [name, path] of [['root', '/'], ['big (100,000 entries)', '/big']] as const) {
    const load: number[] = [];
    for (let i = 0; i < RUNS; i++) load.push(await time(page, () => page.goto(url(path))));
    record(`${name}, page load`, load);
  }
  // inside the app: from the root, Enter on the folder's link; back to the root by '..'
  const inApp: number[] = [];
  const back: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await page.goto(url('/'));
    await page.locator('tr[data-entry="tree-8"]').waitFor();
    await page.getByRole('link', { name: 'big', exact: true }).focus();
    inApp.push(await time(page, () => page.keyboard.press('Enter')));
    await page.locator('tr[data-entry="f-000049.dat"]').waitFor();
    await page.getByRole('link', { name: '..', exact: true }).focus();
    back.push(await time(page, () => page.keyboard.press('Enter')));
    await page.locator('tr[data-entry="tree-8"]').waitFor();
  }
  record('big (100,000 entries), from the root in the app', inApp);
  record('root, back from big in the app', back);
  const slowest = Math.max(...Object.values(results).map((r) => r.medianMs));
  console.log(JSON.stringify({ files, bigEntries: BIG, fillSeconds, rows: ROWS, runs: RUNS, results, slowestMedianMs: slowest, targetMs: TARGET_MS }, null, 1));
  if (slowest >= TARGET_MS) process.exitCode = 1;
} finally {
  await con.close();
  await server.stop();
}
