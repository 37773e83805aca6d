import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProgressData } from '../protocol/control.ts';
import { ProgressSender, RateMeter } from './run-progress.ts';

test('the rate spans the last 10 s and the time left follows from it; unknown totals give no ETA', () => {
  const m = new RateMeter();
  assert.deepEqual(m.sample(0, { done: 0, total: 1000 }), { rateBytesPerSec: 0, etaSeconds: null });
  for (let t = 1000; t <= 20_000; t += 1000) m.sample(t, { done: t / 10, total: 10_000 }); // 100 B/s
  assert.deepEqual(m.sample(21_000, { done: 2100, total: 10_000 }), { rateBytesPerSec: 100, etaSeconds: 79 });
  // the old pace no longer counts once 10 s have passed at the new one
  for (let t = 22_000; t <= 32_000; t += 1000) m.sample(t, { done: 2100 + (t - 21_000) / 2 });
  assert.deepEqual(m.sample(33_000, { done: 8100 }), { rateBytesPerSec: 500, etaSeconds: null });
  assert.equal(m.sample(34_000, { done: 8600, total: 8600 }).etaSeconds, 0);
});

test('progress goes out once a second, at once on a change of phase, and when forced', () => {
  let now = 0;
  const sent: ProgressData[] = [];
  const s = new ProgressSender((d) => sent.push(d), () => now);
  s.offer('scanning', { files: 1 }, { done: 0 });
  for (now = 100; now < 1000; now += 100) s.offer('scanning', { files: now }, { done: now });
  assert.equal(sent.length, 1);
  now = 1000;
  s.offer('scanning', { files: 1000 }, { done: 1000 });
  assert.equal(sent.length, 2);
  assert.equal(sent[1]!.rateBytesPerSec, 1000);
  now = 1100;
  s.offer('reading', { files: 1100 }, { done: 1100 });
  s.offer('reading', { files: 1100 }, undefined, true);
  assert.deepEqual(sent.map((d) => d.phase), ['scanning', 'scanning', 'reading', 'reading']);
  assert.equal(sent[2]!.rateBytesPerSec, 0, 'a new phase measures its own work');
  assert.equal(sent[3]!.etaSeconds, null);
});
