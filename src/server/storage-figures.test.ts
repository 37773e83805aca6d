import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type SeedIds, seededCatalog } from '../../test/support/catalog-seed.ts';
import { CairnError, isCairnError } from '../core/errors.ts';
import type { StorageFiguresResult } from '../protocol/control.ts';
import type { SqliteDriver } from './catalog/sqlite-driver.ts';
import type { ServerContext } from './context.ts';
import { checkFigures, dedupRatio, refreshInBackground, refreshStorageFigures, startFiguresRefresh, storageFiguresByName, vaultFiguresByName } from './storage-figures.ts';

let db: SqliteDriver;
let ids: SeedIds;
let close: () => Promise<void>;
before(async () => {
  ({ db, ids, close } = await seededCatalog('cairn-figures-'));
});
after(() => close());

/** The storage server's side of the control channel, in memory: answers `figures` once `release` is called. */
function storageTwin(answer: () => unknown) {
  const twin = { online: true, calls: 0, releases: [] as (() => void)[] };
  const hub = {
    isOnline: () => twin.online,
    call: async (_part: unknown, method: string) => {
      assert.equal(method, 'figures');
      twin.calls++;
      await new Promise<void>((res) => twin.releases.push(res));
      return answer();
    },
  };
  const ctx = { db, hub, log: () => {} } as unknown as ServerContext;
  const release = async () => {
    for (let i = 0; i < 100 && twin.releases.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    twin.releases.shift()!();
  };
  return { twin, ctx, release };
}

const FIGURES: StorageFiguresResult = { diskFreeBytes: 500, diskTotalBytes: 1000, vaults: [{ name: 'ann', bytesStored: 300, packs: 2 }, { name: 'unknown-here', bytesStored: 7, packs: 1 }] };

test('the dedup ratio is logical over stored to two decimals, null when nothing is stored or it is not known', () => {
  assert.equal(dedupRatio(300, 100), 3);
  assert.equal(dedupRatio(1000, 3000), 0.33);
  assert.equal(dedupRatio(0, 100), 0);
  assert.equal(dedupRatio(500, 0), null);
  assert.equal(dedupRatio(500, null), null);
});

test('before any report the figures are null, and logical bytes count the snapshots held, not those being forgotten', async () => {
  const snap = (id: string, bytes: number, forgetting: number | null) =>
    db.run('INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes, forgetting_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      id.repeat(64), ids.job, ids.agent, ids.storage, ids.vault, 'full', 0, 1, bytes, forgetting,
    ]);
  await snap('a', 600, null);
  await snap('b', 300, null);
  await snap('c', 5000, 123);
  assert.deepEqual((await storageFiguresByName({ db })).get('nas'), { bytesStored: null, bytesLogical: 900, dedupRatio: null, diskFreeBytes: null, diskTotalBytes: null });
  assert.deepEqual((await vaultFiguresByName({ db })).get('ann'), { bytesStored: null, bytesLogical: 900, dedupRatio: null });
});

test("a refresh keeps the storage server's figures: its total of every vault, each known vault's own", async () => {
  const { twin, ctx, release } = storageTwin(() => FIGURES);
  const done = refreshStorageFigures(ctx, 'nas');
  await release();
  await done;
  assert.equal(twin.calls, 1);
  assert.deepEqual((await storageFiguresByName({ db })).get('nas'), { bytesStored: 307, bytesLogical: 900, dedupRatio: 2.93, diskFreeBytes: 500, diskTotalBytes: 1000 });
  assert.deepEqual((await vaultFiguresByName({ db })).get('ann'), { bytesStored: 300, bytesLogical: 900, dedupRatio: 3 });
});

test('refreshes asked while one runs become one more after it, never overlapping', async () => {
  const { twin, ctx, release } = storageTwin(() => FIGURES);
  const first = refreshStorageFigures(ctx, 'nas');
  const second = refreshStorageFigures(ctx, 'nas');
  const third = refreshStorageFigures(ctx, 'nas');
  assert.equal(second, third, 'the waiting refresh is shared');
  await release();
  await first;
  assert.equal(twin.calls, 1, 'the second starts only once the first ended');
  await release();
  await Promise.all([second, third]);
  assert.equal(twin.calls, 2);
});

