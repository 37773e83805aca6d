import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { applyRetention, type RetentionPolicy, type RetentionSnapshot } from './retention.ts';

type Fixture = {
  restic: string;
  zones: { timeZone: string; snapshots: string[]; policies: { policy: RetentionPolicy; flags: string; keep: string[]; forget: string[] }[] }[];
};
const fixture = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, '../../test/fixtures/retention/restic-0.14.json'), 'utf8'),
) as Fixture;

/** Snapshots named by their time, in a scrambled order (the function sorts them itself). */
function snapshotsAt(times: readonly string[]): RetentionSnapshot[] {
  const snapshots = times.map((time) => ({ id: time, time: Date.parse(time) }));
  return snapshots.map((_, i) => snapshots[(i * 7 + 3) % snapshots.length]!);
}

const hour = 3_600_000;
const at = (iso: string) => Date.parse(iso);

test('the fixture covers two zones, both DST changes and ≥ 30 snapshots', () => {
  assert.match(fixture.restic, /^restic 0\.14\./);
  assert.deepEqual(fixture.zones.map((zone) => zone.timeZone), ['Europe/Berlin', 'UTC']);
  for (const zone of fixture.zones) assert.ok(zone.snapshots.length >= 30);
});

for (const zone of fixture.zones) {
  for (const { policy, flags, keep, forget } of zone.policies) {
    test(`keeps and forgets exactly what ${fixture.restic.split(' compiled')[0]} does for ${flags} in ${zone.timeZone}`, () => {
      assert.deepEqual(applyRetention(snapshotsAt(zone.snapshots), policy, zone.timeZone), { keep, forget });
    });
  }
}

test('without a time zone, periods are read in the process zone (TZ)', () => {
  const berlin = fixture.zones.find((zone) => zone.timeZone === 'Europe/Berlin')!;
  const before = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    for (const { policy, keep, forget } of berlin.policies) assert.deepEqual(applyRetention(snapshotsAt(berlin.snapshots), policy), { keep, forget });
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
});

test('snapshots at the same instant are ordered by id, whatever the input order', () => {
  const tied = [
    { id: 'b', time: at('2024-05-01T10:00:00Z') },
    { id: 'a', time: at('2024-05-01T10:00:00Z') },
    { id: 'c', time: at('2024-05-01T09:00:00Z') },
  ];
  for (const input of [tied, [...tied].reverse()]) {
    assert.deepEqual(applyRetention(input, { last: 1 }, 'UTC'), { keep: ['a'], forget: ['b', 'c'] });
    assert.deepEqual(applyRetention(input, { daily: 1 }, 'UTC'), { keep: ['a'], forget: ['b', 'c'] });
    assert.deepEqual(applyRetention(input, { hourly: 2 }, 'UTC'), { keep: ['a', 'c'], forget: ['b'] });
  }
});

test('a count larger than the snapshots keeps each period once and forgets the rest of a period', () => {
  const three = [
    { id: 'mon', time: at('2024-05-06T12:00:00Z') },
    { id: 'tue-early', time: at('2024-05-07T08:00:00Z') },
    { id: 'tue-late', time: at('2024-05-07T20:00:00Z') },
  ];
  assert.deepEqual(applyRetention(three, { last: 10 }, 'UTC'), { keep: ['tue-late', 'tue-early', 'mon'], forget: [] });
  assert.deepEqual(applyRetention(three, { daily: 10 }, 'UTC'), { keep: ['tue-late', 'mon'], forget: ['tue-early'] });
  assert.deepEqual(applyRetention(three, { yearly: 10 }, 'UTC'), { keep: ['tue-late'], forget: ['tue-early', 'mon'] });
});

test('the answer does not depend on the input order', () => {
  const times = fixture.zones[0]!.snapshots;
  const policy = { daily: 7, weekly: 4, monthly: 12, yearly: 3 };
  const forward = times.map((time) => ({ id: time, time: Date.parse(time) }));
  const expected = applyRetention(forward, policy, 'Europe/Berlin');
  assert.deepEqual(applyRetention([...forward].reverse(), policy, 'Europe/Berlin'), expected);
  assert.deepEqual(applyRetention(snapshotsAt(times), policy, 'Europe/Berlin'), expected);
});

test('periods without a snapshot use up no count', () => {
  const sparse = [
    { id: 'jan', time: at('2024-01-15T00:00:00Z') },
    { id: 'apr', time: at('2024-04-15T00:00:00Z') },
    { id: 'sep', time: at('2024-09-15T00:00:00Z') },
  ];
  assert.deepEqual(applyRetention(sparse, { monthly: 2 }, 'UTC'), { keep: ['sep', 'apr'], forget: ['jan'] });
});

test('each rule counts on its own: one snapshot may use up a daily and a weekly count together', () => {
  const week = [0, 1, 2].map((day) => ({ id: `d${day}`, time: at('2024-05-06T12:00:00Z') + day * 24 * hour }));
  assert.deepEqual(applyRetention(week, { daily: 1, weekly: 1 }, 'UTC'), { keep: ['d2'], forget: ['d1', 'd0'] });
});

test('a week is an ISO week: Monday to Sunday, in the year of its Thursday', () => {
  const snapshots = [
    { id: 'sun-2024-12-29', time: at('2024-12-29T12:00:00Z') },
    { id: 'mon-2024-12-30', time: at('2024-12-30T12:00:00Z') },
    { id: 'thu-2025-01-02', time: at('2025-01-02T12:00:00Z') },
  ];
  assert.deepEqual(applyRetention(snapshots, { weekly: 5 }, 'UTC'), { keep: ['thu-2025-01-02', 'sun-2024-12-29'], forget: ['mon-2024-12-30'] });
});

test('an hour read twice on the night clocks go back is one hourly period', () => {
  const night = [
    { id: '02:30 CEST', time: at('2023-10-29T02:30:00+02:00') },
    { id: '02:10 CET', time: at('2023-10-29T02:10:00+01:00') },
  ];
  assert.deepEqual(applyRetention(night, { hourly: 5 }, 'Europe/Berlin'), { keep: ['02:10 CET'], forget: ['02:30 CEST'] });
  assert.deepEqual(applyRetention(night, { hourly: 5 }, 'UTC'), { keep: ['02:10 CET', '02:30 CEST'], forget: [] });
});

test('no snapshots: nothing to keep or forget', () => {
  assert.deepEqual(applyRetention([], { last: 1 }, 'UTC'), { keep: [], forget: [] });
});

test('an empty policy, a count below 1 or not whole, and an unknown zone are refused', () => {
  const one = [{ id: 'x', time: 0 }];
  for (const policy of [{}, { daily: 0 }, { weekly: -1 }, { monthly: 1.5 }, { last: Number.NaN }, { yearly: undefined }])
    assert.throws(() => applyRetention(one, policy, 'UTC'), (e) => isCairnError(e, 'E_USAGE'), JSON.stringify(policy));
  assert.throws(() => applyRetention(one, { last: 1 }, 'Mars/Olympus_Mons'), (e) => isCairnError(e, 'E_USAGE'));
});
