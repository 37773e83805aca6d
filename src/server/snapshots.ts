// Snapshots in the catalog: the row an agent announces when its backup has stored the snapshot
// record, the file index it then streams in batches (server/catalog/file-index.ts), and what
// consoles read: lists and one snapshot by id or unique prefix (browsing is in snapshot-browse.ts).
import { CairnError } from '../core/errors.ts';
import type { SnapshotJson } from '../protocol/api-types.ts';
import { shortSnapshotPrefix } from '../protocol/snapshot-ref.ts';
import type { IndexEntryWire, SnapshotCreatedParams, SnapshotIndexParams } from '../protocol/control.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { addEntries } from './catalog/file-index.ts';
import { iso, num, type ServerContext } from './context.ts';
import type { PartRef } from './control-hub.ts';
import { runRow } from './runs.ts';

type SnapshotRow = {
  pk: number;
  id: string;
  job: string | null;
  job_owner: number | null;
  agent: string;
  storage: string;
  vault: string;
  vault_id: number;
  storage_id: number;
  agent_id: number;
  level: SnapshotJson['level'];
  time: number;
  files: number;
  bytes: number;
};

const SELECT = `SELECT s.pk, s.id, s.level, s.time, s.files, s.bytes, s.vault_id, s.storage_id, s.agent_id,
    j.name AS job, j.owner_id AS job_owner, a.name AS agent, st.name AS storage, v.name AS vault
  FROM snapshots s LEFT JOIN jobs j ON j.id = s.job_id JOIN agents a ON a.id = s.agent_id
  JOIN storages st ON st.id = s.storage_id JOIN vaults v ON v.id = s.vault_id`;

function snapshotJson(r: SnapshotRow): SnapshotJson {
  return {
    id: r.id,
    job: r.job,
    agent: r.agent,
    storage: r.storage,
    vault: r.vault,
    level: r.level,
    time: iso(r.time)!,
    files: num(r.files),
    bytes: num(r.bytes),
  };
}

export async function listSnapshots(db: CatalogDriver, caller: Caller, opts: { agent?: string; job?: string }): Promise<SnapshotJson[]> {
  const where: string[] = [];
  const params: string[] = [];
  // a filter naming nothing is a mistake to report, not an empty answer; naming another owner's
  // agent or job, the same (an empty answer would tell a `user` it exists)
  for (const [table, what, name] of [['agents', 'agent', opts.agent], ['jobs', 'job', opts.job]] as const) {
    if (name === undefined) continue;
    const rows = await db.query<{ owner_id: number | null }>(`SELECT owner_id FROM ${table} WHERE name = ?`, [name]);
    // (a removed job's name may be on several rows)
    if (!rows.some((r) => caller.role !== 'user' || (r.owner_id !== null && num(r.owner_id) === caller.id))) throw new CairnError('E_NOT_FOUND', `no ${what} named ${name}`);
  }
  if (opts.agent !== undefined) {
    where.push('a.name = ?');
    params.push(opts.agent);
  }
  if (opts.job !== undefined) {
    where.push('j.name = ?');
    params.push(opts.job);
  }
  where.push('s.forgetting_at IS NULL'); // being forgotten: hidden
  const rows = await db.query<SnapshotRow>(`${SELECT} WHERE ${where.join(' AND ')} ORDER BY s.time DESC, s.pk DESC`, params);
  return rows.filter((r) => caller.role !== 'user' || r.job_owner === caller.id).map(snapshotJson);
}

/** How many matches an ambiguous prefix names. */
const AMBIGUOUS_SHOWN = 5;

/** A snapshot by full id or a unique prefix of at least 8 hex digits, among those `caller` may see. */
export async function snapshotRow(db: CatalogDriver, idOrPrefix: string, caller?: Caller): Promise<SnapshotRow> {
  const short = shortSnapshotPrefix(idOrPrefix);
  if (short !== undefined) throw new CairnError('E_BAD_REQUEST', short);
  const notFound = () => new CairnError('E_NOT_FOUND', `no snapshot ${idOrPrefix.slice(0, 64)}`);
  if (!/^[0-9a-f]{8,64}$/.test(idOrPrefix)) throw notFound();
  const where = idOrPrefix.length === 64 ? ['s.id = ?'] : ['s.id >= ?', 's.id < ?'];
  const params: (string | number)[] = idOrPrefix.length === 64 ? [idOrPrefix] : [idOrPrefix, `${idOrPrefix}g`];
  // a user's lookup never matches, nor names, another owner's snapshots
  if (caller?.role === 'user') {
    where.push('j.owner_id = ?');
    params.push(caller.id);
  }
  const rows = await db.query<SnapshotRow>(`${SELECT} WHERE ${where.join(' AND ')} AND s.forgetting_at IS NULL ORDER BY s.id LIMIT ${AMBIGUOUS_SHOWN + 1}`, params);
  if (rows.length > 1) {
    const named = rows.slice(0, AMBIGUOUS_SHOWN).map((r) => `${r.id.slice(0, 16)} (${r.job ?? 'no job'}, ${iso(r.time)})`);
    const more = rows.length > AMBIGUOUS_SHOWN ? ' and more' : '';
    throw new CairnError('E_CONFLICT', `snapshot prefix ${idOrPrefix} is ambiguous: ${named.join(', ')}${more}; give more digits`);
  }
  const row = rows[0];
  if (!row) throw notFound();
  return row;
}

