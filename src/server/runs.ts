// Runs: one catalog row per execution of a job (or an ad-hoc restore), its log, and the live
// counters of the runs in progress (kept in memory while they change several times a second,
// written to the row when the run ends). Every change is pushed to consoles as an `event: run`.
import { CairnError } from '../core/errors.ts';
import type { Level } from '../protocol/api-schema.ts';
import { FINISHED, RUN_STATUSES, type RunJson, type RunKind, type RunStatus } from '../protocol/api-types.ts';
import { type ConflictCounts, type LogEventData, MAX_RESULT_ENTRIES, type ProgressData, progressData, runLogLimit, type Warning } from '../protocol/control.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { checkOwner, iso, num, type ServerContext } from './context.ts';
import { endRunLog, type LogLevel, type NewLogLine, type RunLogLine, runLogQueue } from './run-log.ts';

export { endRunLog, type LogLevel, type RunLogLine } from './run-log.ts';

export type RunRow = {
  id: number;
  job_id: number | null;
  kind: RunKind;
  level: Level | null;
  requested_level: Level | null;
  status: RunStatus;
  reason: string | null;
  queued_at: number;
  started_at: number | null;
  ended_at: number | null;
  agent_id: number | null;
  storage_id: number | null;
  snapshot: string | null;
  files: number;
  files_changed: number;
  bytes: number;
  bytes_read: number;
  bytes_new: number;
  warnings: string;
  error: string | null;
  damaged: string;
  pretreatment: string | null;
  /** 1: a backup asked with --force-read (reads every file) */
  force_read: number;
  attempt: number;
  retry_of: number | null;
  /** a retry waits until then (ms) */
  not_before: number | null;
  priority: number;
  /** the job's --max-runtime when the run started */
  max_runtime_s: number | null;
  warnings_total: number;
  damaged_total: number;
  next_attempt: number | null;
  gc_result: string | null;
  job: string | null;
  job_owner: number | null;
  agent: string | null;
  storage: string | null;
};

const SELECT_RUN = `SELECT r.*, j.name AS job, j.owner_id AS job_owner, a.name AS agent, s.name AS storage,
  (SELECT MIN(n.id) FROM runs n WHERE n.retry_of = COALESCE(r.retry_of, r.id) AND n.attempt = r.attempt + 1) AS next_attempt
  FROM runs r LEFT JOIN jobs j ON j.id = r.job_id LEFT JOIN agents a ON a.id = r.agent_id LEFT JOIN storages s ON s.id = r.storage_id`;

/** Live counters of running runs, by run id, with the owner of the run's job (who may see them). */
const live = new Map<number, ProgressData>();
const owners = new Map<number, number | null>();

/** What a running run adds to its JSON from its last progress (SPEC "Monitoring and alerts"). */
function liveFields(p: ProgressData | undefined) {
  return {
    phase: p?.phase ?? null,
    filesScanned: p?.filesScanned ?? 0,
    bytesScanned: p?.bytesScanned ?? 0,
    filesRead: p?.filesRead ?? 0,
    bytesSent: p?.bytesSent ?? 0,
    rateBytesPerSec: p?.rateBytesPerSec ?? 0,
    etaSeconds: p?.etaSeconds ?? null,
  };
}

