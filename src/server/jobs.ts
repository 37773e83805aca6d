// Job definitions: what to back up (agent, paths, excludes), where (storage, vault), when
// (schedules, kept for the scheduler of a later issue) and how long (retention).
import { CairnError } from '../core/errors.ts';
import type { JobJson } from '../protocol/api-types.ts';
import type { Level } from '../protocol/api-schema.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { checkOwner, iso, num, ownedAgentId, ownedVault, partId, type ServerContext } from './context.ts';

export { checkOwner };
import { agentKeysFor } from './vaults.ts';

export type CreateJobBody = {
  name: string;
  agent: string;
  storage: string;
  vault: string;
  paths: string[];
  excludes?: string[];
  schedule?: { cron: string; level: Level }[];
  retention?: Record<string, number>;
  bwlimit?: number;
};

export type JobRow = {
  id: number;
  name: string;
  agent_id: number;
  storage_id: number;
  vault_id: number;
  agent: string;
  storage: string;
  vault: string;
  paths: string;
  excludes: string;
  schedule: string;
  retention: string;
  bwlimit: number | null;
  owner_id: number | null;
  owner: string | null;
  created_at: number;
};

const SELECT_JOB = `SELECT j.*, a.name AS agent, s.name AS storage, v.name AS vault, u.name AS owner
  FROM jobs j JOIN agents a ON a.id = j.agent_id JOIN storages s ON s.id = j.storage_id
  JOIN vaults v ON v.id = j.vault_id LEFT JOIN users u ON u.id = j.owner_id WHERE j.removed_at IS NULL`;

function jobJson(r: JobRow): JobJson {
  return {
    name: r.name,
    agent: r.agent,
    storage: r.storage,
    vault: r.vault,
    paths: JSON.parse(r.paths) as string[],
    excludes: JSON.parse(r.excludes) as string[],
    schedule: JSON.parse(r.schedule) as JobJson['schedule'],
    retention: JSON.parse(r.retention) as Record<string, number>,
    bwlimit: r.bwlimit === null ? null : num(r.bwlimit),
    owner: r.owner,
    createdAt: iso(r.created_at)!,
  };
}

export async function jobRow(db: CatalogDriver, name: string): Promise<JobRow> {
  const rows = await db.query<JobRow>(`${SELECT_JOB} AND j.name = ?`, [name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no job named ${name}`);
  return rows[0];
}

export async function createJob(ctx: ServerContext, caller: Caller, body: CreateJobBody): Promise<JobJson> {
  const agentId = await ownedAgentId(ctx.db, caller, body.agent);
  const storageId = await partId(ctx.db, 'storage', body.storage);
  const vault = await ownedVault(ctx.db, caller, body.vault);
  if (num(vault.storage_id) !== storageId) throw new CairnError('E_CONFLICT', `vault ${body.vault} is not on storage ${body.storage}`);
  await agentKeysFor(ctx.db, num(vault.id), vault.name, agentId, body.agent);
  for (const s of body.schedule ?? [])
    if (s.cron.trim().split(/\s+/).length !== 5) throw new CairnError('E_BAD_REQUEST', `schedule: '${s.cron}' is not a 5-field cron expression`);
  const taken = await ctx.db.query('SELECT id FROM jobs WHERE name = ? AND removed_at IS NULL', [body.name]);
  if (taken.length) throw new CairnError('E_CONFLICT', `job ${body.name} already exists`);
  await ctx.db.run(
    `INSERT INTO jobs (name, owner_id, agent_id, storage_id, vault_id, paths, excludes, schedule, retention, bwlimit, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      body.name,
      caller.id,
      agentId,
      storageId,
      vault.id,
      JSON.stringify(body.paths),
      JSON.stringify(body.excludes ?? []),
      JSON.stringify(body.schedule ?? []),
      JSON.stringify(body.retention ?? {}),
      body.bwlimit ?? null,
      Date.now(),
    ],
  );
  return jobJson(await jobRow(ctx.db, body.name));
}

export async function listJobs(db: CatalogDriver, caller: Caller): Promise<JobJson[]> {
  const rows = await db.query<JobRow>(`${SELECT_JOB} ORDER BY j.name`);
  return rows.filter((r) => caller.role !== 'user' || r.owner_id === caller.id).map(jobJson);
}

export async function showJob(db: CatalogDriver, caller: Caller, name: string): Promise<JobJson> {
  const row = await jobRow(db, name);
  checkOwner(caller, row.owner_id, `job named ${name}`);
  return jobJson(row);
}

export async function removeJob(db: CatalogDriver, caller: Caller, name: string): Promise<void> {
  const row = await jobRow(db, name);
  checkOwner(caller, row.owner_id, `job named ${name}`);
  await db.run('UPDATE jobs SET removed_at = ? WHERE id = ?', [Date.now(), row.id]);
}
