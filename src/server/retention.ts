// Which snapshots a retention policy keeps, with the meaning of restic's `forget --keep-*`
// (restic 0.14, internal/restic/snapshot_policy.go), proven against restic itself by
// test/fixtures/retention/restic-0.14.json. A pure function: it forgets nothing, it only decides.
//
// The algorithm, as restic runs it:
//  1. Sort the snapshots newest first. Equal times are ordered by id, so the answer does not
//     depend on the input's order (restic keeps the order it read them in).
//  2. Each rule has a count and a period: `last` (every snapshot is its own period), `hourly`
//     (calendar hour), `daily` (calendar day), `weekly` (ISO 8601 week, Monday first, the week's
//     year being the year of its Thursday, as Go's time.ISOWeek), `monthly` (calendar month),
//     `yearly` (calendar year). Hours, days, months and years are read on the wall clock of
//     `timeZone` (the process's zone when not given).
//  3. Walk the sorted snapshots once. For each rule that has count left: when the snapshot's
//     period differs from the period of the last snapshot that rule kept, the rule keeps it and
//     its count drops by one. So each rule keeps the newest snapshot of each of its newest
//     `count` periods that hold a snapshot (empty periods do not count).
//  4. A snapshot is kept when any rule keeps it; every other one is forgotten.
//
// Bounds: restic reads a snapshot's wall clock in the offset recorded with it (the zone of the
// machine that made it); Cairn stores instants, so one zone is chosen for all of them. Restic's
// `--keep-within*` and `--keep-tag` rules are not part of this policy.
import { CairnError } from '../core/errors.ts';

export type RetentionPolicy = {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
};

export type RetentionSnapshot = { id: string; time: number /* ms since the epoch */ };

/** Both newest first. */
export type RetentionPlan = { keep: string[]; forget: string[] };

type WallClock = { year: number; month: number; day: number; hour: number };
type RuleName = keyof RetentionPolicy;

const DAY_MS = 86_400_000;

/** The period of each rule as a number; two snapshots share a period when the numbers are equal. */
const PERIOD_OF: Record<RuleName, (clock: WallClock, index: number) => number> = {
  last: (_clock, index) => index,
  hourly: (c) => ((c.year * 100 + c.month) * 100 + c.day) * 100 + c.hour,
  daily: (c) => (c.year * 100 + c.month) * 100 + c.day,
  weekly: (c) => isoWeekOf(c),
  monthly: (c) => c.year * 100 + c.month,
  yearly: (c) => c.year,
};

/** In restic's order; the order changes nothing but the order of checks. */
const RULES: readonly RuleName[] = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'];

/** Which snapshots `policy` keeps and which it forgets, periods read in `timeZone`. */
export function applyRetention(
  snapshots: readonly RetentionSnapshot[],
  policy: RetentionPolicy,
  timeZone?: string,
): RetentionPlan {
  const rules = rulesOf(policy);
  const wallClockOf = wallClockReader(timeZone);
  const sorted = [...snapshots].sort(newestFirst);
  const left = rules.map((rule) => policy[rule]!);
  const lastKept: (number | undefined)[] = rules.map(() => undefined);
  const keep: string[] = [];
  const forget: string[] = [];
  sorted.forEach((snapshot, index) => {
    if (!Number.isFinite(snapshot.time))
      throw new CairnError('E_INTERNAL', `retention: snapshot ${snapshot.id} has no valid time (${snapshot.time})`);
    const clock = wallClockOf(snapshot.time);
    let kept = false;
    rules.forEach((rule, r) => {
      if (left[r]! <= 0) return;
      const period = PERIOD_OF[rule](clock, index);
      if (period === lastKept[r]) return;
      lastKept[r] = period;
      left[r]!--;
      kept = true;
    });
    (kept ? keep : forget).push(snapshot.id);
  });
  return { keep, forget };
}

/** The rules `policy` sets, after checking each count is a whole number ≥ 1 and at least one is set. */
function rulesOf(policy: RetentionPolicy): RuleName[] {
  const rules: RuleName[] = [];
  for (const rule of RULES) {
    const count = policy[rule];
    if (count === undefined) continue;
    if (!Number.isInteger(count) || count < 1)
      throw new CairnError('E_USAGE', `retention: keep ${rule} must be a whole number of at least 1, not ${count}`);
    rules.push(rule);
  }
  if (rules.length === 0)
    throw new CairnError('E_USAGE', 'retention: the policy keeps nothing; set at least one of last, hourly, daily, weekly, monthly, yearly');
  return rules;
}

function newestFirst(a: RetentionSnapshot, b: RetentionSnapshot): number {
  if (a.time !== b.time) return b.time - a.time;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Reads an instant's wall clock in `timeZone`, or in the process's zone when none is given. */
function wallClockReader(timeZone: string | undefined): (ms: number) => WallClock {
  if (timeZone === undefined) {
    return (ms) => {
      const d = new Date(ms);
      return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours() };
    };
  }
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      hourCycle: 'h23',
      numberingSystem: 'latn',
    });
  } catch (e) {
    throw new CairnError('E_USAGE', `retention: unknown time zone ${JSON.stringify(timeZone)} (give an IANA name such as Europe/Berlin)`, { cause: e });
  }
  return (ms) => {
    const clock: WallClock = { year: 0, month: 0, day: 0, hour: 0 };
    for (const part of format.formatToParts(ms))
      if (part.type === 'year' || part.type === 'month' || part.type === 'day' || part.type === 'hour') clock[part.type] = Number(part.value);
    return clock;
  };
}

/** YYYYWW of the ISO 8601 week holding the clock's date: weeks start on Monday and belong to the year of their Thursday. */
function isoWeekOf(clock: WallClock): number {
  const date = Date.UTC(clock.year, clock.month - 1, clock.day);
  const daysFromMonday = (new Date(date).getUTCDay() + 6) % 7;
  const thursday = date + (3 - daysFromMonday) * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / DAY_MS / 7) + 1;
  return year * 100 + week;
}
