// The delivery queue on a real SQLite catalog and real HTTP receivers in this process (short
// back-offs through the test settings): order per hook, one slow receiver holding up only its
// own hook, the bound of 1,000 waiting per hook, the 24 h window, and a removed hook's queue.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { alertSignature } from '../protocol/alerts.ts';
import { AlertDelivery } from './alert-delivery.ts';
import { addHook, listHooks, removeHook } from './alert-hooks.ts';
import type { Caller } from './auth/accounts.ts';
import { migrate } from './catalog/migrations.ts';
import { SqliteDriver } from './catalog/sqlite-driver.ts';
import type { ServerContext } from './context.ts';

const ADMIN: Caller = { id: 1, name: 'admin', role: 'admin' };
let dir: string;
let db: SqliteDriver;
let delivery: AlertDelivery;
const servers: Server[] = [];
const env = { CAIRN_TEST: '1', CAIRN_TEST_ALERT_BACKOFF_MS: '50', CAIRN_TEST_ALERT_TIMEOUT_MS: '3000' };

type Received = { body: string; signature: string | undefined };

/** A receiver whose answer to each request `answer` decides (a status, or a promise of one). */
async function receiver(answer: (body: string) => number | Promise<number>) {
  const got: Received[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const status = await answer(body);
    if (status >= 200 && status < 300) got.push({ body, signature: req.headers['x-cairn-signature'] as string | undefined });
    res.writeHead(status).end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting: ${what}`);
}

beforeEach(async () => {
  Object.assign(process.env, env);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-alert-delivery-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
  delivery = new AlertDelivery({ db, log: () => {} } as unknown as ServerContext);
});
afterEach(async () => {
  await delivery.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  for (const k of Object.keys(env)) delete process.env[k];
});

test('deliveries of one hook arrive in order, signed; a slow receiver holds up only its own hook', async () => {
  let release: (() => void) | undefined;
  const slow = await receiver(() => new Promise<number>((r) => (release = () => r(200))));
  const fast = await receiver(() => 200);
  const slowHook = await addHook(db, ADMIN, { url: slow.url, events: ['run.failed'] });
  const fastHook = await addHook(db, ADMIN, { url: fast.url, events: ['run.failed'] });
  await delivery.enqueue(slowHook.id, 'run.failed', '{"n":0}');
  for (const n of [1, 2, 3]) await delivery.enqueue(fastHook.id, 'run.failed', `{"n":${n}}`);
  await until('the fast hook got all three', () => fast.got.length === 3);
  assert.deepEqual(fast.got.map((g) => g.body), ['{"n":1}', '{"n":2}', '{"n":3}']);
  assert.equal(fast.got[0]!.signature, alertSignature(fastHook.secret, '{"n":1}'));
  assert.equal(slow.got.length, 0, 'the slow one is still answering');
  await until('the slow receiver was reached', () => release !== undefined);
  release!();
  await until('the slow hook got its one', () => slow.got.length === 1);
  const listed = await listHooks(db);
  assert.deepEqual(listed.map((h) => [h.id, h.pending, h.lastDelivery?.status, h.lastDelivery?.attempts]), [
    [slowHook.id, 0, 200, 1],
    [fastHook.id, 0, 200, 1],
  ]);
});

test('a hook holds at most 1,000 waiting deliveries: a new one pushes out the oldest, counted as dropped', async () => {
  const down = await receiver(() => 503);
  const hook = await addHook(db, ADMIN, { url: down.url, events: ['part.offline'] });
  process.env.CAIRN_TEST_ALERT_BACKOFF_MS = '3600000'; // after its first failed try the head waits an hour
  await db.transaction(async (tx) => {
    for (let i = 0; i < 999; i++) await tx.run('INSERT INTO alert_queue (hook_id, event, body, attempts, created_at, next_at) VALUES (?, ?, ?, 1, ?, ?)', [hook.id, 'part.offline', `{"n":${i}}`, Date.now(), Date.now() + 3600_000]);
  });
  await delivery.enqueue(hook.id, 'part.offline', '{"n":999}');
  assert.equal((await listHooks(db))[0]!.pending, 1000);
  assert.equal((await listHooks(db))[0]!.dropped, 0);
  await delivery.enqueue(hook.id, 'part.offline', '{"n":1000}');
  const [listed] = await listHooks(db);
  assert.equal(listed!.pending, 1000);
  assert.equal(listed!.dropped, 1);
  const bodies = (await db.query<{ body: string }>('SELECT body FROM alert_queue WHERE hook_id = ? ORDER BY id', [hook.id])).map((r) => r.body);
  assert.equal(bodies[0], '{"n":1}', 'the oldest went');
  assert.equal(bodies.at(-1), '{"n":1000}', 'the newest stays');
});

test('a delivery whose next try would fall past its window is given up and counted; the receiver status is kept', async () => {
  process.env.CAIRN_TEST_ALERT_WINDOW_MS = '200';
  const failing = await receiver(() => 500);
  const hook = await addHook(db, ADMIN, { url: failing.url, events: ['run.failed'] });
  await delivery.enqueue(hook.id, 'run.failed', '{}');
  await until('given up', async () => (await listHooks(db))[0]!.dropped === 1);
  const [listed] = await listHooks(db);
  assert.equal(listed!.pending, 0);
  assert.equal(listed!.lastDelivery?.status, 500);
  assert.ok(listed!.lastDelivery!.attempts >= 2, 'tried again within the window before giving up');
  delete process.env.CAIRN_TEST_ALERT_WINDOW_MS;
});

test('a receiver that is not there is recorded by why, and a removed hook takes its waiting deliveries with it', async () => {
  const gone = await receiver(() => 200);
  servers[0]!.close();
  servers[0]!.closeAllConnections();
  const hook = await addHook(db, ADMIN, { url: gone.url, events: ['run.failed'] });
  await delivery.enqueue(hook.id, 'run.failed', '{}');
  await until('tried', async () => (await listHooks(db))[0]!.lastDelivery !== null);
  assert.equal((await listHooks(db))[0]!.lastDelivery?.status, 'ECONNREFUSED');
  await removeHook(db, hook.id);
  assert.deepEqual(await listHooks(db), []);
  assert.deepEqual(await db.query('SELECT id FROM alert_queue'), []);
});
