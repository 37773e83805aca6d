// The scheduler: fires job schedules (schedule-firing.ts), starts queued runs in queue order as
// soon as their parts are online and the limits allow (queue.ts says why each other run waits),
// hands each started run to its agent (run-start.ts: a signed grant, the agent's wrapped vault
// keys, the kind's parameters) or a gc to its storage server (run-gc.ts),
// and records the outcome the agent reports in a `runEnded` message of its own. A run is not
// bound to one call: when its agent's link drops, or this server restarts, the run stays
// `running` for up to REATTACH_GRACE for the agent to come back naming it in its hello.
// Failures that say a part was unavailable are retried (run-retries.ts); --max-runtime ends a
// run that outlasts it.
import { durationText } from '../core/durations.ts';
import { CairnError } from '../core/errors.ts';
import { testDuration } from '../core/test-settings.ts';
import type { BackupResult, ErrorInfo, RestoreResult, RunEndedParams, VerifyResult } from '../protocol/control.ts';
import { endGcRunsOfLastProcess, runGc } from './run-gc.ts';
import { refreshAfterRun } from './storage-figures.ts';
import type { RunJson } from '../protocol/api-types.ts';
import type { GrantOp } from '../protocol/grant.ts';
import { signAgentGrant } from './agent-grant.ts';
import { num, type ServerContext } from './context.ts';
import { decide } from './queue.ts';
import { loadQueue } from './queue-load.ts';
import { recordBackup } from './run-backup.ts';
import { type RestoreRequestStored, recordRestore } from './run-restore.ts';
import { retryIfAllowed } from './run-retries.ts';
import { clearProgress, endRunLog, liveProgress, logRun, type PartLog, queueRun, type RunRow, runRow, updateRun } from './runs.ts';
import { recordVerify } from './run-verify.ts';
import { grantOp, runVault, startParams } from './run-start.ts';
import { fireGcSchedules, fireSchedules } from './schedule-firing.ts';
import { resumeForgetting } from './forget.ts';
import { dropRunSnapshot } from './snapshots.ts';

export const GRANT_TTL_MS = 3600_000;
export type { RestoreRequestStored };

/** How long a running run waits for its agent to come back (tests shorten it). */
function reattachGraceMs(): number {
  return testDuration('REATTACH_GRACE', 120_000);
}

/** A running run as the scheduler follows it. */
type Active = {
  agent: string;
  kind: RunRow['kind'];
  startedAt: number;
  /** the control link the start went out on (a hello of a later link must name the run) */
  link: number;
  maxRuntimeS: number | null;
  /** set while the agent is away: the run fails when this passes */
  deadline?: number;
  /** a gc: the storage server collecting (it reports the run's phase and log lines) */
  storage?: string;
  /** the agent certificate the run's first grant named: its renewed grants name it too (agent-grant.ts) */
  cert?: string;
};

export class Scheduler {
  readonly #ctx: ServerContext;
  readonly #partLog: PartLog;
  #pass: Promise<void> = Promise.resolve();
  #again = false;
  readonly #active = new Map<number, Active>();
  readonly #canceled = new Set<number>();
  /** gc runs' confirmation codes until they start (never written to the catalog) */
  readonly #gcCodes = new Map<number, string>();
  #closed = false;
  #startup = true;
  #started = false;
  #forgetTriedAt = 0;
  #forgetting = false;
  #storageCameOnline = false;
  #tick: NodeJS.Timeout | undefined;

  constructor(ctx: ServerContext, partLog: PartLog) {
    this.#ctx = ctx;
    this.#partLog = partLog;
  }

