// The scheduler: starts queued runs in queue order as soon as their parts are online and the
// limits allow (globally, per agent, per storage server), says why each waiting run waits,
// and carries a started run through its agent: a signed grant, the agent's wrapped vault keys,
// the call, the live progress, and the outcome written to the catalog.
import { CairnError } from '../core/errors.ts';
import type { BackupParams, BackupResult, RestoreParams, RestoreResult } from '../protocol/control.ts';
import { type GrantOp, signGrant } from '../protocol/grant.ts';
import { num, type ServerContext } from './context.ts';
import { clearProgress, liveProgress, logRun, type RunRow, runRow, updateRun } from './runs.ts';
import { dropRunSnapshot, snapshotRow } from './snapshots.ts';
import { nothingRead, planLevel, readsEverything } from './levels.ts';
import { executeVerify } from './run-verify.ts';
import { agentKeysFor } from './vaults.ts';

export const LIMITS = { global: 8, perAgent: 2, perStorage: 4 };
export const GRANT_TTL_MS = 3600_000;

/** What a queued restore asked for, kept in the run's pretreatment column until the agent reports. */
export type RestoreRequestStored = { request: { snapshot: string; to: string; include: string[]; conflict: RestoreParams['conflict']; dryRun: boolean } };

export class Scheduler {
  readonly #ctx: ServerContext;
  #pass: Promise<void> = Promise.resolve();
  #again = false;
  /** runs being executed, by id: the agent running each, and the promise that settles when it ends */
  #running = new Map<number, { agent: string; done: Promise<void> }>();
  #canceled = new Set<number>();
  #closed = false;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Runs a scheduling pass soon (passes never overlap; a kick during one schedules another). */
  kick(): void {
    if (this.#closed) return;
    if (this.#again) return;
    this.#again = true;
    this.#pass = this.#pass.then(async () => {
      this.#again = false;
      await this.#schedule().catch((e: unknown) => this.#ctx.log(`scheduler: ${(e as Error).stack ?? String(e)}`));
    });
  }

  /** True when run `id` is being executed on agent `agent` (only that agent may report its progress). */
  isRunningOn(id: number, agent: string): boolean {
    return this.#running.get(id)?.agent === agent;
  }

