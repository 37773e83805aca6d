// A verify run carried through its agent: what was asked (kept in the run's pretreatment column
// while queued, as restores keep theirs), the `verify` call's params with a read-only grant, and
// the outcome written to the catalog: `succeeded` when nothing is damaged, else `failed` with
// the damaged files (`damaged`, the first 1,000; `damagedTotal` counts all) and their count.
import type { StorageRef, VerifyLevel, VerifyParams, VerifyResult } from '../protocol/control.ts';
import { num, type ServerContext } from './context.ts';
import { logRun, resultListColumns, type RunRow, updateRun } from './runs.ts';
import { snapshotRow } from './snapshots.ts';

/** What a queued verify asked for (the `request.snapshot` the scheduler reads to find the vault). */
export type VerifyRequestStored = { request: { snapshot: string; level: VerifyLevel } };

export type VerifyExecution = {
  storage: StorageRef;
  vault: string;
  /** the agent's wrapped copy of the vault keys */
  keys: string;
  /** a grant for op 'verify' */
  grant: string;
};

/** The exclude globs of the snapshot's job (none for a snapshot without one). */
async function jobExcludes(ctx: ServerContext, snapshotId: string): Promise<string[]> {
  const rows = await ctx.db.query<{ excludes: string }>('SELECT j.excludes FROM snapshots s JOIN jobs j ON j.id = s.job_id WHERE s.id = ?', [snapshotId]);
  return rows[0] ? (JSON.parse(rows[0].excludes) as string[]) : [];
}

export async function verifyParams(ctx: ServerContext, run: RunRow, x: VerifyExecution): Promise<VerifyParams> {
  const id = num(run.id);
  const { request } = JSON.parse(run.pretreatment ?? '{}') as VerifyRequestStored;
  const snapshot = await snapshotRow(ctx.db, request.snapshot);
  await logRun(ctx, id, `verify (${request.level}) of snapshot ${snapshot.id} on agent ${run.agent}, storage ${run.storage}, vault ${x.vault}`);
  return {
    run: id,
    snapshot: snapshot.id,
    level: request.level,
    storage: x.storage,
    vault: x.vault,
    grant: x.grant,
    keys: x.keys,
    ...(request.level === 'disk' ? { excludes: await jobExcludes(ctx, snapshot.id) } : {}),
  };
}

export async function recordVerify(ctx: ServerContext, run: RunRow, result: VerifyResult & { damagedTotal?: number; warningsTotal?: number }): Promise<void> {
  const id = num(run.id);
  const { request } = JSON.parse(run.pretreatment ?? '{}') as VerifyRequestStored;
  const lists = resultListColumns(result);
  const failed = lists.damaged_total > 0;
  const error = failed ? `${lists.damaged_total} damaged file(s)` : null;
  const ended = await updateRun(ctx, id, {
    status: failed ? 'failed' : 'succeeded',
    ended_at: Date.now(),
    snapshot: request.snapshot,
    files: result.files,
    bytes: result.bytes,
    bytes_read: request.level === 'data' ? result.bytes : 0,
    ...lists,
    error,
  }, 'running');
  if (!ended) return;
  const counts = `${result.files} files, ${result.bytes} bytes, ${result.chunks} chunks checked`;
  await logRun(ctx, id, failed ? `failed: ${error} (${counts})` : `succeeded: ${counts}, nothing damaged`, failed ? 'error' : 'info');
}
