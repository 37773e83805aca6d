// A gc run: the storage server collects every vault's garbage without keys, called by the
// scheduler once the run starts; its outcome is recorded as the other kinds' are (run-backup.ts,
// run-restore.ts, run-verify.ts): its figures at the top level of the run, and a log line saying
// what was freed, or on append-only storage what would be and where the confirmation code is.
import type { GcResult } from '../protocol/control.ts';
import { auditScheduler } from './audit.ts';
import { num, type ServerContext } from './context.ts';
import { endRunLog, logRun, type PartLog, type RunRow, updateRun } from './runs.ts';

/** Asks the run's storage server to collect (with the confirmation code, if one was given) and records the outcome. */
export async function runGc(ctx: ServerContext, run: RunRow, confirm: string | undefined, partLog: PartLog): Promise<void> {
  const id = num(run.id);
  await logRun(ctx, id, `gc on storage ${run.storage}${confirm ? ' (confirmed)' : ''}`);
  await auditScheduler(ctx.db, 'gc', `storage=${JSON.stringify(run.storage)} run=${id}`, `gc on storage ${run.storage}`);
  const result = (await ctx.hub.call({ kind: 'storage', name: run.storage! }, 'gc', { run: id, ...(confirm ? { confirm } : {}) })) as GcResult;
  await partLog.flush(); // the storage server's lines before the server's last one
  await recordGc(ctx, run, result);
}

/**
 * At startup: a gc the previous process left running fails (its answer had nowhere to go; the
 * next gc finishes what it left, the storage server's gc being crash-safe), and so does a queued
 * gc that was given a confirmation code (codes are never stored, so it lost it).
 */
export async function endGcRunsOfLastProcess(ctx: ServerContext): Promise<void> {
  const running = await ctx.db.query<{ id: number }>("SELECT id FROM runs WHERE kind = 'gc' AND status = 'running'");
  for (const r of running) {
    await updateRun(ctx, num(r.id), { status: 'failed', ended_at: Date.now(), error: 'the backup server restarted during the gc' }, 'running');
    await endRunLog(ctx, num(r.id));
  }
  const confirmed = await ctx.db.query<{ id: number }>("SELECT id FROM runs WHERE kind = 'gc' AND status = 'queued' AND pretreatment LIKE '%\"confirmed\":true%'");
  for (const r of confirmed) {
    await updateRun(ctx, num(r.id), { status: 'failed', ended_at: Date.now(), reason: null, error: 'the backup server restarted before this confirmed gc started: run cairn gc --confirm again' }, 'queued');
    await endRunLog(ctx, num(r.id));
  }
}

export async function recordGc(ctx: ServerContext, run: RunRow, r: GcResult): Promise<void> {
  const id = num(run.id);
  const figures = { bytesFreed: num(r.bytesFreed), chunksDeleted: num(r.chunksDeleted), packsRewritten: num(r.packsRewritten), packsDeleted: num(r.packsDeleted), ...(r.confirmationNeeded ? { confirmationNeeded: true } : {}) };
  if (!(await updateRun(ctx, id, { status: 'succeeded', ended_at: Date.now(), gc_result: JSON.stringify(figures) }, 'running'))) return;
  await logRun(
    ctx,
    id,
    r.confirmationNeeded
      ? `storage ${run.storage} is append-only: would free ${figures.bytesFreed} bytes (${figures.chunksDeleted} chunks, ${figures.packsRewritten} packs rewritten, ${figures.packsDeleted} deleted); confirmation needed: read DATA/gc-confirm on storage ${run.storage}`
      : `succeeded: ${figures.bytesFreed} bytes freed, ${figures.chunksDeleted} chunks deleted, ${figures.packsRewritten} packs rewritten, ${figures.packsDeleted} deleted`,
  );
}
