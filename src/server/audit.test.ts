import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { audit, auditFilter, finishAudit, listAudit } from './audit.ts';
import { auditTarget } from './http/audit-target.ts';
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
  assert.deepEqual(all[3], { time: '1970-01-01T00:00:01.000Z', who: 'ann', what: 'POST /api/jobs home', result: 'ok', address: null, action: null, target: null });
  assert.deepEqual((await listAudit(db, { limit: 2 })).map((e) => e.who), ['agent:laptop', 'bob']);
  await assert.rejects(listAudit(db, { limit: 0 }), (e) => isCairnError(e, 'E_BAD_REQUEST'));
});

test('an entry written before its request acted gets its result (and a login its user) afterwards; filters by time and user', async () => {
  const id = await audit(db, { who: 'anonymous', what: 'POST /api/login', result: 'started', address: '127.0.0.1', action: 'POST /api/login', target: 'user="ann"' }, 5000);
  await audit(db, { who: 'bob', what: 'POST /api/jobs', result: 'ok' }, 1000);
  await finishAudit(db, id, 'ok', 'ann');
  assert.deepEqual(await listAudit(db, { user: 'ann' }), [
    { time: '1970-01-01T00:00:05.000Z', who: 'ann', what: 'POST /api/login', result: 'ok', address: '127.0.0.1', action: 'POST /api/login', target: 'user="ann"' },
  ]);
  assert.deepEqual((await listAudit(db, { since: 2000 })).map((e) => e.who), ['ann']);
  assert.deepEqual((await listAudit(db, { since: 0, limit: 1 })).map((e) => e.who), ['ann']);
});

test('the query of GET /api/audit: an ISO time, a user, a limit; anything else is a bad request', () => {
  assert.deepEqual(auditFilter(new URLSearchParams('since=2030-01-07T03:00:00.000Z&user=admin&limit=5')), { since: Date.UTC(2030, 0, 7, 3), user: 'admin', limit: 5 });
  for (const q of ['since=yesterday', 'since=1h', 'limit=0', 'limit=10001', 'limit=-1', 'limit=1.5', 'user='])
    assert.throws(() => auditFilter(new URLSearchParams(q)), (e) => isCairnError(e, 'E_BAD_REQUEST'), q);
});

test('a target names params and plain body fields, never a secret field, a nested object or a URL credential', () => {
  const body = {
    name: 'ann', role: 'user', password: 'hunter22-secret', passphrase: 'pp-secret', token: 'tok-secret', apiToken: 'tok2-secret',
    keyFile: 'kf-secret', wrapped: 'wr-secret', agentKeys: { a1: 'ak-secret' }, secret: 'hook-secret', csr: 'csr-secret',
    url: 'https://user:pw-secret@example.com/hook', paths: ['/etc'], dryRun: true,
  };
  const t = auditTarget({ vault: 'v1' }, body);
  assert.equal(t, 'vault="v1" name="ann" role="user" url="https://***@example.com/hook" dryRun=true');
  assert.doesNotMatch(t, /secret/);
});
