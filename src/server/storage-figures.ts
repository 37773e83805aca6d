// Storage figures in the catalog (migration 6): each storage server's disk space and pack bytes,
// and each vault's pack bytes, asked over the control channel (`figures`, storage/figures.ts) when
// a storage server comes online, every minute (CAIRN_TEST_FIGURES_MS in tests) and after each run
// or forget involving it. `storage list`, `vault list` and the server's metrics read them from the
// catalog. Refreshes of one storage server never overlap: one asked while another runs waits for
// it and then asks again once (what changed during the first may not be in its answer).
import { CairnError, isCairnError } from '../core/errors.ts';
import { now, testDuration } from '../core/test-settings.ts';
import type { FiguresJson, StorageFiguresJson } from '../protocol/api-types.ts';
import type { StorageFiguresResult } from '../protocol/control.ts';
import { num, type ServerContext } from './context.ts';

const FIGURES_TIMEOUT_MS = 30_000;

type Slot = { running?: Promise<void>; queued?: Promise<void> };
const slots = new WeakMap<ServerContext, Map<string, Slot>>();

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The storage server's answer, checked: anything malformed is E_BAD_REQUEST and nothing is written. */
export function checkFigures(v: unknown, storage: string): StorageFiguresResult {
  const bad = (why: string) => new CairnError('E_BAD_REQUEST', `storage ${storage} sent malformed figures: ${why}`);
  const o = v as Partial<StorageFiguresResult> | null;
  if (typeof o !== 'object' || o === null || !isCount(o.diskFreeBytes) || !isCount(o.diskTotalBytes)) throw bad('want {diskFreeBytes, diskTotalBytes, vaults}');
  if (!Array.isArray(o.vaults)) throw bad('vaults must be a list');
  for (const x of o.vaults as unknown[]) {
    const e = x as Partial<StorageFiguresResult['vaults'][number]> | null;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || !isCount(e.bytesStored) || !isCount(e.packs)) throw bad('each vault wants {name, bytesStored, packs}');
  }
  return { diskFreeBytes: o.diskFreeBytes, diskTotalBytes: o.diskTotalBytes, vaults: o.vaults };
}

async function fetchAndStore(ctx: ServerContext, storage: string): Promise<void> {
  if (!ctx.hub.isOnline({ kind: 'storage', name: storage })) return;
  const figures = checkFigures(await ctx.hub.call({ kind: 'storage', name: storage }, 'figures', {}, FIGURES_TIMEOUT_MS), storage);
  await ctx.db.transaction(async (tx) => {
    const rows = await tx.query<{ id: number }>('SELECT id FROM storages WHERE name = ? AND removed_at IS NULL', [storage]);
    if (!rows[0]) return;
    const id = num(rows[0].id);
    // the catalog's vaults of this storage server only: a vault the catalog does not know adds to the total, not to a row
    const total = figures.vaults.reduce((n, v) => n + v.bytesStored, 0);
    await tx.run('UPDATE storages SET bytes_stored = ?, disk_free = ?, disk_total = ?, figures_at = ? WHERE id = ?', [
      total,
      figures.diskFreeBytes,
      figures.diskTotalBytes,
      now(),
      id,
    ]);
    for (const v of figures.vaults) await tx.run('UPDATE vaults SET bytes_stored = ? WHERE name = ? AND storage_id = ?', [v.bytesStored, v.name, id]);
  });
}

/** Asks the storage server for its figures and keeps them; an offline one changes nothing. */
export function refreshStorageFigures(ctx: ServerContext, storage: string): Promise<void> {
  let byName = slots.get(ctx);
  if (!byName) slots.set(ctx, (byName = new Map()));
  const slot = byName.get(storage) ?? {};
  byName.set(storage, slot);
  const start = (): Promise<void> => {
    const running = fetchAndStore(ctx, storage).finally(() => {
      if (slot.running === running) slot.running = undefined;
    });
    slot.running = running;
    return running;
  };
  if (!slot.running) return start();
  slot.queued ??= slot.running
    .catch(() => undefined)
    .then(() => {
      slot.queued = undefined;
      return start();
    });
  return slot.queued;
}

/** storage servers whose last background refresh failed and was logged: logged once until one succeeds */
const failing = new WeakMap<ServerContext, Set<string>>();

