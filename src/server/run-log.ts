// A run's log as consoles follow it. Every line written to run_log goes through one queue per
// catalog, which numbers it within its run (1, 2, …: the order GET /api/runs/:id/log lists) and,
// once committed, pushes it as `event: log` {run, seq, time, level, part, message} with SSE id
// `seq`. A console following a run's log (GET /api/events?run=N[&after=S], or Last-Event-ID) is
// attached in that same queue right after the lines it missed were read, so it gets every line
// once and none slips in between. The log ends (`event: log-end` {run, seq}: seq is its last
// line) once the path that ended the run has written its last line (`end`), not when the status
// changes: "succeeded: …", retention and "N more lines not kept" come after the status.
// Memory: a line count and owner per run recently written (at most MAX_COUNTED), and the runs
// between their status change and their log's end; no line is kept.
import { CairnError } from '../core/errors.ts';
import { FINISHED, type RunStatus } from '../protocol/api-types.ts';
import type { LogEventData } from '../protocol/control.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { iso, num, type ServerContext } from './context.ts';
import type { StoredEvent } from './http/events.ts';

export type LogLevel = LogEventData['level'];
export type RunLogLine = { time: string; level: LogLevel; part: string; message: string };
/** A line as the event stream carries it. */
export type LogEvent = { run: number; seq: number } & RunLogLine;
export type NewLogLine = { run: number; time: number; level: LogLevel; part: string; message: string };

/** Runs whose line count is kept in memory; past it the oldest is forgotten (and read again if needed). */
const MAX_COUNTED = 10_000;
/** A run whose ending path never says its log is complete gets its end this long after its status changed. */
const END_GRACE_MS = 120_000;
/** More than any run's log (10,000 lines per run, a few of the server's): the replay's LIMIT. */
const MAX_REPLAY = 1_000_000;

type Count = { seq: number; owner: number | null };

