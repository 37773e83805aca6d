// How the CLI names and shows snapshots, on a real cluster (server, storage s1, agent a1): a
// prefix under 8 hex digits is bad usage (exit 2) wherever a snapshot is taken, an ambiguous one
// names up to 5 matches (exit 1) but never another owner's, and nothing changes on refusal;
// `snapshot ls` shows each entry's mode, owner, size, mtime and a symlink's target.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { LsEntryJson, RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { type RawApi, rawApi } from './support/raw-api.ts';
import { cliRefused, httpRefused } from './support/refusals.ts';

describe('snapshots named and shown by the CLI', { concurrency: 1 }, () => {
  let c: Cluster;
  let api: RawApi;
  let src: string;
  let snapshot: string;

  before(async () => {
    c = await startCluster({ agents: ['a1'], storages: ['s1'] });
    api = rawApi(c);
    src = join(tempDir('cairn-snapcli-src-'), 'data');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'sub', 'b.txt'), 'beta\n');
    chmodSync(join(src, 'a.txt'), 0o640);
    chmodSync(join(src, 'sub'), 0o750);
    symlinkSync('a.txt', join(src, 'link'));
    symlinkSync(Buffer.from([0x2e, 0x2f, 0xff]), join(src, 'odd'));
    const made = await c.cli(['job', 'create', 'j1', '--agent', 'a1', '--storage', 's1', '--path', src]);
    assert.equal(made.code, 0, made.stderr);
    const run = await c.json<RunJson>(['job', 'run', 'j1', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    snapshot = run.snapshot!;
  });

  after(async () => {
    await c?.stop();
  });

  it('snapshot ls shows mode, owner, size, mtime and a symlink\'s target (base64 beside it when not UTF-8)', async () => {
    const { uid, gid } = lstatSync(join(src, 'a.txt'));
    const items = await c.json<LsEntryJson[]>(['snapshot', 'ls', snapshot, src]);
    const pick = (e: LsEntryJson) => [e.name, e.type, e.mode, e.uid, e.gid, e.target, e.targetBytes];
    assert.deepEqual(items.map(pick), [
      ['a.txt', 'file', 0o640, uid, gid, null, undefined],
      ['link', 'symlink', 0o777, uid, gid, 'a.txt', undefined],
      ['odd', 'symlink', 0o777, uid, gid, './\\xff', Buffer.from([0x2e, 0x2f, 0xff]).toString('base64')],
      ['sub', 'dir', 0o750, uid, gid, null, undefined],
    ]);
    assert.equal(items[0]!.size, 6);
    // the catalog keeps nanoseconds and shows whole milliseconds (cut, not rounded as Stats.mtime is)
    assert.equal(items[0]!.mtime, new Date(Number(lstatSync(join(src, 'a.txt'), { bigint: true }).mtimeNs / 1_000_000n)).toISOString());
    const text = await c.cli(['snapshot', 'ls', snapshot, src]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^MODE +OWNER +SIZE +MTIME +NAME$/);
    assert.match(lines[1]!, new RegExp(`^-rw-r----- +${uid}:${gid} +6 +\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z +a\\.txt$`));
    assert.match(lines[2]!, /^lrwxrwxrwx .* link -> a\.txt$/);
    assert.match(lines[3]!, /^lrwxrwxrwx .* odd -> \.\/\\xff$/);
    assert.match(lines[4]!, /^drwxr-x--- /);
    // an entry indexed before the index carried metadata (an older agent) shows null
    const db = new DatabaseSync(join(c.serverDir, 'catalog.db'), { timeout: 10_000 });
    db.prepare("UPDATE files SET mode = NULL, uid = NULL, gid = NULL, target = NULL WHERE name = CAST('link' AS BLOB)").run();
    db.close();
    const older = (await c.json<LsEntryJson[]>(['snapshot', 'ls', snapshot, src])).find((e) => e.name === 'link')!;
    assert.deepEqual([older.mode, older.uid, older.gid, older.target], [null, null, null, null]);
    assert.match((await c.cli(['snapshot', 'ls', snapshot, src])).stdout, /^l +- +- +\S+ +link$/m);
  });

  it('refuses a prefix under 8 hex digits with exit 2 wherever a snapshot is taken, asking nothing', async () => {
    const short = snapshot.slice(0, 7);
    const message = new RegExp(`snapshot ${short}: give at least 8 hex digits`);
    for (const args of [
      ['restore', short, '--to', tempDir('cairn-snapcli-r-')],
      ['verify', short, '--level', 'catalog'],
      ['snapshot', 'ls', short],
      ['snapshot', 'forget', short],
    ])
      await cliRefused(c, api, args, { exit: 2, message });
    await httpRefused(api, '/api/restores', { body: { snapshot: short } }, { status: 400, code: 'E_BAD_REQUEST', message, audit: { what: 'POST /api/restores', result: 'E_BAD_REQUEST' } });
    await httpRefused(api, `/api/snapshots/${short}/ls?path=/`, {}, { status: 400, code: 'E_BAD_REQUEST', message });
  });

  it('names up to 5 matches of an ambiguous prefix (exit 1), and only the caller\'s own', async () => {
    const prefix = snapshot.slice(0, 8);
    // six more snapshots sharing the first 8 digits, as the catalog would hold them
    const db = new DatabaseSync(join(c.serverDir, 'catalog.db'), { timeout: 10_000 });
    const twins = Array.from({ length: 6 }, () => prefix + randomBytes(28).toString('hex'));
    for (const id of twins)
      db.prepare(`INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes)
        SELECT ?, job_id, agent_id, storage_id, vault_id, level, time, files, bytes FROM snapshots WHERE id = ?`).run(id, snapshot);
    db.close();
    const shown = [snapshot, ...twins].sort().slice(0, 5).map((id) => id.slice(0, 16));
    const ambiguous = new RegExp(`snapshot prefix ${prefix} is ambiguous: ${shown.map((id) => `${id} \\(j1, [^)]+\\)`).join(', ')} and more; give more digits`);
    const conflict = (what: string) => ({ what, result: 'E_CONFLICT' });
    await cliRefused(c, api, ['restore', prefix, '--to', tempDir('cairn-snapcli-r-')], { exit: 1, message: ambiguous, audit: conflict('POST /api/restores') });
    await cliRefused(c, api, ['snapshot', 'forget', prefix], { exit: 1, message: ambiguous, audit: conflict(`POST /api/snapshots/${prefix}/forget`) });
    await cliRefused(c, api, ['snapshot', 'ls', prefix], { exit: 1, message: ambiguous });
    // the whole id, or enough digits, still names one
    const ls = await c.json<{ name: string }[]>(['snapshot', 'ls', snapshot.slice(0, 20).toUpperCase()]);
    assert.deepEqual(ls.map((e) => e.name), [src.split('/')[1]]);

    const bob = { CAIRN_CONFIG: join(tempDir('cairn-snapcli-bob-'), 'cli.json') };
    assert.equal((await c.cli(['user', 'add', 'bob', '--role', 'user', '--password-stdin'], 'bob-password-for-tests\n')).code, 0);
    const login = await c.cli(['login', c.url, '--user', 'bob', '--password-stdin', '--ca', join(c.serverDir, 'ca.pem')], 'bob-password-for-tests\n', bob);
    assert.equal(login.code, 0, login.stderr);
    await cliRefused(c, api, ['snapshot', 'ls', prefix], { exit: 1, message: new RegExp(`^cairn: no snapshot ${prefix}$`), env: bob });
  });
});
