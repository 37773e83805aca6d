// The queue's decisions, apart from the catalog so they can be tested alone: given the waiting
// runs (highest priority first, then oldest), the running ones and the limits, which runs start
// now and why each other one waits. A reason is exactly one of SPEC.md's, the first that applies.
import type { RunKind } from '../protocol/api-types.ts';

export type Limits = { global: number; perAgent: number; perStorage: number };
export const DEFAULT_LIMITS: Limits = { global: 8, perAgent: 1, perStorage: 4 };

export type QueuedRun = {
  id: number;
  kind: RunKind;
  job: { id: number; name: string } | null;
  /** null for a gc (it runs on the storage server alone) */
  agent: { id: number; name: string; online: boolean; maxRuns: number | null } | null;
  storage: { id: number; name: string; online: boolean; maxRuns: number | null };
  priority: number;
  /** a retry: it waits until notBefore */
  retry: { attempt: number; of: number; retries: number; notBefore: number; after: number } | null;
};

export type RunningRun = { kind: RunKind; jobId: number | null; agentId: number | null; storageId: number };

export type Decision = { id: number; start: true } | { id: number; start: false; reason: string };

/** Restores do not count against (nor wait for) the per-agent limit; a gc has no agent. */
function countsPerAgent(kind: RunKind): boolean {
  return kind !== 'restore' && kind !== 'gc';
}

/** Backups are the runs of a job that never run twice at once. */
function oneAtATime(kind: RunKind): boolean {
  return kind === 'backup';
}

export function decide(queued: QueuedRun[], running: RunningRun[], limits: Limits, now: number): Decision[] {
  let total = 0;
  const perAgent = new Map<number, number>();
  const perStorage = new Map<number, number>();
  const jobs = new Set<number>();
  const collecting = new Set<number>();
  const take = (r: RunningRun) => {
    total++;
    if (r.kind === 'gc') collecting.add(r.storageId);
    if (countsPerAgent(r.kind) && r.agentId !== null) perAgent.set(r.agentId, (perAgent.get(r.agentId) ?? 0) + 1);
    perStorage.set(r.storageId, (perStorage.get(r.storageId) ?? 0) + 1);
    if (r.jobId !== null && oneAtATime(r.kind)) jobs.add(r.jobId);
  };
  for (const r of running) take(r);
  const out: Decision[] = [];
  for (const q of queued) {
    const agent = q.agent;
    const agentMax = agent?.maxRuns ?? limits.perAgent;
    const storageMax = q.storage.maxRuns ?? limits.perStorage;
    let reason: string | null = null;
    if (q.job && oneAtATime(q.kind) && jobs.has(q.job.id)) reason = `job ${q.job.name} is already running`;
    else if (agent && !agent.online) reason = `agent ${agent.name} offline`;
    else if (!q.storage.online) reason = `storage ${q.storage.name} offline`;
    else if (agent && countsPerAgent(q.kind) && (perAgent.get(agent.id) ?? 0) >= agentMax) reason = `agent ${agent.name} at its limit of ${agentMax}`;
    else if ((perStorage.get(q.storage.id) ?? 0) >= storageMax) reason = `storage ${q.storage.name} at its limit of ${storageMax}`;
    else if (total >= limits.global) reason = `global limit of ${limits.global}`;
    else if (q.kind === 'gc' && collecting.has(q.storage.id)) reason = `gc of storage ${q.storage.name} is already running`;
    else if (q.retry && q.retry.notBefore > now)
      reason = `retry ${q.retry.attempt - 1} of ${q.retry.retries} at ${new Date(q.retry.notBefore).toISOString()} after run ${q.retry.after} failed`;
    if (reason !== null) {
      out.push({ id: q.id, start: false, reason });
      continue;
    }
    take({ kind: q.kind, jobId: q.job?.id ?? null, agentId: agent?.id ?? null, storageId: q.storage.id });
    out.push({ id: q.id, start: true });
  }
  return out;
}
