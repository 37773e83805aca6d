// A restore run carried through its agent: what was asked (kept in the run's pretreatment column
// while queued), the `restore` call's params, and the outcome with the agent's pretreatment
// report. A pretreatment that found problems stopped the restore (or the dry run) before any write.
import type { ConflictPolicy } from '../protocol/api-schema.ts';
import type { RestoreParams, RestoreResult, StorageRef } from '../protocol/control.ts';
import { num, type ServerContext } from './context.ts';
import { logRun, resultListColumns, type RunRow, updateRun } from './runs.ts';
import { snapshotRow } from './snapshots.ts';
import { recordTransfer } from './net-status.ts';

/** What a queued restore asked for, kept in the run's pretreatment column until the agent reports. */
export type RestoreRequestStored = { request: { snapshot: string; to: string; include: string[]; conflict: ConflictPolicy; dryRun: boolean } };

export async function restoreParams(ctx: ServerContext, run: RunRow, x: { storage: StorageRef; vault: string; keys: string; grant: string }): Promise<RestoreParams> {
  const id = num(run.id);
  const { request } = JSON.parse(run.pretreatment ?? '{}') as RestoreRequestStored;
  const snapshot = await snapshotRow(ctx.db, request.snapshot);
  await logRun(ctx, id, `restore${request.dryRun ? ' (dry run)' : ''} of snapshot ${snapshot.id} on agent ${run.agent} to ${request.to}`);
  return { run: id, snapshot: snapshot.id, storage: x.storage, vault: x.vault, grant: x.grant, keys: x.keys, to: request.to, include: request.include, conflict: request.conflict, dryRun: request.dryRun };
}

export async function recordRestore(ctx: ServerContext, run: RunRow, result: RestoreResult & { damagedTotal?: number; warningsTotal?: number }): Promise<void> {
  const id = num(run.id);
  const { request } = JSON.parse(run.pretreatment ?? '{}') as RestoreRequestStored;
  const lists = resultListColumns(result);
  const failed = lists.damaged_total > 0 || !result.pretreatment.ok;
  const error = lists.damaged_total > 0 ? `${lists.damaged_total} damaged file(s) not restored` : failed ? `pretreatment found problems: ${result.pretreatment.problems.join('; ')}` : null;
  const ended = await updateRun(ctx, id, {
    status: failed ? 'failed' : 'succeeded',
    ended_at: Date.now(),
    snapshot: request.snapshot,
    files: result.files,
    bytes: result.bytes,
    ...lists,
    pretreatment: JSON.stringify(result.pretreatment),
    error,
  }, 'running');
  if (ended) await recordTransfer(ctx, run, 'restore', result.transfer);
  if (ended) await logRun(ctx, id, failed ? `failed: ${error}` : `succeeded: ${result.files} files, ${result.bytes} bytes restored`, failed ? 'error' : 'info');
}
