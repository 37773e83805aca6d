import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleRun } from '../../test/support/sample-run.ts';
import { exitStatusOf, pretreatmentOk, reportLines, runDetails, runSummary } from './run-output.ts';

describe('run output', () => {
  it('exits 0 only for a succeeded run, and 1 for a dry run whose pretreatment blocks', () => {
    assert.equal(exitStatusOf(sampleRun({ status: 'succeeded' })), 0);
    assert.equal(exitStatusOf(sampleRun({ status: 'failed' })), 1);
    assert.equal(exitStatusOf(sampleRun({ status: 'canceled' })), 1);
    const blocked = sampleRun({ kind: 'restore', status: 'succeeded', pretreatment: { ok: false, problems: ['no space'] } });
    assert.equal(pretreatmentOk(blocked), false);
    assert.equal(exitStatusOf(blocked, true), 1);
    assert.equal(exitStatusOf(sampleRun({ status: 'succeeded', pretreatment: { ok: true } }), true), 0);
  });

  it('sums up an ended backup in one line', () => {
    const run = sampleRun({
      status: 'succeeded',
      endedAt: '2025-01-01T00:01:05.000Z',
      snapshot: '0123456789abcdef0123',
      bytesNew: 1024,
      warnings: [{ path: '/x', reason: 'vanished' }],
    });
    assert.equal(
      runSummary(run),
      'run 7 succeeded: backup of job home (full), 120 files, 10.0 MiB, 1.0 KiB new, in 1:05, snapshot 0123456789ab, 1 warning',
    );
    assert.equal(
      runSummary(sampleRun({ status: 'failed', error: 'storage s1 went away\nstack' })),
      'run 7 failed: backup of job home (full): storage s1 went away\\x0astack',
    );
  });

  it('says how many existing files a restore renamed, skipped or overwritten', () => {
    const run = sampleRun({ kind: 'restore', status: 'succeeded', snapshot: 'ab'.repeat(32), conflicts: { renamed: 2, skipped: 0, overwritten: 0 } });
    assert.equal(runSummary(run), 'run 7 succeeded: restore of snapshot abababababab, 120 files, 10.0 MiB, existing files 2 renamed, 0 skipped, 0 overwritten');
    assert.ok(runDetails(run).includes('conflicts: {"renamed":2,"skipped":0,"overwritten":0}'));
  });

  it('shows every field of a run, with its warnings and report', () => {
    const lines = runDetails(
      sampleRun({ kind: 'restore', damaged: [{ path: '/a\nb', reason: 'chunk corrupt' }], pretreatment: { ok: true, conflicts: [] } }),
    );
    assert.ok(lines.includes('id: 7'));
    assert.ok(lines.includes('endedAt: -'));
    assert.ok(lines.includes('warnings: 0'));
    assert.ok(lines.includes('damaged: 1'));
    assert.ok(lines.includes('  damaged: /a\\x0ab: chunk corrupt'));
    assert.deepEqual(lines.slice(-3), ['pretreatment:', '  ok: true', '  conflicts: 0']);
    assert.deepEqual(reportLines({ disk: { free: 10 } }), ['  disk:', '    free: 10']);
  });
});