function runJson(r: RunRow): RunJson {
  const p = live.get(num(r.id));
  const pick = (k: keyof ProgressData, stored: number) => (p && typeof p[k] === 'number' ? (p[k] as number) : num(stored));
  return {
    id: num(r.id),
    job: r.job,
    kind: r.kind,
    level: r.level,
    requestedLevel: r.requested_level,
    status: r.status,
    reason: r.reason,
    queuedAt: iso(r.queued_at)!,
    startedAt: iso(r.started_at),
    endedAt: iso(r.ended_at),
    agent: r.agent,
    storage: r.storage,
    snapshot: r.snapshot,
    files: pick('files', r.files),
    filesChanged: pick('filesChanged', r.files_changed),
    bytes: pick('bytes', r.bytes),
    bytesRead: pick('bytesRead', r.bytes_read),
    bytesNew: pick('bytesNew', r.bytes_new),
    currentPath: r.status === 'running' ? (p?.currentPath ?? null) : null,
    ...(r.status === 'running' ? liveFields(p) : {}),
    warnings: JSON.parse(r.warnings) as Warning[],
    error: r.error,
    damaged: JSON.parse(r.damaged) as Warning[],
    pretreatment: r.pretreatment === null ? null : JSON.parse(r.pretreatment),
    warningsTotal: Math.max(num(r.warnings_total), (JSON.parse(r.warnings) as Warning[]).length),
    damagedTotal: Math.max(num(r.damaged_total), (JSON.parse(r.damaged) as Warning[]).length),
    attempt: num(r.attempt),
    retryOf: r.retry_of === null ? null : num(r.retry_of),
    nextAttempt: r.next_attempt === null ? null : num(r.next_attempt),
    // a restore's conflicts counted at the top level (null until its agent reported them)
    ...(r.kind === 'restore' ? { conflicts: conflictCountsOf(r.pretreatment) } : {}),
    // a gc's figures at the top level
    ...(r.gc_result ? (JSON.parse(r.gc_result) as Record<string, number | boolean>) : {}),
  };
}

/** The counts in a restore's stored pretreatment report (the queued request or an older report has none). */
function conflictCountsOf(pretreatment: string | null): ConflictCounts | null {
  const counts = pretreatment === null ? undefined : (JSON.parse(pretreatment) as { conflictCounts?: ConflictCounts }).conflictCounts;
  return counts ?? null;
}

/** A restore's or verify's lists as run columns (the first MAX_RESULT_ENTRIES kept, all counted). */
export function resultListColumns(r: { warnings?: Warning[]; warningsTotal?: number; damaged: Warning[]; damagedTotal?: number }) {
  const warnings = boundedList(r.warnings, r.warningsTotal);
  const damaged = boundedList(r.damaged, r.damagedTotal);
  return { warnings: warnings.json, warnings_total: warnings.total, damaged: damaged.json, damaged_total: damaged.total };
}

/** The first MAX_RESULT_ENTRIES of a list as the run keeps it, and how many there were in all. */
export function boundedList(list: Warning[] | undefined, total: number | undefined): { json: string; total: number } {
  const all = list ?? [];
  return { json: JSON.stringify(all.slice(0, MAX_RESULT_ENTRIES)), total: Math.max(total ?? 0, all.length) };
}

export async function runRow(db: CatalogDriver, id: number): Promise<RunRow> {
  const rows = await db.query<RunRow>(`${SELECT_RUN} WHERE r.id = ?`, [id]);
  if (!rows[0]) throw new CairnError('E_NOT_FOUND', `no run ${id}`);
  return rows[0];
}

export function parseRunId(text: string): number {
  const id = Number(text);
  if (!/^\d{1,15}$/.test(text) || !Number.isSafeInteger(id) || id <= 0) throw new CairnError('E_NOT_FOUND', `no run ${text.slice(0, 40)}`);
  return id;
}

export async function getRun(db: CatalogDriver, id: number, caller?: Caller): Promise<RunJson> {
  const row = await runRow(db, id);
  if (caller?.role === 'user' && row.job_owner !== caller.id) throw new CairnError('E_NOT_FOUND', `no run ${id}`);
  return runJson(row);
}

