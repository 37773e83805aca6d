// A backup run carried through its agent: the level it runs at (levels.ts), the `backup` call's
// params with the job's settings as they are when the run starts, and the outcome written to
// the catalog (warnings: the first 1,000 kept, all counted). A backup that read nothing fails.
import type { BackupParams, BackupResult, StorageRef } from '../protocol/control.ts';
import { num, type ServerContext } from './context.ts';
import { nothingRead, planLevel, readsEverything } from './levels.ts';
import { boundedList, logRun, type RunRow, updateRun } from './runs.ts';
import { dropRunSnapshot } from './snapshots.ts';
import { auditScheduler } from './audit.ts';
import { applyJobRetention } from './forget.ts';
import type { RetentionPolicy } from './retention.ts';
import { recordTransfer } from './net-status.ts';

type JobSettingsRow = {
  name: string;
  paths: string;
  excludes: string;
  bwlimit: number | null;
  one_file_system: number;
  exclude_caches: number;
  max_file_size: number | null;
};

/** The job's settings the agent applies while it walks, alike for a backup and an estimate. */
export function scanSettings(job: Pick<JobSettingsRow, 'one_file_system' | 'exclude_caches' | 'max_file_size'>): Pick<BackupParams, 'oneFileSystem' | 'excludeCaches' | 'maxFileSize'> {
  return {
    ...(num(job.one_file_system) === 1 ? { oneFileSystem: true } : {}),
    ...(num(job.exclude_caches) === 1 ? { excludeCaches: true } : {}),
    ...(job.max_file_size !== null ? { maxFileSize: num(job.max_file_size) } : {}),
  };
}

export async function backupParams(ctx: ServerContext, run: RunRow, x: { storage: StorageRef; vault: string; keys: string; grant: string }): Promise<BackupParams> {
  const id = num(run.id);
  const job = (await ctx.db.query<JobSettingsRow>('SELECT name, paths, excludes, bwlimit, one_file_system, exclude_caches, max_file_size FROM jobs WHERE id = ?', [run.job_id]))[0]!;
  let { level, parent, note } = await planLevel(ctx.db, num(run.job_id), run.requested_level ?? 'incremental');
  // the snapshot it builds on is in use while it runs (not forgotten under it): recorded, then
  // checked, since a forget may have marked it between the planning and the record
  await updateRun(ctx, id, { level, parent: parent ?? null }, 'running');
  if (parent !== undefined && (await ctx.db.query('SELECT 1 FROM snapshots WHERE id = ? AND forgetting_at IS NULL', [parent])).length === 0) {
    ({ level, parent, note } = await planLevel(ctx.db, num(run.job_id), run.requested_level ?? 'incremental'));
    await updateRun(ctx, id, { level, parent: parent ?? null }, 'running');
  }
  if (note) await logRun(ctx, id, note);
  if (num(run.force_read) === 1 && level !== 'full') await logRun(ctx, id, 'force-read: every file is read whatever its metadata');
  await logRun(ctx, id, `backup (${level}) started on agent ${run.agent} to storage ${run.storage}, vault ${x.vault}`);
  // the size of the job's newest snapshot: the agent's ETA before its walk has seen everything
  const previous = await ctx.db.query<{ bytes: number }>('SELECT bytes FROM snapshots WHERE job_id = ? AND forgetting_at IS NULL ORDER BY time DESC LIMIT 1', [run.job_id]);
  return {
    run: id,
    job: job.name,
    level,
    paths: JSON.parse(job.paths) as string[],
    excludes: JSON.parse(job.excludes) as string[],
    storage: x.storage,
    vault: x.vault,
    grant: x.grant,
    keys: x.keys,
    ...(parent ? { parent } : {}),
    forceRead: readsEverything(level, num(run.force_read) === 1),
    ...(job.bwlimit !== null ? { bwlimit: num(job.bwlimit) } : {}),
    ...scanSettings(job),
    ...(previous[0] ? { previousBytes: num(previous[0].bytes) } : {}),
  };
}

export async function recordBackup(ctx: ServerContext, run: RunRow, result: BackupResult): Promise<void> {
  const id = num(run.id);
  const warnings = boundedList(result.warnings, result.warningsTotal);
  const nothing = nothingRead(result);
  if (nothing !== undefined) {
    // the snapshot holds no file: keep the warnings on the failed run, drop the snapshot row
    const failed = await updateRun(ctx, id, { status: 'failed', ended_at: Date.now(), error: nothing, snapshot: null, files_changed: result.filesChanged, bytes_read: result.bytesRead, bytes_new: result.bytesNew, warnings: warnings.json, warnings_total: warnings.total }, 'running');
    if (!failed) return;
    await dropRunSnapshot(ctx.db, id);
    await logRun(ctx, id, `failed: ${nothing}`, 'error');
    return;
  }
  const ended = await updateRun(ctx, id, {
    status: 'succeeded',
    ended_at: Date.now(),
    snapshot: result.snapshot,
    files: result.files,
    files_changed: result.filesChanged,
    bytes: result.bytes,
    bytes_read: result.bytesRead,
    bytes_new: result.bytesNew,
    warnings: warnings.json,
    warnings_total: warnings.total,
  }, 'running');
  // ended meanwhile (canceled, or past its --max-runtime): its snapshot row is already gone
  if (!ended) return;
  await ctx.db.run('UPDATE snapshots SET files = ?, bytes = ? WHERE run_id = ?', [result.files, result.bytes, id]);
  await recordTransfer(ctx, run, 'backup', result.transfer);
  await logRun(ctx, id, `succeeded: snapshot ${result.snapshot}, ${result.files} files, ${result.bytes} bytes, ${result.filesChanged} read, ${result.bytesNew} new bytes stored${warnings.total ? `, ${warnings.total} warning(s)` : ''}`);
  await retainAfter(ctx, run);
}

/** After a successful backup: the job's retention policy, if it has one (a failure to forget never fails the backup). */
async function retainAfter(ctx: ServerContext, run: RunRow): Promise<void> {
  const id = num(run.id);
  try {
    const rows = await ctx.db.query<{ retention: string }>('SELECT retention FROM jobs WHERE id = ?', [run.job_id]);
    const policy = JSON.parse(rows[0]?.retention ?? '{}') as RetentionPolicy;
    if (Object.keys(policy).length === 0) return;
    await auditScheduler(ctx.db, 'retention.forget', `job=${JSON.stringify(run.job ?? '')} run=${id}`, `retention of job ${run.job ?? ''} after run ${id}`);
    const done = await applyJobRetention(ctx, num(run.job_id), policy, false);
    const gone = [...done.forgotten, ...done.forgetting];
    if (gone.length) await logRun(ctx, id, `retention: forgot ${gone.length} snapshot(s): ${gone.join(', ')}${done.forgetting.length ? ` (${done.forgetting.length} finished when storage ${run.storage} is back)` : ''}`);
    for (const s of done.skipped) await logRun(ctx, id, `retention: snapshot ${s.id} is in use by run ${s.run}; left for next time`, 'warn');
  } catch (e) {
    await logRun(ctx, id, `retention not applied: ${(e as Error).message}`, 'warn');
  }
}
