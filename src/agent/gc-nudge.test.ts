import assert from 'node:assert/strict';
import { it } from 'node:test';
import v8 from 'node:v8';
import { heapWantsCollect, watchHeap, watchingHeap } from './gc-nudge.ts';

const MiB = 1024 * 1024;
const used = () => v8.getHeapStatistics().used_heap_size;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * ~`mb` MB of small objects, each living long enough to leave the young generation (a window of
 * the last 8 MB is kept), as a restore's files in flight do; the live set stays small.
 */
async function promotedGarbage(mb: number): Promise<void> {
  const kept: { n: number; s: string }[][] = [];
  for (let i = 0; i < mb; i++) {
    kept.push(Array.from({ length: 10_000 }, (_, n) => ({ n, s: `file ${i}/${n}` })));
    if (kept.length > 8) kept.shift();
    if (i % 8 === 0) await sleep(1); // scavenges and the watch's timer run
  }
  kept.length = 0;
}

it('collects at twice what the last collection left, never below the 32 MiB floor', () => {
  assert.equal(heapWantsCollect(31 * MiB, 0), false);
  assert.equal(heapWantsCollect(32 * MiB, 0), true);
  assert.equal(heapWantsCollect(40 * MiB, 25 * MiB), false);
  assert.equal(heapWantsCollect(100 * MiB, 40 * MiB), true);
  assert.equal(heapWantsCollect(79 * MiB, 40 * MiB), false);
  assert.equal(heapWantsCollect(80 * MiB, 40 * MiB), true);
});

it('keeps a watched heap of promoted garbage down, and stops watching with the last run', async () => {
  const unwatchA = watchHeap();
  const unwatchB = watchHeap();
  await promotedGarbage(150);
  await sleep(1000); // nothing allocates: a collection now is the watch's
  assert.ok(used() < 64 * MiB, `collected: ${Math.round(used() / MiB)} MB in use`);
  unwatchA();
  unwatchA(); // ending one run's watch twice does not end another's
  assert.equal(watchingHeap(), true);
  unwatchB();
  assert.equal(watchingHeap(), false);
});