export async function getSnapshot(db: CatalogDriver, idOrPrefix: string, caller: Caller): Promise<SnapshotJson> {
  return snapshotJson(await snapshotRow(db, idOrPrefix, caller));
}

/** The run `run` if `agent` is running it as a backup; the agent may only write its own run's snapshot. */
async function ownRunningBackup(ctx: ServerContext, agent: PartRef, run: unknown) {
  if (typeof run !== 'number' || !Number.isSafeInteger(run)) throw new CairnError('E_BAD_REQUEST', 'run must be an integer');
  const row = await runRow(ctx.db, run);
  if (row.agent !== agent.name || row.kind !== 'backup' || row.status !== 'running')
    throw new CairnError('E_FORBIDDEN', `run ${run} is not a running backup of agent ${agent.name}`);
  return row;
}

export async function snapshotCreated(ctx: ServerContext, agent: PartRef, params: unknown): Promise<Record<string, never>> {
  const p = params as SnapshotCreatedParams;
  const row = await ownRunningBackup(ctx, agent, p?.run);
  if (typeof p.snapshot !== 'string' || !/^[0-9a-f]{64}$/.test(p.snapshot)) throw new CairnError('E_BAD_REQUEST', 'snapshot must be 64 hex digits');
  const time = Date.parse(p.time);
  if (!Number.isFinite(time)) throw new CairnError('E_BAD_REQUEST', 'time must be an ISO 8601 time');
  // a repeat after a lost reply (the agent re-sends over a new link): already recorded
  if (row.snapshot === p.snapshot) return {};
  const job = await ctx.db.query<{ vault_id: number }>('SELECT vault_id FROM jobs WHERE id = ?', [row.job_id]);
  await ctx.db.run(
    'INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [p.snapshot, row.job_id, row.agent_id, row.storage_id, job[0]!.vault_id, row.level ?? 'full', time, num(p.counters?.files ?? 0), num(p.counters?.bytes ?? 0), row.id],
  );
  await ctx.db.run('UPDATE runs SET snapshot = ? WHERE id = ?', [p.snapshot, row.id]);
  return {};
}

/** A symlink target's base64 on the wire: PATH_MAX (4096 bytes) and then some. */
const MAX_TARGET_BASE64 = 8192;

export function wireEntry(e: IndexEntryWire) {
  if (typeof e !== 'object' || e === null || typeof e.dir !== 'string' || typeof e.name !== 'string' || typeof e.type !== 'string')
    throw new CairnError('E_BAD_REQUEST', 'index entry: dir, name and type are required');
  if (!Number.isSafeInteger(e.size) || e.size < 0 || !/^-?\d{1,22}$/.test(String(e.mtimeNs)))
    throw new CairnError('E_BAD_REQUEST', 'index entry: size and mtimeNs must be integers');
  const id = (v: unknown, max: number, what: string) => {
    if (v === undefined) return null; // an agent from before issue 12
    if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > max) throw new CairnError('E_BAD_REQUEST', `index entry: ${what} must be an integer from 0 to ${max}`);
    return v as number;
  };
  if (e.target !== undefined && (typeof e.target !== 'string' || e.target.length > MAX_TARGET_BASE64))
    throw new CairnError('E_BAD_REQUEST', `index entry: target must be base64 of at most ${MAX_TARGET_BASE64} characters`);
  return {
    dir: Buffer.from(e.dir, 'base64'),
    name: Buffer.from(e.name, 'base64'),
    type: e.type.slice(0, 16),
    size: e.size,
    mtimeNs: BigInt(e.mtimeNs),
    mode: id(e.mode, 0o7777, 'mode'),
    uid: id(e.uid, 0xffffffff, 'uid'),
    gid: id(e.gid, 0xffffffff, 'gid'),
    target: e.target === undefined ? null : Buffer.from(e.target, 'base64'),
  };
}

export async function snapshotIndex(ctx: ServerContext, agent: PartRef, params: unknown): Promise<{ added: number }> {
  const p = params as SnapshotIndexParams;
  const row = await ownRunningBackup(ctx, agent, p?.run);
  if (p.snapshot !== row.snapshot) throw new CairnError('E_FORBIDDEN', `snapshot ${String(p.snapshot).slice(0, 64)} is not run ${row.id}'s`);
  if (!Array.isArray(p.entries) || p.entries.length > 20_000) throw new CairnError('E_BAD_REQUEST', 'entries must be an array of at most 20000');
  const added = await addEntries(ctx.db, row.snapshot!, p.entries.map(wireEntry));
  return { added };
}

/** Takes a failed run's snapshot back out of the catalog (its files go with it). */
export async function dropRunSnapshot(db: CatalogDriver, runId: number): Promise<void> {
  await db.run('DELETE FROM files WHERE snapshot_pk IN (SELECT pk FROM snapshots WHERE run_id = ?)', [runId]);
  await db.run('DELETE FROM snapshots WHERE run_id = ?', [runId]);
}
