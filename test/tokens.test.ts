// API tokens and sessions (issue 13 item 3) against a real server process: `cairn login` with an
// API token (stdin or CAIRN_API_TOKEN), refused and not saved when the server does not accept it;
// `token list` (who, created, expires, last used, the last written at most once a minute) and
// `token revoke ID`, refused at once and its event streams ended; logout ending a session (and
// its streams) on the server but only forgetting an API token; an expired session refused; a removed user's open event streams ended and its
// tokens refused; --ttl bounds. Every refusal changes nothing stored. `cairn up` keeping its one
// API token is at the end.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificateFingerprint } from '../src/core/tls.ts';
import type { ApiTokenJson } from '../src/protocol/api-token.ts';
import { type Cluster, startCluster, startDaemon, tempDir } from './support/cluster.ts';
import { runCairn } from './support/cli.ts';
import { openStream, stillOpen, within } from './support/event-streams.ts';
import { type RawApi, rawApi } from './support/raw-api.ts';
import { unchanged } from './support/refusals.ts';

const DAY = 86_400_000;

/** A console for one user: its own login file. */
type Console = { config: string; cli: (args: string[], stdin?: string, env?: Record<string, string>) => ReturnType<Cluster['cli']> };

function tokenOf(config: string): string {
  return (JSON.parse(readFileSync(config, 'utf8')) as { token: string }).token;
}