export async function listRuns(db: CatalogDriver, caller: Caller, opts: { job?: string; limit?: number; status?: string }): Promise<RunJson[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (opts.status !== undefined) {
    if (!(RUN_STATUSES as readonly string[]).includes(opts.status)) throw new CairnError('E_BAD_REQUEST', `status must be one of ${RUN_STATUSES.join(', ')}`);
    where.push('r.status = ?');
    params.push(opts.status);
  }
  if (opts.job !== undefined) {
    const job = await db.query<{ owner_id: number | null }>('SELECT owner_id FROM jobs WHERE name = ? AND removed_at IS NULL', [opts.job]);
    if (!job.length) throw new CairnError('E_NOT_FOUND', `no job named ${opts.job}`);
    checkOwner(caller, job[0]!.owner_id, `job named ${opts.job}`); // another owner's job: not there, as an unknown one
    where.push('j.name = ?');
    params.push(opts.job);
  }
  if (caller.role === 'user') {
    where.push('j.owner_id = ?'); // in SQL, so LIMIT counts the caller's runs only
    params.push(caller.id);
  }
  params.push(Math.min(Math.max(opts.limit ?? 100, 1), 1000));
  const rows = await db.query<RunRow>(`${SELECT_RUN}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY r.id DESC LIMIT ?`, params);
  return rows.map(runJson);
}

export type NewRun = {
  jobId: number | null;
  kind: RunKind;
  requestedLevel: Level | null;
  /** null for a gc */
  agentId: number | null;
  storageId: number;
  pretreatment?: unknown;
  /** a backup that reads every file whatever its metadata */
  forceRead?: boolean;
  /** 0–1000, the job's */
  priority?: number;
  /** a retry: its attempt, the first attempt's id, and when it may start */
  retry?: { attempt: number; of: number; notBefore: number };
  /** what the run log's first line says (default: queued KIND (LEVEL)) */
  note?: string;
};

