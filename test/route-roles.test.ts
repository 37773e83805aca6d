// Every route of /api/openapi.json × every caller (issue 13, "Must show"), on one real cluster: a
// backup server process on its SQLite catalog, a storage server, and a `user`'s agent that made
// real snapshots. Each caller — no credentials, admin, operator, auditor, the `user` on its own
// objects, and another `user` on them — calls each route once with valid path parameters and
// body; test/support/route-rules.ts (written by hand from SPEC.md) says who may. Allowed: a 2xx
// (or the one 4xx the table names); refused: exactly 401, 403 or 404 with a JSON error. Then
// the audit log holds exactly one entry for every non-GET and every refused request made (who,
// method and path, route, result), and none for an allowed GET.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateAgentKeyPair } from '../src/core/agent-keys.ts';
import { createPartRequest } from '../src/core/ca.ts';
import { API_TOKEN_PREFIX } from '../src/protocol/api-token.ts';
import type { RunJson } from '../src/protocol/api-types.ts';
import { TOKEN_PREFIX } from '../src/protocol/enrollment-token.ts';
import { type Cluster, type Daemon, startCluster, startDaemon, tempDir } from './support/cluster.ts';
import { pollUntil } from './support/crash-support.ts';
import { type RawAnswer, type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused } from './support/refusals.ts';
import { CALLERS, expected, RULES, routeOf, type Who } from './support/route-rules.ts';

const PASSPHRASE = { CAIRN_PASSPHRASE: 'route roles test passphrase' };
const PASSWORD = 'password-for-route-roles';
/** the people of the matrix: the user `bob` owns the agent, job and vault; `eve` is the other user */
const NAMES = { admin: 'admin', operator: 'op', auditor: 'aud', user: 'bob', other: 'eve' } as const;
const REFUSED = new Set([401, 403, 404, 429]);

/** One request made during the matrix, as the audit log must show it (or not). */
type Made = { who: string; method: string; path: string; route: string; status: number; result: string };
type Req = { path: string; body?: unknown; token?: string | null };

