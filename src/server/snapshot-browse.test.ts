// Paging a directory listing and finding by name, on a real (temporary) SQLite catalog: pages cut
// and resumed on name bytes (UTF-8, non-ASCII and not UTF-8 at all), a listing of exactly `limit`
// entries ends without a next page, and each page is one range of the primary key.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seededCatalog, type SeedIds } from '../../test/support/catalog-seed.ts';
import type { Caller } from './auth/accounts.ts';
import { addEntries, listDirQuery } from './catalog/file-index.ts';
import type { SqliteDriver } from './catalog/sqlite-driver.ts';
import { percentEncode, queryBytes } from './http/query-params.ts';
import { lsSnapshot } from './snapshot-browse.ts';
import { findInJob, sqliteGlob } from './snapshot-find.ts';

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);
const DIR = Buffer.from('/home/ann/docs');
// byte order: ASCII, then 'é' (c3 a9), then the bare 0xff that is no UTF-8 at all
const NAMES = [Buffer.from('a b+c%.txt'), Buffer.from('b.txt'), Buffer.from('c.pdf'), Buffer.from('d.txt'), Buffer.from('é.txt'), Buffer.from([0xff, 0x2e, 0x74])];

describe('snapshot browsing and finding in the catalog', () => {
  let db: SqliteDriver;
  let ids: SeedIds;
  let close: () => Promise<void>;
  let ann: Caller;
  const admin: Caller = { id: 999, name: 'root', role: 'admin' };

  before(async () => {
    ({ db, ids, close } = await seededCatalog('cairn-browse-'));
    ann = { id: ids.user, name: 'ann', role: 'user' };
    for (const [id, time] of [[OLD, 1000], [NEW, 2000]] as const) {
      await db.run(`INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes) VALUES (?, ?, ?, ?, ?, 'full', ?, 0, 0)`, [
        id, ids.job, ids.agent, ids.storage, ids.vault, time,
      ]);
      const names = id === OLD ? NAMES.slice(0, 3) : NAMES;
      await addEntries(db, id, [
        { dir: Buffer.from('/home/ann'), name: Buffer.from('docs'), type: 'dir', size: 0, mtimeNs: 0n },
        ...names.map((name, i) => ({ dir: DIR, name, type: 'file', size: i, mtimeNs: 1_700_000_000_000_000_000n })),
      ]);
    }
  });
  after(async () => close());

  const pageOf = async (limit: number, after?: Buffer) => lsSnapshot(db, NEW, DIR, ann, { limit, after });

  it('pages through a directory in byte order, each next page resuming after the last name, every entry once', async () => {
    for (const limit of [1, 2, 4, 5]) {
      const seen: Buffer[] = [];
      let after: Buffer | undefined;
      for (let pages = 0; ; pages++) {
        assert.ok(pages <= NAMES.length, 'paging never ends');
        const page = await pageOf(limit, after);
        assert.ok(page.entries.length <= limit);
        for (const e of page.entries) seen.push(e.nameBytes === undefined ? Buffer.from(e.name) : Buffer.from(e.nameBytes, 'base64'));
        if (page.nextAfter === undefined) break;
        // through the header's encoding and back, as a client sends it
        after = queryBytes(`/x?limit=1&after=${percentEncode(page.nextAfter)}`, 'after');
        assert.deepEqual(after, page.nextAfter);
      }
      assert.deepEqual(seen, NAMES, `limit ${limit}`);
    }
  });

  it('ends without a next page when exactly `limit` entries are left, and is empty after the last name', async () => {
    const whole = await pageOf(NAMES.length);
    assert.equal(whole.entries.length, NAMES.length);
    assert.equal(whole.nextAfter, undefined);
    const cut = await pageOf(NAMES.length - 1);
    assert.deepEqual(cut.nextAfter, NAMES.at(-2));
    const rest = await pageOf(1, cut.nextAfter);
    assert.deepEqual([rest.entries.map((e) => e.nameBytes), rest.nextAfter], [[NAMES.at(-1)!.toString('base64')], undefined]);
    assert.deepEqual(await pageOf(3, NAMES.at(-1)), { entries: [] });
    // an `after` that is no name at all still resumes at the next one in byte order
    assert.deepEqual((await pageOf(1, Buffer.from('c'))).entries.map((e) => e.name), ['c.pdf']);
  });

  it('reads each page as one range of the primary key, never a scan', async () => {
    const { sql, params } = listDirQuery(1, 1, { after: Buffer.from('b'), limit: 1001 });
    const plan = await db.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params);
    const details = plan.map((p) => p.detail).join('; ');
    assert.match(details, /SEARCH files USING PRIMARY KEY \(snapshot_pk=\? AND path_id=\? AND name>\?\)/, details);
    assert.doesNotMatch(details, /SCAN|TEMP B-TREE/, details);
  });

  it('reads query bytes exactly: %XX as one byte, + as a space, UTF-8 as itself; a malformed escape is refused', () => {
    assert.deepEqual(queryBytes('/x?after=%FF%2E+a%C3%A9', 'after'), Buffer.from([0xff, 0x2e, 0x20, 0x61, 0xc3, 0xa9]));
    assert.deepEqual(queryBytes('/x?limit=3', 'after'), undefined);
    assert.deepEqual(queryBytes('/x?after=', 'after'), Buffer.alloc(0));
    assert.throws(() => queryBytes('/x?after=%G1', 'after'), /after: malformed %-escape at character 1/);
    assert.equal(percentEncode(Buffer.from('a b+c%/é~')), 'a%20b%2Bc%25%2F%C3%A9~');
  });

  it('translates shell globs for SQLite and refuses unclosed sets, slashes and empty globs', async () => {
    assert.deepEqual(sqliteGlob('[!a-c]*.t?t'), { pattern: '[^a-c]*.t?t', literal: '.t' });
    assert.deepEqual(sqliteGlob('[]x]'), { pattern: '[]x]', literal: '' });
    assert.deepEqual(sqliteGlob('[!]]ab*abc[d]'), { pattern: '[^]]ab*abc[d]', literal: 'abc' });
    assert.deepEqual(sqliteGlob('é?'), { pattern: 'é?', literal: 'é' });
    // a set of one is how a literal * or ? is written, as in shells
    const literal = await db.query<{ yes: number; no: number }>('SELECT CAST(? AS BLOB) GLOB ? AS yes, CAST(? AS BLOB) GLOB ? AS no', ['a*b', sqliteGlob('a[*]b').pattern, 'axb', sqliteGlob('a[*]b').pattern]);
    assert.deepEqual({ ...literal[0] }, { yes: 1, no: 0 });
    assert.throws(() => sqliteGlob('[abc'), /name: the \[ at character 1 is never closed/);
    assert.throws(() => sqliteGlob('a/b'), /cannot hold a \//);
    assert.throws(() => sqliteGlob(''), /name must be a glob of 1 to 1024 characters/);
  });

  it('finds by base name newest snapshot first, with each glob form, within the limit', async () => {
    const found = async (glob: string, limit = 1000, who = ann) => (await findInJob(db, who, 'home', glob, limit)).matches.map((m) => `${m.snapshot[0]}:${m.path}`);
    assert.deepEqual(await found('*.txt'), ['b:/home/ann/docs/a b+c%.txt', 'b:/home/ann/docs/b.txt', 'b:/home/ann/docs/d.txt', 'b:/home/ann/docs/é.txt', 'a:/home/ann/docs/a b+c%.txt', 'a:/home/ann/docs/b.txt']);
    assert.deepEqual(await found('?.pdf'), ['b:/home/ann/docs/c.pdf', 'a:/home/ann/docs/c.pdf']);
    assert.deepEqual(await found('[bd].txt'), ['b:/home/ann/docs/b.txt', 'b:/home/ann/docs/d.txt', 'a:/home/ann/docs/b.txt']);
    assert.deepEqual(await found('[!a-c]*'), ['b:/home/ann/docs', 'b:/home/ann/docs/d.txt', 'b:/home/ann/docs/é.txt', 'b:/home/ann/docs/\\xff.t', 'a:/home/ann/docs']);
    assert.deepEqual(await found('docs', 1000, admin), ['b:/home/ann/docs', 'a:/home/ann/docs']);
    assert.deepEqual(await found('nothing*'), []);
    const odd = (await findInJob(db, ann, 'home', '*.t', 10)).matches;
    assert.deepEqual(odd.map((m) => [m.path, m.pathBytes, m.type, m.size]), [['/home/ann/docs/\\xff.t', Buffer.concat([DIR, Buffer.from('/'), NAMES[5]!]).toString('base64'), 'file', 5]]);
    assert.equal(odd[0]!.time, new Date(2000).toISOString());
    const cut = await findInJob(db, ann, 'home', '*.txt', 5);
    assert.deepEqual([cut.matches.length, cut.truncated], [5, true]);
    const exact = await findInJob(db, ann, 'home', '*.txt', 6);
    assert.deepEqual([exact.matches.length, exact.truncated], [6, false]);
  });

  it("hides another owner's job as unknown, and names an unknown job", async () => {
    const bob: Caller = { id: ids.user + 100, name: 'bob', role: 'user' };
    await assert.rejects(findInJob(db, bob, 'home', '*', 10), { code: 'E_NOT_FOUND', message: 'no job named home' });
    await assert.rejects(findInJob(db, admin, 'nope', '*', 10), { code: 'E_NOT_FOUND', message: 'no job named nope' });
  });
});
