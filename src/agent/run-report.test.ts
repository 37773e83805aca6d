import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogEventData } from '../protocol/control.ts';
import { RunLog, WarningTally } from './run-report.ts';

test('a run log stops at its limit, its last line counting the lines left out', () => {
  const sent: LogEventData[] = [];
  const log = new RunLog((d) => sent.push(d), 5);
  for (let i = 0; i < 12; i++) log.line('warn', `line ${i}`);
  log.close();
  assert.equal(sent.length, 5);
  assert.deepEqual(sent.slice(0, 4).map((d) => d.message), ['line 0', 'line 1', 'line 2', 'line 3']);
  assert.match(sent[4]!.message, /^8 more lines not kept$/);
});

test('a run log under its limit sends every line and nothing on close', () => {
  const sent: LogEventData[] = [];
  const log = new RunLog((d) => sent.push(d), 5);
  for (let i = 0; i < 4; i++) log.line('info', `line ${i}`);
  log.close();
  assert.deepEqual(sent.map((d) => d.message), ['line 0', 'line 1', 'line 2', 'line 3']);
});

test('a warning tally lists the first warnings, counts them all, and tells each one as it comes', () => {
  const told: string[] = [];
  const tally = new WarningTally((w) => told.push(w.path));
  for (let i = 0; i < 100_000; i++) tally.push({ path: `/f${i}`, reason: 'permission denied' });
  assert.equal(tally.total, 100_000);
  assert.equal(tally.listed.length, 1000);
  assert.equal(tally.listed[999]!.path, '/f999');
  assert.equal(told.length, 100_000);
});
