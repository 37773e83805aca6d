// Job definitions: what to back up (agent, paths, excludes, file-system and size limits), where
// (storage, vault), when (schedules, pause), how (priority, bandwidth, time limit, retries) and
// how long (retention). `editJob` changes any setting but agent, storage and vault; a run already
// started keeps the settings it started with.
import { CairnError } from '../core/errors.ts';
import type { JobJson } from '../protocol/api-types.ts';
import type { Level } from '../protocol/api-schema.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { checkOwner, iso, num, ownedAgentId, ownedVault, partId, type ServerContext } from './context.ts';
import { agentKeysFor } from './vaults.ts';
import { now } from '../core/test-settings.ts';
import { checkSchedule, nextSlot, type ScheduleEntry } from './schedules.ts';

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
} & JobSettings;

/** Settings `job create` and `job edit` share; on an edit 0 removes a limit. */
export type JobSettings = {
  priority?: number;
  maxRuntimeSeconds?: number;
  retries?: number;
  oneFileSystem?: boolean;
  excludeCaches?: boolean;
  maxFileSize?: number;
};

export type EditJobBody = Partial<Omit<CreateJobBody, 'name' | 'agent' | 'storage' | 'vault'>> & { paused?: boolean };

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
  priority: number;
  max_runtime_s: number | null;
  retries: number;
  one_file_system: number;
  exclude_caches: number;
  max_file_size: number | null;
  paused: number;
  schedule_checked_at: number | null;
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
    priority: num(r.priority),
    maxRuntimeSeconds: r.max_runtime_s === null ? null : num(r.max_runtime_s),
    retries: num(r.retries),
    oneFileSystem: num(r.one_file_system) === 1,
    excludeCaches: num(r.exclude_caches) === 1,
    maxFileSize: r.max_file_size === null ? null : num(r.max_file_size),
    paused: num(r.paused) === 1,
    nextRun: num(r.paused) === 1 ? null : iso(nextSlot(JSON.parse(r.schedule) as ScheduleEntry[], now())),
    owner: r.owner,
    createdAt: iso(r.created_at)!,
  };
}

/** The columns of the settings given (0 removes a limit), for an INSERT or an UPDATE. */
function settingColumns(b: JobSettings & { bwlimit?: number; paused?: boolean }): Record<string, number | null> {
  const cols: Record<string, number | null> = {};
  const limit = (v: number) => (v === 0 ? null : v);
  if (b.bwlimit !== undefined) cols.bwlimit = limit(b.bwlimit);
  if (b.priority !== undefined) cols.priority = b.priority;
  if (b.maxRuntimeSeconds !== undefined) cols.max_runtime_s = limit(b.maxRuntimeSeconds);
  if (b.retries !== undefined) cols.retries = b.retries;
  if (b.oneFileSystem !== undefined) cols.one_file_system = b.oneFileSystem ? 1 : 0;
  if (b.excludeCaches !== undefined) cols.exclude_caches = b.excludeCaches ? 1 : 0;
  if (b.maxFileSize !== undefined) cols.max_file_size = limit(b.maxFileSize);
  if (b.paused !== undefined) cols.paused = b.paused ? 1 : 0;
  return cols;
}

export async function jobRow(db: CatalogDriver, name: string): Promise<JobRow> {
  const rows = await db.query<JobRow>(`${SELECT_JOB} AND j.name = ?`, [name]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no job named ${name}`);
  return rows[0];
}

/** A live job by name, checked against the caller's ownership (as ownedAgentId and ownedVault do). */
export async function ownedJob(db: CatalogDriver, caller: Caller, name: string): Promise<JobRow> {
  const row = await jobRow(db, name);
  checkOwner(caller, row.owner_id, `job named ${name}`);
  return row;
}

export async function createJob(ctx: ServerContext, caller: Caller, body: CreateJobBody): Promise<JobJson> {
  const agentId = await ownedAgentId(ctx.db, caller, body.agent);
  const storageId = await partId(ctx.db, 'storage', body.storage);
  const vault = await ownedVault(ctx.db, caller, body.vault);
  if (num(vault.storage_id) !== storageId) throw new CairnError('E_CONFLICT', `vault ${body.vault} is not on storage ${body.storage}`);
  await agentKeysFor(ctx.db, num(vault.id), vault.name, agentId, body.agent);
  checkSchedule(body.schedule ?? []);
  const taken = await ctx.db.query('SELECT id FROM jobs WHERE name = ? AND removed_at IS NULL', [body.name]);
  if (taken.length) throw new CairnError('E_CONFLICT', `job ${body.name} already exists`);
  const cols: Record<string, string | number | null> = {
    name: body.name,
    owner_id: caller.id,
    agent_id: agentId,
    storage_id: storageId,
    vault_id: vault.id,
    paths: JSON.stringify(body.paths),
    excludes: JSON.stringify(body.excludes ?? []),
    schedule: JSON.stringify(body.schedule ?? []),
    retention: JSON.stringify(body.retention ?? {}),
    ...settingColumns(body),
    // a new schedule has missed nothing before it existed
    schedule_checked_at: now(),
    created_at: Date.now(),
  };
  const names = Object.keys(cols);
  await ctx.db.run(`INSERT INTO jobs (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`, names.map((n) => cols[n]!));
  return jobJson(await jobRow(ctx.db, body.name));
}

/** `job edit`: the settings given replace the job's (a list replaces the whole list); runs already started keep theirs. */
export async function editJob(ctx: ServerContext, caller: Caller, name: string, body: EditJobBody): Promise<JobJson> {
  const row = await ownedJob(ctx.db, caller, name);
  if (body.schedule !== undefined) checkSchedule(body.schedule);
  const cols: Record<string, string | number | null> = settingColumns(body);
  if (body.paths !== undefined) cols.paths = JSON.stringify(body.paths);
  if (body.excludes !== undefined) cols.excludes = JSON.stringify(body.excludes);
  if (body.schedule !== undefined) cols.schedule = JSON.stringify(body.schedule);
  if (body.retention !== undefined) cols.retention = JSON.stringify(body.retention);
  // an edited or resumed schedule has missed nothing before it (again) existed
  if (body.schedule !== undefined || (body.paused === false && num(row.paused) === 1)) cols.schedule_checked_at = now();
  const names = Object.keys(cols);
  if (names.length === 0) throw new CairnError('E_BAD_REQUEST', 'job edit: nothing to change');
  await ctx.db.run(`UPDATE jobs SET ${names.map((n) => `${n} = ?`).join(', ')} WHERE id = ?`, [...names.map((n) => cols[n]!), row.id]);
  ctx.kick();
  return jobJson(await jobRow(ctx.db, name));
}

export async function listJobs(db: CatalogDriver, caller: Caller): Promise<JobJson[]> {
  const rows = await db.query<JobRow>(`${SELECT_JOB} ORDER BY j.name`);
  return rows.filter((r) => caller.role !== 'user' || r.owner_id === caller.id).map(jobJson);
}

export async function showJob(db: CatalogDriver, caller: Caller, name: string): Promise<JobJson> {
  return jobJson(await ownedJob(db, caller, name));
}

export async function removeJob(db: CatalogDriver, caller: Caller, name: string): Promise<void> {
  const row = await ownedJob(db, caller, name);
  await db.run('UPDATE jobs SET removed_at = ? WHERE id = ?', [Date.now(), row.id]);
}
