// The periodic alert checks (every checkPeriodMs()): scheduled jobs overdue, parts' certificates
// expiring, storage servers low on space. Each repeats daily while its condition lasts: a mark in
// alert_marks holds when it was last raised, and goes when the condition clears, so the next
// time it holds it is raised at once. Also the marks' small store, which alerts.ts shares.
import { now } from '../core/test-settings.ts';
import type { AlertEvent } from '../protocol/alerts.ts';
import { dueAgain, isCertExpiring, isLowSpace, overdueAfterMs } from './alert-rules.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { iso, num, type PartKindName, partTable, type ServerContext } from './context.ts';
import { showJob } from './jobs.ts';
import { listParts } from './parts.ts';
import type { ScheduleEntry } from './schedules.ts';

export type Raise = (event: AlertEvent, subject: string, detail: unknown) => Promise<void>;

/** The alerts read the catalog as an admin would: a detail shows everything about its subject. */
export const ALERTS_CALLER: Caller = { id: 0, name: 'alerts', role: 'admin' };

export async function loadMarks(db: CatalogDriver, prefix: string): Promise<Map<string, number>> {
  const rows = await db.query<{ key: string; time: number }>('SELECT key, time FROM alert_marks WHERE key LIKE ?', [`${prefix}%`]);
  return new Map(rows.map((r) => [r.key, num(r.time)]));
}

export async function setMark(db: CatalogDriver, key: string, time: number): Promise<void> {
  await db.run('INSERT INTO alert_marks (key, time) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET time = excluded.time', [key, time]);
}

export async function clearMark(db: CatalogDriver, key: string): Promise<void> {
  await db.run('DELETE FROM alert_marks WHERE key = ?', [key]);
}

/** Raises a repeating alert when its condition holds and a day has passed since the last; clears its mark when it does not hold. */
async function repeating(db: CatalogDriver, marks: Map<string, number>, key: string, holds: boolean, t: number, raise: () => Promise<unknown>): Promise<void> {
  const mark = marks.get(key);
  if (!holds) {
    if (mark !== undefined) await clearMark(db, key);
    return;
  }
  if (!dueAgain(mark, t)) return;
  await raise();
  await setMark(db, key, t);
}

/**
 * job.overdue: an unpaused job with schedules whose last successful backup (or, with none, its
 * creation) is older than twice its longest interval, at least 48 h. Times on the daemon's clock
 * (test-settings `now()`), as its schedules.
 */
export async function checkJobs(ctx: ServerContext, raise: Raise): Promise<void> {
  const t = now();
  const jobs = await ctx.db.query<{ id: number; name: string; schedule: string; created_at: number; last_ok: number | null }>(
    `SELECT j.id, j.name, j.schedule, j.created_at,
       (SELECT MAX(r.ended_at) FROM runs r WHERE r.job_id = j.id AND r.kind = 'backup' AND r.status = 'succeeded') AS last_ok
     FROM jobs j WHERE j.removed_at IS NULL AND j.paused = 0 AND j.schedule <> '[]'`,
  );
  const marks = await loadMarks(ctx.db, 'job.overdue:');
  for (const j of jobs) {
    const since = num(j.last_ok ?? j.created_at);
    const after = overdueAfterMs(JSON.parse(j.schedule) as ScheduleEntry[], since);
    await repeating(ctx.db, marks, `job.overdue:${num(j.id)}`, t - since > after, t, async () => {
      const job = await showJob(ctx.db, ALERTS_CALLER, j.name);
      await raise('job.overdue', `job ${j.name}`, { ...job, lastSuccessAt: iso(j.last_ok), overdueSince: iso(since + after) });
    });
  }
}

/** cert.expiring: a part's certificate with under a sixth of its life left (real time, as TLS checks it). */
export async function checkCerts(ctx: ServerContext, raise: Raise): Promise<void> {
  const t = Date.now();
  const marks = await loadMarks(ctx.db, 'cert.expiring:');
  for (const kind of ['agent', 'storage'] as const) {
    const rows = await ctx.db.query<{ name: string; cert_expires: number | null }>(`SELECT name, cert_expires FROM ${partTable(kind)} WHERE removed_at IS NULL`);
    for (const r of rows) {
      const holds = r.cert_expires !== null && isCertExpiring(num(r.cert_expires), t);
      await repeating(ctx.db, marks, `cert.expiring:${kind}:${r.name}`, holds, t, () => raisePart(ctx, raise, 'cert.expiring', kind, r.name));
    }
  }
}

/** storage.low-space: from the figures the storage servers report (storages.disk_free / disk_total), repeated daily on the server clock. */
export async function checkSpace(ctx: ServerContext, raise: Raise): Promise<void> {
  const t = now();
  const marks = await loadMarks(ctx.db, 'storage.low-space:');
  const rows = await ctx.db.query<{ name: string; disk_free: number | null; disk_total: number | null }>('SELECT name, disk_free, disk_total FROM storages WHERE removed_at IS NULL');
  for (const r of rows) {
    const free = r.disk_free === null ? null : num(r.disk_free);
    const total = r.disk_total === null ? null : num(r.disk_total);
    await repeating(ctx.db, marks, `storage.low-space:${r.name}`, isLowSpace(free, total), t, () =>
      raisePart(ctx, raise, 'storage.low-space', 'storage', r.name, { diskFreeBytes: free, diskTotalBytes: total }),
    );
  }
}

/** Raises `event` about a part with its `agent list`/`storage list` JSON as the detail (nothing when it was removed). */
export async function raisePart(ctx: ServerContext, raise: Raise, event: AlertEvent, kind: PartKindName, name: string, extra: object = {}): Promise<boolean> {
  const part = (await listParts(ctx, kind, ALERTS_CALLER)).find((p) => p.name === name);
  if (!part) return false;
  await raise(event, `${kind} ${name}`, { ...part, ...extra });
  return true;
}