describe('API tokens and sessions', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let ann: Console;
  let olly: Console;
  const ca = () => join(c.serverDir, 'ca.pem');
  const admin = (): Console => ({ config: '', cli: c.cli });
  const consoleFor = (): Console => {
    const config = join(tempDir('cairn-tokens-cli-'), 'cli.json');
    return { config, cli: (args, stdin, env = {}) => c.cli(args, stdin, { CAIRN_CONFIG: config, ...env }) };
  };
  const passwordLogin = async (user: string): Promise<Console> => {
    const con = consoleFor();
    const r = await con.cli(['login', c.url, '--user', user, '--password-stdin', '--ca', ca()], `${user}-password-for-tests\n`);
    assert.equal(r.code, 0, r.stderr);
    return con;
  };
  const addUser = async (name: string, role: string) => {
    const r = await c.cli(['user', 'add', name, '--role', role, '--password-stdin'], `${name}-password-for-tests\n`);
    assert.equal(r.code, 0, r.stderr);
  };
  const listAs = async (con: Console): Promise<ApiTokenJson[]> => {
    const r = await con.cli(['token', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ApiTokenJson[];
  };
  const apiToken = async (con: Console, args: string[] = []): Promise<string> => {
    const r = await con.cli(['token', 'create', '--kind', 'api', ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { token: string }).token;
  };
  /** A refusal: exit status and one stderr line, and neither the catalog nor anyone's tokens changed. */
  const refused = async (con: Console, args: string[], exit: 1 | 2, message: RegExp, stdin?: string, env?: Record<string, string>) => {
    const tokensBefore = await listAs(admin());
    const { result: r } = await unchanged(api, () => con.cli(args, stdin, env));
    assert.equal(r.code, exit, `cairn ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual((await listAs(admin())).map(({ lastUsed: _, ...t }) => t), tokensBefore.map(({ lastUsed: _, ...t }) => t));
  };

  before(async () => {
    c = await startCluster();
    api = rawApi(c);
    await addUser('ann', 'user');
    await addUser('olly', 'operator');
    ann = await passwordLogin('ann');
    olly = await passwordLogin('olly');
  });
  after(() => c?.stop());

  it('logs in with --api-token-stdin and with CAIRN_API_TOKEN; a token the server refuses is not saved', async () => {
    const token = await apiToken(ann, ['--name', 'ci', '--ttl', '30d']);
    const viaStdin = consoleFor();
    const r = await viaStdin.cli(['login', c.url, '--api-token-stdin', '--ca', ca()], `${token}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /logged in to \S+ as ann with an API token/);
    assert.equal(tokenOf(viaStdin.config), token);
    assert.equal(statSync(viaStdin.config).mode & 0o777, 0o600);
    assert.deepEqual((await listAs(viaStdin)).map((t) => t.name), ['ci']);

    const viaEnv = consoleFor();
    const fingerprint = certificateFingerprint(readFileSync(ca(), 'utf8'));
    const e = await viaEnv.cli(['login', c.url, '--fingerprint', fingerprint], undefined, { CAIRN_API_TOKEN: token });
    assert.equal(e.code, 0, e.stderr);
    assert.equal(tokenOf(viaEnv.config), token);

    const bad = consoleFor();
    await refused(bad, ['login', c.url, '--api-token-stdin', '--ca', ca()], 1, /unknown or revoked API token/, 'cairnapi_not-a-real-token\n');
    assert.equal(existsSync(bad.config), false, 'a refused token is not saved');
    await refused(bad, ['login', c.url, '--ca', ca()], 2, /an API token starts with cairnapi_/, undefined, { CAIRN_API_TOKEN: 'session-looking' });
    await refused(bad, ['login', c.url, '--ca', ca()], 2, /give --user NAME .* or an API token/, undefined, { CAIRN_API_TOKEN: '' });
    await refused(bad, ['login', c.url, '--user', 'ann', '--api-token-stdin', '--ca', ca()], 2, /not both/, `${token}\n`);
    assert.equal(existsSync(bad.config), false);
  });

  it('token list shows who, created, expires and last used, written at most once a minute', async () => {
    const token = await apiToken(olly); // default lifetime: 90 days
    const mine = (await listAs(olly)).filter((t) => t.user === 'olly');
    assert.equal(mine.length, 1);
    const t = mine[0]!;
    assert.equal(t.name, 'api');
    assert.equal(Date.parse(t.expiresAt!) - Date.parse(t.createdAt), 90 * DAY);
    assert.equal(t.lastUsed, null, 'not used yet');
    assert.ok((await listAs(olly)).every((x) => x.user === 'olly'), 'an operator sees its own tokens only');
    assert.deepEqual(new Set((await listAs(admin())).map((x) => x.user)), new Set(['ann', 'olly']), 'an admin sees all');

    const use = async () => assert.equal((await api.call('/api/jobs', { token })).status, 200);
    const lastUsed = async () => ((await api.call('/api/tokens', { token })).json as ApiTokenJson[]).find((x) => x.id === t.id)!.lastUsed;
    await use();
    const first = await lastUsed();
    assert.ok(first !== null && Math.abs(Date.parse(first) - Date.now()) < 60_000, `lastUsed ${first}`);
    await new Promise((r) => setTimeout(r, 20)); // a rewrite would now show a later millisecond
    await use();
    await use();
    assert.equal(await lastUsed(), first, 'not rewritten within the minute');
    assert.equal((await listAs(olly)).find((x) => x.id === t.id)!.lastUsed, first);
  });

  it('token revoke: refused at once; another user\'s or an unknown id is refused and nothing changes', async () => {
    const token = await apiToken(ann, ['--name', 'gone']);
    const id = (await listAs(ann)).find((t) => t.name === 'gone')!.id;
    assert.equal((await api.call('/api/jobs', { token })).status, 200);
    const stream = await openStream(api, token);
    const other = await openStream(api, tokenOf(ann.config)); // ann's session: stays
    await refused(olly, ['token', 'revoke', String(id)], 1, new RegExp(`no API token ${id}`));
    await refused(ann, ['token', 'revoke', '99999'], 1, /no API token 99999/);
    await refused(ann, ['token', 'revoke', 'abc'], 2, /ID must be a token's id/);
    const http = await api.call(`/api/tokens/${id}`, { method: 'DELETE', token: tokenOf(olly.config) });
    assert.equal(http.status, 404, http.text);
    const r = await ann.cli(['token', 'revoke', String(id)]);
    assert.equal(r.code, 0, r.stderr);
    await within(2000, 'the revoked token\'s event stream ends', stream.ended);
    assert.equal(await stillOpen(other.ended), true, 'a stream of another token stays open');
    other.close();
    const after = await api.call('/api/jobs', { token });
    assert.equal(after.status, 401, after.text);
    assert.match(after.text, /unknown or revoked API token/);
    assert.equal((await listAs(ann)).some((t) => t.id === id), false);
    // an admin revokes anyone's
    const ollys = await apiToken(olly, ['--name', 'ops']);
    const ollyId = (await listAs(olly)).find((t) => t.name === 'ops')!.id;
    assert.equal((await c.cli(['token', 'revoke', String(ollyId)])).code, 0);
    assert.equal((await api.call('/api/jobs', { token: ollys })).status, 401);
  });

  it('--ttl: durations or seconds, within 30 days (enrollment) and 1 year (api)', async () => {
    await refused(ann, ['token', 'create', '--kind', 'api', '--ttl', '2y'], 2, /--ttl must be a whole number of seconds or a duration/);
    await refused(ann, ['token', 'create', '--kind', 'api', '--ttl', 'abc'], 2, /--ttl must be a whole number of seconds or a duration/);
    await refused(ann, ['token', 'create', '--kind', 'api', '--ttl', '400d'], 2, /--ttl 400d: an API token lives at most 365d/);
    await refused(ann, ['token', 'create', '--kind', 'agent', '--ttl', '31d'], 2, /--ttl 31d: an enrollment token lives at most 30d/);
    await refused(ann, ['token', 'create', '--kind', 'agent', '--name', 'x'], 2, /--name is for an api token only/);
    const month = await api.call('/api/tokens', { body: { kind: 'agent', ttlSeconds: 31 * 86400 } });
    assert.equal(month.status, 400, month.text);
    assert.match(month.text, /ttlSeconds: an enrollment token lives at most 30d/);
    const year = await api.call('/api/tokens', { body: { kind: 'api', ttlSeconds: 366 * 86400 } });
    assert.equal(year.status, 400, year.text);
    assert.match(year.text, /ttlSeconds: must be at most 31536000/);
    await apiToken(ann, ['--name', 'hour', '--ttl', '3600']);
    await apiToken(ann, ['--name', 'year', '--ttl', '365d']);
    const listed = await listAs(ann);
    const life = (name: string) => {
      const t = listed.find((x) => x.name === name)!;
      return Date.parse(t.expiresAt!) - Date.parse(t.createdAt);
    };
    assert.equal(life('hour'), 3_600_000);
    assert.equal(life('year'), 365 * DAY);
  });

  it('logout ends a password session on the server and only forgets an API token', async () => {
    const token = await apiToken(ann, ['--name', 'kept']);
    const viaToken = consoleFor();
    assert.equal((await viaToken.cli(['login', c.url, '--ca', ca()], undefined, { CAIRN_API_TOKEN: token })).code, 0);
    const out = await viaToken.cli(['logout']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /forgot the API token here; .*token revoke/);
    assert.equal(existsSync(viaToken.config), false);
    assert.equal((await api.call('/api/jobs', { token })).status, 200, 'the token still works');

    const session = await passwordLogin('ann');
    const sessionToken = tokenOf(session.config);
    assert.equal((await api.call('/api/jobs', { token: sessionToken })).status, 200);
    const stream = await openStream(api, sessionToken);
    const bye = await session.cli(['logout']);
    assert.equal(bye.code, 0, bye.stderr);
    await within(2000, "the session's event stream ends", stream.ended);
    assert.match(bye.stdout, /^logged out$/m);
    const refusedAfter = await api.call('/api/jobs', { token: sessionToken });
    assert.equal(refusedAfter.status, 401, refusedAfter.text);
    assert.match(refusedAfter.text, /unknown session/);
    // a session that ended on the server meanwhile (here: this very one, logged out elsewhere) is forgotten
    const again = await passwordLogin('ann');
    assert.equal((await api.call('/api/logout', { method: 'POST', token: tokenOf(again.config) })).status, 201);
    const late = await again.cli(['logout']);
    assert.equal(late.code, 0, late.stderr);
    assert.match(late.stdout, /the session had ended already; logged out/);
    assert.equal(existsSync(again.config), false);
  });

  it("removing a user ends its open event streams at once and its tokens are refused", async () => {
    await addUser('rita', 'user');
    const rita = await passwordLogin('rita');
    const session = tokenOf(rita.config);
    const token = await apiToken(rita);
    const bySession = await openStream(api, session);
    const byToken = await openStream(api, token);
    const admins = await openStream(api, api.token);
    const removed = await c.cli(['user', 'remove', 'rita']);
    assert.equal(removed.code, 0, removed.stderr);
    await within(2000, "rita's session stream ends", bySession.ended);
    await within(2000, "rita's token stream ends", byToken.ended);
    assert.equal(await stillOpen(admins.ended), true, "the admin's stream stays open");
    admins.close();
    for (const t of [session, token]) {
      const a = await api.call('/api/jobs', { token: t });
      assert.equal(a.status, 401, a.text);
    }
    assert.equal((await listAs(admin())).some((t) => t.user === 'rita'), false);
  });

  it('an expired session is refused (a server whose sessions last 5 s)', async () => {
    const short = await startCluster({ env: { CAIRN_TEST: '1', CAIRN_TEST_SESSION_TTL_MS: '5000' } });
    try {
      const shortApi = rawApi(short);
      const loggedIn = Date.now();
      const token = (await shortApi.call('/api/tokens', { body: { kind: 'api' } })).json as { token: string };
      assert.equal((await shortApi.call('/api/jobs')).status, 200);
      await new Promise((r) => setTimeout(r, Math.max(0, loggedIn + 5500 - Date.now())));
      const a = await shortApi.call('/api/jobs');
      assert.equal(a.status, 401, a.text);
      assert.match(a.text, /session expired; log in again/);
      assert.equal((await shortApi.call('/api/jobs', { token: token.token })).status, 200, 'an API token lives on');
      const r = await short.cli(['job', 'list']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /session expired; log in again/);
    } finally {
      await short.stop();
    }
  });
});

it('cairn up keeps one API token named "cairn up", and replaces a revoked one', async () => {
  const root = tempDir('cairn-up-token-');
  const data = join(root, 'data');
  const env = { HOME: root, CAIRN_CONFIG: join(root, 'cli.json') };
  const cli = (args: string[]) => runCairn(args, env);
  const upTokens = async () => {
    const r = await cli(['token', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as ApiTokenJson[]).filter((t) => t.name === 'cairn up');
  };
  const upOnce = async (first = false) => {
    const up = await startDaemon('up', data, ['up', '--data', data, ...(first ? ['--listen', '127.0.0.1:0'] : [])], env);
    for (let i = 0; i < 300 && !/agent: \S+/.test(up.stdout()); i++) await new Promise((r) => setTimeout(r, 100));
    return up;
  };
  let up = await upOnce(true);
  try {
    const first = tokenOf(env.CAIRN_CONFIG);
    const [one] = await upTokens();
    assert.ok(one, 'a cairn up token');
    assert.equal(one.user, 'admin');
    await up.stop();
    up = await upOnce();
    assert.equal(tokenOf(env.CAIRN_CONFIG), first, 'kept across runs');
    assert.deepEqual((await upTokens()).map((t) => t.id), [one.id]);
    const revoked = await cli(['token', 'revoke', String(one.id)]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await cli(['token', 'list'])).code, 1, 'the revoked token is refused');
    await up.stop();
    up = await upOnce();
    const replaced = tokenOf(env.CAIRN_CONFIG);
    assert.notEqual(replaced, first);
    const now = await upTokens();
    assert.equal(now.length, 1);
    assert.notEqual(now[0]!.id, one.id);
  } finally {
    await up.stop();
  }
});
