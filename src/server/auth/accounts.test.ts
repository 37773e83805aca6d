import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { migrate } from '../catalog/migrations.ts';
import { SqliteDriver } from '../catalog/sqlite-driver.ts';
import { Accounts } from './accounts.ts';

let dir: string;
let db: SqliteDriver;
let now: number;
let accounts: Accounts;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-accounts-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
  now = Date.UTC(2025, 0, 1);
  accounts = new Accounts(db, { sessionTtlMs: 60 * 60 * 1000, now: () => now });
});
afterEach(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const unauthorized = (message: RegExp) => (e: unknown) => isCairnError(e, 'E_UNAUTHORIZED') && message.test(e.message);

test('a created user logs in and the session token authenticates as them, with or without the Bearer word', async () => {
  const ann = await accounts.createUser('ann', 'operator', 'ann-password');
  const login = await accounts.login('ann', 'ann-password');
  assert.deepEqual({ ...login, token: undefined }, { token: undefined, user: 'ann', role: 'operator', expiresAt: '2025-01-01T01:00:00.000Z' });
  assert.match(login.token, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(await accounts.authenticate(`Bearer ${login.token}`), ann);
  assert.deepEqual(await accounts.authenticate(login.token), ann);
  const [stored] = await db.query<{ token_hash: Uint8Array }>('SELECT token_hash FROM sessions');
  assert.equal(stored!.token_hash.length, 32, 'only the SHA-256 of the token is kept');
  assert.deepEqual(await accounts.listUsers(), [{ name: 'ann', role: 'operator', createdAt: '2025-01-01T00:00:00.000Z' }]);
  assert.deepEqual(await accounts.userByName('ann'), ann);
  assert.equal(await accounts.userByName('nobody'), undefined);
});

test('a wrong password and an unknown user give the same error', async () => {
  await accounts.createUser('ann', 'user', 'ann-password');
  const wrong = await accounts.login('ann', 'not-the-password').catch((e: unknown) => e);
  const unknown = await accounts.login('zed', 'ann-password').catch((e: unknown) => e);
  assert.ok(isCairnError(wrong, 'E_UNAUTHORIZED') && isCairnError(unknown, 'E_UNAUTHORIZED'));
  assert.equal(wrong.message, 'wrong user name or password');
  assert.equal(unknown.message, wrong.message);
});

test('names, roles and passwords are checked; a taken name conflicts', async () => {
  await accounts.createUser('ann', 'user', 'ann-password');
  await assert.rejects(accounts.createUser('ann', 'admin', 'other-password'), (e) => isCairnError(e, 'E_CONFLICT') && e.message === 'user ann exists');
  await assert.rejects(accounts.createUser('bad name', 'user', 'long-enough'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  await assert.rejects(accounts.createUser('bob', 'root' as never, 'long-enough'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  await assert.rejects(accounts.createUser('bob', 'user', 'short'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  assert.equal(await accounts.userByName('bob'), undefined, 'nothing was created');
});

test('an expired session is refused; logout ends a session', async () => {
  await accounts.createUser('ann', 'user', 'ann-password');
  const first = await accounts.login('ann', 'ann-password');
  now += 60 * 60 * 1000;
  await assert.rejects(accounts.authenticate(first.token), unauthorized(/session expired/));
  const second = await accounts.login('ann', 'ann-password');
  await accounts.authenticate(second.token);
  await accounts.logout(`Bearer ${second.token}`);
  await assert.rejects(accounts.authenticate(second.token), unauthorized(/unknown session/));
  await assert.rejects(accounts.authenticate(undefined), unauthorized(/no bearer token/));
  await assert.rejects(accounts.authenticate('Bearer '), unauthorized(/no bearer token/));
});

test("a removed user's session and API token are refused, and they cannot log in", async () => {
  await accounts.createUser('root', 'admin', 'root-password');
  const ann = await accounts.createUser('ann', 'user', 'ann-password');
  const session = await accounts.login('ann', 'ann-password');
  const api = await accounts.createApiToken(ann, 'ci');
  await accounts.removeUser('ann');
  await assert.rejects(accounts.authenticate(session.token), unauthorized(/unknown session/));
  await assert.rejects(accounts.authenticate(api), unauthorized(/revoked/));
  await assert.rejects(accounts.login('ann', 'ann-password'), unauthorized(/wrong user name or password/));
  assert.deepEqual((await accounts.listUsers()).map((u) => u.name), ['root']);
  await assert.rejects(accounts.removeUser('ann'), (e) => isCairnError(e, 'E_NOT_FOUND'));
  await assert.rejects(accounts.createUser('ann', 'user', 'ann-password'), (e) => isCairnError(e, 'E_CONFLICT'));
});

test('an API token authenticates as its user; a revoked or expired one does not', async () => {
  const bob = await accounts.createUser('bob', 'auditor', 'bob-password');
  const token = await accounts.createApiToken(bob);
  assert.match(token, /^cairnapi_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(await accounts.authenticate(`Bearer ${token}`), bob);
  const [listed] = await accounts.listApiTokens(bob);
  assert.deepEqual({ ...listed, createdAt: undefined }, { id: listed!.id, name: 'api', user: 'bob', createdAt: undefined, expiresAt: null, lastUsed: new Date(now).toISOString() });
  const eve = await accounts.createUser('eve', 'operator', 'eve-password');
  await assert.rejects(accounts.revokeApiToken(eve, listed!.id), (e) => isCairnError(e, 'E_NOT_FOUND') && /no API token/.test(e.message));
  await accounts.revokeApiToken(bob, listed!.id);
  await assert.rejects(accounts.revokeApiToken(bob, listed!.id), (e) => isCairnError(e, 'E_NOT_FOUND'));
  await assert.rejects(accounts.authenticate(`Bearer ${token}`), unauthorized(/unknown or revoked API token/));
  const short = await accounts.createApiToken(bob, 'short', { ttlMs: 1000 });
  await accounts.authenticate(short);
  now += 1000;
  await assert.rejects(accounts.authenticate(short), unauthorized(/expired/));
  await assert.rejects(accounts.authenticate('cairnapi_made-up'), unauthorized(/unknown or revoked/));
});

test('lastUsed is written at most once a minute, not per request', async () => {
  const carl = await accounts.createUser('carl', 'operator', 'carl-password');
  const token = await accounts.createApiToken(carl);
  let writes = 0;
  const run = db.run.bind(db);
  db.run = async (sql, params) => {
    if (/last_used_at/.test(sql)) writes++;
    return run(sql, params);
  };
  try {
    const used = async () => (await accounts.listApiTokens(carl))[0]!.lastUsed;
    await accounts.authenticate(token);
    const first = await used();
    now += 59_999;
    for (let i = 0; i < 10; i++) await accounts.authenticate(token);
    assert.equal(await used(), first);
    assert.equal(writes, 1);
    now += 1;
    await accounts.authenticate(token);
    assert.equal(await used(), new Date(now).toISOString());
    assert.equal(writes, 2);
  } finally {
    db.run = run;
  }
});

test("keepApiToken keeps a live token with time left and replaces a revoked or nearly expired one", async () => {
  const root = await accounts.createUser('root', 'admin', 'root-password');
  const opts = { ttlMs: 100_000, renewBeforeMs: 30_000 };
  const first = await accounts.keepApiToken(root, 'cairn up', undefined, opts);
  assert.equal(await accounts.keepApiToken(root, 'cairn up', first, opts), first);
  now += 70_001; // under 30 s left
  const second = await accounts.keepApiToken(root, 'cairn up', first, opts);
  assert.notEqual(second, first);
  await assert.rejects(accounts.authenticate(first), unauthorized(/revoked/));
  const [only] = await accounts.listApiTokens(root);
  await accounts.revokeApiToken(root, only!.id);
  const third = await accounts.keepApiToken(root, 'cairn up', second, opts);
  assert.notEqual(third, second);
  assert.deepEqual((await accounts.listApiTokens(root)).map((t) => t.name), ['cairn up']);
});

test('the last admin cannot be removed; an admin with a peer can', async () => {
  await accounts.createUser('root', 'admin', 'root-password');
  await assert.rejects(accounts.removeUser('root'), (e) => isCairnError(e, 'E_CONFLICT') && /last admin/.test(e.message));
  await accounts.createUser('root2', 'admin', 'root-password');
  await accounts.removeUser('root');
  await assert.rejects(accounts.removeUser('root2'), (e) => isCairnError(e, 'E_CONFLICT'));
  assert.deepEqual((await accounts.listUsers()).map((u) => u.name), ['root2']);
});

test('a role change holds from the next request; an unknown user is not found; the last admin stays an admin', async () => {
  const ann = await accounts.createUser('ann', 'user', 'ann-password');
  const { token } = await accounts.login('ann', 'ann-password');
  assert.equal(await accounts.setRole('ann', 'auditor'), ann.id);
  assert.deepEqual(await accounts.authenticate(token), { ...ann, role: 'auditor' }, 'the open session has the new role');
  await assert.rejects(accounts.setRole('zed', 'admin'), (e) => isCairnError(e, 'E_NOT_FOUND') && e.message === 'no user zed');
  await assert.rejects(accounts.setRole('ann', 'root' as never), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  await accounts.createUser('root', 'admin', 'root-password');
  await assert.rejects(accounts.setRole('root', 'operator'), (e) => isCairnError(e, 'E_CONFLICT') && /last admin/.test(e.message));
  await accounts.setRole('ann', 'admin');
  await accounts.setRole('root', 'operator');
  assert.deepEqual((await accounts.listUsers()).map((u) => `${u.name}:${u.role}`), ['ann:admin', 'root:operator']);
});
