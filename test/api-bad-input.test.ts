// Bad input to the backup server, through the CLI and as raw HTTPS requests, against one real
// cluster (server, storage s1, agent a1 as processes): unknown names, usage errors, malformed,
// mistyped, unknown-field, missing-field and oversized bodies, names that try to climb paths,
// wrong methods and routes, missing or forged tokens, a role that may not change anything.
// Each is refused with the right exit status or a 4xx (never a 5xx), one line naming the bad
// thing, nothing the catalog shows changed, and the audit log records refused changes.
// (Grants for another vault at the storage server: test/storage-grants.test.ts.)
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { errorOf, type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused, httpRefused, unchanged } from './support/refusals.ts';

const AUDITOR_PASSWORD = 'auditor-password-for-tests';

/** What the list commands print with --json, without what changes by itself (last seen, RTT). */
async function listsByCli(c: Cluster): Promise<Record<string, unknown>> {
  const lists: Record<string, unknown> = {};
  for (const what of ['job', 'run', 'snapshot', 'vault', 'agent', 'storage', 'user']) {
    const items = await c.json<Record<string, unknown>[]>([what, 'list']);
    // what moves by itself: heartbeats, round trips, and the disk's free bytes (other processes write to it)
    lists[what] = items.map(({ lastSeen: _seen, rttMs: _rtt, rttP50Ms: _p50, rttP99Ms: _p99, diskFreeBytes: _free, ...stable }) => stable);
  }
  return lists;
}

