// Job schedules: five-field cron (croner) in the server's time zone, one level per expression.
// `dueSlots` answers which slots fell in a window (the scheduler keeps, per job, the last instant
// it evaluated, so a window after a restart holds the slots missed while the server was down);
// when several fall together the highest level wins. DST: croner runs a local time that does not
// exist at the next minute that does, and a fixed local time that repeats once.
import { Cron } from 'croner';
import { CairnError } from '../core/errors.ts';
import type { Level } from '../protocol/api-schema.ts';

export type ScheduleEntry = { cron: string; level: Level };

const RANK: Record<Level, number> = { incremental: 0, differential: 1, full: 2 };

/** The higher of two levels (full > differential > incremental). */
export function higherLevel(a: Level, b: Level): Level {
  return RANK[a] >= RANK[b] ? a : b;
}

/** A croner for a checked five-field expression, or E_BAD_REQUEST with the reason. */
export function parseCron(expr: string): Cron {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5 || expr.trim().startsWith('@')) throw new CairnError('E_BAD_REQUEST', `schedule: '${expr}' is not a 5-field cron expression`);
  try {
    return new Cron(fields.join(' '), { paused: true, mode: '5-part' });
  } catch (e) {
    throw new CairnError('E_BAD_REQUEST', `schedule: '${expr}' is not a valid cron expression: ${(e as Error).message.replace(/^CronPattern: /, '')}`);
  }
}

export function checkSchedule(entries: ScheduleEntry[]): void {
  for (const s of entries) parseCron(s.cron);
}

/** Slots counted at most (a server down for years does not enumerate them all). */
const MAX_COUNT = 100_000;

export type Due = { count: number; level: Level; last: number };

/** The slots in (from, to] of all entries: how many, the highest level, the latest slot; null when none. */
export function dueSlots(entries: ScheduleEntry[], from: number, to: number): Due | null {
  let due: Due | null = null;
  for (const s of entries) {
    const cron = parseCron(s.cron);
    let at = cron.nextRun(new Date(from));
    let n = 0;
    let last = 0;
    while (at !== null && at.getTime() <= to && n < MAX_COUNT) {
      n++;
      last = at.getTime();
      at = cron.nextRun(at);
    }
    if (n === 0) continue;
    due = due === null ? { count: n, level: s.level, last } : { count: due.count + n, level: higherLevel(due.level, s.level), last: Math.max(due.last, last) };
  }
  // two expressions firing at the same minute are one slot
  if (due !== null && entries.length > 1) due.count = distinctSlots(entries, from, to);
  return due;
}

function distinctSlots(entries: ScheduleEntry[], from: number, to: number): number {
  const seen = new Set<number>();
  for (const s of entries) {
    const cron = parseCron(s.cron);
    for (let at = cron.nextRun(new Date(from)); at !== null && at.getTime() <= to && seen.size < MAX_COUNT; at = cron.nextRun(at)) seen.add(at.getTime());
  }
  return seen.size;
}

/** The next slot after `after` (ms), or null without a schedule. */
export function nextSlot(entries: ScheduleEntry[], after: number): number | null {
  let next: number | null = null;
  for (const s of entries) {
    const at = parseCron(s.cron).nextRun(new Date(after));
    if (at !== null && (next === null || at.getTime() < next)) next = at.getTime();
  }
  return next;
}

/** HH:MM of a slot in the server's time zone, as the run log names it. */
export function slotName(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
