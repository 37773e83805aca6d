// What the queue decides on, read from the catalog (queue.ts decides, apart from it): the waiting
// runs in queue order (highest priority first, then oldest) with their parts' state and limits
// and their retry, and the runs running now. A waiting run of a removed agent or storage server
// ends here, saying why: that part never comes back.
import { num, type ServerContext } from './context.ts';
import type { QueuedRun, RunningRun } from './queue.ts';
import { DEFAULT_RETRIES } from './run-retries.ts';
import { failQueuedRun, type RunRow } from './runs.ts';

export type QueuedRow = RunRow & {
  agent_max: number | null;
  storage_max: number | null;
  job_retries: number | null;
  /** the job's --max-runtime now (a started run keeps the one it started with) */
  job_max_runtime_s: number | null;
  /** a retry: the attempt before it */
  prev: number | null;
  agent_gone: number | null;
  storage_gone: number | null;
};

export async function loadQueue(ctx: ServerContext): Promise<{ queued: QueuedRow[]; view: QueuedRun[]; busy: RunningRun[] }> {
  const rows = await ctx.db.query<QueuedRow>(
    `SELECT r.*, a.name AS agent, s.name AS storage, j.name AS job, a.max_runs AS agent_max, s.max_runs AS storage_max, j.retries AS job_retries, j.max_runtime_s AS job_max_runtime_s,
       a.removed_at AS agent_gone, s.removed_at AS storage_gone,
       (SELECT MAX(p.id) FROM runs p WHERE COALESCE(p.retry_of, p.id) = r.retry_of AND p.attempt = r.attempt - 1) AS prev
     FROM runs r LEFT JOIN agents a ON a.id = r.agent_id LEFT JOIN storages s ON s.id = r.storage_id LEFT JOIN jobs j ON j.id = r.job_id
     WHERE r.status = 'queued' ORDER BY r.priority DESC, r.id`,
  );
  const queued: QueuedRow[] = [];
  for (const r of rows) {
    const gone = r.agent_gone !== null ? `agent ${r.agent} was removed` : r.storage_gone !== null ? `storage ${r.storage} was removed` : null;
    if (gone === null) queued.push(r);
    else await failQueuedRun(ctx, num(r.id), gone);
  }
  if (queued.length === 0) return { queued, view: [], busy: [] };
  const running = await ctx.db.query<{ kind: RunRow['kind']; job_id: number | null; agent_id: number | null; storage_id: number }>(
    "SELECT kind, job_id, agent_id, storage_id FROM runs WHERE status = 'running'",
  );
  const view: QueuedRun[] = queued.map((r) => ({
    id: num(r.id),
    kind: r.kind,
    job: r.job_id === null ? null : { id: num(r.job_id), name: r.job ?? String(r.job_id) },
    agent: r.agent_id === null ? null : { id: num(r.agent_id), name: r.agent!, online: ctx.hub.isOnline({ kind: 'agent', name: r.agent! }), maxRuns: r.agent_max === null ? null : num(r.agent_max) },
    storage: { id: num(r.storage_id), name: r.storage!, online: ctx.hub.isOnline({ kind: 'storage', name: r.storage! }), maxRuns: r.storage_max === null ? null : num(r.storage_max) },
    priority: num(r.priority),
    retry: r.retry_of === null ? null : { attempt: num(r.attempt), of: num(r.retry_of), retries: num(r.job_retries ?? DEFAULT_RETRIES), notBefore: num(r.not_before ?? 0), after: num(r.prev ?? r.retry_of) },
  }));
  const busy: RunningRun[] = running.map((r) => ({ kind: r.kind, jobId: r.job_id === null ? null : num(r.job_id), agentId: r.agent_id === null ? null : num(r.agent_id), storageId: num(r.storage_id) }));
  return { queued, view, busy };
}
