import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { audit, listAudit } from './audit.ts';
import { migrate } from './catalog/migrations.ts';
import { SqliteDriver } from './catalog/sqlite-driver.ts';

let dir: string;
let db: SqliteDriver;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-audit-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
});
afterEach(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('entries come back newest first, with ISO times, up to the limit', async () => {
  await audit(db, { who: 'ann', what: 'POST /api/jobs home', result: 'ok' }, 1000);
  await audit(db, { who: 'bob', what: 'DELETE /api/agents/x', result: 'E_FORBIDDEN' }, 3000);
  await audit(db, { who: 'agent:laptop', what: 'snapshotCreated', result: 'ok' }, 3000);
  await audit(db, { who: 'cy', what: 'login', result: 'E_UNAUTHORIZED' }, 2000);
  const all = await listAudit(db);
  assert.deepEqual(all.map((e) => e.who), ['agent:laptop', 'bob', 'cy', 'ann']);
  assert.deepEqual(all[3], { time: '1970-01-01T00:00:01.000Z', who: 'ann', what: 'POST /api/jobs home', result: 'ok' });
  assert.deepEqual((await listAudit(db, { limit: 2 })).map((e) => e.who), ['agent:laptop', 'bob']);
  await assert.rejects(listAudit(db, { limit: 0 }), (e) => isCairnError(e, 'E_BAD_REQUEST'));
});
