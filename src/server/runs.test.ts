import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { seedParts, type SeedIds } from '../../test/support/catalog-seed.ts';
import { MAX_RUN_LOG_LINES } from '../protocol/control.ts';
import { migrate } from './catalog/migrations.ts';
import { SqliteDriver } from './catalog/sqlite-driver.ts';
import type { ServerContext } from './context.ts';
import { clearProgress, getRun, liveProgressEvents, PartLog, setProgress, updateRun } from './runs.ts';

let dir: string;
let db: SqliteDriver;
let ids: SeedIds;
const published: { type: string; data: unknown; owner: number | null }[] = [];
let ctx: ServerContext;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-runs-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
  ids = await seedParts(db);
  const events = { publish: (type: string, data: unknown, owner: number | null = null) => published.push({ type, data, owner }) };
  ctx = { db, events, log: () => undefined, kick: () => undefined } as unknown as ServerContext;
});
after(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function queuedRun(): Promise<number> {
  const rows = await db.query<{ id: number }>(
    "INSERT INTO runs (job_id, kind, status, queued_at, agent_id, storage_id) VALUES (?, 'backup', 'queued', 0, ?, ?) RETURNING id",
    [ids.job, ids.agent, ids.storage],
  );
  return Number(rows[0]!.id);
}

test("a running run's progress is kept, checked, shown by the run and sent for its job's owner; it goes when the run ends", async () => {
  const id = await queuedRun();
  published.length = 0;
  assert.equal(await updateRun(ctx, id, { status: 'running', started_at: 1 }, 'queued'), true);
  assert.deepEqual(published.map((p) => [p.type, p.owner]), [['run', ids.user]]);
  setProgress(ctx, id, { phase: 'reading', bytesScanned: 5, bytes: 5, etaSeconds: null, owner: 'not a field' });
  setProgress(ctx, id, { bytesSent: 2, rateBytesPerSec: 1 });
  assert.deepEqual(published.at(-1), { type: 'progress', data: { id, phase: 'reading', bytesScanned: 5, bytes: 5, etaSeconds: null, bytesSent: 2, rateBytesPerSec: 1 }, owner: ids.user });
  assert.deepEqual(liveProgressEvents(), [published.at(-1)]);
  const shown = await getRun(db, id);
  assert.deepEqual(
    [shown.phase, shown.bytes, shown.bytesScanned, shown.bytesSent, shown.rateBytesPerSec, shown.etaSeconds, shown.filesScanned],
    ['reading', 5, 5, 2, 1, null, 0],
  );
  await updateRun(ctx, id, { status: 'succeeded', ended_at: 2 }, 'running');
  clearProgress(id);
  assert.deepEqual(liveProgressEvents(), []);
  assert.equal((await getRun(db, id)).phase, undefined, 'an ended run has no live fields');
});

test("the parts' lines of a run stop at 10,000, then one line says how many more were not kept", async () => {
  const id = await queuedRun();
  const log = new PartLog(ctx);
  for (let i = 0; i < MAX_RUN_LOG_LINES + 2; i++) log.add(id, 'agent:laptop', { level: 'warn', message: `line ${i}` });
  log.add(id, 'storage:nas', { level: 'info', message: 'one more' });
  log.add(id, 'agent:laptop', { message: 42 }); // not a line: ignored
  await log.flush(id);
  const rows = await db.query<{ part: string; message: string; level: string }>('SELECT part, message, level FROM run_log WHERE run_id = ? ORDER BY id', [id]);
  assert.equal(rows.length, MAX_RUN_LOG_LINES + 1);
  assert.deepEqual(rows[0], { part: 'agent:laptop', message: 'line 0', level: 'warn' });
  assert.deepEqual(rows.at(-1), { part: 'server', message: '3 more lines not kept', level: 'warn' });
});