describe('every route × every role', () => {
  let c: Cluster;
  let api: RawApi;
  const daemons: Daemon[] = [];
  const root = tempDir('cairn-route-roles-');
  const src = join(root, 'src');
  const slowSrc = join(root, 'slow');
  const tokens = {} as Record<Who, string | null>;
  const whoOf = new Map<string, string>();
  const made: Made[] = [];
  let serial = 0;
  const f = { storage: 'st1', agent: 'bob-a', spare: 'bob-spare', vault: 'bob.st1', job: 'bobjob', slow: 'slowjob', run: 0, snapshot: '', spares: [] as string[], bobApiToken: 0, rebuild: 0, keyFile: undefined as unknown, chunker: undefined as unknown };

  /** A request of the matrix (or one it needs made first), kept to check the audit log against. */
  async function call(route: string, path: string, token: string | null, body?: unknown): Promise<RawAnswer> {
    const method = route.split(' ')[0]!;
    const a = await api.call(path, { method, token, body });
    const code = (a.json as { error?: { code?: string } } | undefined)?.error?.code;
    // a public route looks at no credentials: its caller is anonymous, until a login names who logged in
    const open = typeof RULES[route]?.may === 'string';
    const login = route === 'POST /api/login' && a.status === 200 ? (body as { user: string }).user : undefined;
    const who = login ?? (token === null || open ? 'anonymous' : (whoOf.get(token) ?? 'anonymous'));
    made.push({ who, method, path: new URL(path, api.server).pathname, route: routeOf(route), status: a.status, result: a.status < 300 ? 'ok' : (code ?? String(a.status)) });
    return a;
  }

  /** `call` that must succeed: its JSON answer. */
  async function ok<T>(route: string, path: string, token: string | null, body?: unknown): Promise<T> {
    const a = await call(route, path, token, body);
    assert.ok(a.status >= 200 && a.status < 300, `${route} (setting up): HTTP ${a.status} ${a.text}`);
    return a.json as T;
  }

  async function login(name: string): Promise<string> {
    const { token } = await ok<{ token: string }>('POST /api/login', '/api/login', null, { user: name, password: name === 'admin' ? c.adminPassword : PASSWORD });
    whoOf.set(token, name);
    return token;
  }

  /** An agent `bob` enrolled (so his), never started; or a storage server an admin enrolled. */
  async function enrolled(kind: 'agent' | 'storage'): Promise<string> {
    const name = `${kind}-${++serial}`;
    return enroll(kind, name, await enrollToken(kind)).then(() => name);
  }
  async function enrollToken(kind: 'agent' | 'storage'): Promise<string> {
    return (await ok<{ token: string }>('POST /api/tokens', '/api/tokens', kind === 'agent' ? tokens.user : tokens.admin, { kind })).token;
  }
  async function enrollBody(kind: 'agent' | 'storage', name: string, token: string): Promise<Record<string, unknown>> {
    const { csrPem } = await createPartRequest({ kind, name });
    return { token, name, csr: csrPem, version: 'test', ...(kind === 'agent' ? { publicKey: generateAgentKeyPair().publicKeyPem } : {}) };
  }
  async function enroll(kind: 'agent' | 'storage', name: string, token: string): Promise<void> {
    await ok('POST /api/enroll', '/api/enroll', null, await enrollBody(kind, name, token));
  }
  async function bobJob(): Promise<string> {
    const name = `tmp-${++serial}`;
    await ok('POST /api/jobs', '/api/jobs', tokens.user, { name, agent: f.agent, storage: f.storage, vault: f.vault, paths: [src] });
    return name;
  }
  async function apiTokenId(who: Who): Promise<number> {
    await ok('POST /api/tokens', '/api/tokens', tokens[who], { kind: 'api', name: `t${++serial}` });
    const list = await ok<{ id: number }[]>('GET /api/tokens', '/api/tokens', tokens[who]);
    return Math.max(...list.map((t) => t.id));
  }

  /** The request each table entry makes as `who`; destructive ones act on a throw-away object when allowed. */
  const REQUESTS: Record<string, (who: Who, allowed: boolean) => Promise<Req>> = {
    'GET /api/health': async () => ({ path: '/api/health' }),
    'GET /api/ca.pem': async () => ({ path: '/api/ca.pem' }),
    'GET /api/openapi.json': async () => ({ path: '/api/openapi.json' }),
    'POST /api/login': async () => ({ path: '/api/login', body: { user: NAMES.user, password: PASSWORD } }),
    'POST /api/enroll': async () => ({ path: '/api/enroll', body: await enrollBody('agent', `enrolled-${++serial}`, await enrollToken('agent')) }),
    'POST /api/renewed': async () => ({ path: '/api/renewed', body: { csr: (await createPartRequest({ kind: 'agent', name: f.agent })).csrPem } }),
    // a session of its own: the caller's other requests keep theirs
    'POST /api/logout': async (who) => ({ path: '/api/logout', token: who === 'anonymous' ? null : await login(NAMES[who]) }),
    'GET /api/me': async () => ({ path: '/api/me' }),
    'GET /api/events': async () => ({ path: `/api/events?run=${f.run}` }),
    'GET /api/events [all]': async () => ({ path: '/api/events' }),
    'GET /api/status': async () => ({ path: '/api/status' }),
    'POST /api/tokens': async () => ({ path: '/api/tokens', body: { kind: 'agent', ttlSeconds: 600 } }),
    'POST /api/tokens [api]': async () => ({ path: '/api/tokens', body: { kind: 'api', name: `api-${++serial}` } }),
    'POST /api/tokens [storage]': async () => ({ path: '/api/tokens', body: { kind: 'storage', ttlSeconds: 600 } }),
    'GET /api/tokens': async () => ({ path: '/api/tokens' }),
    'DELETE /api/tokens/:id': async (who, allowed) => ({ path: `/api/tokens/${allowed ? await apiTokenId(who) : f.bobApiToken}` }),

    'GET /api/agents': async () => ({ path: '/api/agents' }),
    'GET /api/agents/:name': async () => ({ path: `/api/agents/${f.agent}` }),
    'PUT /api/agents/:name': async () => ({ path: `/api/agents/${f.agent}`, body: { maxRuns: 4 } }),
    'DELETE /api/agents/:name': async (_, allowed) => ({ path: `/api/agents/${allowed ? await enrolled('agent') : f.spare}` }),
    'GET /api/storages': async () => ({ path: '/api/storages' }),
    'GET /api/storages/:name': async () => ({ path: `/api/storages/${f.storage}` }),
    'PUT /api/storages/:name': async () => ({ path: `/api/storages/${f.storage}`, body: { maxRuns: 8 } }),
    'DELETE /api/storages/:name': async (_, allowed) => ({ path: `/api/storages/${allowed ? await enrolled('storage') : f.storage}` }),

    'GET /api/vaults': async () => ({ path: '/api/vaults' }),
    'GET /api/vaults/:name': async () => ({ path: `/api/vaults/${f.vault}` }),
    'POST /api/vaults': async () => ({ path: '/api/vaults', body: { name: `vault-${++serial}`, storage: f.storage, chunker: f.chunker, keyFile: f.keyFile } }),
    'PUT /api/vaults/:name/agents/:agent': async () => ({ path: `/api/vaults/${f.vault}/agents/${f.spare}`, body: { wrapped: `ak1.${'A'.repeat(40)}` } }),
    // the key file it has: a replacement that changes nothing is one every caller allowed may make
    'PUT /api/vaults/:name/key-file': async () => ({ path: `/api/vaults/${f.vault}/key-file`, body: { keyFile: f.keyFile } }),
    'POST /api/vaults/:name/scrub': async () => ({ path: `/api/vaults/${f.vault}/scrub`, body: {} }),

    'GET /api/jobs': async () => ({ path: '/api/jobs' }),
    'POST /api/jobs': async () => ({ path: '/api/jobs', body: { name: `job-${++serial}`, agent: f.agent, storage: f.storage, vault: f.vault, paths: [src] } }),
    'GET /api/jobs/:name': async () => ({ path: `/api/jobs/${f.job}` }),
    'GET /api/jobs/:name/find': async () => ({ path: `/api/jobs/${f.job}/find?name=*` }),
    'PATCH /api/jobs/:name': async () => ({ path: `/api/jobs/${f.job}`, body: { priority: 5 } }),
    'DELETE /api/jobs/:name': async (_, allowed) => ({ path: `/api/jobs/${allowed ? await bobJob() : f.job}` }),
    'POST /api/jobs/:name/runs': async () => ({ path: `/api/jobs/${f.job}/runs`, body: { level: 'incremental' } }),
    'POST /api/jobs/:name/estimate': async () => ({ path: `/api/jobs/${f.job}/estimate`, body: {} }),
    'POST /api/jobs/:name/forget': async () => ({ path: `/api/jobs/${f.job}/forget`, body: { keep: { last: 1 }, dryRun: true } }),
    'GET /api/runs': async () => ({ path: `/api/runs?job=${f.job}` }),
    'GET /api/runs/:id': async () => ({ path: `/api/runs/${f.run}` }),
    'GET /api/runs/:id/log': async () => ({ path: `/api/runs/${f.run}/log` }),
    // a run of the slow job: queued behind the one running, or running
    'POST /api/runs/:id/cancel': async (_, allowed) => ({
      path: `/api/runs/${allowed ? (await ok<RunJson>('POST /api/jobs/:name/runs', `/api/jobs/${f.slow}/runs`, tokens.user, {})).id : f.run}/cancel`,
    }),

    'GET /api/snapshots': async () => ({ path: `/api/snapshots?job=${f.job}` }),
    'GET /api/snapshots [agent]': async () => ({ path: `/api/snapshots?agent=${f.agent}` }),
    'GET /api/snapshots/:id': async () => ({ path: `/api/snapshots/${f.snapshot}` }),
    'GET /api/snapshots/:id/ls': async () => ({ path: `/api/snapshots/${f.snapshot}/ls?path=/` }),
    'POST /api/snapshots/:id/forget': async (_, allowed) => ({ path: `/api/snapshots/${allowed ? f.spares.pop()! : f.snapshot}/forget` }),
    'POST /api/restores': async (who) => ({ path: '/api/restores', body: { snapshot: f.snapshot, to: join(root, `restore-${who}`), dryRun: true } }),
    'POST /api/verifies': async () => ({ path: '/api/verifies', body: { snapshot: f.snapshot, level: 'catalog' } }),
    'POST /api/gc': async () => ({ path: '/api/gc', body: { storage: f.storage } }),
    'POST /api/gc [confirm]': async () => ({ path: '/api/gc', body: { storage: f.storage, confirm: 'not-a-code' } }),

    'GET /api/net/status': async () => ({ path: '/api/net/status' }),
    'GET /api/net/history': async () => ({ path: `/api/net/history?part=agent:${f.agent}` }),
    'GET /api/net/throughput': async () => ({ path: `/api/net/throughput?agent=${f.agent}` }),
    'POST /api/net/test': async () => ({ path: '/api/net/test', body: { agent: f.agent, storage: f.storage, bytes: 4096 } }),

    'GET /api/users': async () => ({ path: '/api/users' }),
    'POST /api/users': async () => ({ path: '/api/users', body: { name: `user-${++serial}`, role: 'user', password: PASSWORD } }),
    'PATCH /api/users/:name': async (_, allowed) => {
      if (!allowed) return { path: `/api/users/${NAMES.other}`, body: { role: 'admin' } };
      const name = `promoted-${++serial}`;
      await ok('POST /api/users', '/api/users', tokens.admin, { name, role: 'user', password: PASSWORD });
      return { path: `/api/users/${name}`, body: { role: 'operator' } };
    },
    'DELETE /api/users/:name': async (_, allowed) => {
      if (!allowed) return { path: `/api/users/${NAMES.other}` };
      const name = `gone-${++serial}`;
      await ok('POST /api/users', '/api/users', tokens.admin, { name, role: 'user', password: PASSWORD });
      return { path: `/api/users/${name}` };
    },
    'GET /api/audit': async () => ({ path: '/api/audit?limit=1' }),
    'POST /api/alerts': async () => ({ path: '/api/alerts', body: { url: 'https://127.0.0.1:9/hook', events: ['part.offline'] } }),
    'GET /api/alerts': async () => ({ path: '/api/alerts' }),
    'DELETE /api/alerts/:id': async (_, allowed) => {
      const id = allowed ? (await ok<{ id: number }>('POST /api/alerts', '/api/alerts', tokens.admin, { url: 'https://127.0.0.1:9/gone', events: ['part.offline'] })).id : 1;
      return { path: `/api/alerts/${id}` };
    },

    'GET /api/storages/:name/vaults/:vault': async () => ({ path: `/api/storages/${f.storage}/vaults/${f.vault}` }),
    'POST /api/vaults/adopt': async () => ({ path: '/api/vaults/adopt', body: { name: f.vault, storage: f.storage, agentKeys: {} } }),
    'GET /api/rebuilds/:id': async () => ({ path: `/api/rebuilds/${f.rebuild}` }),
    'POST /api/rebuilds': async () => ({ path: '/api/rebuilds', body: { storage: f.storage, vault: f.vault, agent: f.agent } }),
  };

  before(async () => {
    c = await startCluster({ storages: [f.storage] });
    api = rawApi(c);
    tokens.anonymous = null;
    tokens.admin = api.token;
    whoOf.set(api.token, 'admin');
    for (const [who, role] of [['operator', 'operator'], ['auditor', 'auditor'], ['user', 'user'], ['other', 'user']] as const) {
      const r = await c.cli(['user', 'add', NAMES[who], '--role', role, '--password-stdin'], `${PASSWORD}\n`);
      assert.equal(r.code, 0, r.stderr);
      tokens[who] = await login(NAMES[who]);
    }
    // bob's console, agent, vault and jobs; the small job's snapshots: one to use, three to forget,
    // and the newest, the parent of the backups the matrix runs (a snapshot in use is not forgotten)
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'route roles\n');
    mkdirSync(slowSrc, { recursive: true });
    writeFileSync(join(slowSrc, 'big.bin'), randomBytes(4 * 1024 * 1024)); // incompressible: paced at 32 KiB/s
    const bob = { CAIRN_CONFIG: join(root, 'bob.json'), ...PASSPHRASE };
    const cli = async (args: string[], stdin?: string) => {
      const r = await c.cli(args, stdin, bob);
      assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await cli(['login', c.url, '--user', NAMES.user, '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], `${PASSWORD}\n`);
    const agentToken = (JSON.parse(await cli(['token', 'create', '--kind', 'agent', '--json'])) as { token: string }).token;
    const dataDir = join(root, 'agent');
    daemons.push(await startDaemon('agent bob-a', dataDir, ['agent', 'start', '--data', dataDir, '--server', c.url, '--token', agentToken, '--name', f.agent]));
    await c.waitOnline('agent', f.agent);
    await cli(['job', 'create', f.job, '--agent', f.agent, '--storage', f.storage, '--path', src]);
    await cli(['job', 'create', f.slow, '--agent', f.agent, '--storage', f.storage, '--path', slowSrc, '--bwlimit', '32k']);
    const runs: RunJson[] = [];
    for (let i = 0; i < 5; i++) runs.push(JSON.parse(await cli(['job', 'run', f.job, '--level', 'full', '--wait', '--json'])) as RunJson);
    for (const r of runs) assert.equal(r.status, 'succeeded', JSON.stringify(r));
    f.run = runs[0]!.id;
    f.snapshot = runs[0]!.snapshot!;
    f.spares = runs.slice(1, 4).map((r) => r.snapshot!);
    await enroll('agent', f.spare, await enrollToken('agent'));
    f.bobApiToken = await apiTokenId('user');
    const vault = await ok<{ keyFile: unknown; chunker: unknown }>('GET /api/vaults/:name', `/api/vaults/${f.vault}`, tokens.user);
    f.keyFile = vault.keyFile;
    f.chunker = vault.chunker;
    // a rebuild that ended, to show; the matrix starts another at its end
    f.rebuild = (await ok<{ id: number }>('POST /api/rebuilds', '/api/rebuilds', tokens.admin, { storage: f.storage, vault: f.vault, agent: f.agent })).id;
    await pollUntil('the rebuild ended', async () => (await api.call(`/api/rebuilds/${f.rebuild}`, { token: tokens.admin })).text.includes('"status":"succeeded"'));
    // the slow job runs for minutes at 32 KiB/s: the runs the matrix cancels wait behind it
    await ok('POST /api/jobs/:name/runs', `/api/jobs/${f.slow}/runs`, tokens.user, {});
    made.length = 0;
  });
  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await c?.stop();
  });

  it('every route of the document is in the hand-written table, and every table entry in the document', async () => {
    const doc = (await api.call('/api/openapi.json', { token: null })).json as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`));
    const tabled = new Set(Object.keys(RULES).map(routeOf));
    assert.deepEqual(documented.filter((r) => !tabled.has(r)), [], 'routes with no decision in test/support/route-rules.ts');
    assert.deepEqual([...tabled].filter((r) => !documented.includes(r)), [], 'table entries the document lacks');
    assert.deepEqual(Object.keys(REQUESTS).sort(), Object.keys(RULES).sort(), 'a request for every table entry');
  });

  it('each caller is allowed, refused (401, 403, or 404 where existence must not leak) as the table says, and audited', async () => {
    await new Promise((r) => setTimeout(r, 10)); // the set-up's last entries are older than `since`
    const since = new Date().toISOString();
    const problems: string[] = [];
    for (const [key, rule] of Object.entries(RULES)) {
      for (const who of CALLERS) {
        const want = expected(rule, who);
        let r: Req;
        try {
          r = await REQUESTS[key]!(who, want.allowed);
        } catch (e) {
          problems.push(`${key} as ${who}: its request could not be made: ${(e as Error).message}`);
          continue;
        }
        const a = await call(key, r.path, r.token !== undefined ? r.token : tokens[who], r.body);
        const label = `${key} as ${who}: HTTP ${a.status} ${a.text.slice(0, 200)}`;
        if (want.allowed) {
          const fine = (a.status >= 200 && a.status < 300) || a.status === rule.conflict?.status;
          if (!fine) problems.push(`${label} (allowed: expected a 2xx${rule.conflict ? ` or ${rule.conflict.status}` : ''})`);
        } else {
          const error = (a.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
          if (a.status !== want.status) problems.push(`${label} (expected ${want.status})`);
          else if (typeof error?.code !== 'string' || typeof error.message !== 'string') problems.push(`${label} (no JSON error)`);
        }
      }
    }

    // the audit log: one entry per non-GET and per refused request, none for an allowed GET
    type Entry = { who: string; what: string; result: string; action: string | null; address: string | null; target: string | null };
    const log = (await api.call(`/api/audit?since=${encodeURIComponent(since)}&limit=10000`, { token: tokens.admin })).json as Entry[];
    const line = (who: string, what: string, result: string, action: string | null) => `${who} ${what} ${result} [${action}]`;
    const count = (lines: string[]) => lines.reduce((m, l) => m.set(l, (m.get(l) ?? 0) + 1), new Map<string, number>());
    const audited = made.filter((m) => m.method !== 'GET' || REFUSED.has(m.status));
    const want = count(audited.map((m) => line(m.who, `${m.method} ${m.path}`, m.result, m.route)));
    const got = count(log.filter((e) => e.who !== 'scheduler').map((e) => line(e.who, e.what, e.result, e.action)));
    const diff = [...new Set([...want.keys(), ...got.keys()])].filter((k) => want.get(k) !== got.get(k)).map((k) => `${k}: ${want.get(k) ?? 0} made, ${got.get(k) ?? 0} in the log`);
    assert.deepEqual({ problems, audit: diff }, { problems: [], audit: [] });
    // each says where from, and none holds a secret the requests carried (passwords, tokens, keys, CSRs)
    const requests = log.filter((e) => e.who !== 'scheduler');
    assert.deepEqual(requests.filter((e) => !/^(::ffff:)?127\.0\.0\.1$/.test(e.address ?? '')), [], 'entries without the address');
    const secrets = [PASSWORD, c.adminPassword, ...Object.values(tokens).filter((t) => t !== null), TOKEN_PREFIX, API_TOKEN_PREFIX, 'ak1.', 'BEGIN', 'kdf'];
    assert.deepEqual(secrets.filter((s) => JSON.stringify(requests).includes(s)), [], 'secrets in the audit log');
    assert.ok(made.some((m) => m.method === 'GET' && m.status === 200) && audited.length < made.length, 'allowed GETs were made and left out');
  });

  it('what the refused requests named is all still there, and the other user lists none of it', async () => {
    const get = async (path: string, who: Who = 'admin') => {
      const a = await api.call(path, { token: tokens[who] });
      assert.equal(a.status, 200, `GET ${path}: ${a.text}`);
      return a.text;
    };
    // the targets of refused removals and changes
    assert.match(await get('/api/users'), new RegExp(`"name":"${NAMES.other}","role":"user"`)); // not removed, not made admin
    for (const part of [f.agent, f.spare]) assert.match(await get('/api/agents'), new RegExp(`"name":"${part}"`));
    assert.match(await get('/api/storages'), new RegExp(`"name":"${f.storage}"`));
    await get(`/api/jobs/${f.job}`, 'user');
    await get(`/api/snapshots/${f.snapshot}`, 'user');
    assert.match(await get('/api/tokens', 'user'), new RegExp(`"id":${f.bobApiToken},`));
    // lists answer another user's own objects only: nothing of bob's
    for (const path of ['/api/agents', '/api/jobs', '/api/vaults', '/api/runs', '/api/snapshots', '/api/tokens', '/api/net/status', '/api/net/throughput', '/api/status'])
      assert.doesNotMatch(await get(path, 'other'), /bob/, `GET ${path} as the other user`);
  });

  it('through the CLI: another owner\'s job or agent as a filter is refused as unknown, changing nothing; an auditor lists users and makes its own API token, not an enrollment one', async () => {
    const consoleOf = async (who: 'other' | 'auditor') => {
      const env = { CAIRN_CONFIG: join(root, `${who}.json`) };
      const r = await c.cli(['login', c.url, '--user', NAMES[who], '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], `${PASSWORD}\n`, env);
      assert.equal(r.code, 0, r.stderr);
      return env;
    };
    // the runs the matrix queued end first (the slow one canceled), so what the catalog shows stays still
    const active = async () => {
      const runs = (await api.call('/api/runs?limit=1000', { token: tokens.admin })).json as RunJson[];
      return runs.filter((r) => r.status === 'queued' || r.status === 'running');
    };
    for (const r of await active()) if (r.job === f.slow) await api.call(`/api/runs/${r.id}/cancel`, { method: 'POST', token: tokens.admin });
    await pollUntil('the runs the matrix queued ended', async () => (await active()).length === 0);
    const eve = await consoleOf('other');
    const refusedRead = (what: string) => ({ what, result: 'E_NOT_FOUND', who: NAMES.other });
    await cliRefused(c, api, ['run', 'list', '--job', f.job], { exit: 1, env: eve, message: new RegExp(`^cairn: no job named ${f.job}$`), audit: refusedRead('GET /api/runs') });
    await cliRefused(c, api, ['snapshot', 'list', '--job', f.job], { exit: 1, env: eve, message: new RegExp(`^cairn: no job named ${f.job}$`), audit: refusedRead('GET /api/snapshots') });
    await cliRefused(c, api, ['snapshot', 'list', '--agent', f.agent], { exit: 1, env: eve, message: new RegExp(`^cairn: no agent named ${f.agent}$`), audit: refusedRead('GET /api/snapshots') });

    const aud = await consoleOf('auditor');
    const users = await c.cli(['user', 'list', '--json'], undefined, aud);
    assert.equal(users.code, 0, users.stderr);
    assert.deepEqual((JSON.parse(users.stdout) as { name: string }[]).map((u) => u.name).filter((n) => Object.values(NAMES).includes(n as never)).sort(), ['admin', 'aud', 'bob', 'eve', 'op']);
    const made = await c.cli(['token', 'create', '--kind', 'api', '--name', 'audit-export', '--json'], undefined, aud);
    assert.equal(made.code, 0, made.stderr);
    assert.ok((JSON.parse(made.stdout) as { token: string }).token.startsWith(API_TOKEN_PREFIX));
    await cliRefused(c, api, ['token', 'create', '--kind', 'agent'], { exit: 1, env: aud, message: /^cairn: role auditor may not POST \/api\/tokens$/, audit: { what: 'POST /api/tokens', result: 'E_FORBIDDEN', who: NAMES.auditor } });
  });
});
