// The benchmark's Cairn adapter is only worth its numbers if it drives the real system: three
// processes enrolled and online, a job on the source the harness names, incremental runs after
// the first full one, and a restore that lands at TARGET + SOURCE identical to the source.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cairn } from './cairn-system.ts';
import { peakRssOf } from './daemon.ts';
import { parseJsonOutput, runChecked, verifyRestore } from './measure.ts';
import { catalogRunSeconds } from './report.ts';
import { ALL_TOOLS } from './tools.ts';

test('tool names are unique and name both Cairn adapters', () => {
  const names = ALL_TOOLS.map((t) => t.name);
  assert.equal(new Set(names).size, names.length);
  assert.ok(names.includes('cairn') && names.includes('cairn-direct'));
});

test('catalogRunSeconds reads queuedAt → endedAt of a run object, null without them', () => {
  assert.equal(catalogRunSeconds({ queuedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:01.500Z' }), 1.5);
  assert.equal(catalogRunSeconds({ queuedAt: '2026-01-01T00:00:00.000Z', endedAt: null }), null);
  assert.equal(catalogRunSeconds(undefined), null);
});

test('the cairn adapter backs up through server, storage and agent and restores at TARGET + SOURCE', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-adapter-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const source = path.join(work, 'src');
  fs.mkdirSync(path.join(source, 'sub', 'deeper'), { recursive: true });
  fs.writeFileSync(path.join(source, 'a.txt'), 'hello '.repeat(10_000));
  fs.writeFileSync(path.join(source, 'sub', 'deeper', 'b.bin'), Buffer.alloc(300_000, 7));
  fs.symlinkSync('../a.txt', path.join(source, 'sub', 'link'));

  const session = await cairn.open(work);
  const pids = Object.values(session.daemonPids?.() ?? {});
  try {
    assert.equal(pids.length, 3);
    for (const pid of pids) assert.ok((peakRssOf(pid) ?? 0) > 0, `daemon ${pid} is running`);
    assert.equal(session.clientDaemon, 'agent');

    const levels: unknown[] = [];
    for (const n of [1, 2]) {
      const r = await runChecked(await session.backup(source, n));
      const run = parseJsonOutput(r.stdout) as { level: unknown; status: unknown };
      assert.equal(run.status, 'succeeded');
      levels.push(run.level);
      session.afterBackup?.(r.stdout);
    }
    assert.deepEqual(levels, ['full', 'incremental']);
    await assert.rejects(async () => session.backup(path.join(work, 'elsewhere'), 3), /backs up/);

    const target = path.join(work, 'restore');
    fs.mkdirSync(target);
    await runChecked(session.restore(target));
    const verify = await verifyRestore(source, target);
    assert.equal(verify.restoredAt, path.join(target, source));
    assert.deepEqual(verify.differences, []);
    assert.ok(fs.readdirSync(session.storedDir).length > 0);
  } finally {
    await session.stop();
  }
  for (const pid of pids) assert.equal(peakRssOf(pid), null, `daemon ${pid} has exited`);
});
