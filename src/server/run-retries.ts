// Retries of runs that failed as unavailable (a part offline or disconnected, a connection lost
// or timed out, the agent gone or lost the run): backup and verify runs only, the job's
// `--retries` times (default 2), after 1, 5, then 15 minutes, each a new run with its attempt
// and the first attempt's id. Restores, cancels, time limits, refused, corrupt and not-found
// failures are never retried.
import { testDurations } from '../core/test-settings.ts';
import { num, type ServerContext } from './context.ts';
import { logRun, queueRun, type RunRow } from './runs.ts';

export const DEFAULT_RETRIES = 2;

/** The wait before retry K (1-based); the last one repeats. */
export function backoffMs(retry: number): number {
  const steps = testDurations('RETRY_BACKOFF', [60_000, 300_000, 900_000]);
  return steps[Math.min(retry, steps.length) - 1]!;
}

/** Queues the next attempt of `run` (failing as unavailable) when its job allows one more; its id, or null. */
export async function retryIfAllowed(ctx: ServerContext, run: RunRow): Promise<number | null> {
  if (run.kind !== 'backup' && run.kind !== 'verify') return null;
  const id = num(run.id);
  const jobs = run.job_id === null ? [] : await ctx.db.query<{ retries: number; priority: number; removed_at: number | null }>('SELECT retries, priority, removed_at FROM jobs WHERE id = ?', [run.job_id]);
  const job = jobs[0];
  if (job?.removed_at != null) return null;
  // a removed agent or storage server will not come back for it
  const parts = await ctx.db.query('SELECT 1 FROM agents a, storages s WHERE a.id = ? AND s.id = ? AND a.removed_at IS NULL AND s.removed_at IS NULL', [run.agent_id, run.storage_id]);
  if (parts.length === 0) return null;
  const retries = job ? num(job.retries) : DEFAULT_RETRIES;
  const attempt = num(run.attempt);
  if (attempt > retries) {
    if (retries > 0) await logRun(ctx, id, `not retried: all ${retries} retries used`, 'warn');
    return null;
  }
  const notBefore = Date.now() + backoffMs(attempt);
  const next = await queueRun(ctx, {
    jobId: run.job_id === null ? null : num(run.job_id),
    kind: run.kind,
    requestedLevel: run.requested_level,
    agentId: num(run.agent_id),
    storageId: num(run.storage_id),
    ...(run.kind === 'verify' ? { pretreatment: JSON.parse(run.pretreatment ?? '{}') } : {}),
    forceRead: num(run.force_read) === 1,
    priority: num(run.priority),
    retry: { attempt: attempt + 1, of: run.retry_of === null ? id : num(run.retry_of), notBefore },
    note: `queued ${run.kind}${run.requested_level ? ` (${run.requested_level})` : ''}: retry ${attempt} of ${retries} after run ${id} failed`,
  });
  await logRun(ctx, id, `retry ${attempt} of ${retries} queued as run ${next.id}, not before ${new Date(notBefore).toISOString()}`);
  return next.id;
}
