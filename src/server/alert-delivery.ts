// Delivering alerts: alert_queue holds each (hook, alert) until the receiver answers 2xx, so it
// survives a restart. Each hook has its own worker that sends its deliveries one at a time, in
// order (a slow or failing receiver holds up only its own hook): a try waits at most
// tryTimeoutMs() for the answer; a failed one is tried again after the back-off of
// alert-rules.ts, and given up (counted in the hook's `dropped`) once the next try would fall
// past 24 h after the event. A hook keeps at most MAX_PENDING waiting: a new one pushes out the
// oldest (counted as dropped too). Every try's outcome is the hook's `last_*` columns.
import { alertSignature, type AlertEvent } from '../protocol/alerts.ts';
import { MAX_PENDING, nextTryAt, tryTimeoutMs } from './alert-rules.ts';
import { num, type ServerContext } from './context.ts';

type QueueRow = { id: number; hook_id: number; event: AlertEvent; body: string; attempts: number; created_at: number; next_at: number };

type Worker = { running: boolean; woken: boolean; wake: () => void };

/** Why a try got no HTTP answer, in a word a console can show. */
function failureOf(e: unknown): string {
  const err = e as { name?: string; cause?: { code?: string }; code?: string };
  if (err?.name === 'TimeoutError') return 'timeout';
  return err?.cause?.code ?? err?.code ?? 'no answer';
}

export class AlertDelivery {
  readonly #ctx: ServerContext;
  readonly #workers = new Map<number, Worker>();
  readonly #abort = new AbortController();
  readonly #loops = new Set<Promise<void>>();

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Starts a worker for every hook with deliveries left by a previous process. */
  async start(): Promise<void> {
    const rows = await this.#ctx.db.query<{ hook_id: number }>('SELECT DISTINCT hook_id FROM alert_queue');
    for (const r of rows) this.kick(num(r.hook_id));
  }

  /** Queues one delivery of `body` to a hook and wakes its worker. */
  async enqueue(hookId: number, event: AlertEvent, body: string): Promise<void> {
    const t = Date.now();
    await this.#ctx.db.transaction(async (tx) => {
      const [count] = await tx.query<{ n: number }>('SELECT COUNT(*) AS n FROM alert_queue WHERE hook_id = ?', [hookId]);
      const over = num(count?.n ?? 0) - MAX_PENDING + 1;
      if (over > 0) {
        const oldest = await tx.query<{ id: number }>('SELECT id FROM alert_queue WHERE hook_id = ? ORDER BY id LIMIT ?', [hookId, over]);
        for (const o of oldest) await tx.run('DELETE FROM alert_queue WHERE id = ?', [o.id]);
        await tx.run('UPDATE alert_hooks SET dropped = dropped + ? WHERE id = ?', [oldest.length, hookId]);
      }
      await tx.run('INSERT INTO alert_queue (hook_id, event, body, attempts, created_at, next_at) VALUES (?, ?, ?, 0, ?, ?)', [hookId, event, body, t, t]);
    });
    this.kick(hookId);
  }

  /** Wakes a hook's worker (starting it when idle). */
  kick(hookId: number): void {
    let w = this.#workers.get(hookId);
    if (!w) {
      w = { running: false, woken: false, wake: () => {} };
      this.#workers.set(hookId, w);
    }
    w.woken = true;
    w.wake();
    if (w.running || this.#abort.signal.aborted) return;
    w.running = true;
    const loop = this.#work(hookId, w)
      .catch((e: unknown) => this.#ctx.log(`alerts: hook ${hookId}: ${(e as Error).message}`))
      .finally(() => {
        w.running = false;
        this.#loops.delete(loop);
      });
    this.#loops.add(loop);
  }

  /** Stops the workers (a try in flight is abandoned and stays queued for the next process). */
  async close(): Promise<void> {
    this.#abort.abort();
    for (const w of this.#workers.values()) w.wake();
    await Promise.all([...this.#loops]);
  }

  async #work(hookId: number, w: Worker): Promise<void> {
    while (!this.#abort.signal.aborted) {
      w.woken = false;
      const [head] = await this.#ctx.db.query<QueueRow>('SELECT * FROM alert_queue WHERE hook_id = ? ORDER BY id LIMIT 1', [hookId]);
      if (!head) {
        if (w.woken) continue; // queued while we looked
        return;
      }
      const wait = num(head.next_at) - Date.now();
      if (wait > 0) await this.#sleep(w, wait);
      else await this.#try(hookId, head);
    }
  }

  #sleep(w: Worker, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        w.wake = () => {};
        resolve();
      }
      w.wake = done;
    });
  }

  async #try(hookId: number, row: QueueRow): Promise<void> {
    const [hook] = await this.#ctx.db.query<{ url: string; secret: string; removed_at: number | null }>('SELECT url, secret, removed_at FROM alert_hooks WHERE id = ?', [hookId]);
    if (!hook || hook.removed_at !== null) {
      await this.#ctx.db.run('DELETE FROM alert_queue WHERE hook_id = ?', [hookId]);
      return;
    }
    let status: string;
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-cairn-signature': alertSignature(hook.secret, row.body), 'user-agent': 'cairn-alerts' },
        body: row.body,
        redirect: 'manual', // a redirect is not an answer: the hook's URL is the one to fix
        signal: AbortSignal.any([AbortSignal.timeout(tryTimeoutMs()), this.#abort.signal]),
      });
      status = String(res.status);
      await res.body?.cancel();
    } catch (e) {
      if (this.#abort.signal.aborted) return; // shutting down: tried again by the next process
      status = failureOf(e);
    }
    await this.#record(hookId, row, status);
  }

  async #record(hookId: number, row: QueueRow, status: string): Promise<void> {
    const t = Date.now();
    const attempts = num(row.attempts) + 1;
    const delivered = /^2\d\d$/.test(status);
    const next = delivered ? null : nextTryAt(num(row.created_at), attempts, t);
    await this.#ctx.db.transaction(async (tx) => {
      const still = await tx.query('SELECT id FROM alert_queue WHERE id = ?', [row.id]);
      if (!still.length) return; // pushed out of a full queue, or its hook removed, meanwhile
      if (next === null) await tx.run('DELETE FROM alert_queue WHERE id = ?', [row.id]);
      else await tx.run('UPDATE alert_queue SET attempts = ?, next_at = ? WHERE id = ?', [attempts, next, row.id]);
      const dropped = !delivered && next === null ? 1 : 0;
      await tx.run('UPDATE alert_hooks SET last_time = ?, last_event = ?, last_status = ?, last_attempts = ?, dropped = dropped + ? WHERE id = ?', [t, row.event, status, attempts, dropped, hookId]);
    });
    if (!delivered) this.#ctx.log(`alerts: ${row.event} to hook ${hookId}: try ${attempts} got ${status}${next === null ? '; given up' : `; next try at ${new Date(next).toISOString()}`}`);
  }
}
