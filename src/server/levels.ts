// What a backup reads. Levels with Bacula's meaning: which level a backup of a job really runs
// at and which snapshot it compares against. `full` reads every file (its parent only lends chunk
// lists); `differential` compares with the job's last successful full; `incremental` with the
// job's last successful backup of any level. A job with no successful backup yet runs full, and
// says so. And when a finished backup counts as having read nothing (then it fails).
// Used by the scheduler (a run starting and ending) and by `job estimate` (what a run would read).
import type { Level } from '../protocol/api-schema.ts';
import type { Warning } from '../protocol/control.ts';
import type { CatalogDriver } from './catalog/driver.ts';

export type LevelPlan = {
  /** the level the backup runs at */
  level: Level;
  /** the reference snapshot (unchanged files reuse its chunks); none for a first backup */
  parent?: string;
  /** why the level differs from the one asked for (for the run's log) */
  note?: string;
};

/** The newest snapshot of a successful backup run of the job (only fulls when `fullOnly`). */
async function lastSuccessful(db: CatalogDriver, jobId: number, fullOnly: boolean): Promise<string | undefined> {
  const rows = await db.query<{ id: string }>(
    `SELECT s.id FROM snapshots s JOIN runs r ON r.id = s.run_id WHERE s.job_id = ? AND s.forgetting_at IS NULL AND r.status = 'succeeded'${fullOnly ? " AND s.level = 'full'" : ''} ORDER BY s.time DESC, s.pk DESC LIMIT 1`,
    [jobId],
  );
  return rows[0]?.id;
}

/** The level and parent of a backup of job `jobId` asked at `requested`. */
export async function planLevel(db: CatalogDriver, jobId: number, requested: Level): Promise<LevelPlan> {
  const anyPrevious = await lastSuccessful(db, jobId, false);
  if (anyPrevious === undefined)
    return { level: 'full', note: requested === 'full' ? undefined : `no earlier successful backup of this job: running ${requested} as full` };
  if (requested === 'full') return { level: 'full', parent: anyPrevious };
  if (requested === 'differential') {
    const full = await lastSuccessful(db, jobId, true);
    return full === undefined
      ? { level: 'full', parent: anyPrevious, note: 'no successful full backup of this job: running differential as full' }
      : { level: 'differential', parent: full };
  }
  return { level: 'incremental', parent: anyPrevious };
}

/** Full backups, and runs asked with --force-read, read every file whatever its metadata. */
export function readsEverything(level: Level, forceRead: boolean): boolean {
  return level === 'full' || forceRead;
}

/**
 * Why a backup that produced `result` failed though the agent finished it: no regular file made
 * it into the snapshot while paths failed (unreadable, vanished, missing). Undefined when the
 * backup stands (a backup with some warnings but something read `succeeded` with its warnings;
 * an empty tree read without trouble is no failure either).
 */
export function nothingRead(result: { files: number; warnings?: Warning[] }): string | undefined {
  const failedPaths = (result.warnings ?? []).filter((w) => w.path !== '');
  if (result.files > 0 || failedPaths.length === 0) return undefined;
  const first = failedPaths[0]!;
  return `nothing could be read: ${failedPaths.length} path(s) failed, first ${first.path}: ${first.reason}`;
}
