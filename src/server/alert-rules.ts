// What the alerts decide, as functions of their inputs and of `now` (tested without processes):
// when a delivery is tried again and when it is given up, when a scheduled job is overdue, when
// a storage server is low on space, when a certificate is expiring, and when a repeating alert
// is due again. alerts.ts and alert-delivery.ts read the catalog, call these and record.
import { certLifetimeMs } from '../core/cert-life.ts';
import { testDuration, testDurations } from '../core/test-settings.ts';
import { parseCron, type ScheduleEntry } from './schedules.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const GIB = 1024 ** 3;

/** Waits between tries (CAIRN_TEST_ALERT_BACKOFF_MS in tests): the last one repeats. */
export function retryDelays(): readonly number[] {
  return testDurations('ALERT_BACKOFF', [10_000, 30_000, 2 * MINUTE, 10 * MINUTE, HOUR]);
}

/** How long after its event a delivery is still tried (CAIRN_TEST_ALERT_WINDOW_MS in tests). */
export function deliveryWindowMs(): number {
  return testDuration('ALERT_WINDOW', DAY);
}

/** How long one try waits for the receiver's answer (CAIRN_TEST_ALERT_TIMEOUT_MS in tests). */
export function tryTimeoutMs(): number {
  return testDuration('ALERT_TIMEOUT', 10_000);
}

/** How often the periodic checks (job.overdue, cert.expiring, storage.low-space) run (CAIRN_TEST_ALERT_CHECK_MS). */
export function checkPeriodMs(): number {
  return Math.max(50, testDuration('ALERT_CHECK', 5 * MINUTE));
}

/** Deliveries waiting per hook; past it the oldest waiting one is dropped (the newest news matters most). */
export const MAX_PENDING = 1000;
/** part.offline at most this often per part. */
export const OFFLINE_THROTTLE_MS = 5 * MINUTE;
/** job.overdue, cert.expiring and storage.low-space repeat this often while the condition lasts. */
export const REPEAT_MS = DAY;

/**
 * When a delivery that failed its `attempts`-th try (1, 2, …) is tried next, or null when that
 * would fall past its window (it is dropped and counted).
 */
export function nextTryAt(createdAt: number, attempts: number, now: number): number | null {
  const delays = retryDelays();
  const at = now + delays[Math.min(attempts, delays.length) - 1]!;
  return at > createdAt + deliveryWindowMs() ? null : at;
}

/** Slots looked at to find a job's longest interval (a bound, so a per-minute cron costs little). */
const SLOTS_LOOKED_AT = 50;
/** The floor of the overdue threshold, and the threshold when the interval is unknown. */
export const OVERDUE_FLOOR_MS = 48 * HOUR;

/**
 * The longest gap between consecutive slots of all the job's schedules together, over its next
 * 50 slots after `from` (so a daily incremental with a monthly full counts as daily); null when
 * the schedules give fewer than two slots.
 */
export function longestInterval(entries: ScheduleEntry[], from: number): number | null {
  const slots = new Set<number>();
  for (const e of entries) {
    const cron = parseCron(e.cron);
    let at = cron.nextRun(new Date(from));
    for (let n = 0; at !== null && n < SLOTS_LOOKED_AT; n++, at = cron.nextRun(at)) slots.add(at.getTime());
  }
  const sorted = [...slots].sort((a, b) => a - b).slice(0, SLOTS_LOOKED_AT);
  if (sorted.length < 2) return null;
  let longest = 0;
  for (let i = 1; i < sorted.length; i++) longest = Math.max(longest, sorted[i]! - sorted[i - 1]!);
  return longest;
}

/** A scheduled job is overdue this long after its last successful backup: twice its longest interval, at least 48 h. */
export function overdueAfterMs(entries: ScheduleEntry[], from: number): number {
  const interval = longestInterval(entries, from);
  return interval === null ? OVERDUE_FLOOR_MS : Math.max(2 * interval, OVERDUE_FLOOR_MS);
}

/** Under 10% of the disk free, or under 10 GiB free (whichever is reached first); unknown figures are not low. */
export function isLowSpace(free: number | null, total: number | null): boolean {
  if (free === null) return false;
  if (free < 10 * GIB) return true;
  return total !== null && total > 0 && free < total / 10;
}

/** Under a sixth of the certificate's life left (its life is the CA's leaf lifetime, so issued = expires − life). */
export function isCertExpiring(expiresAt: number, now: number, lifeMs = certLifetimeMs()): boolean {
  return expiresAt - now < lifeMs / 6;
}

/** A repeating alert last raised at `mark` (undefined: never) is due again at `now`. */
export function dueAgain(mark: number | undefined, now: number, periodMs = REPEAT_MS): boolean {
  return mark === undefined || now - mark >= periodMs;
}

/** After a start, parts get this long to reconnect before one still offline is alerted (CAIRN_TEST_ALERT_START_GRACE_MS). */
export function startGraceMs(): number {
  return testDuration('ALERT_START_GRACE', 2 * MINUTE);
}