test('an offline storage server is not asked; a malformed answer is refused and changes nothing', async () => {
  const offline = storageTwin(() => FIGURES);
  offline.twin.online = false;
  await refreshStorageFigures(offline.ctx, 'nas');
  assert.equal(offline.twin.calls, 0);
  const before = await storageFiguresByName({ db });
  const bad = storageTwin(() => ({ diskFreeBytes: -1 }));
  const done = refreshStorageFigures(bad.ctx, 'nas');
  await bad.release();
  await assert.rejects(done, (e: unknown) => isCairnError(e, 'E_BAD_REQUEST'));
  assert.deepEqual(await storageFiguresByName({ db }), before);
});

test('every online storage server is asked again each CAIRN_TEST_FIGURES_MS, until stopped', async () => {
  const env = { CAIRN_TEST: process.env.CAIRN_TEST, CAIRN_TEST_FIGURES_MS: process.env.CAIRN_TEST_FIGURES_MS };
  Object.assign(process.env, { CAIRN_TEST: '1', CAIRN_TEST_FIGURES_MS: '20' });
  let calls = 0;
  const hub = { isOnline: () => true, call: async () => (calls++, { ...FIGURES, diskFreeBytes: 400 }) };
  const refresh = startFiguresRefresh({ db, hub, log: () => {} } as unknown as ServerContext);
  // the period is read when the refresh starts: the environment goes back at once
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (let i = 0; i < 200 && calls < 3; i++) await new Promise((r) => setTimeout(r, 10));
  refresh.stop();
  assert.ok(calls >= 3, `asked ${calls} times`);
  await new Promise((r) => setTimeout(r, 50)); // a refresh under way ends
  const stopped = calls;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(calls, stopped, 'no more after stop');
  assert.equal((await storageFiguresByName({ db })).get('nas')?.diskFreeBytes, 400);
});

test('a background refresh that keeps failing is logged once until one succeeds; a storage server gone offline not at all', async () => {
  const lines: string[] = [];
  let answer: () => unknown = () => {
    throw new CairnError('E_NOT_FOUND', 'unknown control method "figures"');
  };
  const hub = { isOnline: () => true, call: async () => answer() };
  const ctx = { db, hub, log: (line: string) => lines.push(line) } as unknown as ServerContext;
  const settle = () => new Promise((r) => setTimeout(r, 30));
  for (let i = 0; i < 3; i++) {
    refreshInBackground(ctx, 'nas');
    await settle();
  }
  assert.deepEqual(lines, ['storage nas: figures not refreshed (said once until they are): unknown control method "figures"']);
  answer = () => FIGURES;
  refreshInBackground(ctx, 'nas');
  await settle();
  answer = () => {
    throw new CairnError('E_UNAVAILABLE', 'storage nas disconnected');
  };
  refreshInBackground(ctx, 'nas');
  await settle();
  assert.equal(lines.length, 1, 'offline is not a failure to report');
  answer = () => ({});
  refreshInBackground(ctx, 'nas');
  await settle();
  assert.equal(lines.length, 2, 'after a success, the next failure is said again');
  assert.match(lines[1]!, /malformed figures/);
});

test("a storage server's figures are taken when well formed", () => {
  const good = { diskFreeBytes: 10, diskTotalBytes: 100, vaults: [{ name: 'ann.nas', bytesStored: 5, packs: 1 }] };
  assert.deepEqual(checkFigures(good, 'nas'), good);
});

test('malformed figures are refused naming the storage server, whatever is wrong', () => {
  const bad: unknown[] = [
    null,
    [],
    { diskFreeBytes: -1, diskTotalBytes: 100, vaults: [] },
    { diskFreeBytes: 1.5, diskTotalBytes: 100, vaults: [] },
    { diskFreeBytes: 1, diskTotalBytes: '100', vaults: [] },
    { diskFreeBytes: 1, diskTotalBytes: 100 },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: {} },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [null] },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [{ name: 7, bytesStored: 1, packs: 1 }] },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [{ name: 'v', bytesStored: -2, packs: 1 }] },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [{ name: 'v', bytesStored: 1 }] },
  ];
  for (const v of bad)
    assert.throws(() => checkFigures(v, 'nas'), (e: unknown) => isCairnError(e, 'E_BAD_REQUEST') && /storage nas sent malformed figures/.test((e as Error).message), JSON.stringify(v));
});
