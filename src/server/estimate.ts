// `job estimate`: how many files and bytes a backup of a job at a level would read, storing
// nothing. The server resolves the level and reference snapshot exactly as a run would
// (levels.ts), signs a read-only grant (op 'verify': the storage server refuses every write with
// it), and asks the job's agent, which walks the paths and compares them with the reference
// snapshot's trees without reading any file's content. No run is recorded.
import { CairnError } from '../core/errors.ts';
import type { Level } from '../protocol/api-schema.ts';
import type { EstimateParams, EstimateResult } from '../protocol/control.ts';
import { signGrant } from '../protocol/grant.ts';
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

export async function estimateJob(ctx: ServerContext, job: JobRow, requested: Level, forceRead: boolean): Promise<EstimateJson> {
  if (!ctx.hub.isOnline({ kind: 'agent', name: job.agent })) throw new CairnError('E_UNAVAILABLE', `agent ${job.agent} is offline`);
  const { level, parent } = await planLevel(ctx.db, num(job.id), requested);
  const everything = readsEverything(level, forceRead);
  const storage = await ctx.db.query<{ address: string | null }>('SELECT address FROM storages WHERE id = ?', [job.storage_id]);
  const url = storage[0]?.address;
  if (!url) throw new CairnError('E_UNAVAILABLE', `storage ${job.storage} has not reported its address`);
  const keys = await agentKeysFor(ctx.db, num(job.vault_id), job.vault, num(job.agent_id), job.agent);
  const grant = signGrant(ctx.grantKey, {
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
  const result = (await ctx.hub.call({ kind: 'agent', name: job.agent }, 'estimate', params, ESTIMATE_TIMEOUT_MS)) as EstimateResult;
  return { files: num(result.files), bytes: num(result.bytes), level, parent: parent ?? null };
}