  /** Stops scheduling; runs still in progress end as failed with `reason` before this resolves. */
  async close(reason: string): Promise<void> {
    this.#closed = true;
    await this.#pass;
    for (const id of this.#running.keys()) await this.#fail(id, reason);
  }

  /** Resolves when every run's execution has settled (after the links to the agents closed). */
  async drain(): Promise<void> {
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  /** Ends a run as failed (or canceled), keeping the counters it reached and dropping its snapshot row. */
  async #fail(id: number, message: string, canceled = false): Promise<void> {
    const ctx = this.#ctx;
    const p = liveProgress(id);
    await dropRunSnapshot(ctx.db, id);
    const ended = await updateRun(ctx, id, {
      status: canceled ? 'canceled' : 'failed',
      ended_at: Date.now(),
      error: canceled ? 'canceled' : message,
      snapshot: null,
      files_changed: p?.filesChanged ?? 0,
      bytes_read: p?.bytesRead ?? 0,
      bytes_new: p?.bytesNew ?? 0,
    }, 'running');
    if (ended) await logRun(ctx, id, canceled ? 'canceled' : `failed: ${message}`);
  }

  /** Cancels a queued run at once; asks the agent to stop a running one. */
  async cancel(id: number): Promise<void> {
    const row = await runRow(this.#ctx.db, id);
    if (row.status === 'queued') {
      if (await updateRun(this.#ctx, id, { status: 'canceled', ended_at: Date.now(), reason: null, error: 'canceled before it started' }, 'queued')) {
        await logRun(this.#ctx, id, 'canceled while queued');
        return;
      }
      return this.cancel(id); // it started meanwhile: cancel it running
    }
    if (row.status !== 'running') throw new CairnError('E_CONFLICT', `run ${id} has already ended (${row.status})`);
    this.#canceled.add(id);
    await logRun(this.#ctx, id, 'cancel requested');
    await this.#ctx.hub.call({ kind: 'agent', name: row.agent! }, 'cancel', { run: id }, 30_000).catch(() => undefined);
  }

  async #schedule(): Promise<void> {
    const ctx = this.#ctx;
    const queued = await ctx.db.query<RunRow>(
      `SELECT r.*, a.name AS agent, s.name AS storage FROM runs r LEFT JOIN agents a ON a.id = r.agent_id
        LEFT JOIN storages s ON s.id = r.storage_id WHERE r.status = 'queued' ORDER BY r.id`,
    );
    const busy = await ctx.db.query<{ agent_id: number; storage_id: number }>("SELECT agent_id, storage_id FROM runs WHERE status = 'running'");
    let total = busy.length;
    const perAgent = new Map<number, number>();
    const perStorage = new Map<number, number>();
    for (const b of busy) {
      perAgent.set(num(b.agent_id), (perAgent.get(num(b.agent_id)) ?? 0) + 1);
      perStorage.set(num(b.storage_id), (perStorage.get(num(b.storage_id)) ?? 0) + 1);
    }
    for (const run of queued) {
      const agentId = num(run.agent_id);
      const storageId = num(run.storage_id);
      let reason: string | null = null;
      if (!ctx.hub.isOnline({ kind: 'agent', name: run.agent! })) reason = `agent ${run.agent} is offline`;
      else if (!ctx.hub.isOnline({ kind: 'storage', name: run.storage! })) reason = `storage ${run.storage} is offline`;
      else if (total >= LIMITS.global) reason = `${LIMITS.global} runs already running (server limit)`;
      else if ((perAgent.get(agentId) ?? 0) >= LIMITS.perAgent) reason = `agent ${run.agent} is running ${LIMITS.perAgent} runs already`;
      else if ((perStorage.get(storageId) ?? 0) >= LIMITS.perStorage) reason = `storage ${run.storage} is serving ${LIMITS.perStorage} runs already`;
      if (reason !== null) {
        if (reason !== run.reason) await updateRun(ctx, num(run.id), { reason }, 'queued');
        continue;
      }
      total++;
      perAgent.set(agentId, (perAgent.get(agentId) ?? 0) + 1);
      perStorage.set(storageId, (perStorage.get(storageId) ?? 0) + 1);
      // only if still queued: a cancel may have come in since the SELECT
      if (!(await updateRun(ctx, num(run.id), { status: 'running', reason: null, started_at: Date.now() }, 'queued'))) continue;
      const id = num(run.id);
      const done = this.#execute(run).finally(() => {
        this.#running.delete(id);
        this.#canceled.delete(id);
        clearProgress(id);
        this.kick();
      });
      this.#running.set(id, { agent: run.agent!, done });
    }
  }

  #grant(run: RunRow, op: GrantOp, vault: string): string {
    return signGrant(this.#ctx.grantKey, { agent: run.agent!, storage: run.storage!, vault, op, run: String(run.id), exp: Date.now() + GRANT_TTL_MS });
  }

  /** A fresh grant for a running run of `agent` (the agent renews when half of one is gone). */
  async renewGrant(agent: string, runId: number): Promise<{ grant: string }> {
    const row = await runRow(this.#ctx.db, runId);
    if (row.agent !== agent || row.status !== 'running') throw new CairnError('E_FORBIDDEN', `run ${runId} is not running on agent ${agent}`);
    const vault = await this.#vaultOf(row);
    return { grant: this.#grant(row, row.kind === 'backup' ? 'backup' : row.kind === 'verify' ? 'verify' : 'restore', vault.name) };
  }

  async #vaultOf(run: RunRow): Promise<{ id: number; name: string }> {
    if (run.kind === 'backup') {
      const rows = await this.#ctx.db.query<{ id: number; name: string }>('SELECT v.id, v.name FROM jobs j JOIN vaults v ON v.id = j.vault_id WHERE j.id = ?', [run.job_id]);
      return { id: num(rows[0]!.id), name: rows[0]!.name };
    }
    const stored = JSON.parse(run.pretreatment ?? '{}') as RestoreRequestStored;
    const snap = await snapshotRow(this.#ctx.db, stored.request.snapshot);
    return { id: num(snap.vault_id), name: snap.vault };
  }

  async #execute(run: RunRow): Promise<void> {
    const ctx = this.#ctx;
    const id = num(run.id);
    try {
      const storage = await ctx.db.query<{ address: string | null }>('SELECT address FROM storages WHERE id = ?', [run.storage_id]);
      const url = storage[0]?.address;
      if (!url) throw new CairnError('E_UNAVAILABLE', `storage ${run.storage} has not reported its address`);
      const vault = await this.#vaultOf(run);
      const keys = await agentKeysFor(ctx.db, vault.id, vault.name, num(run.agent_id), run.agent!);
      if (run.kind === 'backup') await this.#backup(run, { name: run.storage!, url }, vault.name, keys);
      else if (run.kind === 'restore') await this.#restore(run, { name: run.storage!, url }, vault.name, keys);
      else if (run.kind === 'verify')
        await executeVerify(ctx, run, { storage: { name: run.storage!, url }, vault: vault.name, keys, grant: this.#grant(run, 'verify', vault.name), canceled: () => this.#canceled.has(id) });
      else throw new CairnError('E_BAD_REQUEST', `${run.kind} runs are not supported yet`);
    } catch (e) {
      // closing: close() already ended the run with its own reason (the link dropping is its consequence)
      if (this.#closed) return;
      const message = e instanceof CairnError ? e.message : `internal error: ${(e as Error).message}`;
      if (!(e instanceof CairnError)) ctx.log(`run ${id}: ${(e as Error).stack}`);
      await this.#fail(id, message, this.#canceled.has(id)).catch((err: unknown) => ctx.log(`run ${id}: recording its failure: ${(err as Error).message}`));
    }
  }

  async #backup(run: RunRow, storage: { name: string; url: string }, vault: string, keys: string): Promise<void> {
    const ctx = this.#ctx;
    const id = num(run.id);
    const job = await ctx.db.query<{ name: string; paths: string; excludes: string }>('SELECT name, paths, excludes FROM jobs WHERE id = ?', [run.job_id]);
    const { level, parent, note } = await planLevel(ctx.db, num(run.job_id), run.requested_level ?? 'incremental');
    if (note) await logRun(ctx, id, note);
    if (num(run.force_read) === 1 && level !== 'full') await logRun(ctx, id, 'force-read: every file is read whatever its metadata');
    await updateRun(ctx, id, { level }, 'running');
    await logRun(ctx, id, `backup (${level}) started on agent ${run.agent} to storage ${run.storage}, vault ${vault}`);
    const params: BackupParams = {
      run: id,
      job: job[0]!.name,
      level,
      paths: JSON.parse(job[0]!.paths) as string[],
      excludes: JSON.parse(job[0]!.excludes) as string[],
      storage,
      vault,
      grant: this.#grant(run, 'backup', vault),
      keys,
      ...(parent ? { parent } : {}),
      forceRead: readsEverything(level, num(run.force_read) === 1),
    };
    const result = (await ctx.hub.call({ kind: 'agent', name: run.agent! }, 'backup', params)) as BackupResult;
    if (this.#canceled.has(id)) throw new CairnError('E_CONFLICT', 'canceled');
    const nothing = nothingRead(result);
    if (nothing !== undefined) {
      // the snapshot holds no file: keep the warnings on the failed run, drop the snapshot row
      await dropRunSnapshot(ctx.db, id);
      const failed = await updateRun(ctx, id, { status: 'failed', ended_at: Date.now(), error: nothing, snapshot: null, files_changed: result.filesChanged, bytes_read: result.bytesRead, bytes_new: result.bytesNew, warnings: JSON.stringify(result.warnings ?? []) }, 'running');
      if (failed) await logRun(ctx, id, `failed: ${nothing}`);
      return;
    }
    const ended = await updateRun(ctx, id, {
      status: 'succeeded',
      ended_at: Date.now(),
      snapshot: result.snapshot,
      files: result.files,
      files_changed: result.filesChanged,
      bytes: result.bytes,
      bytes_read: result.bytesRead,
      bytes_new: result.bytesNew,
      warnings: JSON.stringify(result.warnings ?? []),
    }, 'running');
    // ended meanwhile (a server stop failed it): its snapshot row is already gone, keep it so
    if (!ended) return;
    await ctx.db.run('UPDATE snapshots SET files = ?, bytes = ? WHERE run_id = ?', [result.files, result.bytes, id]);
    await logRun(ctx, id, `succeeded: snapshot ${result.snapshot}, ${result.files} files, ${result.bytes} bytes, ${result.filesChanged} read, ${result.bytesNew} new bytes stored`);
  }

  async #restore(run: RunRow, storage: { name: string; url: string }, vault: string, keys: string): Promise<void> {
    const ctx = this.#ctx;
    const id = num(run.id);
    const { request } = JSON.parse(run.pretreatment ?? '{}') as RestoreRequestStored;
    const snapshot = await snapshotRow(ctx.db, request.snapshot);
    await logRun(ctx, id, `restore${request.dryRun ? ' (dry run)' : ''} of snapshot ${snapshot.id} on agent ${run.agent} to ${request.to}`);
    const params: RestoreParams = {
      run: id,
      snapshot: snapshot.id,
      storage,
      vault,
      grant: this.#grant(run, 'restore', vault),
      keys,
      to: request.to,
      include: request.include,
      conflict: request.conflict,
      dryRun: request.dryRun,
    };
    const result = (await ctx.hub.call({ kind: 'agent', name: run.agent! }, 'restore', params)) as RestoreResult;
    if (this.#canceled.has(id)) throw new CairnError('E_CONFLICT', 'canceled');
    // a pretreatment that found problems stopped the restore (or the dry run) before any write
    const failed = result.damaged.length > 0 || !result.pretreatment.ok;
    const error = result.damaged.length > 0 ? `${result.damaged.length} damaged file(s) not restored` : failed ? `pretreatment found problems: ${result.pretreatment.problems.join('; ')}` : null;
    const ended = await updateRun(ctx, id, {
      status: failed ? 'failed' : 'succeeded',
      ended_at: Date.now(),
      snapshot: snapshot.id,
      files: result.files,
      bytes: result.bytes,
      warnings: JSON.stringify(result.warnings ?? []),
      damaged: JSON.stringify(result.damaged),
      pretreatment: JSON.stringify(result.pretreatment),
      error,
    }, 'running');
    if (ended) await logRun(ctx, id, failed ? `failed: ${error}` : `succeeded: ${result.files} files, ${result.bytes} bytes restored`);
  }
}
