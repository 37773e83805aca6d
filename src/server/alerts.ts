// The AlertCenter turns what happens on the server into webhook deliveries. It listens to the
// event hub in-process: `run` events (a run that ends: run.failed, run.succeeded, and
// verify.damaged for a verify that found damage), `part` events (part.offline on the transition,
// at most once per 5 min per part; part.online only for a part the receivers were told is
// offline) and the `schedule-missed` signal of schedule-firing.ts; the periodic checks of
// alert-checks.ts run on a timer. Which parts receivers were told are offline is kept in
// alert_marks (`part.down:KIND:NAME`), so a server restart neither forgets an outage nor
// announces every part that reconnects to it. Handling is one queue, in order; delivery is
// alert-delivery.ts's.
import type { AlertBody, AlertEvent } from '../protocol/alerts.ts';
import type { RunJson } from '../protocol/api-types.ts';
import { ALERTS_CALLER, checkCerts, checkJobs, checkSpace, clearMark, loadMarks, raisePart, setMark } from './alert-checks.ts';
import { AlertDelivery } from './alert-delivery.ts';
import { hooksFor } from './alert-hooks.ts';
import { checkPeriodMs, OFFLINE_THROTTLE_MS, startGraceMs } from './alert-rules.ts';
import { type PartKindName, partTable, type ServerContext } from './context.ts';
import { showJob } from './jobs.ts';

/** The signal schedule-firing.ts sends when slots were missed while the server was down. */
export const SCHEDULE_MISSED = 'schedule-missed';
export type ScheduleMissed = { job: string; slots: number; level: string };

type PartEvent = { kind: PartKindName; name: string; status: 'online' | 'offline' };

const ENDED = new Set(['succeeded', 'failed', 'canceled']);
/** Ended runs remembered so a later change of an ended run raises nothing twice. */
const REMEMBERED_RUNS = 10_000;

