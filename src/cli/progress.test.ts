import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleRun } from '../../test/support/sample-run.ts';
import { formatBytes, formatDuration, keepTail, printable, progressLine } from './progress.ts';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');

describe('progress', () => {
  it('formats sizes and durations', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
    assert.equal(formatBytes(300 * 1024 ** 2), '300 MiB');
    assert.equal(formatDuration(0), '0:00');
    assert.equal(formatDuration(75.9), '1:15');
    assert.equal(formatDuration(3 * 3600 + 62), '3:01:02');
  });

  it('keeps the end of a long text and makes control characters visible', () => {
    assert.equal(keepTail('/a/b/c/file.txt', 9), '…file.txt');
    assert.equal(keepTail('short', 9), 'short');
    assert.equal(printable('a\nb\tc\x1b[2J'), 'a\\x0ab\\x09c\\x1b[2J');
  });

  it('shows rate and elapsed time, and no ETA, when the total is unknown (a first backup)', () => {
    const line = progressLine(sampleRun(), { now: T0 + 10_000, width: 200 });
    assert.equal(line, 'run 7 running  120 files  10.0 MiB  1.0 MiB/s  0:10  /home/user/documents/report.pdf');
  });

  it('adds percent and ETA when the total is known', () => {
    const line = progressLine(sampleRun({ currentPath: null }), { now: T0 + 10_000, width: 200, totalBytes: 40 * 1024 * 1024 });
    assert.equal(line, 'run 7 running  120 files  10.0 MiB  1.0 MiB/s  0:10  25% ETA 0:30');
  });

  it("takes the phase, rate and ETA from the agent's progress when it has them", () => {
    const run = sampleRun({ currentPath: null, phase: 'uploading', bytesSent: 4 * 1024 * 1024, rateBytesPerSec: 2 * 1024 * 1024, etaSeconds: 75 });
    const line = progressLine(run, { now: T0 + 10_000, width: 200, totalBytes: 40 * 1024 * 1024 });
    assert.equal(line, 'run 7 running uploading  120 files  10.0 MiB  sent 4.0 MiB  2.0 MiB/s  0:10  ETA 1:15');
    assert.equal(progressLine({ ...run, etaSeconds: null }, { now: T0 + 10_000, width: 200 }), 'run 7 running uploading  120 files  10.0 MiB  sent 4.0 MiB  2.0 MiB/s  0:10');
  });

  it('never draws wider than the terminal and keeps the end of the current file', () => {
    const run = sampleRun({ currentPath: `/very/${'deep/'.repeat(40)}name-that-matters.txt` });
    for (const width of [20, 40, 60, 80, 120]) {
      const line = progressLine(run, { now: T0 + 10_000, width });
      assert.ok(line.length <= width - 1, `width ${width}: ${line.length}`);
      assert.ok(!line.includes('\n'));
    }
    assert.match(progressLine(run, { now: T0 + 10_000, width: 100 }), /…[a-z/]*name-that-matters\.txt$/);
  });

  it('says why a queued run waits', () => {
    const line = progressLine(sampleRun({ status: 'queued', startedAt: null, reason: 'agent a1 is offline' }), { now: T0, width: 80 });
    assert.equal(line, 'run 7 queued: agent a1 is offline');
  });
});
