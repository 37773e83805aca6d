// Schedules that fire: each scheduler pass finds, per job, the slots that fell since the last
// instant evaluated (kept in jobs.schedule_checked_at, so slots missed while the server was down
// are found at start-up and run once, at the highest level missed). A slot that fires while the
// job already has a waiting backup merges into it (raising its level if higher) rather than
// queue a second one.
import { now } from '../core/test-settings.ts';
import type { Level } from '../protocol/api-schema.ts';
import { auditScheduler } from './audit.ts';
import { SCHEDULE_MISSED, type ScheduleMissed } from './alerts.ts';
import { num, type ServerContext } from './context.ts';
import { logRun, queueRun, updateRun } from './runs.ts';
import { type Due, dueSlots, higherLevel, type ScheduleEntry, slotName } from './schedules.ts';

type ScheduledJob = {
  id: number;
  name: string;
  schedule: string;
  schedule_checked_at: number | null;
  agent_id: number;
  storage_id: number;
  priority: number;
};

/** Where a schedule keeps the last instant evaluated (a job's or a storage server's mark). */
type Mark = { table: 'jobs' | 'storages'; column: 'schedule_checked_at' | 'gc_checked_at'; id: number; at: number | null };

/**
 * The slots of `entries` in (mark, t], moving the mark to `t`; null when none, or when another
 * pass (or an edit) moved the mark first: only the pass that moves it fires. A mark never set
 * (a row from before schedules fired) starts now.
 */
async function takeDue(ctx: ServerContext, mark: Mark, entries: ScheduleEntry[], t: number): Promise<Due | null> {
  if (mark.at === null) {
    await ctx.db.run(`UPDATE ${mark.table} SET ${mark.column} = ? WHERE id = ? AND ${mark.column} IS NULL`, [t, mark.id]);
    return null;
  }
  const from = num(mark.at);
  const due = dueSlots(entries, from, t);
  if (due === null) return null;
  const { changes } = await ctx.db.run(`UPDATE ${mark.table} SET ${mark.column} = ? WHERE id = ? AND ${mark.column} = ?`, [t, mark.id, from]);
  return changes === 0 ? null : due;
}

/** Fires the due slots of every unpaused job; `startup` says the window began before this process. */
export async function fireSchedules(ctx: ServerContext, startup: boolean): Promise<void> {
  const t = now();
  const jobs = await ctx.db.query<ScheduledJob>(
    `SELECT j.id, j.name, j.schedule, j.schedule_checked_at, j.agent_id, j.storage_id, j.priority FROM jobs j
       JOIN agents a ON a.id = j.agent_id AND a.removed_at IS NULL JOIN storages s ON s.id = j.storage_id AND s.removed_at IS NULL
     WHERE j.removed_at IS NULL AND j.paused = 0 AND j.schedule <> '[]'`,
  );
  for (const job of jobs) {
    const due = await takeDue(ctx, { table: 'jobs', column: 'schedule_checked_at', id: num(job.id), at: job.schedule_checked_at }, JSON.parse(job.schedule) as ScheduleEntry[], t);
    if (due === null) continue;
    const missed = startup ? `missed ${due.count} slot(s) while the server was down; running ${due.level} once` : undefined;
    if (missed) {
      ctx.log(`job ${job.name}: ${missed}`);
      ctx.events.signal(SCHEDULE_MISSED, { job: job.name, slots: due.count, level: due.level } satisfies ScheduleMissed);
    }
    await fire(ctx, job, due.level, due.last, missed);
  }
}

async function fire(ctx: ServerContext, job: ScheduledJob, level: Level, slot: number, missed: string | undefined): Promise<void> {
  await auditScheduler(ctx.db, 'schedule.backup', `job=${JSON.stringify(job.name)} level=${level} slot=${slotName(slot)}`, `scheduled backup of job ${job.name}`);
  const waiting = await ctx.db.query<{ id: number; requested_level: Level | null }>(
    "SELECT id, requested_level FROM runs WHERE job_id = ? AND kind = 'backup' AND status = 'queued' ORDER BY id LIMIT 1",
    [job.id],
  );
  const w = waiting[0];
  if (w) {
    const id = num(w.id);
    const raised = higherLevel(w.requested_level ?? 'incremental', level);
    if (raised !== w.requested_level) await updateRun(ctx, id, { requested_level: raised }, 'queued');
    if (missed) await logRun(ctx, id, missed);
    await logRun(ctx, id, `slot ${slotName(slot)} merged into run ${id}${raised !== w.requested_level ? ` (level raised to ${raised})` : ''}`);
    return;
  }
  const run = await queueRun(ctx, {
    jobId: num(job.id),
    kind: 'backup',
    requestedLevel: level,
    agentId: num(job.agent_id),
    storageId: num(job.storage_id),
    priority: num(job.priority),
    note: `queued backup (${level}) by the schedule, slot ${slotName(slot)}`,
  });
  if (missed) await logRun(ctx, run.id, missed);
}

/** Storage servers' gc schedules: a due slot queues a gc unless one is already waiting or running there. */
export async function fireGcSchedules(ctx: ServerContext): Promise<void> {
  const t = now();
  const storages = await ctx.db.query<{ id: number; name: string; gc_schedule: string; gc_checked_at: number | null }>(
    'SELECT id, name, gc_schedule, gc_checked_at FROM storages WHERE removed_at IS NULL AND gc_schedule IS NOT NULL',
  );
  for (const st of storages) {
    const due = await takeDue(ctx, { table: 'storages', column: 'gc_checked_at', id: num(st.id), at: st.gc_checked_at }, [{ cron: st.gc_schedule, level: 'full' }], t);
    if (due === null) continue;
    const busy = await ctx.db.query("SELECT id FROM runs WHERE kind = 'gc' AND storage_id = ? AND status IN ('queued', 'running')", [st.id]);
    if (busy.length) continue;
    await auditScheduler(ctx.db, 'schedule.gc', `storage=${JSON.stringify(st.name)} slot=${slotName(due.last)}`, `scheduled gc on storage ${st.name}`);
    await queueRun(ctx, { jobId: null, kind: 'gc', requestedLevel: null, agentId: null, storageId: num(st.id), note: `queued gc by the schedule of storage ${st.name}, slot ${slotName(due.last)}` });
  }
}
