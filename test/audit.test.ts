// The audit log says what happened, on real processes (server, storage s1, agent a1) with the
// test clock: a change is written with the TCP peer's address, its action (the route pattern) and
// its target (the names acted on); refused reads (403, 404), failed logins (with the name tried)
// and logouts are in it; a scheduled backup and a retention are written by `scheduler`; no password, API token,
// session token or passphrase ever lands in any row; when the audit log cannot be written the
// request is answered 503 and does nothing; `cairn audit` filters by time, user and count.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { pollUntil } from './support/crash-support.ts';
import { auditCount, auditSince, errorOf, type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused } from './support/refusals.ts';
import { TestClock } from './support/test-clock.ts';

type Entry = { time: string; who: string; what: string; result: string; address: string | null; action: string | null; target: string | null };

const day = (d: number, h: number, m: number, s = 0) => Date.UTC(2030, 0, d, h, m, s);
const PASSPHRASE = 'audit test passphrase words';
const BOB_PASSWORD = 'bob-password-for-audit';
const CAROL_PASSWORD = 'carol-password-for-audit';

describe('the audit log', { concurrency: 1 }, () => {
  const clock = new TestClock();
  const failFile = join(tempDir('cairn-audit-fail-'), 'fail');
  let c: Cluster;
  let api: RawApi;
  let bobToken: string;
  let apiToken: string;
  const entries = async () => (await api.call('/api/audit?limit=10000')).json as Entry[];

  before(async () => {
    clock.set(day(7, 3, 0));
    c = await startCluster({ agents: ['a1'], storages: ['s1'], env: { ...clock.env(), CAIRN_TEST_AUDIT_FAIL_FILE: failFile } });
    api = rawApi(c);
    const src = tempDir('cairn-audit-src-');
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    const made = await c.cli(['job', 'create', 'nightly', '--agent', 'a1', '--storage', 's1', '--path', src, '--schedule', '30 3 * * *=incremental', '--keep-last', '1', '--json'], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(made.code, 0, made.stderr);
    const bob = await c.cli(['user', 'add', 'bob', '--role', 'user', '--password-stdin'], `${BOB_PASSWORD}\n`);
    assert.equal(bob.code, 0, bob.stderr);
    const login = await api.call('/api/login', { body: { user: 'bob', password: BOB_PASSWORD }, token: null });
    assert.equal(login.status, 200, login.text);
    bobToken = (login.json as { token: string }).token;
    const token = await c.json<{ token: string }>(['token', 'create', '--kind', 'api', '--name', 'ci']);
    apiToken = token.token;
    const used = await api.call('/api/jobs', { token: apiToken });
    assert.equal(used.status, 200, used.text);
  });
  after(async () => {
    await c?.stop();
  });

  it('a change is written with who, address, action, target and result', async () => {
    const added = await c.cli(['user', 'add', 'carol', '--role', 'operator', '--password-stdin'], `${CAROL_PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    const run = await c.cli(['job', 'run', 'nightly', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const all = await entries();
    const user = all.find((e) => e.what === 'POST /api/users' && e.target?.includes('name="carol"'));
    assert.ok(user, JSON.stringify(all.slice(0, 5)));
    assert.equal(user.who, 'admin');
    assert.match(user.address ?? '', /127\.0\.0\.1$/);
    assert.equal(user.action, 'POST /api/users');
    assert.equal(user.target, 'name="carol" role="operator"');
    assert.equal(user.result, 'ok');
    const ran = all.find((e) => e.what === 'POST /api/jobs/nightly/runs');
    assert.ok(ran, JSON.stringify(all.slice(0, 5)));
    assert.deepEqual([ran.who, ran.action, ran.result], ['admin', 'POST /api/jobs/:name/runs', 'ok']);
    assert.match(ran.target ?? '', /^name="nightly"/);
  });

  it('refused reads are written: a user asking for the audit log (403), another owner’s job (404)', async () => {
    const count = await auditCount(api);
    const forbidden = await api.call('/api/audit', { token: bobToken });
    assert.equal(forbidden.status, 403, forbidden.text);
    const hidden = await api.call('/api/jobs/nightly', { token: bobToken });
    assert.equal(hidden.status, 404, hidden.text);
    const anonymous = await api.call('/api/jobs', { token: null });
    assert.equal(anonymous.status, 401, anonymous.text);
    const fresh = ((await auditSince(api, count)) as Entry[]).filter((e) => e.who !== 'scheduler');
    assert.deepEqual(
      fresh.map((e) => [e.who, e.what, e.action, e.target, e.result]).reverse(),
      [
        ['bob', 'GET /api/audit', 'GET /api/audit', null, 'E_FORBIDDEN'],
        ['bob', 'GET /api/jobs/nightly', 'GET /api/jobs/:name', 'name="nightly"', 'E_NOT_FOUND'],
        ['anonymous', 'GET /api/jobs', 'GET /api/jobs', null, 'E_UNAUTHORIZED'],
      ],
    );
    assert.ok(fresh.every((e) => /127\.0\.0\.1$/.test(e.address ?? '')), JSON.stringify(fresh));
  });

  it('a failed login is written with the name tried, a login with the user, a logout with who ended it', async () => {
    const count = await auditCount(api);
    const failed = await api.call('/api/login', { body: { user: 'mallory', password: 'not-the-password' }, token: null });
    assert.equal(failed.status, 401, failed.text);
    const carol = await api.call('/api/login', { body: { user: 'carol', password: CAROL_PASSWORD }, token: null });
    assert.equal(carol.status, 200, carol.text);
    const out = await api.call('/api/logout', { method: 'POST', token: (carol.json as { token: string }).token });
    assert.equal(out.status, 201, out.text);
    // the scheduler may write its own lines meanwhile (the earlier scheduled backup's retention)
    const fresh = ((await auditSince(api, count)) as Entry[]).filter((e) => e.who !== 'scheduler');
    assert.deepEqual(
      fresh.map((e) => [e.who, e.action, e.target, e.result]).reverse(),
      [
        ['anonymous', 'POST /api/login', 'user="mallory"', 'E_UNAUTHORIZED'],
        ['carol', 'POST /api/login', 'user="carol"', 'ok'],
        ['carol', 'POST /api/logout', null, 'ok'],
      ],
    );
  });

  it('a scheduled backup is written by scheduler, before it runs', async () => {
    clock.set(day(7, 3, 29, 58));
    let found: Entry | undefined;
    await pollUntil('the scheduler wrote its entry', async () => {
      found = (await entries()).find((e) => e.who === 'scheduler' && e.action === 'schedule.backup');
      return found !== undefined;
    });
    assert.equal(found!.target, 'job="nightly" level=incremental slot=03:30');
    assert.equal(found!.result, 'ok');
    assert.equal(found!.what, 'scheduled backup of job nightly');
    // the job keeps its last snapshot: after a successful backup the server applies it by itself
    let retention: Entry | undefined;
    await pollUntil('retention wrote its entry', async () => {
      retention = (await entries()).find((e) => e.who === 'scheduler' && e.action === 'retention.forget');
      return retention !== undefined;
    });
    assert.match(retention!.target ?? '', /^job="nightly" run=\d+$/);
    const mine = await c.json<Entry[]>(['audit', '--user', 'scheduler', '--json']);
    assert.ok(mine.length >= 1 && mine.every((e) => e.who === 'scheduler'), JSON.stringify(mine));
  });

  it('when the audit log cannot be written the request is answered 503 and does nothing', async () => {
    writeFileSync(failFile, '');
    try {
      const r = await c.cli(['user', 'add', 'dave', '--role', 'user', '--password-stdin'], 'dave-password-for-audit\n');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^cairn: the audit log cannot be written: nothing was done/);
      const raw = await api.call('/api/jobs/nightly/runs', { body: {} });
      assert.equal(raw.status, 503, raw.text);
      assert.equal(errorOf(raw).code, 'E_UNAVAILABLE');
    } finally {
      rmSync(failFile, { force: true });
    }
    const users = await c.json<{ name: string }[]>(['user', 'list']);
    assert.ok(!users.some((u) => u.name === 'dave'), 'dave was not added');
    const all = await entries();
    assert.ok(!all.some((e) => e.target?.includes('dave')), 'and nothing was written about it');
  });

  it('cairn audit --since 1h --user admin --limit 5 filters; bad values exit 2 and reach nothing', async () => {
    const five = await c.json<Entry[]>(['audit', '--since', '1h', '--user', 'admin', '--limit', '5']);
    assert.equal(five.length, 5);
    assert.ok(five.every((e) => e.who === 'admin'), JSON.stringify(five));
    assert.ok(five.every((e) => Date.now() - Date.parse(e.time) < 3600_000));
    const bob = await c.json<Entry[]>(['audit', '--user', 'bob']);
    assert.deepEqual([...new Set(bob.map((e) => e.who))], ['bob']);
    const none = await c.json<Entry[]>(['audit', '--since', '0', '--user', 'admin']);
    assert.deepEqual(none, [], 'nothing written after this instant');
    const text = await c.cli(['audit', '--limit', '1']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^TIME +WHO +ADDRESS +ACTION +TARGET +RESULT\n/);
    for (const [args, message] of [
      [['--limit', '0'], /--limit must be a whole number of at least 1: 0/],
      [['--limit', 'x'], /--limit must be a whole number/],
      [['--limit', '10001'], /--limit must be at most 10000/],
      [['--since', 'soon'], /--since: not a duration/],
      [['--user', ''], /--user must name a user/],
    ] as const) {
      await cliRefused(c, api, ['audit', ...args], { exit: 2, message });
    }
    const bad = await api.call('/api/audit?since=yesterday');
    assert.equal(bad.status, 400, bad.text);
    assert.match(errorOf(bad).message ?? '', /since: not an ISO 8601 time/);
  });

  it('no password, API token, session token or passphrase is in any row of the audit table', async () => {
    // requests that carry every kind of secret, accepted and refused
    await api.call('/api/login', { body: { user: 'bob', password: `${BOB_PASSWORD}-wrong` }, token: null });
    await api.call('/api/users', { body: { name: 'erin', role: 'user', password: 'erin-password-for-audit' } });
    await api.call('/api/users', { body: { name: 'erin2', role: 'god', password: 'erin2-password-for-audit' } });
    await api.call('/api/jobs', { method: 'POST', token: apiToken, body: { name: 'j2', agent: 'a1', storage: 's1', vault: 'admin.s1', paths: ['/tmp'], passphrase: PASSPHRASE } });
    const secrets = [c.adminPassword, BOB_PASSWORD, CAROL_PASSWORD, 'erin-password-for-audit', 'erin2-password-for-audit', apiToken, bobToken, api.token, PASSPHRASE];
    const catalog = new DatabaseSync(join(c.serverDir, 'catalog.db'), { readOnly: true });
    try {
      const rows = catalog.prepare('SELECT * FROM audit_log').all();
      assert.ok(rows.length > 20, `the table has the test's entries (${rows.length})`);
      const table = JSON.stringify(rows);
      for (const s of secrets) assert.ok(!table.includes(s), `a secret is in the audit log: ${s.slice(0, 6)}…`);
      assert.match(table, /name=\\"erin\\"/, 'the entries are there, without their secrets');
    } finally {
      catalog.close();
    }
  });
});
