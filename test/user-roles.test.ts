// Changing a user's role (`cairn user role`, PATCH /api/users/:name) against a real server: the
// role holds from the user's next request on (its session and API token take it), its open event
// streams end so they reopen with the new role, another user's stay open; the last admin stays
// one; a bad role, an unknown user, a missing --role and a caller who is not an admin are refused
// with one clear line, change nothing and (when they reached the server) are audited.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { openStream, stillOpen, within } from './support/event-streams.ts';
import { type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused } from './support/refusals.ts';

const PASSWORD = 'user-roles-password';

describe('cairn user role', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  const bob = { CAIRN_CONFIG: join(tempDir('cairn-user-roles-'), 'bob.json') };
  let bobToken = '';
  before(async () => {
    c = await startCluster();
    api = rawApi(c);
    const added = await c.cli(['user', 'add', 'bob', '--role', 'user', '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    const login = await c.cli(['login', c.url, '--user', 'bob', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], `${PASSWORD}\n`, bob);
    assert.equal(login.code, 0, login.stderr);
    bobToken = (JSON.parse(readFileSync(bob.CAIRN_CONFIG, 'utf8')) as { token: string }).token;
  });
  after(async () => {
    await c?.stop();
  });

  it("holds from the user's next request on and ends its open event streams, not others'", async () => {
    assert.equal((await api.call('/api/audit?limit=1', { token: bobToken })).status, 403, 'a user does not read the audit log');
    const bobs = await openStream(api, bobToken);
    const admins = await openStream(api, api.token);
    const r = await c.cli(['user', 'role', 'bob', '--role', 'auditor']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'user bob is now auditor\n');
    await within(2000, "bob's stream ends", bobs.ended);
    assert.equal(await stillOpen(admins.ended), true, "the admin's stream stays open");
    admins.close();
    assert.equal((await api.call('/api/audit?limit=1', { token: bobToken })).status, 200, 'the same session reads it as an auditor');
    const json = await c.json<{ name: string; role: string }>(['user', 'role', 'bob', '--role', 'operator']);
    assert.deepEqual(json, { name: 'bob', role: 'operator' });
    assert.equal((await c.json<{ name: string; role: string }[]>(['user', 'list'])).find((u) => u.name === 'bob')?.role, 'operator');
    const [entry] = (await api.call('/api/audit?user=admin&limit=1')).json as { what: string; action: string; target: string; result: string }[];
    assert.deepEqual(entry, { ...entry, what: 'PATCH /api/users/bob', action: 'PATCH /api/users/:name', target: 'name="bob" role="operator"', result: 'ok' });
  });

  it('refuses a bad role, an unknown user, a missing --role, the last admin and a caller who is not an admin, changing nothing', async () => {
    await cliRefused(c, api, ['user', 'role', 'bob'], { exit: 2, message: /--role/ });
    await cliRefused(c, api, ['user', 'role', 'bob', '--role', 'root'], {
      exit: 1,
      message: /^cairn: role: must be one of admin, operator, user, auditor$/,
      audit: { what: 'PATCH /api/users/bob', result: 'E_BAD_REQUEST' },
    });
    await cliRefused(c, api, ['user', 'role', 'nobody', '--role', 'user'], { exit: 1, message: /^cairn: no user nobody$/, audit: { what: 'PATCH /api/users/nobody', result: 'E_NOT_FOUND' } });
    await cliRefused(c, api, ['user', 'role', 'admin', '--role', 'operator'], {
      exit: 1,
      message: /^cairn: user admin is the last admin; make another admin first$/,
      audit: { what: 'PATCH /api/users/admin', result: 'E_CONFLICT' },
    });
    await cliRefused(c, api, ['user', 'role', 'bob', '--role', 'admin'], {
      exit: 1,
      env: bob,
      message: /^cairn: role operator may not PATCH \/api\/users\/:name$/,
      audit: { what: 'PATCH /api/users/bob', result: 'E_FORBIDDEN', who: 'bob' },
    });
  });
});
