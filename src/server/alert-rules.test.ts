import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dueAgain, isCertExpiring, isLowSpace, longestInterval, nextTryAt, OVERDUE_FLOOR_MS, overdueAfterMs } from './alert-rules.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const GIB = 1024 ** 3;
/** Monday 7 January 2030, 00:00 UTC (tests run with the server's zone; these schedules are zone-free gaps) */
const T0 = Date.UTC(2030, 0, 7);

test('a failed delivery is tried again after 10 s, 30 s, 2 min, 10 min, then hourly, and given up past 24 h after its event', () => {
  const waits = [1, 2, 3, 4, 5, 6, 7].map((attempts) => nextTryAt(T0, attempts, T0)! - T0);
  assert.deepEqual(waits, [10_000, 30_000, 2 * MIN, 10 * MIN, HOUR, HOUR, HOUR]);
  assert.equal(nextTryAt(T0, 20, T0 + 23 * HOUR), T0 + DAY, 'a try at exactly 24 h still happens');
  assert.equal(nextTryAt(T0, 21, T0 + 23 * HOUR + 1), null, 'one past it is given up');
});

test("a job's longest interval is the longest gap of all its schedules together", () => {
  assert.equal(longestInterval([{ cron: '0 2 * * *', level: 'incremental' }], T0), DAY);
  // a daily incremental with a monthly full is daily; weekdays only has a three-day weekend gap
  assert.equal(longestInterval([{ cron: '0 2 * * *', level: 'incremental' }, { cron: '0 4 1 * *', level: 'full' }], T0), DAY);
  assert.equal(longestInterval([{ cron: '0 2 * * 1-5', level: 'incremental' }], T0), 3 * DAY);
  assert.equal(longestInterval([{ cron: '0 2 30 2 *', level: 'full' }], T0), null, 'February 30th never comes');
});

test('a job is overdue after twice its longest interval, never under 48 h, and after 48 h when the interval is unknown', () => {
  assert.equal(overdueAfterMs([{ cron: '*/5 * * * *', level: 'incremental' }], T0), OVERDUE_FLOOR_MS);
  assert.equal(overdueAfterMs([{ cron: '0 2 * * *', level: 'incremental' }], T0), OVERDUE_FLOOR_MS);
  assert.equal(overdueAfterMs([{ cron: '0 3 * * 0', level: 'full' }], T0), 14 * DAY);
  assert.equal(overdueAfterMs([{ cron: '0 2 30 2 *', level: 'full' }], T0), OVERDUE_FLOOR_MS);
});

test('low space is under 10 GiB free or under 10% of the disk free; unknown figures are not low', () => {
  assert.equal(isLowSpace(null, null), false);
  assert.equal(isLowSpace(9 * GIB, 1000 * GIB), true, 'under 10 GiB');
  assert.equal(isLowSpace(11 * GIB, 20 * GIB), false);
  assert.equal(isLowSpace(99 * GIB, 1000 * GIB), true, 'under 10%');
  assert.equal(isLowSpace(100 * GIB, 1000 * GIB), false, 'exactly 10% is not under it');
  assert.equal(isLowSpace(50 * GIB, null), false, 'no total: only the 10 GiB rule');
});

test('a certificate is expiring once under a sixth of its life is left', () => {
  const life = 360 * DAY;
  assert.equal(isCertExpiring(T0 + 61 * DAY, T0, life), false);
  assert.equal(isCertExpiring(T0 + 59 * DAY, T0, life), true);
  assert.equal(isCertExpiring(T0 - DAY, T0, life), true, 'an expired one too');
});

test('a repeating alert is due when never raised, or a day after the last', () => {
  assert.equal(dueAgain(undefined, T0), true);
  assert.equal(dueAgain(T0 - DAY + 1, T0), false);
  assert.equal(dueAgain(T0 - DAY, T0), true);
});