export class AlertCenter {
  readonly #ctx: ServerContext;
  readonly #delivery: AlertDelivery;
  /** parts the receivers were told are offline, as KIND:NAME */
  readonly #down = new Set<string>();
  readonly #endedRuns = new Set<number>();
  #work: Promise<void> = Promise.resolve();
  #stopListening: () => void = () => {};
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #startedAt = 0;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
    this.#delivery = new AlertDelivery(ctx);
  }

  /** Loads what receivers were told, resumes the deliveries a previous process left, and starts listening. */
  async start(): Promise<void> {
    this.#startedAt = Date.now();
    for (const key of (await loadMarks(this.#ctx.db, 'part.down:')).keys()) this.#down.add(key.slice('part.down:'.length));
    await this.#delivery.start();
    this.#stopListening = this.#ctx.events.onPublish((type, data) => this.#heard(type, data));
    this.#timer = setInterval(() => this.#queue(() => this.#check()), checkPeriodMs());
    this.#timer.unref();
  }

  /** Stops listening (a shutdown's offline parts are no outage) and waits for the work in hand. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopListening();
    clearInterval(this.#timer);
    await this.#work;
    await this.#delivery.close();
  }

  /** Queues `event` to every live hook that asked for it. */
  async raise(event: AlertEvent, subject: string, detail: unknown): Promise<void> {
    const hooks = await hooksFor(this.#ctx.db, event);
    if (hooks.length === 0) return;
    const body: AlertBody = { event, time: new Date().toISOString(), subject, detail };
    const text = JSON.stringify(body);
    for (const id of hooks) await this.#delivery.enqueue(id, event, text);
  }

  /** A removed hook's queue went with it: its worker wakes, finds nothing, and ends. */
  hookRemoved(id: number): void {
    this.#delivery.kick(id);
  }

  #queue(task: () => Promise<void>): void {
    if (this.#closed) return;
    this.#work = this.#work.then(task).catch((e: unknown) => this.#ctx.log(`alerts: ${(e as Error).message}`));
  }

  /** Decides at once what is worth a look (heartbeats and progress are not), so the hub stays fast. */
  #heard(type: string, data: unknown): void {
    if (type === 'run') {
      const run = data as RunJson;
      if (!ENDED.has(run.status) || this.#endedRuns.has(run.id)) return;
      this.#endedRuns.add(run.id);
      if (this.#endedRuns.size > REMEMBERED_RUNS) this.#endedRuns.delete(this.#endedRuns.values().next().value!);
      this.#queue(() => this.#runEnded(run));
    } else if (type === 'part') {
      const p = data as PartEvent;
      if (p.status === 'offline') this.#queue(() => this.#partOffline(p.kind, p.name));
      else if (this.#down.has(`${p.kind}:${p.name}`)) this.#queue(() => this.#partOnline(p.kind, p.name));
    } else if (type === SCHEDULE_MISSED) {
      const m = data as ScheduleMissed;
      this.#queue(async () => {
        const job = await showJob(this.#ctx.db, ALERTS_CALLER, m.job);
        await this.raise('schedule.missed', `job ${m.job}`, { ...job, missedSlots: m.slots, level: m.level });
      });
    }
  }

  async #runEnded(run: RunJson): Promise<void> {
    const subject = `run ${run.id}`;
    if (run.status === 'failed') await this.raise('run.failed', subject, run);
    if (run.status === 'succeeded') await this.raise('run.succeeded', subject, run);
    if (run.kind === 'verify' && run.damagedTotal > 0) await this.raise('verify.damaged', subject, run);
  }

  /** The transition to offline, unless receivers already know or were told less than 5 min ago (the periodic check tells them later). */
  async #partOffline(kind: PartKindName, name: string): Promise<void> {
    const key = `${kind}:${name}`;
    if (this.#down.has(key) || this.#ctx.hub.isOnline({ kind, name })) return;
    const last = (await loadMarks(this.#ctx.db, `part.offline:${key}`)).get(`part.offline:${key}`);
    const t = Date.now();
    if (last !== undefined && t - last < OFFLINE_THROTTLE_MS) return;
    if (!(await raisePart(this.#ctx, (e, s, d) => this.raise(e, s, d), 'part.offline', kind, name))) return; // removed: no outage
    this.#down.add(key);
    await setMark(this.#ctx.db, `part.offline:${key}`, t);
    await setMark(this.#ctx.db, `part.down:${key}`, t);
  }

  async #partOnline(kind: PartKindName, name: string): Promise<void> {
    const key = `${kind}:${name}`;
    if (!this.#down.has(key) || !this.#ctx.hub.isOnline({ kind, name })) return;
    this.#down.delete(key);
    await clearMark(this.#ctx.db, `part.down:${key}`);
    await raisePart(this.#ctx, (e, s, d) => this.raise(e, s, d), 'part.online', kind, name);
  }

  async #check(): Promise<void> {
    const raise = (e: AlertEvent, s: string, d: unknown) => this.raise(e, s, d);
    await checkJobs(this.#ctx, raise);
    await checkCerts(this.#ctx, raise);
    await checkSpace(this.#ctx, raise);
    // parts offline that no transition announced: down while the server was, or throttled
    if (Date.now() - this.#startedAt < startGraceMs()) return;
    for (const kind of ['agent', 'storage'] as const) {
      const rows = await this.#ctx.db.query<{ name: string }>(`SELECT name FROM ${partTable(kind)} WHERE removed_at IS NULL`);
      for (const r of rows) if (!this.#ctx.hub.isOnline({ kind, name: r.name })) await this.#partOffline(kind, r.name);
    }
    // marks of removed parts go with them
    for (const key of [...this.#down]) {
      const [kind, name] = key.split(/:(.*)/s) as [PartKindName, string];
      const live = await this.#ctx.db.query(`SELECT id FROM ${partTable(kind)} WHERE name = ? AND removed_at IS NULL`, [name]);
      if (live.length === 0) {
        this.#down.delete(key);
        await clearMark(this.#ctx.db, `part.down:${key}`);
      }
    }
  }
}