/**
 * A refresh nobody waits for, never thrown: a failure is logged once until a refresh succeeds
 * again (an older storage server without `figures` would log every minute), and not at all for a
 * storage server that went away meanwhile.
 */
export function refreshInBackground(ctx: ServerContext, storage: string): void {
  let logged = failing.get(ctx);
  if (!logged) failing.set(ctx, (logged = new Set()));
  const seen = logged;
  refreshStorageFigures(ctx, storage).then(
    () => seen.delete(storage),
    (e: unknown) => {
      if (isCairnError(e, 'E_UNAVAILABLE') || seen.has(storage)) return;
      seen.add(storage);
      ctx.log(`storage ${storage}: figures not refreshed (said once until they are): ${(e as Error).message}`);
    },
  );
}

/** After run `runId` ended: the figures of its storage server (none for a run without one). */
export async function refreshAfterRun(ctx: ServerContext, runId: number): Promise<void> {
  const rows = await ctx.db.query<{ name: string }>('SELECT s.name FROM runs r JOIN storages s ON s.id = r.storage_id WHERE r.id = ?', [runId]);
  if (rows[0]) refreshInBackground(ctx, rows[0].name);
}

/** Every online storage server's figures every minute (CAIRN_TEST_FIGURES_MS); stop() ends it. */
export function startFiguresRefresh(ctx: ServerContext): { stop: () => void } {
  const timer = setInterval(() => {
    void ctx.db
      .query<{ name: string }>('SELECT name FROM storages WHERE removed_at IS NULL')
      .then((rows) => {
        for (const r of rows) if (ctx.hub.isOnline({ kind: 'storage', name: r.name })) refreshInBackground(ctx, r.name);
      })
      .catch((e: unknown) => ctx.log(`storage figures: ${(e as Error).message}`));
  }, testDuration('FIGURES', 60_000));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

// ---- the figures as storage list and vault list show them

/** logical / stored to two decimals; null when nothing is stored or the figure is not known yet. */
export function dedupRatio(logical: number, stored: number | null): number | null {
  return stored === null || stored === 0 ? null : Math.round((logical / stored) * 100) / 100;
}

function figuresJson(stored: number | bigint | null | undefined, logical: number): FiguresJson {
  const bytesStored = stored === null || stored === undefined ? null : num(stored);
  return { bytesStored, bytesLogical: logical, dedupRatio: dedupRatio(logical, bytesStored) };
}

/** Sum of the `bytes` of the snapshots held (not being forgotten), by storage server or vault id. */
async function logicalBytes(ctx: Pick<ServerContext, 'db'>, by: 'storage_id' | 'vault_id'): Promise<Map<number, number>> {
  const rows = await ctx.db.query<{ id: number; bytes: number | null }>(`SELECT ${by} AS id, SUM(bytes) AS bytes FROM snapshots WHERE forgetting_at IS NULL GROUP BY ${by}`);
  return new Map(rows.map((r) => [num(r.id), r.bytes === null ? 0 : num(r.bytes)]));
}

/** Each live storage server's figures by name. */
export async function storageFiguresByName(ctx: Pick<ServerContext, 'db'>): Promise<Map<string, StorageFiguresJson>> {
  const logical = await logicalBytes(ctx, 'storage_id');
  const rows = await ctx.db.query<{ id: number; name: string; bytes_stored: number | null; disk_free: number | null; disk_total: number | null }>(
    'SELECT id, name, bytes_stored, disk_free, disk_total FROM storages WHERE removed_at IS NULL',
  );
  return new Map(
    rows.map((r) => [
      r.name,
      {
        ...figuresJson(r.bytes_stored, logical.get(num(r.id)) ?? 0),
        diskFreeBytes: r.disk_free === null ? null : num(r.disk_free),
        diskTotalBytes: r.disk_total === null ? null : num(r.disk_total),
      },
    ]),
  );
}

/** Each vault's figures by name. */
export async function vaultFiguresByName(ctx: Pick<ServerContext, 'db'>): Promise<Map<string, FiguresJson>> {
  const logical = await logicalBytes(ctx, 'vault_id');
  const rows = await ctx.db.query<{ id: number; name: string; bytes_stored: number | null }>('SELECT id, name, bytes_stored FROM vaults');
  return new Map(rows.map((r) => [r.name, figuresJson(r.bytes_stored, logical.get(num(r.id)) ?? 0)]));
}