export async function queueRun(ctx: ServerContext, run: NewRun): Promise<RunJson> {
  const { lastId } = await ctx.db.run(
    `INSERT INTO runs (job_id, kind, requested_level, status, reason, queued_at, agent_id, storage_id, pretreatment, force_read, priority, attempt, retry_of, not_before)
     VALUES (?, ?, ?, 'queued', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      run.jobId,
      run.kind,
      run.requestedLevel,
      Date.now(),
      run.agentId,
      run.storageId,
      run.pretreatment === undefined ? null : JSON.stringify(run.pretreatment),
      run.forceRead ? 1 : 0,
      run.priority ?? 0,
      run.retry?.attempt ?? 1,
      run.retry?.of ?? null,
      run.retry?.notBefore ?? null,
    ],
  );
  const row = await runRow(ctx.db, lastId!);
  const json = runJson(row);
  runLogQueue(ctx).fresh(json.id); // a deleted run's id can come again: its old count must not
  await logRun(ctx, json.id, run.note ?? `queued ${run.kind}${run.requestedLevel ? ` (${run.requestedLevel})` : ''}`);
  publishRun(ctx, row);
  ctx.kick();
  return json;
}

export async function logRun(ctx: ServerContext, id: number, message: string, level: LogLevel = 'info'): Promise<void> {
  await runLogQueue(ctx).write([{ run: id, time: Date.now(), level, part: 'server', message: message.slice(0, 4000) }]);
}

export async function runLog(db: CatalogDriver, id: number, caller: Caller): Promise<RunLogLine[]> {
  await getRun(db, id, caller);
  const rows = await db.query<{ time: number; message: string; level: LogLevel; part: string }>('SELECT time, message, level, part FROM run_log WHERE run_id = ? ORDER BY id', [id]);
  return rows.map((r) => ({ time: iso(r.time)!, level: r.level, part: r.part, message: r.message }));
}

/**
 * Log lines the parts send for their runs: buffered and written in one transaction per flush
 * (a backup warning about 100,000 files is not 100,000 commits), at most runLogLimit() (10,000) per
 * run, then one line saying how many more were not kept.
 */
export class PartLog {
  readonly #ctx: ServerContext;
  #pending: NewLogLine[] = [];
  readonly #counts = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  add(run: number, part: string, data: unknown): void {
    const d = data as Partial<LogEventData> | null;
    if (typeof d !== 'object' || d === null || typeof d.message !== 'string') return;
    const level: LogLevel = d.level === 'warn' || d.level === 'error' ? d.level : 'info';
    const n = (this.#counts.get(run) ?? 0) + 1;
    this.#counts.set(run, n);
    if (n > runLogLimit()) return;
    this.#pending.push({ run, time: Date.now(), level, part, message: d.message.slice(0, 4000) });
    this.#timer ??= setTimeout(() => void this.flush(), 250);
  }

  /** Writes what is buffered; for an ended run, also the count of lines not kept. Queued at once, so a later line or log end comes after. */
  flush(endedRun?: number): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#pending;
    this.#pending = [];
    const over = endedRun === undefined ? 0 : (this.#counts.get(endedRun) ?? 0) - runLogLimit();
    if (endedRun !== undefined) this.#counts.delete(endedRun);
    if (over > 0) lines.push({ run: endedRun!, time: Date.now(), level: 'warn', part: 'server', message: `${over} more lines not kept` });
    return runLogQueue(this.#ctx).write(lines).catch((e: unknown) => this.#ctx.log(`run log: ${(e as Error).message}`));
  }
}

/**
 * Ends a run that is still queued and can never start (its agent or storage server was removed):
 * failed with the reason, told to consoles, the reason logged and the log closed for its followers.
 */
export async function failQueuedRun(ctx: ServerContext, id: number, why: string): Promise<void> {
  if (!(await updateRun(ctx, id, { status: 'failed', ended_at: Date.now(), reason: null, error: why }, 'queued'))) return;
  await logRun(ctx, id, `failed: ${why}`, 'error');
  await endRunLog(ctx, id);
}

/**
 * Sets columns of a run and tells consoles. With `from`, only while the run's status is that one
 * (a cancel and a start, or a stop and a late result, cannot both win); answers whether it did.
 */
export async function updateRun(
  ctx: ServerContext,
  id: number,
  fields: Record<string, string | number | null>,
  from?: RunStatus,
): Promise<boolean> {
  const names = Object.keys(fields);
  const guard = from === undefined ? '' : ' AND status = ?';
  const params = [...names.map((n) => fields[n]!), id, ...(from === undefined ? [] : [from])];
  // an ending run's log stays open for the lines its ending path writes next (endRunLog closes it)
  const ending = FINISHED.includes(fields.status as RunStatus);
  if (ending) runLogQueue(ctx).ending(id);
  let changes = 0;
  try {
    ({ changes } = await ctx.db.run(`UPDATE runs SET ${names.map((n) => `${n} = ?`).join(', ')} WHERE id = ?${guard}`, params));
  } finally {
    if (ending && changes === 0) runLogQueue(ctx).notEnding(id);
  }
  if (changes === 0) return false;
  publishRun(ctx, await runRow(ctx.db, id));
  return true;
}

/** An `event: run` for the consoles that may see it (its job's owner, and operators and admins). */
function publishRun(ctx: ServerContext, row: RunRow): void {
  const id = num(row.id);
  const owner = row.job_owner === null ? null : num(row.job_owner);
  if (row.status === 'running') owners.set(id, owner);
  ctx.events.publish('run', runJson(row), owner);
}

/** A running run's progress as its agent sent it: kept (merged) for `run show` and late joiners, pushed to consoles. */
export function setProgress(ctx: ServerContext, id: number, data: unknown): void {
  live.set(id, { ...live.get(id), ...progressData(data) });
  // a run left running by a previous process: its owner is looked up once (admins see it meanwhile)
  if (!owners.has(id)) {
    owners.set(id, null);
    void runRow(ctx.db, id).then((r) => owners.has(id) && owners.set(id, r.job_owner === null ? null : num(r.job_owner)), () => undefined);
  }
  ctx.events.publish('progress', { id, ...live.get(id) }, owners.get(id) ?? null);
}

/** The last progress of every running run, as `progress` events (what a console that connects now has missed). */
export function liveProgressEvents(): { type: string; data: unknown; owner: number | null }[] {
  return [...live].map(([id, p]) => ({ type: 'progress', data: { id, ...p }, owner: owners.get(id) ?? null }));
}

export function liveProgress(id: number): ProgressData | undefined {
  return live.get(id);
}

export function clearProgress(id: number): void {
  live.delete(id);
  owners.delete(id);
}
