// `job estimate`: how many files and bytes a backup of a job at a level would read, storing
// nothing. The server resolves the level and reference snapshot exactly as a run would
// (levels.ts), signs a read-only grant (op 'verify': the storage server refuses every write with
// it), and asks the job's agent, which walks the paths and compares them with the reference
// snapshot's trees without reading any file's content. No run is recorded. One estimate runs per
// agent at a time (a walk of a large tree is a real load on its machine); a caller that goes away
// (the console's Ctrl-C closes the request) cancels it on the agent with `cancelEstimate`.
import { CairnError } from '../core/errors.ts';
import type { Level } from '../protocol/api-schema.ts';
import type { EstimateParams, EstimateResult } from '../protocol/control.ts';
import { signAgentGrant } from './agent-grant.ts';
import { num, type ServerContext } from './context.ts';
import type { JobRow } from './jobs.ts';
import { planLevel, readsEverything } from './levels.ts';
import { scanSettings } from './run-backup.ts';
import { agentKeysFor } from './vaults.ts';

/** A walk of a large tree takes a while; past this the estimate is given up. */
export const ESTIMATE_TIMEOUT_MS = 10 * 60_000;
/** The grant outlives the longest estimate. */
const GRANT_TTL_MS = ESTIMATE_TIMEOUT_MS + 60_000;

export type EstimateJson = EstimateResult & { level: Level; parent: string | null };

/** The agents with an estimate in flight, per server. */
const running = new WeakMap<ServerContext, Set<string>>();

/** `job estimate`: E_CONFLICT while another estimate runs on the job's agent; `signal` aborting cancels it there. */
export async function estimateJob(ctx: ServerContext, job: JobRow, requested: Level, forceRead: boolean, signal?: AbortSignal): Promise<EstimateJson> {
  if (!ctx.hub.isOnline({ kind: 'agent', name: job.agent })) throw new CairnError('E_UNAVAILABLE', `agent ${job.agent} is offline`);
  let agents = running.get(ctx);
  if (!agents) running.set(ctx, (agents = new Set()));
  if (agents.has(job.agent)) throw new CairnError('E_CONFLICT', `an estimate is already running on agent ${job.agent}`);
  agents.add(job.agent);
  try {
    return await estimateOn(ctx, job, requested, forceRead, signal);
  } finally {
    agents.delete(job.agent);
  }
}

async function estimateOn(ctx: ServerContext, job: JobRow, requested: Level, forceRead: boolean, signal?: AbortSignal): Promise<EstimateJson> {
  const { level, parent } = await planLevel(ctx.db, num(job.id), requested);
  const everything = readsEverything(level, forceRead);
  const storage = await ctx.db.query<{ address: string | null }>('SELECT address FROM storages WHERE id = ?', [job.storage_id]);
  const url = storage[0]?.address;
  if (!url) throw new CairnError('E_UNAVAILABLE', `storage ${job.storage} has not reported its address`);
  const keys = await agentKeysFor(ctx.db, num(job.vault_id), job.vault, num(job.agent_id), job.agent);
  const { token: grant } = await signAgentGrant(ctx, {
    agent: job.agent,
    storage: job.storage,
    vault: job.vault,
    op: 'verify',
    run: `estimate-${Date.now()}`,
    exp: Date.now() + GRANT_TTL_MS,
  });
  const params: EstimateParams = {
    job: job.name,
    level,
    paths: JSON.parse(job.paths) as string[],
    excludes: JSON.parse(job.excludes) as string[],
    storage: { name: job.storage, url },
    vault: job.vault,
    grant,
    keys,
    // reading everything needs no reference: the agent then never reaches the storage server
    ...(parent && !everything ? { parent } : {}),
    forceRead: everything,
    ...scanSettings(job),
  };
  signal?.throwIfAborted();
  const agent = { kind: 'agent', name: job.agent } as const;
  const call = ctx.hub.call(agent, 'estimate', params, ESTIMATE_TIMEOUT_MS);
  const result = (await untilAborted(call, signal, () => {
    // the agent answers the abandoned call with an error nobody waits for any more
    call.catch(() => undefined);
    ctx.hub.call(agent, 'cancelEstimate', {}).catch((e: unknown) => ctx.log(`estimate on agent ${job.agent} not canceled: ${(e as Error).message}`));
  })) as EstimateResult;
  return { files: num(result.files), bytes: num(result.bytes), level, parent: parent ?? null };
}

/** `work`, or E_CONFLICT `canceled` as soon as `signal` aborts (then `onAbort` runs once). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort: () => void): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const aborted = () => {
      onAbort();
      reject(new CairnError('E_CONFLICT', 'the estimate was canceled'));
    };
    if (signal.aborted) return aborted();
    signal.addEventListener('abort', aborted, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', aborted));
  });
}
