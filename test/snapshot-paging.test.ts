// Browsing and finding on a real cluster (server, storage s1, agent a1): `GET
// /api/snapshots/:id/ls` pages with after/limit and Cairn-Next-After (names that are not ASCII or
// not UTF-8 at all round-trip through the header), `cairn snapshot ls` follows the pages through a
// directory larger than one, and `GET /api/jobs/:name/find` / `cairn snapshot find` match base
// names newest snapshot first, for its owner only. Bad input is refused clearly, changing nothing.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { FindAnswerJson, LsEntryJson, RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused, httpRefused } from './support/refusals.ts';

// byte order: ASCII (space and + included), 'é' (c3 a9), then a bare 0xff that is not UTF-8
const NAMES = [Buffer.from('a b+c%.txt'), Buffer.from('b.txt'), Buffer.from('c.pdf'), Buffer.from('é.txt'), Buffer.from([0xff, 0x2e, 0x74, 0x78, 0x74])];
/** entries seeded into one directory: fifteen pages of the largest size (issue 15 asks for 150,000) */
const BIG = 150_000;

describe('paged listings and find by name', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let src: string;
  let older: string;
  let newer: string;
  const ls = (dir: string, q = '') => `/api/snapshots/${newer}/ls?path=${encodeURIComponent(dir)}${q}`;
  const bytesOf = (e: LsEntryJson) => (e.nameBytes === undefined ? Buffer.from(e.name) : Buffer.from(e.nameBytes, 'base64'));

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
    api = rawApi(c);
    src = join(tempDir('cairn-paging-src-'), 'data');
    mkdirSync(join(src, 'docs'), { recursive: true });
    mkdirSync(join(src, 'big'));
    writeFileSync(join(src, 'docs', 'b.txt'), 'old\n');
    assert.equal((await c.cli(['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src])).code, 0);
    const first = await c.json<RunJson>(['job', 'run', 'j1', '--wait']);
    assert.equal(first.status, 'succeeded', JSON.stringify(first));
    for (const name of NAMES) writeFileSync(Buffer.concat([Buffer.from(join(src, 'docs')), Buffer.from('/'), name]), 'x');
    const second = await c.json<RunJson>(['job', 'run', 'j1', '--wait', '--level', 'full']);
    assert.equal(second.status, 'succeeded', JSON.stringify(second));
    [older, newer] = [first.snapshot!, second.snapshot!];
    // a directory larger than a page, seeded into the catalog directly as a huge backup would fill it
    const db = new DatabaseSync(join(c.serverDir, 'catalog.db'), { timeout: 10_000 });
    db.exec('BEGIN');
    const dirId = db.prepare('INSERT INTO paths (path) VALUES (?) ON CONFLICT (path) DO UPDATE SET path = path RETURNING id').get(Buffer.from(join(src, 'big')))!.id as number;
    const add = db.prepare("INSERT INTO files (snapshot_pk, path_id, name, type, size, mtime_ns) VALUES ((SELECT pk FROM snapshots WHERE id = ?), ?, ?, 'file', 1, 0)");
    for (let i = 0; i < BIG; i++) add.run(newer, dirId, Buffer.from(`f${String(i).padStart(6, '0')}`));
    db.exec('COMMIT');
    db.close();
  });

  after(async () => {
    await c?.stop();
  });

  it('pages a directory with after/limit, following Cairn-Next-After verbatim, every name once and in byte order', async () => {
    const docs = join(src, 'docs');
    for (const limit of [1, 2, 4]) {
      const seen: Buffer[] = [];
      let q = `&limit=${limit}`;
      for (let pages = 0; ; pages++) {
        assert.ok(pages <= NAMES.length);
        const a = await api.call(ls(docs, q));
        assert.equal(a.status, 200, a.text);
        const entries = a.json as LsEntryJson[];
        assert.ok(entries.length <= limit);
        seen.push(...entries.map(bytesOf));
        const next = a.headers['cairn-next-after'];
        if (next === undefined) break;
        assert.match(String(next), /^[A-Za-z0-9\-._~%]+$/, 'the header is plain ASCII');
        q = `&limit=${limit}&after=${String(next)}`;
      }
      assert.deepEqual(seen, NAMES, `limit ${limit}`);
    }
    // the non-UTF-8 name as the header gives it, and exactly `limit` entries left: no next page
    const cut = await api.call(ls(docs, '&limit=4'));
    assert.equal(cut.headers['cairn-next-after'], '%C3%A9.txt');
    const last = await api.call(ls(docs, '&limit=1&after=%C3%A9.txt'));
    assert.deepEqual([(last.json as LsEntryJson[]).map(bytesOf), last.headers['cairn-next-after']], [[NAMES[4]], undefined]);
    const whole = await api.call(ls(docs, `&limit=${NAMES.length}`));
    assert.deepEqual([(whole.json as LsEntryJson[]).length, whole.headers['cairn-next-after']], [NAMES.length, undefined]);
    const beyond = await api.call(ls(docs, '&after=%FF.txt'));
    assert.deepEqual([beyond.status, beyond.json, beyond.headers['cairn-next-after']], [200, [], undefined]);
    // or as the listing gives a name that is not UTF-8: nameBytes, base64
    const fromBytes = await api.call(ls(docs, `&limit=1&afterBytes=${encodeURIComponent(Buffer.from('é.txt').toString('base64'))}`));
    assert.deepEqual((fromBytes.json as LsEntryJson[]).map(bytesOf), [NAMES[4]]);
    // a UTF-8 name may be given as URLSearchParams encodes it (+ for a space)
    const plus = await api.call(ls(docs, '&limit=1&after=a+b%2Bc%25.txt'));
    assert.deepEqual((plus.json as LsEntryJson[]).map((e) => e.name), ['b.txt']);
  });

  it('documents after, limit and Cairn-Next-After, and the find route, in /api/openapi.json', async () => {
    type Op = { parameters: { name: string }[]; responses: Record<string, { headers?: Record<string, { description: string }> }> };
    const doc = (await api.call('/api/openapi.json')).json as { paths: Record<string, Record<string, Op>> };
    const lsOp = doc.paths['/api/snapshots/{id}/ls']!.get!;
    assert.deepEqual(lsOp.parameters.map((p) => p.name), ['id', 'path', 'pathBytes', 'after', 'afterBytes', 'limit']);
    assert.match(lsOp.responses['2XX']!.headers!['Cairn-Next-After']!.description, /%-encoded .* verbatim as after=/);
    assert.deepEqual(doc.paths['/api/jobs/{name}/find']!.get!.parameters.map((p) => p.name), ['name', 'name', 'limit']);
  });

  it('answers 1,000 entries by default and cuts a 150,000-entry directory; paging and cairn snapshot ls return every entry once', async () => {
    const big = join(src, 'big');
    const first = await api.call(ls(big));
    assert.equal((first.json as LsEntryJson[]).length, 1000);
    assert.equal(first.headers['cairn-next-after'], 'f000999');
    const max = await api.call(ls(big, '&limit=10000&after=f000999'));
    assert.deepEqual([(max.json as LsEntryJson[]).length, max.headers['cairn-next-after']], [10_000, 'f010999']);
    // through the API at the largest page, following the header
    let q = '&limit=10000';
    let count = 0;
    for (let pages = 1; ; pages++) {
      const a = await api.call(ls(big, q));
      const entries = a.json as LsEntryJson[];
      assert.ok(entries.every((e, i) => e.name === `f${String(count + i).padStart(6, '0')}`), `page ${pages} goes on where the last ended`);
      count += entries.length;
      const next = a.headers['cairn-next-after'];
      if (next === undefined) {
        assert.equal(pages, BIG / 10_000, 'exactly 15 pages: the last one, exactly full, has no next');
        break;
      }
      q = `&limit=10000&after=${String(next)}`;
    }
    assert.equal(count, BIG);
    const all = await c.json<LsEntryJson[]>(['snapshot', 'ls', newer, big]);
    assert.equal(all.length, BIG);
    assert.ok(all.every((e, i) => e.name === `f${String(i).padStart(6, '0')}`), 'every entry once, in order');
    const text = await c.cli(['snapshot', 'ls', newer, big]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout.trimEnd().split('\n').length, BIG + 1);
    // a small directory reads as before: one page, no header
    const small = await c.json<LsEntryJson[]>(['snapshot', 'ls', newer, join(src, 'docs')]);
    assert.deepEqual(small.map(bytesOf), NAMES);
  });

  it('refuses a bad limit or after with 400 naming the parameter, changing nothing', async () => {
    const docs = join(src, 'docs');
    for (const bad of ['0', '10001', 'ten', '-1', '1.5', ''])
      await httpRefused(api, ls(docs, `&limit=${bad}`), {}, { status: 400, code: 'E_BAD_REQUEST', message: /^limit must be an integer from 1 to 10000/ });
    for (const bad of ['%', '%G0', 'a%2'])
      await httpRefused(api, ls(docs, `&after=${bad}`), {}, { status: 400, code: 'E_BAD_REQUEST', message: /^after: malformed %-escape/ });
    await httpRefused(api, ls(docs, '&afterBytes=%2F%2F8'), {}, { status: 400, code: 'E_BAD_REQUEST', message: /^afterBytes must be base64/ });
    await httpRefused(api, ls(docs, '&afterBytes=YQ%3D%3D&after=a'), {}, { status: 400, code: 'E_BAD_REQUEST', message: /^give after or afterBytes, not both/ });
    await httpRefused(api, ls(join(src, 'nope'), '&after=a'), {}, { status: 404, code: 'E_NOT_FOUND', message: /has no directory/ });
  });

  it('finds by base name with each glob form, newest snapshot first, within the limit', async () => {
    // newest snapshot first; within one, the index's order (directories as the agent met them), so compared sorted
    const paths = (a: FindAnswerJson) => {
      const tagged = a.matches.map((m) => `${m.snapshot === newer ? 'new' : m.snapshot === older ? 'old' : '?'}:${m.path.slice(src.length)}`);
      const firstOld = tagged.findIndex((t) => t.startsWith('old:'));
      assert.ok(firstOld === -1 || tagged.slice(firstOld).every((t) => t.startsWith('old:')), `newest first: ${tagged.join(', ')}`);
      return tagged.sort();
    };
    const find = (q: string) => api.call(`/api/jobs/j1/find?${q}`);
    const json = async (q: string) => {
      const a = await find(q);
      assert.equal(a.status, 200, a.text);
      return a.json as FindAnswerJson;
    };
    assert.deepEqual(paths(await json('name=b.txt')), ['new:/docs/b.txt', 'old:/docs/b.txt']);
    assert.deepEqual(paths(await json('name=*.txt')), ['new:/docs/\\xff.txt', 'new:/docs/a b+c%.txt', 'new:/docs/b.txt', 'new:/docs/é.txt', 'old:/docs/b.txt']);
    assert.deepEqual(paths(await json('name=%3F.pdf')), ['new:/docs/c.pdf']);
    assert.deepEqual(paths(await json('name=%5Bab%5D*')), ['new:/big', 'new:/docs/a b+c%.txt', 'new:/docs/b.txt', 'old:/big', 'old:/docs/b.txt']);
    assert.deepEqual(paths(await json('name=%5B!a-e%5D*.txt')), ['new:/docs/\\xff.txt', 'new:/docs/é.txt']);
    const one = await json('name=*.txt&limit=1');
    assert.deepEqual([paths(one), one.truncated], [['new:/docs/a b+c%.txt'], true]);
    const all = await json('name=*.txt&limit=5');
    assert.equal(all.truncated, false);
    const odd = all.matches.find((m) => m.pathBytes !== undefined)!;
    assert.deepEqual(Buffer.from(odd.pathBytes!, 'base64'), Buffer.concat([Buffer.from(join(src, 'docs')), Buffer.from('/'), NAMES[4]!]));
    const shown = await c.json<{ id: string; time: string }[]>(['snapshot', 'list', '--job', 'j1']);
    assert.deepEqual([odd.snapshot, odd.type, odd.size, odd.time], [newer, 'file', 1, shown.find((s) => s.id === newer)!.time]);
    // the CLI: a table, or the answer as is
    const text = await c.cli(['snapshot', 'find', '--job', 'j1', 'b.txt']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^SNAPSHOT +TIME +TYPE +SIZE +MTIME +PATH\n/);
    assert.equal(text.stdout.trimEnd().split('\n').length, 3);
    const cut = await c.cli(['snapshot', 'find', '--job', 'j1', '*.txt', '--limit', '2']);
    assert.equal(cut.code, 0, cut.stderr);
    assert.match(cut.stderr, /^more files matched: showing the first 2/);
    assert.deepEqual(await c.json<FindAnswerJson>(['snapshot', 'find', '--job', 'j1', '*.pdf']), await json('name=*.pdf'));
  });

  it("refuses bad find input (exit 2 or 400), an unknown job and another owner's job (404), changing nothing", async () => {
    const msg = { status: 400, code: 'E_BAD_REQUEST' };
    await httpRefused(api, '/api/jobs/j1/find', {}, { ...msg, message: /^name is required/ });
    await httpRefused(api, '/api/jobs/j1/find?name=%5Bab', {}, { ...msg, message: /^name: the \[ at character 1 is never closed/ });
    await httpRefused(api, '/api/jobs/j1/find?name=docs%2Fb.txt', {}, { ...msg, message: /^name is matched against base names/ });
    for (const bad of ['0', '1001', 'x'])
      await httpRefused(api, `/api/jobs/j1/find?name=*&limit=${bad}`, {}, { ...msg, message: /^limit must be an integer from 1 to 1000/ });
    const notFound = { status: 404, code: 'E_NOT_FOUND', message: /^no job named nope$/, audit: { what: 'GET /api/jobs/nope/find', result: 'E_NOT_FOUND' } };
    await httpRefused(api, '/api/jobs/nope/find?name=*', {}, notFound);
    await cliRefused(c, api, ['snapshot', 'find', '--job', 'nope', '*'], { exit: 1, message: /^cairn: no job named nope$/, audit: notFound.audit });
    await cliRefused(c, api, ['snapshot', 'find', '*.txt'], { exit: 2, message: /snapshot find: --job is required/ });
    await cliRefused(c, api, ['snapshot', 'find', '--job', 'j1'], { exit: 2, message: /snapshot find: expected 1 argument/ });
    await cliRefused(c, api, ['snapshot', 'find', '--job', 'j1', 'a/b'], { exit: 2, message: /cannot be empty or hold a \// });
    for (const bad of ['0', '1001', 'many'])
      await cliRefused(c, api, ['snapshot', 'find', '--job', 'j1', '*', '--limit', bad], { exit: 2, message: /--limit must be/ });

    const bob = { CAIRN_CONFIG: join(tempDir('cairn-paging-bob-'), 'cli.json') };
    assert.equal((await c.cli(['user', 'add', 'bob', '--role', 'user', '--password-stdin'], 'bob-password-for-tests\n')).code, 0);
    const login = await c.cli(['login', c.url, '--user', 'bob', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], 'bob-password-for-tests\n', bob);
    assert.equal(login.code, 0, login.stderr);
    await cliRefused(c, api, ['snapshot', 'find', '--job', 'j1', '*'], { exit: 1, message: /^cairn: no job named j1$/, env: bob, audit: { what: 'GET /api/jobs/j1/find', result: 'E_NOT_FOUND', who: 'bob' } });
  });
});
