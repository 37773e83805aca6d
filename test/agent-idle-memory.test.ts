// An idle agent gives back what a backup used (issue 15): after a backup of a generated tree
// (incompressible and compressible files, so every chunk is read, compressed, sealed and
// uploaded) the agent's worker threads are gone and its VmRSS falls to ≤ 120 MiB within 60 s.
// The agent's idle collection waits 2 s after a run ends; CAIRN_TEST_AGENT_IDLE_COLLECT_MS
// shortens it here. bin/cairn's malloc settings for the agent are what let the pages go back
// (docs/performance.md, "Issue 15: agent memory").
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../src/protocol/api-types.ts';
import { type Cluster, startCluster, tempDir } from './support/cluster.ts';
import { incompressibleTree } from './support/crash-support.ts';
import { statusKiB } from './support/proc-status.ts';

const PASSPHRASE = 'idle memory passphrase for tests';
const IDLE_TARGET_KIB = 120 * 1024;

const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).length;

describe('an idle agent after a backup', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  let c: Cluster;

  before(async () => {
    c = await startCluster({ agents: ['m1'], storages: ['s1'], env: { CAIRN_TEST: '1', CAIRN_TEST_AGENT_IDLE_COLLECT_MS: '100' } });
  });
  after(async () => {
    await c?.stop();
  });

  it('ends its worker threads and drops to ≤ 120 MiB VmRSS within 60 s', async (t) => {
    const src = incompressibleTree(join(tempDir('cairn-idle-mem-'), 'data'), 24, 8);
    for (let i = 0; i < 8; i++) writeFileSync(join(src, `text-${i}.txt`), `line ${i} of a compressible file\n`.repeat(300_000));
    const made = await c.cli(['job', 'create', 'idle', '--agent', 'm1', '--storage', 's1', '--path', src], undefined, { CAIRN_PASSPHRASE: PASSPHRASE });
    assert.equal(made.code, 0, made.stderr);
    const pid = c.agents.get('m1')!.process.pid!;
    const threadsBefore = threads(pid);

    const run = await c.json<RunJson>(['job', 'run', 'idle', '--wait']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const peak = statusKiB(pid, 'VmHWM');
    assert.ok(peak > IDLE_TARGET_KIB, `the backup's peak (${peak >> 10} MiB) should be above the idle target, or this proves nothing`);

    const samples: number[] = [];
    for (let s = 0; s <= 60; s++) {
      samples.push(statusKiB(pid, 'VmRSS'));
      if (samples.at(-1)! <= IDLE_TARGET_KIB && threads(pid) <= threadsBefore) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    t.diagnostic(`peak ${peak >> 10} MiB; VmRSS each second after the run (MiB): ${samples.map((k) => k >> 10).join(' ')}`);
    assert.ok(threads(pid) <= threadsBefore, `the agent still has ${threads(pid)} threads (${threadsBefore} before the run): its workers were not ended`);
    assert.ok(
      samples.at(-1)! <= IDLE_TARGET_KIB,
      `the idle agent kept ${samples.at(-1)! >> 10} MiB after ${samples.length - 1} s (peak ${peak >> 10} MiB; samples in MiB: ${samples.map((k) => k >> 10).join(' ')})`,
    );
  });
});