class RunLogQueue {
  readonly #ctx: ServerContext;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #counts = new Map<number, Count>();
  readonly #ending = new Map<number, { holders: number; timer: NodeJS.Timeout }>();

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Runs `step` after every step queued before it (a failed step does not stop the queue). */
  #serial<T>(step: () => Promise<T>): Promise<T> {
    const done = this.#tail.then(step);
    this.#tail = done.catch(() => undefined);
    return done;
  }

  /** The run's line count and job owner, read from the catalog the first time (null: the run is gone). */
  async #count(run: number, keep: boolean): Promise<Count | null> {
    const known = this.#counts.get(run);
    if (known) return known;
    const rows = await this.#ctx.db.query<{ n: number; owner: number | null }>(
      'SELECT (SELECT COUNT(*) FROM run_log WHERE run_id = r.id) AS n, j.owner_id AS owner FROM runs r LEFT JOIN jobs j ON j.id = r.job_id WHERE r.id = ?',
      [run],
    );
    if (!rows[0]) return null;
    const count = { seq: num(rows[0].n), owner: rows[0].owner === null ? null : num(rows[0].owner) };
    if (!keep) return count;
    if (this.#counts.size >= MAX_COUNTED) this.#counts.delete(this.#counts.keys().next().value!);
    this.#counts.set(run, count);
    return count;
  }

  /** A new run: its log starts at line 1 (SQLite may give a deleted run's id again). */
  fresh(run: number): void {
    this.#counts.delete(run);
  }

  /** Writes the lines (several in one transaction) and pushes each once committed. */
  write(lines: readonly NewLogLine[]): Promise<void> {
    return this.#serial(async () => {
      if (lines.length === 0) return;
      const counts = new Map<number, Count | null>();
      for (const l of lines) if (!counts.has(l.run)) counts.set(l.run, await this.#count(l.run, true));
      const insert = (db: CatalogDriver, l: NewLogLine) =>
        db.run('INSERT INTO run_log (run_id, time, message, level, part) VALUES (?, ?, ?, ?, ?)', [l.run, l.time, l.message, l.level, l.part]);
      if (lines.length === 1) await insert(this.#ctx.db, lines[0]!);
      else
        await this.#ctx.db.transaction(async (tx) => {
          for (const l of lines) await insert(tx, l);
        });
      for (const l of lines) {
        const count = counts.get(l.run);
        if (!count) continue; // the insert would have failed: its run is gone
        count.seq++;
        const data: LogEvent = { run: l.run, seq: count.seq, time: iso(l.time)!, level: l.level, part: l.part, message: l.message };
        this.#ctx.events.publish('log', data, count.owner, String(count.seq));
      }
    });
  }

  /** The run's status is about to become an ended one: its log stays open until `end` (or the grace). */
  ending(run: number): void {
    const e = this.#ending.get(run);
    if (e) e.holders++;
    else this.#ending.set(run, { holders: 1, timer: setTimeout(() => void this.end(run), END_GRACE_MS).unref() });
  }

  /** The status change did not happen (another path had ended the run): that path ends the log. */
  notEnding(run: number): void {
    const e = this.#ending.get(run);
    if (!e || --e.holders > 0) return;
    clearTimeout(e.timer);
    this.#ending.delete(run);
  }

  /** The path that ended the run wrote its last line: followers get `log-end` after every line queued so far. */
  end(run: number): Promise<void> {
    const ended = this.#serial(async () => {
      const e = this.#ending.get(run);
      if (!e) return; // ended already (a second path that found the run ended), or never marked
      clearTimeout(e.timer);
      this.#ending.delete(run);
      const count = await this.#count(run, false);
      this.#counts.delete(run);
      if (count) this.#ctx.events.publish('log-end', { run, seq: count.seq }, count.owner);
    });
    // the run has ended whatever happens here: its ending path goes on (a follower reconnects and is told)
    return ended.catch((e: unknown) => this.#ctx.log(`run ${run} log end: ${(e as Error).message}`));
  }

  /**
   * A console follows run `run`'s log from line `after` on: in the queue, the lines after it are
   * read and `attach` gets them (then `log-end` when the log is complete) as its replay; every
   * line written later reaches it live.
   */
  follow(run: number, after: number, attach: (replay: StoredEvent[]) => void): Promise<void> {
    return this.#serial(async () => {
      const rows = await this.#ctx.db.query<{ time: number; message: string; level: LogLevel; part: string }>(
        'SELECT time, message, level, part FROM run_log WHERE run_id = ? ORDER BY id LIMIT ? OFFSET ?',
        [run, MAX_REPLAY, after],
      );
      const replay: StoredEvent[] = rows.map((r, i) => {
        const data: LogEvent = { run, seq: after + i + 1, time: iso(r.time)!, level: r.level, part: r.part, message: r.message };
        return { type: 'log', data, owner: null, id: String(data.seq) };
      });
      const status = await this.#ctx.db.query<{ status: RunStatus }>('SELECT status FROM runs WHERE id = ?', [run]);
      if (status[0] && FINISHED.includes(status[0].status) && !this.#ending.has(run)) {
        const count = await this.#count(run, false);
        replay.push({ type: 'log-end', data: { run, seq: count?.seq ?? after + rows.length }, owner: null });
      }
      attach(replay);
    });
  }
}

/** One queue per catalog (tests run several servers in one process). */
const queues = new WeakMap<CatalogDriver, RunLogQueue>();

export function runLogQueue(ctx: ServerContext): RunLogQueue {
  let q = queues.get(ctx.db);
  if (!q) queues.set(ctx.db, (q = new RunLogQueue(ctx)));
  return q;
}

/** The path that ended run `id` has written its last log line: its followers' streams get `log-end`. */
export function endRunLog(ctx: ServerContext, id: number): Promise<void> {
  return runLogQueue(ctx).end(id);
}

/**
 * Where a console following a run's log starts: after the line named by `Last-Event-ID` (a
 * browser reconnecting), else `after` (the lines it has), else from the first. 400 unless a whole number.
 */
export function followFrom(lastEventId: string | undefined, after: string | null): number {
  const text = lastEventId ?? after;
  if (text === null || text === undefined) return 0;
  if (!/^\d{1,9}$/.test(text)) throw new CairnError('E_BAD_REQUEST', `${lastEventId !== undefined ? 'Last-Event-ID' : 'after'} must be a log line number, 0 or more (got ${text.slice(0, 40)})`);
  return Number(text);
}
