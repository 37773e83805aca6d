// Issue 15: a backup's memory at scale, on a real agent: after a first backup that warms it up,
// a 50,000-file backup, then (another job, a first backup again) a 200,000-file one, each from a
// reset peak (/proc/PID/clear_refs) of an agent settled as between scheduled runs,
// with the refs spill threshold lowered (CAIRN_TEST_REFS_SPILL_IDS=20000: both runs spill sorted
// runs to disk as a large backup does at 2^19 ids). Default packs: both runs close several at the
// 16,384-blob limit. The peak during 200,000 files stays within the peak during 50,000 + 32 MiB
// (the pack builder keeps tiny blobs' bytes in slabs, not objects; bin/cairn caps each isolate's
// young generation); the spilled snapshot restores identical in part and no spilled run outlives
// the run.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { assertRsyncIdentical } from './support/crash-support.ts';
import { resetHwm, statusKiB } from './support/proc-status.ts';

const PER_DIR = 1000;
const SPILL_IDS = 20_000;

/** `files` distinct files of 16–60 bytes, PER_DIR to a directory (`label` makes trees differ). */
function tinyTree(root: string, files: number, label: string): string {
  for (let d = 0; d * PER_DIR < files; d++) {
    const dir = join(root, `d${String(d).padStart(4, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let i = d * PER_DIR; i < Math.min(files, (d + 1) * PER_DIR); i++) {
      writeFileSync(join(dir, `f${i}`), `${label} ${i} `.padEnd(16 + (i % 45), '.'));
    }
  }
  return root;
}

/**
 * Waits until the agent is settled as between two scheduled runs: its collections after the
 * last run (idle-memory.ts: at once and 2 s later) done and its resident set no longer falling.
 * A run started at once would start from what the one before left, and which run left more is
 * noise.
 */
async function settled(pid: number): Promise<void> {
  await new Promise((r) => setTimeout(r, 2_500));
  for (let i = 0, last = statusKiB(pid, 'VmRSS'); i < 20; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const now = statusKiB(pid, 'VmRSS');
    if (last - now < 1024) return;
    last = now;
  }
}

describe('agent memory at 50,000 and 200,000 files', { concurrency: 1 }, () => {
  let c: Cluster;

  before(async () => {
    c = await startCluster({ agents: ['ma'], storages: ['ms1'], env: { CAIRN_TEST: '1', CAIRN_TEST_REFS_SPILL_IDS: String(SPILL_IDS) } });
  });
  after(async () => {
    await c?.stop();
  });

  async function backup(name: string, src: string): Promise<RunJson> {
    const r = await c.cli(['job', 'create', name, '--agent', 'ma', '--storage', 'ms1', '--path', src], undefined, { CAIRN_PASSPHRASE: 'many files passphrase' });
    assert.equal(r.code, 0, r.stderr);
    const run = await c.json<RunJson>(['job', 'run', name, '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    return run;
  }

  it('backs up 50,000 then 200,000 tiny files through spilled refs within +32 MiB of peak, restores identical', async (t) => {
    const agent = c.agents.get('ma')!;
    const pid = agent.process.pid!;
    const warm = tinyTree(join(tempDir('cairn-many-warm-'), 'data'), 50_000, 'warm');
    const small = tinyTree(join(tempDir('cairn-many-50k-'), 'data'), 50_000, 'small');
    const large = tinyTree(join(tempDir('cairn-many-200k-'), 'data'), 200_000, 'large');
    // a fresh agent's first run grows it by tens of MB whatever its size (isolates, compiled
    // code, heaps sized): both measured runs come after one such run, so what is compared is
    // what the number of files adds
    await backup('warm', warm);
    await settled(pid);
    resetHwm(pid);
    const first = await backup('small', small);
    assert.equal(first.files, 50_000, JSON.stringify(first));
    const at50k = statusKiB(pid, 'VmHWM');

    await settled(pid);
    resetHwm(pid);
    const second = await backup('large', large);
    assert.equal(second.files, 200_000, JSON.stringify(second));
    const at200k = statusKiB(pid, 'VmHWM');
    t.diagnostic(`agent VmHWM: ${at50k} KiB during 50,000 files, ${at200k} KiB during 200,000`);
    assert.ok(at200k <= at50k + 32 * 1024, `peak during 200,000 files ${at200k} KiB > peak during 50,000 (${at50k} KiB) + 32 MiB`);
    // the spilled runs went with the run
    assert.deepEqual(readdirSync(join(agent.dataDir, 'tmp')).filter((n) => n.startsWith('refs-')), []);

    // a subtree of the spilled snapshot restores identical (its refs were merged from the runs)
    const to = tempDir('cairn-many-to-');
    const sub = join(large, 'd0123');
    const restored = await c.json<RunJson>(['restore', second.snapshot!, '--include', sub, '--to', to, '--wait']);
    assert.equal(restored.status, 'succeeded', JSON.stringify(restored));
    assertRsyncIdentical(sub, join(to, sub));
  });
});
