import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { dueSlots, higherLevel, nextSlot, parseCron } from './schedules.ts';

test('parseCron: five fields only; six-field, @nicknames and bad values refused with the reason', () => {
  assert.ok(parseCron('0 2 * * *'));
  for (const bad of ['0 0 2 * * *', '@daily', '* * * *', '61 * * * *', '* * * * MON-XYZ'])
    assert.throws(() => parseCron(bad), (e: unknown) => isCairnError(e, 'E_BAD_REQUEST') && /schedule: /.test(e.message), bad);
  assert.throws(() => parseCron('0 0 2 * * *'), /is not a 5-field cron expression/);
});

test('dueSlots: counts the slots of a window, the highest level wins, coinciding slots count once', () => {
  const from = new Date(2026, 0, 1, 0, 0, 30).getTime();
  const to = new Date(2026, 0, 1, 0, 5, 30).getTime();
  const due = dueSlots([{ cron: '* * * * *', level: 'incremental' }, { cron: '*/5 * * * *', level: 'full' }], from, to);
  assert.deepEqual(due, { count: 5, level: 'full', last: new Date(2026, 0, 1, 0, 5).getTime() });
  assert.equal(dueSlots([{ cron: '0 3 * * *', level: 'full' }], from, to), null);
  assert.equal(higherLevel('differential', 'incremental'), 'differential');
  assert.equal(nextSlot([{ cron: '0 3 * * *', level: 'full' }, { cron: '0 2 * * *', level: 'full' }], from), new Date(2026, 0, 1, 2, 0).getTime());
  assert.equal(nextSlot([], from), null);
});

test('DST: a local time that does not exist runs at the next minute that does; a repeated one runs once', () => {
  const tz = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    const entries = [{ cron: '30 2 * * *', level: 'incremental' as const }];
    // 29 March 2026: 02:00 → 03:00 CEST; 02:30 does not exist
    const spring = dueSlots(entries, Date.parse('2026-03-28T23:00:00Z'), Date.parse('2026-03-29T12:00:00Z'));
    assert.deepEqual(spring, { count: 1, level: 'incremental', last: Date.parse('2026-03-29T01:00:00Z') }); // 03:00 CEST
    // 25 October 2026: 03:00 CEST → 02:00 CET; 02:30 happens twice
    const autumn = dueSlots(entries, Date.parse('2026-10-24T22:00:00Z'), Date.parse('2026-10-25T12:00:00Z'));
    assert.equal(autumn?.count, 1);
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
});
