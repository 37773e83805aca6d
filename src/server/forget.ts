// Forgetting snapshots across two machines, crash-safe: the catalog marks the snapshot
// `forgetting` first (hidden from lists, not restorable, never a backup's parent), then the
// storage server deletes its record and reference list (`deleteSnapshot`; an append-only one
// records a request a confirmed gc carries out), then the catalog row and its file index go.
// A crash or an offline storage server leaves it `forgetting`; `resumeForgetting` finishes it
// when the storage server is back. A snapshot a running restore or verify reads, or a running
// backup builds on, is not forgotten. Retention (retention.ts, restic's meaning) picks what a
// job's policy lets go, after each successful backup and on `cairn forget`.
import { CairnError } from '../core/errors.ts';
import type { DeleteSnapshotResult } from '../protocol/control.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { num, type ServerContext } from './context.ts';
import { applyRetention, type RetentionPolicy } from './retention.ts';
import { refreshInBackground } from './storage-figures.ts';

export type ForgetOutcome = {
  /** gone from the storage server and the catalog */
  forgotten: string[];
  /** marked; the storage server was not reached yet (finished when it is back) */
  forgetting: string[];
};

type Target = { id: string; vault: string; storage: string };

const TARGET = `SELECT s.id, v.name AS vault, st.name AS storage FROM snapshots s JOIN vaults v ON v.id = s.vault_id JOIN storages st ON st.id = s.storage_id`;

/**
 * The run that reads snapshot `id` (a restore or verify, running or waiting to: one that starts
 * between this check and the mark would find its snapshot gone) or builds on it (a running
 * backup), if any.
 */
export async function runUsing(db: CatalogDriver, id: string): Promise<number | null> {
  const rows = await db.query<{ id: number; kind: string; parent: string | null; pretreatment: string | null }>(
    "SELECT id, kind, parent, pretreatment FROM runs WHERE (status = 'running' AND (parent = ? OR snapshot = ?)) OR (status IN ('queued', 'running') AND kind IN ('restore', 'verify')) ORDER BY id",
    [id, id],
  );
  for (const r of rows) {
    if (r.parent === id || r.kind === 'backup') return num(r.id); // builds on it, or is still making it
    const asked = (JSON.parse(r.pretreatment ?? '{}') as { request?: { snapshot?: string } }).request?.snapshot;
    if (asked === id) return num(r.id);
  }
  return null;
}

/**
 * Forgets the snapshots given (full ids). One in use is refused (409) unless `skipInUse`, when
 * it is left for next time and named in `skipped`.
 */
export async function forgetSnapshots(ctx: ServerContext, ids: string[], opts: { skipInUse?: boolean } = {}): Promise<ForgetOutcome & { skipped: { id: string; run: number }[] }> {
  const marked: string[] = [];
  const skipped: { id: string; run: number }[] = [];
  for (const id of ids) {
    const user = await runUsing(ctx.db, id);
    if (user !== null) {
      if (!opts.skipInUse) throw new CairnError('E_CONFLICT', `snapshot ${id} is in use by run ${user}`);
      skipped.push({ id, run: user });
      continue;
    }
    await ctx.db.run('UPDATE snapshots SET forgetting_at = ? WHERE id = ? AND forgetting_at IS NULL', [Date.now(), id]);
    marked.push(id);
  }
  const out: ForgetOutcome & { skipped: { id: string; run: number }[] } = { forgotten: [], forgetting: [], skipped };
  const storages = new Set<string>();
  for (const id of marked) {
    if (await finishOne(ctx, id, storages)) out.forgotten.push(id);
    else out.forgetting.push(id);
  }
  for (const storage of storages) refreshInBackground(ctx, storage);
  return out;
}

/** Asks the storage server to delete one marked snapshot, then drops the catalog rows; false while it cannot be reached. */
async function finishOne(ctx: ServerContext, id: string, touched?: Set<string>): Promise<boolean> {
  const t = (await ctx.db.query<Target>(`${TARGET} WHERE s.id = ? AND s.forgetting_at IS NOT NULL`, [id]))[0];
  if (!t) return true; // finished meanwhile
  touched?.add(t.storage);
  try {
    const answer = (await ctx.hub.call({ kind: 'storage', name: t.storage }, 'deleteSnapshot', { vault: t.vault, snapshot: id }, 60_000)) as DeleteSnapshotResult;
    if ('requested' in answer) ctx.log(`snapshot ${id}: storage ${t.storage} is append-only; its deletion waits for a confirmed gc there`);
  } catch (e) {
    if (e instanceof CairnError && e.code === 'E_UNAVAILABLE') return false;
    // the vault (or the snapshot) is already gone there: nothing left to delete
    if (!(e instanceof CairnError && e.code === 'E_NOT_FOUND')) throw e;
  }
  await ctx.db.transaction(async (tx) => {
    await tx.run('DELETE FROM files WHERE snapshot_pk IN (SELECT pk FROM snapshots WHERE id = ?)', [id]);
    await tx.run('DELETE FROM snapshots WHERE id = ?', [id]);
  });
  return true;
}

/** Finishes the snapshots left `forgetting` on online storage servers (after a crash, or once one is back). */
export async function resumeForgetting(ctx: ServerContext): Promise<void> {
  const rows = await ctx.db.query<Target>(`${TARGET} WHERE s.forgetting_at IS NOT NULL ORDER BY s.forgetting_at`);
  for (const t of rows) {
    if (!ctx.hub.isOnline({ kind: 'storage', name: t.storage })) continue;
    await finishOne(ctx, t.id).catch((e: unknown) => ctx.log(`forgetting snapshot ${t.id}: ${(e as Error).message}`));
  }
}

export type RetentionOutcome = ForgetOutcome & { kept: string[]; skipped: { id: string; run: number }[] };

/** Applies `policy` to the job's snapshots (never to snapshots without a job); `dryRun` changes nothing. */
export async function applyJobRetention(ctx: ServerContext, jobId: number, policy: RetentionPolicy, dryRun: boolean): Promise<RetentionOutcome> {
  // only finished snapshots count (a running backup's row is not a restore point yet)
  const rows = await ctx.db.query<{ id: string; time: number }>(
    `SELECT s.id, s.time FROM snapshots s LEFT JOIN runs r ON r.id = s.run_id
      WHERE s.job_id = ? AND s.forgetting_at IS NULL AND (s.run_id IS NULL OR r.status = 'succeeded')`,
    [jobId],
  );
  const plan = applyRetention(rows.map((r) => ({ id: r.id, time: num(r.time) })), policy);
  if (dryRun) return { kept: plan.keep, forgotten: plan.forget, forgetting: [], skipped: [] };
  const done = await forgetSnapshots(ctx, plan.forget, { skipInUse: true });
  return { kept: [...plan.keep, ...done.skipped.map((s) => s.id)], ...done };
}
