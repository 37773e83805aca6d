// The AlertCenter on a real SQLite catalog and a real event hub, with a stand-in for the control
// hub's view of who is online: which part and run events become alerts, the 5-minute throttle
// of part.offline, and what receivers were told surviving a restart of the center. Deliveries
// go to a port nothing listens on with an hour's back-off, so each stays queued to be counted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import type { RunJson } from '../protocol/api-types.ts';
import { addHook } from './alert-hooks.ts';
import { AlertCenter } from './alerts.ts';
import { migrate } from './catalog/migrations.ts';
import { SqliteDriver } from './catalog/sqlite-driver.ts';
import type { ServerContext } from './context.ts';
import { EventHub } from './http/events.ts';
import { DEFAULT_LIMITS } from './queue.ts';

const env = { CAIRN_TEST: '1', CAIRN_TEST_ALERT_BACKOFF_MS: '3600000' };
let dir: string;
let db: SqliteDriver;
let events: EventHub;
let center: AlertCenter;
const online = new Set<string>();
let ctx: ServerContext;

beforeEach(async () => {
  Object.assign(process.env, env);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-alert-center-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
  await db.run("INSERT INTO storages (name, cert_fingerprint, enrolled_at) VALUES ('st1', 'f', 0)");
  await addHook(db, { id: 1, name: 'admin', role: 'admin' }, { url: 'http://127.0.0.1:9/', events: ['part.offline', 'part.online', 'run.failed', 'run.succeeded', 'verify.damaged'] });
  events = new EventHub();
  online.clear();
  ctx = {
    db,
    events,
    hub: { isOnline: (p: { kind: string; name: string }) => online.has(`${p.kind}:${p.name}`) },
    net: { contact: () => undefined }, // no heartbeat heard: lastSeen from the catalog
    log: () => {},
    limits: DEFAULT_LIMITS,
  } as unknown as ServerContext;
  center = new AlertCenter(ctx);
  await center.start();
});
afterEach(async () => {
  await center.close();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  for (const k of Object.keys(env)) delete process.env[k];
});

/** The alerts queued so far, as `EVENT SUBJECT`. */
async function queued(): Promise<string[]> {
  const rows = await db.query<{ body: string }>('SELECT body FROM alert_queue ORDER BY id');
  return rows.map((r) => {
    const b = JSON.parse(r.body) as { event: string; subject: string };
    return `${b.event} ${b.subject}`;
  });
}

/** Publishes a part's transition as parts.ts does, and lets the center handle it. */
async function part(status: 'online' | 'offline', settle = true): Promise<void> {
  if (status === 'online') online.add('storage:st1');
  else online.delete('storage:st1');
  events.publish('part', { kind: 'storage', name: 'st1', status, rttMs: null, lastSeen: null });
  if (settle) await new Promise((r) => setTimeout(r, 100));
}

test('a part going offline is announced once, its return once; a second outage within 5 min is not, nor the return from it', async () => {
  await part('online');
  assert.deepEqual(await queued(), [], 'coming online with no outage announced raises nothing');
  await part('offline');
  await part('online');
  await part('online'); // a heartbeat says online again
  assert.deepEqual(await queued(), ['part.offline storage st1', 'part.online storage st1']);
  await part('offline');
  await part('online');
  assert.deepEqual((await queued()).length, 2, 'flapping within 5 min raises nothing more');
  await db.run("UPDATE alert_marks SET time = time - 300000 WHERE key = 'part.offline:storage:st1'");
  await part('offline');
  assert.deepEqual((await queued()).slice(2), ['part.offline storage st1'], 'five minutes on, an outage is announced again');
  const body = JSON.parse((await db.query<{ body: string }>('SELECT body FROM alert_queue ORDER BY id LIMIT 1'))[0]!.body) as { detail: { name: string; status: string } };
  assert.equal(body.detail.name, 'st1');
  assert.equal(body.detail.status, 'offline');
});

test('an outage announced before a restart of the center is closed by the return after it; a part that reconnects after a restart is not announced', async () => {
  await part('offline');
  await center.close();
  await part('online', false); // parts reconnecting while nothing listens
  online.clear();
  center = new AlertCenter(ctx);
  await center.start();
  await part('online');
  assert.deepEqual(await queued(), ['part.offline storage st1', 'part.online storage st1']);
  await center.close();
  center = new AlertCenter(ctx);
  await center.start();
  await part('online');
  assert.equal((await queued()).length, 2, 'no outage was announced: reconnecting after a restart raises nothing');
});

test('a run raises its alert once when it ends: failed, succeeded, and a damaged verify; canceled and running raise nothing', async () => {
  const run = (id: number, status: string, extra: Partial<RunJson> = {}) => events.publish('run', { id, kind: 'backup', status, damagedTotal: 0, ...extra });
  run(1, 'running');
  run(1, 'failed');
  run(1, 'failed'); // a later change of an ended run
  run(2, 'succeeded');
  run(3, 'canceled');
  run(4, 'failed', { kind: 'verify', damagedTotal: 2 });
  run(5, 'succeeded', { kind: 'verify', damagedTotal: 0 });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await queued(), ['run.failed run 1', 'run.succeeded run 2', 'run.failed run 4', 'verify.damaged run 4', 'run.succeeded run 5']);
});

test('a removed part raises nothing when it goes offline', async () => {
  await part('online');
  await db.run("UPDATE storages SET removed_at = 1 WHERE name = 'st1'");
  await part('offline');
  assert.deepEqual(await queued(), []);
});

test('a part still offline once the start-up grace is over is announced by the periodic check, once', async () => {
  await center.close();
  Object.assign(process.env, { CAIRN_TEST_ALERT_START_GRACE_MS: '0', CAIRN_TEST_ALERT_CHECK_MS: '50' });
  try {
    center = new AlertCenter(ctx);
    await center.start();
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(await queued(), ['part.offline storage st1'], 'down while the server was, announced once');
  } finally {
    delete process.env.CAIRN_TEST_ALERT_START_GRACE_MS;
    delete process.env.CAIRN_TEST_ALERT_CHECK_MS;
  }
});