describe('bad input to the backup server', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let src: string;
  let snapshot: string;
  let auditorToken: string;
  /** a POST /api/jobs body the server would accept (job j2) */
  let goodJob: Record<string, unknown>;
  /** the list commands' --json once the cluster was set up, before any bad input */
  let listsBefore: Record<string, unknown>;

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
    api = rawApi(c);
    src = join(tempDir('cairn-bad-src-'), 'data');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'sub', 'b.txt'), 'beta\n');
    const made = await c.cli(['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src, '--json']);
    assert.equal(made.code, 0, made.stderr);
    const run = await c.json<RunJson>(['job', 'run', 'j1', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    snapshot = run.snapshot!;
    const added = await c.cli(['user', 'add', 'aud', '--role', 'auditor', '--password-stdin'], `${AUDITOR_PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    const login = await api.call('/api/login', { body: { user: 'aud', password: AUDITOR_PASSWORD }, token: null });
    assert.equal(login.status, 200, login.text);
    auditorToken = (login.json as { token: string }).token;
    const bob = await c.cli(['user', 'add', 'bob', '--role', 'user', '--password-stdin'], 'bob-password-for-tests\n');
    assert.equal(bob.code, 0, bob.stderr);
    goodJob = { name: 'j2', agent: 'a1', storage: 's1', vault: 'admin.s1', paths: [src] };
    listsBefore = await listsByCli(c);
  });

  after(async () => {
    await c?.stop();
  });

  describe('the CLI', () => {
    it('refuses unknown jobs, agents, storages, snapshots and runs with exit 1 naming them', async () => {
      await cliRefused(c, api, ['job', 'run', 'nope'], { exit: 1, message: /no job named nope/, audit: { what: 'POST /api/jobs/nope/runs', result: 'E_NOT_FOUND' } });
      await cliRefused(c, api, ['job', 'show', 'nope'], { exit: 1, message: /no job named nope/ });
      await cliRefused(c, api, ['job', 'remove', 'nope'], { exit: 1, message: /no job named nope/, audit: { what: 'DELETE /api/jobs/nope', result: 'E_NOT_FOUND' } });
      await cliRefused(c, api, ['job', 'create', 'j2', '--agent', 'nope', '--storage', 's1', '--path', src], { exit: 1, message: /no agent named nope/ });
      await cliRefused(c, api, ['job', 'create', 'j2', '--agent', 'a1', '--storage', 'nope', '--path', src], { exit: 1, message: /no storage named nope/ });
      await cliRefused(c, api, ['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src], { exit: 1, message: /job named j1 already exists/ });
      await cliRefused(c, api, ['snapshot', 'ls', 'nope'], { exit: 1, message: /no snapshot nope/ });
      await cliRefused(c, api, ['snapshot', 'ls', 'deadbeefdeadbeef'], { exit: 1, message: /no snapshot deadbeefdeadbeef/ });
      await cliRefused(c, api, ['restore', 'nope'], { exit: 1, message: /no snapshot nope/, audit: { what: 'POST /api/restores', result: 'E_NOT_FOUND' } });
      await cliRefused(c, api, ['restore', 'deadbeefdeadbeef', '--to', '/tmp'], {
        exit: 1,
        message: /no snapshot deadbeefdeadbeef/,
        audit: { what: 'POST /api/restores', result: 'E_NOT_FOUND' },
      });
      await cliRefused(c, api, ['restore', snapshot, '--agent', 'nope'], { exit: 1, message: /no agent named nope/, audit: { what: 'POST /api/restores', result: 'E_NOT_FOUND' } });
      await cliRefused(c, api, ['run', 'show', '999999'], { exit: 1, message: /no run 999999/ });
      await cliRefused(c, api, ['run', 'cancel', '999999'], { exit: 1, message: /no run 999999/, audit: { what: 'POST /api/runs/999999/cancel', result: 'E_NOT_FOUND' } });
    });

    it('refuses bad usage with exit 2 before asking the server', async () => {
      const create = ['job', 'create', 'j2', '--agent', 'a1', '--storage', 's1'];
      await cliRefused(c, api, create, { exit: 2, message: /--path is required/ });
      await cliRefused(c, api, [...create, '--path', 'relative/dir'], { exit: 2, message: /--path must be an absolute path: relative\/dir/ });
      await cliRefused(c, api, [...create, '--path', src, '--keep-last', 'many'], { exit: 2, message: /--keep-last must be a whole number/ });
      await cliRefused(c, api, [...create, '--path', src, '--schedule', 'hourly'], { exit: 2, message: /--schedule must be 'CRON=LEVEL'/ });
      await cliRefused(c, api, ['job', 'run', 'j1', '--level', 'huge'], { exit: 2, message: /--level must be one of full, differential, incremental \(got huge\)/ });
      await cliRefused(c, api, ['job', 'list', '--bogus'], { exit: 2, message: /job list: .*--bogus/ });
      await cliRefused(c, api, ['run', 'show', 'abc'], { exit: 2, message: /not a run id: abc/ });
      await cliRefused(c, api, ['restore', snapshot, '--to', 'relative'], { exit: 2, message: /--to must be an absolute path: relative/ });
      await cliRefused(c, api, ['restore', snapshot, '--conflict', 'merge'], { exit: 2, message: /--conflict must be one of overwrite, skip, rename/ });
      await cliRefused(c, api, ['snapshot', 'ls', snapshot, 'relative'], { exit: 2, message: /--path must be an absolute path: relative/ });
      await cliRefused(c, api, ['token', 'create', '--kind', 'root'], { exit: 2, message: /--kind must be one of agent, storage, api \(got root\)/ });
      await cliRefused(c, api, ['token', 'create', '--kind', 'agent', '--ttl', 'soon'], { exit: 2, message: /--ttl must be a whole number/ });
      await cliRefused(c, api, ['token', 'create', '--kind', 'api', '--ttl', '400d'], { exit: 2, message: /--ttl 400d: an API token lives at most 365d/ });
    });

    it('refuses an auditor who tries to change something, with exit 1', async () => {
      const config = join(tempDir('cairn-auditor-'), 'cli.json');
      const env = { CAIRN_CONFIG: config };
      const login = await c.cli(['login', c.url, '--user', 'aud', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], `${AUDITOR_PASSWORD}\n`, env);
      assert.equal(login.code, 0, login.stderr);
      await cliRefused(c, api, ['job', 'run', 'j1'], { exit: 1, env, message: /role auditor may not POST/, audit: { what: 'POST /api/jobs/j1/runs', result: 'E_FORBIDDEN', who: 'aud' } });
      // an estimate makes the agent walk the job's paths: operate access, as a run
      await cliRefused(c, api, ['job', 'estimate', 'j1'], { exit: 1, env, message: /role auditor may not POST/, audit: { what: 'POST /api/jobs/j1/estimate', result: 'E_FORBIDDEN', who: 'aud' } });
      await cliRefused(c, api, ['agent', 'remove', 'a1'], { exit: 1, env, message: /role auditor may not DELETE/, audit: { what: 'DELETE /api/agents/a1', result: 'E_FORBIDDEN', who: 'aud' } });
    });

    it("a user sees and touches only what it owns: another's agent, vault, job and snapshot are not there", async () => {
      const env = { CAIRN_CONFIG: join(tempDir('cairn-user-'), 'cli.json') };
      const login = await c.cli(['login', c.url, '--user', 'bob', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], 'bob-password-for-tests\n', env);
      assert.equal(login.code, 0, login.stderr);
      const asBob = async (args: string[]) => {
        const r = await c.cli([...args, '--json'], undefined, env);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as unknown[];
      };
      for (const list of [['agent', 'list'], ['vault', 'list'], ['job', 'list'], ['run', 'list'], ['snapshot', 'list']]) assert.deepEqual(await asBob(list), [], list.join(' '));
      await cliRefused(c, api, ['job', 'create', 'bobs', '--agent', 'a1', '--storage', 's1', '--vault', 'admin.s1', '--path', src], { exit: 1, env, message: /no agent named a1/ });
      await cliRefused(c, api, ['job', 'run', 'j1'], { exit: 1, env, message: /no job named j1/, audit: { what: 'POST /api/jobs/j1/runs', result: 'E_NOT_FOUND', who: 'bob' } });
      await cliRefused(c, api, ['restore', snapshot, '--to', '/tmp/x'], { exit: 1, env, message: /no snapshot/, audit: { what: 'POST /api/restores', result: 'E_NOT_FOUND', who: 'bob' } });
      await cliRefused(c, api, ['snapshot', 'ls', snapshot], { exit: 1, env, message: /no snapshot/ });
    });
  });

  describe('raw API requests', () => {
    const jobsAudit = (result: string) => ({ what: 'POST /api/jobs', result });

    it('refuses bodies that are not JSON objects', async () => {
      const bad = { status: 400, code: 'E_BAD_REQUEST' };
      await httpRefused(api, '/api/jobs', { body: '{"name": "j2", ' }, { ...bad, message: /request body is not valid JSON/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/jobs', { body: '\u0000\u00ff' }, { ...bad, message: /not valid JSON/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/jobs', { body: '[]' }, { ...bad, message: /^body: must be an object$/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/jobs', { body: '"j2"' }, { ...bad, message: /^body: must be an object$/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/tokens', { body: '42' }, { ...bad, message: /^body: must be an object$/, audit: { what: 'POST /api/tokens', result: 'E_BAD_REQUEST' } });
    });

    it('refuses each field of the wrong type, naming the field', async () => {
      const cases: [string, Record<string, unknown>, RegExp][] = [
        ['/api/jobs', { ...goodJob, name: 5 }, /^name: must be a string$/],
        ['/api/jobs', { ...goodJob, agent: ['a1'] }, /^agent: must be a string$/],
        ['/api/jobs', { ...goodJob, paths: src }, /^paths: must be an array$/],
        ['/api/jobs', { ...goodJob, paths: [] }, /^paths: must have at least 1 items$/],
        ['/api/jobs', { ...goodJob, paths: ['relative'] }, /^paths\[0\]: has the wrong form \(an absolute path/],
        ['/api/jobs', { ...goodJob, excludes: [7] }, /^excludes\[0\]: must be a string$/],
        ['/api/jobs', { ...goodJob, schedule: [{ cron: '0 3 * * *', level: 'huge' }] }, /^schedule\[0\]\.level: must be one of full, differential, incremental$/],
        ['/api/jobs', { ...goodJob, schedule: [{ cron: '0 3 * * * * *', level: 'full' }] }, /^schedule: '0 3 \* \* \* \* \*' is not a 5-field cron expression$/],
        ['/api/jobs', { ...goodJob, retention: { last: -1 } }, /^retention\.last: must be at least 1$/],
        ['/api/jobs', { ...goodJob, retention: { daily: 1.5 } }, /^retention\.daily: must be an integer$/],
        ['/api/jobs', { ...goodJob, retention: [] }, /^retention: must be an object$/],
        ['/api/jobs', { ...goodJob, bwlimit: 'fast' }, /^bwlimit: must be an integer$/],
        ['/api/jobs', { ...goodJob, bwlimit: 0 }, /^bwlimit: must be at least 1$/],
        ['/api/jobs/j1/runs', { level: 'huge' }, /^level: must be one of full, differential, incremental$/],
        ['/api/jobs/j1/runs', { level: null }, /^level: must be a string$/],
        ['/api/tokens', { kind: 'root' }, /^kind: must be one of agent, storage, api$/],
        ['/api/tokens', { kind: 'agent', ttlSeconds: '60' }, /^ttlSeconds: must be an integer$/],
        ['/api/tokens', { kind: 'agent', ttlSeconds: 1e12 }, /^ttlSeconds: must be at most 31536000$/],
        ['/api/tokens', { kind: 'agent', ttlSeconds: 31 * 86400 }, /^ttlSeconds: an enrollment token lives at most 30d$/],
        ['/api/tokens', { kind: 'agent', ttlSeconds: 0 }, /^ttlSeconds: must be at least 1$/],
        ['/api/restores', { snapshot, dryRun: 'yes' }, /^dryRun: must be true or false$/],
        ['/api/restores', { snapshot, conflict: 'merge' }, /^conflict: must be one of overwrite, skip, rename$/],
        ['/api/restores', { snapshot, include: '/etc' }, /^include: must be an array$/],
        ['/api/restores', { snapshot: 1234567890 }, /^snapshot: must be a string$/],
        ['/api/users', { name: 'eve', role: 'god', password: 'long enough password' }, /^role: must be one of admin, operator, user, auditor$/],
        ['/api/users', { name: 'eve', role: 'user', password: 'short' }, /^password: must have at least 8 characters$/],
        ['/api/vaults', { name: 'v2', storage: 's1', chunker: { min: 'small', avg: 1, max: 2 }, keyFile: {} }, /^chunker\.min: must be an integer$/],
      ];
      for (const [path, body, message] of cases)
        await httpRefused(api, path, { body }, { status: 400, code: 'E_BAD_REQUEST', message, audit: { what: `POST ${path}`, result: 'E_BAD_REQUEST' } });
      await httpRefused(
        api,
        '/api/vaults/admin.s1/agents/a1',
        { method: 'PUT', body: { wrapped: 5 } },
        { status: 400, code: 'E_BAD_REQUEST', message: /^wrapped: must be a string$/, audit: { what: 'PUT /api/vaults/admin.s1/agents/a1', result: 'E_BAD_REQUEST' } },
      );
      await httpRefused(
        api,
        '/api/vaults/admin.s1/agents/a1',
        { method: 'PUT', body: { wrapped: 'not a wrapped key' } },
        { status: 400, code: 'E_BAD_REQUEST', message: /agentKeys\.a1: not an agent-wrapped key copy/, audit: { what: 'PUT /api/vaults/admin.s1/agents/a1', result: 'E_BAD_REQUEST' } },
      );
      await httpRefused(api, '/api/login', { body: { user: 1, password: 'x' }, token: null }, {
        status: 400,
        code: 'E_BAD_REQUEST',
        message: /^user: must be a string$/,
        audit: { what: 'POST /api/login', result: 'E_BAD_REQUEST', who: 'anonymous' },
      });
    });

    it('refuses unknown and missing fields, naming them', async () => {
      const cases: [string, unknown, RegExp][] = [
        ['/api/jobs', { ...goodJob, evil: true }, /^evil: is not a known field$/],
        ['/api/jobs', { ...goodJob, retention: { forever: 1 } }, /^retention\.forever: is not a known field$/],
        ['/api/jobs', { ...goodJob, schedule: [{ cron: '0 3 * * *', level: 'full', at: 'now' }] }, /^schedule\[0\]\.at: is not a known field$/],
        ['/api/tokens', { kind: 'agent', admin: true }, /^admin: is not a known field$/],
        ['/api/restores', { snapshot, owner: 'eve' }, /^owner: is not a known field$/],
        ['/api/jobs', {}, /^name: is required$/],
        ['/api/jobs', { name: 'j2', agent: 'a1', storage: 's1', vault: 'admin.s1' }, /^paths: is required$/],
        ['/api/jobs', { ...goodJob, schedule: [{ cron: '0 3 * * *' }] }, /^schedule\[0\]\.level: is required$/],
        ['/api/restores', {}, /^snapshot: is required$/],
        ['/api/tokens', {}, /^kind: is required$/],
        ['/api/vaults', { name: 'v2', storage: 's1', chunker: { min: 1, avg: 2, max: 3 } }, /^keyFile: is required$/],
      ];
      for (const [path, body, message] of cases)
        await httpRefused(api, path, { body }, { status: 400, code: 'E_BAD_REQUEST', message, audit: { what: `POST ${path}`, result: 'E_BAD_REQUEST' } });
      // an empty body is an empty object: its required fields are missing
      await httpRefused(api, '/api/jobs', { method: 'POST' }, { status: 400, code: 'E_BAD_REQUEST', message: /^name: is required$/, audit: jobsAudit('E_BAD_REQUEST') });
    });

    it('refuses oversized bodies with 413', async () => {
      const big = JSON.stringify({ ...goodJob, excludes: ['x'.repeat(1024 * 1024)] });
      const expected = { status: 413, code: 'E_TOO_LARGE', message: /request body larger than 1048576 bytes/, audit: jobsAudit('E_TOO_LARGE') };
      await httpRefused(api, '/api/jobs', { body: big }, expected);
      await httpRefused(api, '/api/jobs', { body: big, chunked: true }, expected);
      // the server still answers afterwards
      assert.equal((await api.call('/api/health')).status, 200);
    });

    it('refuses names and paths that try to climb out', async () => {
      const bad = { status: 400, code: 'E_BAD_REQUEST' };
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, name: '../x' } }, { ...bad, message: /^name: has the wrong form/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, agent: '../a1' } }, { ...bad, message: /^agent: has the wrong form/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, vault: '../../etc' } }, { ...bad, message: /^vault: has the wrong form/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, paths: [`${src}/../..`] } }, { ...bad, message: /^paths\[0\]: has the wrong form \(an absolute path without '\.' or '\.\.' segments/, audit: jobsAudit('E_BAD_REQUEST') });
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, paths: ['/tmp/a\u0000b'] } }, { ...bad, message: /^paths\[0\]: has the wrong form/, audit: jobsAudit('E_BAD_REQUEST') });
      const restores = { what: 'POST /api/restores', result: 'E_BAD_REQUEST' };
      await httpRefused(api, '/api/restores', { body: { snapshot, to: '/tmp/../etc' } }, { ...bad, message: /^to: has the wrong form/, audit: restores });
      await httpRefused(api, '/api/restores', { body: { snapshot, include: [`${src}/./a.txt`] } }, { ...bad, message: /^include\[0\]: has the wrong form/, audit: restores });
      await httpRefused(api, '/api/vaults', { body: { name: '../v', storage: 's1', chunker: { min: 1, avg: 2, max: 3 }, keyFile: {} } }, {
        ...bad,
        message: /^name: has the wrong form \(1-64 of/,
        audit: { what: 'POST /api/vaults', result: 'E_BAD_REQUEST' },
      });
      // names in the path are looked up, never used as paths
      await httpRefused(api, '/api/jobs/..%2Fj1', {}, { status: 404, code: 'E_NOT_FOUND', message: /^no job named \.\.\/j1$/ });
      await httpRefused(api, '/api/jobs/..%2Fj1', { method: 'DELETE' }, { status: 404, code: 'E_NOT_FOUND', message: /^no job named \.\.\/j1$/, audit: { what: 'DELETE /api/jobs/..%2Fj1', result: 'E_NOT_FOUND' } });
      await httpRefused(api, '/api/agents/..%2F..%2Fetc%2Fpasswd', {}, { status: 404, code: 'E_NOT_FOUND', message: /^no agent named \.\.\/\.\.\/etc\/passwd$/ });
      await httpRefused(api, '/api/snapshots/..%2F..%2Fetc/ls?path=/', {}, { status: 404, code: 'E_NOT_FOUND', message: /^no snapshot \.\.\/\.\.\/etc$/ });
      await httpRefused(api, `/api/snapshots/${snapshot}/ls?path=relative`, {}, { ...bad, message: /^path must be absolute$/ });
      await httpRefused(api, '/api/jobs/%E0%A4%A', {}, { ...bad, message: /malformed %-escape/ });
    });

    it('refuses wrong methods (400) and unknown routes (404)', async () => {
      await httpRefused(api, '/api/jobs', { method: 'PATCH', body: goodJob }, { status: 400, code: 'E_BAD_REQUEST', message: /^PATCH is not allowed on \/api\/jobs$/, audit: { what: 'PATCH /api/jobs', result: 'E_BAD_REQUEST' } });
      await httpRefused(api, '/api/jobs', { method: 'DELETE' }, { status: 400, code: 'E_BAD_REQUEST', message: /^DELETE is not allowed on \/api\/jobs$/, audit: { what: 'DELETE /api/jobs', result: 'E_BAD_REQUEST' } });
      await httpRefused(api, '/api/restores', {}, { status: 400, code: 'E_BAD_REQUEST', message: /^GET is not allowed on \/api\/restores$/ });
      await httpRefused(api, '/api/nope', {}, { status: 404, code: 'E_NOT_FOUND', message: /^no such API route: GET \/api\/nope$/ });
      await httpRefused(api, '/api/jobs/j1/explode', { body: {} }, { status: 404, code: 'E_NOT_FOUND', message: /^no such API route: POST \/api\/jobs\/j1\/explode$/, audit: { what: 'POST /api/jobs/j1/explode', result: 'E_NOT_FOUND' } });
      // outside /api/ the web console answers: a missing file is a 404 (any other path is a page of the app)
      await httpRefused(api, '/nope.txt', {}, { status: 404, code: 'E_NOT_FOUND', message: /^no such file: \/nope\.txt$/ });
      await httpRefused(api, '/assets/gone.js', {}, { status: 404, code: 'E_NOT_FOUND', message: /^no such file: \/assets\/gone\.js$/ });
    });

    it('refuses requests without a token or with a forged one (401) and an auditor who tries a change (403)', async () => {
      const unauthorized = { status: 401, code: 'E_UNAUTHORIZED', message: /./ };
      await httpRefused(api, '/api/jobs', { body: goodJob, token: null }, { ...unauthorized, audit: { what: 'POST /api/jobs', result: 'E_UNAUTHORIZED', who: 'anonymous' } });
      await httpRefused(api, '/api/jobs', { token: null }, unauthorized);
      await httpRefused(api, '/api/jobs', { body: goodJob, token: 'garbage' }, { ...unauthorized, audit: { what: 'POST /api/jobs', result: 'E_UNAUTHORIZED', who: 'anonymous' } });
      await httpRefused(api, '/api/jobs', { body: goodJob, token: `${api.token}x` }, { ...unauthorized, audit: { what: 'POST /api/jobs', result: 'E_UNAUTHORIZED' } });
      await httpRefused(api, '/api/agents/a1', { method: 'DELETE', token: null, headers: { authorization: 'Basic YWRtaW46eA==' } }, {
        ...unauthorized,
        audit: { what: 'DELETE /api/agents/a1', result: 'E_UNAUTHORIZED', who: 'anonymous' },
      });
      // a bad body from someone without a token is refused for the token first: nothing is parsed for strangers
      await httpRefused(api, '/api/jobs', { body: '{not json', token: null }, { ...unauthorized, audit: { what: 'POST /api/jobs', result: 'E_UNAUTHORIZED' } });

      const forbidden = { status: 403, code: 'E_FORBIDDEN' };
      const asAuditor = { token: auditorToken };
      await httpRefused(api, '/api/jobs', { ...asAuditor, body: goodJob }, { ...forbidden, message: /^role auditor may not POST \/api\/jobs$/, audit: { what: 'POST /api/jobs', result: 'E_FORBIDDEN', who: 'aud' } });
      await httpRefused(api, '/api/tokens', { ...asAuditor, body: { kind: 'agent' } }, { ...forbidden, message: /^role auditor may not POST \/api\/tokens$/, audit: { what: 'POST /api/tokens', result: 'E_FORBIDDEN', who: 'aud' } });
      await httpRefused(api, '/api/restores', { ...asAuditor, body: { snapshot } }, { ...forbidden, message: /role auditor may not POST/, audit: { what: 'POST /api/restores', result: 'E_FORBIDDEN', who: 'aud' } });
      await httpRefused(api, '/api/users', { ...asAuditor, body: { name: 'eve', role: 'admin', password: 'long enough password' } }, {
        ...forbidden,
        message: /role auditor may not POST \/api\/users/,
        audit: { what: 'POST /api/users', result: 'E_FORBIDDEN', who: 'aud' },
      });
      // the auditor's token works for what an auditor may do: the refusals above were about the role
      const { result: audit } = await unchanged(api, () => api.call('/api/audit', asAuditor));
      assert.equal(audit.status, 200, audit.text);
    });

    it('answers unknown names in the body with 404 naming them', async () => {
      const notFound = { status: 404, code: 'E_NOT_FOUND' };
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, agent: 'nope' } }, { ...notFound, message: /^no agent named nope$/, audit: jobsAudit('E_NOT_FOUND') });
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, storage: 'nope' } }, { ...notFound, message: /^no storage named nope$/, audit: jobsAudit('E_NOT_FOUND') });
      await httpRefused(api, '/api/jobs', { body: { ...goodJob, vault: 'nope' } }, { ...notFound, message: /^no vault named nope$/, audit: jobsAudit('E_NOT_FOUND') });
      await httpRefused(api, '/api/restores', { body: { snapshot: 'nope' } }, { ...notFound, message: /^no snapshot nope$/, audit: { what: 'POST /api/restores', result: 'E_NOT_FOUND' } });
      await httpRefused(api, '/api/runs/abc', {}, { ...notFound, message: /^no run abc$/ });
      await httpRefused(api, '/api/vaults/nope', {}, { ...notFound, message: /^no vault named nope$/ });
      await httpRefused(api, '/api/users/nope', { method: 'DELETE' }, { ...notFound, message: /nope/, audit: { what: 'DELETE /api/users/nope', result: 'E_NOT_FOUND' } });
    });

    it('never answered any of it with a 5xx', async () => {
      // every refusal above is in the audit log with a 4xx code; none with E_INTERNAL
      const all = await api.call('/api/audit?limit=10000');
      const entries = all.json as { result: string }[];
      assert.ok(entries.length > 50, `${entries.length} audit entries`);
      assert.deepEqual(entries.filter((e) => /INTERNAL|UNAVAILABLE/.test(e.result)), []);
      assert.equal(errorOf(await api.call('/api/health')).code, undefined);
    });

    it('left job, run, snapshot, vault, agent, storage and user lists as they were', async () => {
      assert.deepEqual(await listsByCli(c), listsBefore);
    });
  });
});