  /**
   * Takes over the runs a previous process left running: each waits for its agent to come back
   * naming it (its clock starts now). Before the server listens, so no hello comes first.
   */
  async load(): Promise<void> {
    await endGcRunsOfLastProcess(this.#ctx);
    const rows = await this.#ctx.db.query<RunRow>(
      "SELECT r.*, a.name AS agent FROM runs r LEFT JOIN agents a ON a.id = r.agent_id WHERE r.status = 'running'",
    );
    const deadline = Date.now() + reattachGraceMs();
    for (const r of rows) {
      this.#active.set(num(r.id), { agent: r.agent!, kind: r.kind, startedAt: num(r.started_at ?? Date.now()), link: 0, maxRuntimeS: r.max_runtime_s === null ? null : num(r.max_runtime_s), deadline });
      await logRun(this.#ctx, num(r.id), 'the backup server restarted; waiting for the agent to re-attach the run', 'warn');
    }
    if (rows.length) this.#ctx.log(`${rows.length} run(s) left running by the previous process wait for their agents to re-attach`);
  }

  /** Scheduling begins (once the server listens): a pass now and every tick. */
  start(): void {
    this.#started = true;
    this.#tick = setInterval(() => this.kick(), testDuration('SCHEDULER_TICK', 5000));
    this.#tick.unref();
    this.kick();
  }

  /** Runs a scheduling pass soon (passes never overlap; a kick during one schedules another). */
  kick(): void {
    if (!this.#started || this.#closed || this.#again) return;
    this.#again = true;
    this.#pass = this.#pass.then(async () => {
      this.#again = false;
      try {
        await this.#expire();
        await this.#resumeForgetting();
        await fireSchedules(this.#ctx, this.#startup);
        await fireGcSchedules(this.#ctx);
        this.#startup = false;
        await this.#schedule();
      } catch (e) {
        this.#ctx.log(`scheduler: ${(e as Error).stack ?? String(e)}`);
      }
    });
  }

  /** True when run `id` is running on agent `agent` (only that agent may report on it). */
  isRunningOn(id: number, agent: string): boolean {
    return this.#active.get(id)?.agent === agent;
  }

  /** True when run `id` is a gc running on storage server `storage` (only that one may report on it). */
  isGcOn(id: number, storage: string): boolean {
    const a = this.#active.get(id);
    return a?.kind === 'gc' && a.storage === storage;
  }

  /** Stops scheduling. Running runs stay running: their agents re-attach them to the next process. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    await this.#pass;
    await this.#partLog.flush();
  }

  /**
   * An agent said hello on link `link`: the runs it names are attached again; the ones handed to
   * it on an earlier link that it does not name are lost (it restarted, or never got the start).
   */
  async agentOnline(agent: string, runs: number[], link: number): Promise<void> {
    const named = new Set(runs);
    for (const [id, a] of [...this.#active]) {
      if (a.agent !== agent) continue;
      if (named.has(id)) {
        if (a.deadline !== undefined) {
          delete a.deadline;
          await logRun(this.#ctx, id, `agent ${agent} re-attached the run`);
        }
      } else if (a.link < link) {
        await this.#fail(id, 'the agent lost the run', { retriable: true });
      }
    }
    // runs it still executes that this server ended meanwhile (canceled, timed out): stop them
    for (const id of named) {
      if (this.#active.has(id)) continue;
      void this.#ctx.hub.call({ kind: 'agent', name: agent }, 'cancel', { run: id }, 30_000).catch(() => undefined);
    }
    this.kick();
  }

  /** An agent's link dropped: its runs wait for it to come back. */
  async agentOffline(agent: string): Promise<void> {
    const deadline = Date.now() + reattachGraceMs();
    for (const [id, a] of [...this.#active]) {
      // a new link already said hello (its hook ran first): that hello judged these runs
      if (this.#ctx.hub.isOnline({ kind: 'agent', name: agent })) return;
      if (a.agent !== agent || a.deadline !== undefined) continue;
      a.deadline = deadline;
      await logRun(this.#ctx, id, `agent ${agent} disconnected; waiting up to ${durationText(Math.round(reattachGraceMs() / 1000))} for it to re-attach the run`, 'warn');
    }
  }

  /** agent → server `runEnded`: records the outcome once; a repeat, or a run no longer its, is answered all the same. */
  async runEnded(agent: string, params: unknown): Promise<Record<string, never>> {
    const p = params as RunEndedParams;
    if (typeof p !== 'object' || p === null || !Number.isSafeInteger(p.run) || (p.result === undefined) === (p.error === undefined))
      throw new CairnError('E_BAD_REQUEST', 'runEnded: run and exactly one of result and error are required');
    const err = p.error as Partial<ErrorInfo> | null | undefined;
    if (err !== undefined && (typeof err !== 'object' || err === null || typeof err.code !== 'string' || typeof err.message !== 'string'))
      throw new CairnError('E_BAD_REQUEST', 'runEnded: error must be {code, message}');
    const a = this.#active.get(p.run);
    if (a?.agent !== agent) return {};
    if (p.error !== undefined) {
      const e = p.error as ErrorInfo;
      const canceled = this.#canceled.has(p.run) || (e.code === 'E_CONFLICT' && e.message === 'canceled');
      await this.#fail(p.run, String(e.message).slice(0, 2000), { canceled, retriable: e.code === 'E_UNAVAILABLE' });
      return {};
    }
    const row = await runRow(this.#ctx.db, p.run);
    // the agent's lines came before its end: written before the server's own end lines, so the log reads in order
    await this.#partLog.flush();
    try {
      if (this.#canceled.has(p.run)) await this.#fail(p.run, 'canceled', { canceled: true });
      else if (row.kind === 'backup') await recordBackup(this.#ctx, row, p.result as BackupResult);
      else if (row.kind === 'restore') await recordRestore(this.#ctx, row, p.result as RestoreResult);
      else if (row.kind === 'verify') await recordVerify(this.#ctx, row, p.result as VerifyResult);
    } catch (e) {
      await this.#fail(p.run, `the agent's result could not be recorded: ${(e as Error).message}`, {});
    }
    this.#ended(p.run);
    await endRunLog(this.#ctx, p.run);
    return {};
  }

  /** Cancels a queued run at once; asks the agent to stop a running one (at once when the agent is away). */
  async cancel(id: number): Promise<void> {
    const row = await runRow(this.#ctx.db, id);
    if (row.status === 'queued') {
      if (await updateRun(this.#ctx, id, { status: 'canceled', ended_at: Date.now(), reason: null, error: 'canceled before it started' }, 'queued')) {
        this.#gcCodes.delete(id);
        await logRun(this.#ctx, id, 'canceled while queued');
        await endRunLog(this.#ctx, id);
        return;
      }
      return this.cancel(id); // it started meanwhile: cancel it running
    }
    if (row.status !== 'running') throw new CairnError('E_CONFLICT', `run ${id} has already ended (${row.status})`);
    // the storage server's gc cannot be stopped halfway (it is crash-safe, not abortable): it ends by itself
    if (row.kind === 'gc') throw new CairnError('E_CONFLICT', `run ${id} is a gc in progress: it cannot be canceled, it ends by itself`);
    this.#canceled.add(id);
    await logRun(this.#ctx, id, 'cancel requested');
    const agent = { kind: 'agent' as const, name: row.agent! };
    const a = this.#active.get(id);
    if (!this.#ctx.hub.isOnline(agent) || a?.deadline !== undefined) {
      await this.#fail(id, 'canceled', { canceled: true });
      return;
    }
    await this.#ctx.hub.call(agent, 'cancel', { run: id }, 30_000).catch(() => undefined);
  }

  /**
   * Ends a running run as failed (or canceled), keeping its counters. A retry, when it may have
   * one, is queued first (it waits its back-off), so whoever sees the failure sees its retry too;
   * it is taken back when the run had already ended another way.
   */
  async #fail(id: number, message: string, how: { canceled?: boolean; retriable?: boolean }): Promise<void> {
    const ctx = this.#ctx;
    const p = liveProgress(id);
    const retry = how.retriable && !how.canceled ? await retryIfAllowed(ctx, await runRow(ctx.db, id)) : null;
    const ended = await updateRun(ctx, id, {
      status: how.canceled ? 'canceled' : 'failed',
      ended_at: Date.now(),
      error: how.canceled ? 'canceled' : message,
      snapshot: null,
      files_changed: p?.filesChanged ?? 0,
      bytes_read: p?.bytesRead ?? 0,
      bytes_new: p?.bytesNew ?? 0,
    }, 'running');
    this.#ended(id);
    // only the change that ended the run takes its snapshot back out (a recorded success keeps it)
    if (!ended) {
      // it never started and no run points to it: it goes (with its log lines)
      if (retry !== null) await ctx.db.run("DELETE FROM runs WHERE id = ? AND status = 'queued'", [retry]);
      return;
    }
    await dropRunSnapshot(ctx.db, id);
    await logRun(ctx, id, how.canceled ? 'canceled' : `failed: ${message}`, how.canceled ? 'info' : 'error');
    await endRunLog(ctx, id);
  }

  #ended(id: number): void {
    this.#active.delete(id);
    this.#canceled.delete(id);
    clearProgress(id);
    void this.#partLog.flush(id);
    void refreshAfterRun(this.#ctx, id).catch(() => undefined); // its storage server's figures moved
    this.kick();
  }

  /** Snapshots left `forgetting` (a crash, an offline storage server) are finished, at most every 30 s. */
  async #resumeForgetting(): Promise<void> {
    if (this.#forgetting || (Date.now() - this.#forgetTriedAt < 30_000 && !this.#storageCameOnline)) return;
    this.#forgetTriedAt = Date.now();
    this.#storageCameOnline = false;
    // beside the pass, not in it: a storage server slow to answer must not hold the queue up
    this.#forgetting = true;
    void resumeForgetting(this.#ctx)
      .catch((e: unknown) => this.#ctx.log(`forgetting: ${(e as Error).message}`))
      .finally(() => {
        this.#forgetting = false;
      });
  }

  /** A storage server came online: what waits for it is tried at the next pass. */
  storageOnline(): void {
    this.#storageCameOnline = true;
    this.kick();
  }

  /** Runs whose agent stayed away past the grace, and runs past their --max-runtime, end now. */
  async #expire(): Promise<void> {
    const t = Date.now();
    for (const [id, a] of [...this.#active]) {
      if (a.deadline !== undefined && a.deadline <= t) {
        await this.#fail(id, `the agent did not come back within ${durationText(Math.round(reattachGraceMs() / 1000))}`, { retriable: true });
      } else if (a.maxRuntimeS !== null && t - a.startedAt >= a.maxRuntimeS * 1000) {
        await this.#fail(id, `ran longer than --max-runtime ${durationText(a.maxRuntimeS)}`, {});
        void this.#ctx.hub.call({ kind: 'agent', name: a.agent }, 'cancel', { run: id }, 30_000).catch(() => undefined);
      }
    }
  }

  async #schedule(): Promise<void> {
    const ctx = this.#ctx;
    const { queued, view, busy } = await loadQueue(ctx);
    if (queued.length === 0) return;
    const byId = new Map(queued.map((r) => [num(r.id), r]));
    for (const d of decide(view, busy, this.#ctx.limits, Date.now())) {
      const run = byId.get(d.id)!;
      if (!d.start) {
        if (d.reason !== run.reason) await updateRun(ctx, d.id, { reason: d.reason }, 'queued');
        continue;
      }
      // the job's time limit as it is now: a later edit does not touch a started run
      const maxRuntime = run.kind === 'backup' && run.job_max_runtime_s !== null ? num(run.job_max_runtime_s) : null;
      // only if still queued: a cancel may have come in since the SELECT
      const startedAt = Date.now();
      if (!(await updateRun(ctx, d.id, { status: 'running', reason: null, started_at: startedAt, max_runtime_s: maxRuntime }, 'queued'))) continue;
      // a hello that arrives from now on can name the run; a gc has no agent (no hello names it):
      // it lives as long as its call to the storage server
      this.#active.set(d.id, { agent: run.agent ?? '', kind: run.kind, startedAt, link: Number.POSITIVE_INFINITY, maxRuntimeS: maxRuntime, ...(run.kind === 'gc' ? { storage: run.storage! } : {}) });
      void (run.kind === 'gc' ? this.#collect({ ...run, started_at: startedAt }) : this.#dispatch({ ...run, started_at: startedAt, max_runtime_s: maxRuntime }));
    }
  }

  async #grant(run: RunRow, op: GrantOp, vault: string): Promise<string> {
    const active = this.#active.get(num(run.id));
    const { token, cert } = await signAgentGrant(this.#ctx, { agent: run.agent!, storage: run.storage!, vault, op, run: String(run.id), exp: Date.now() + GRANT_TTL_MS }, active?.cert);
    if (active) active.cert = cert;
    return token;
  }

  /** A fresh grant for a running run of `agent` (the agent renews when half of one is gone). */
  async renewGrant(agent: string, runId: number): Promise<{ grant: string }> {
    const row = await runRow(this.#ctx.db, runId);
    if (row.agent !== agent || row.status !== 'running') throw new CairnError('E_FORBIDDEN', `run ${runId} is not running on agent ${agent}`);
    const vault = await runVault(this.#ctx.db, row);
    return { grant: await this.#grant(row, grantOp(row.kind), vault.name) };
  }

  /** A gc run: the storage server collects every vault's garbage without keys; the run keeps its figures. */
  async #collect(run: RunRow): Promise<void> {
    const ctx = this.#ctx;
    const id = num(run.id);
    const confirm = this.#gcCodes.get(id);
    this.#gcCodes.delete(id);
    try {
      await runGc(ctx, run, confirm, this.#partLog);
    } catch (e) {
      await this.#fail(id, e instanceof CairnError ? e.message : `internal error: ${(e as Error).message}`, { canceled: this.#canceled.has(id) });
    } finally {
      this.#ended(id);
      await endRunLog(ctx, id);
    }
  }

  /** Queues a gc of a storage server (a confirmation code, when given, is kept in memory only). */
  async queueGc(storageId: number, confirm: string | undefined): Promise<RunJson> {
    const run = await queueRun(this.#ctx, { jobId: null, kind: 'gc', requestedLevel: null, agentId: null, storageId, ...(confirm !== undefined ? { pretreatment: { confirmed: true } } : {}) });
    if (confirm !== undefined) this.#gcCodes.set(run.id, confirm);
    return run;
  }

  /** Hands a started run to its agent; the agent answers at once and reports the end with runEnded. */
  async #dispatch(run: RunRow): Promise<void> {
    const ctx = this.#ctx;
    const id = num(run.id);
    try {
      const params = await startParams(ctx, run, (vault) => this.#grant(run, grantOp(run.kind), vault));
      const active = this.#active.get(id);
      if (!active) return; // ended meanwhile (a cancel of a run whose agent went away)
      if (this.#canceled.has(id)) {
        await this.#fail(id, 'canceled', { canceled: true });
        return;
      }
      active.link = ctx.hub.linkSeq({ kind: 'agent', name: run.agent! });
      try {
        await ctx.hub.call({ kind: 'agent', name: run.agent! }, run.kind, params, 60_000);
      } catch (e) {
        // the link dropped or the answer was lost: the agent may have the run; its next hello says
        const a = this.#active.get(id);
        if (e instanceof CairnError && e.code === 'E_UNAVAILABLE' && a) {
          a.deadline ??= Date.now() + reattachGraceMs();
          await logRun(ctx, id, `agent ${run.agent} did not confirm the start (${e.message}); waiting for it to re-attach the run`, 'warn');
          return;
        }
        throw e;
      }
    } catch (e) {
      const message = e instanceof CairnError ? e.message : `internal error: ${(e as Error).message}`;
      if (!(e instanceof CairnError)) ctx.log(`run ${id}: ${(e as Error).stack}`);
      await this.#fail(id, message, { canceled: this.#canceled.has(id), retriable: e instanceof CairnError && e.code === 'E_UNAVAILABLE' }).catch((err: unknown) =>
        ctx.log(`run ${id}: recording its failure: ${(err as Error).message}`),
      );
    }
  }
}
