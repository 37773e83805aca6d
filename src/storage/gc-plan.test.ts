import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomPack } from '../../test/support/storage-fixtures.ts';
import { packSize, planPacks } from './gc-plan.ts';

describe('gc pack plan', () => {
  it('computes the exact size of a pack from its blob count and sealed bytes', () => {
    const pack = randomPack(7, 1000);
    const sealed = pack.blobs.reduce((n, b) => n + b.sealed.length, 0);
    assert.equal(packSize(7, sealed), pack.size);
  });

  it('deletes a pack serving nothing, rewrites one at least half garbage, keeps the rest', () => {
    const usage = [
      { name: 'empty', size: 1000, chunks: 0, sealedBytes: 0 },
      { name: 'half', size: 2 * packSize(1, 1000), chunks: 1, sealedBytes: 1000 },
      { name: 'mostly-live', size: packSize(2, 1000) + 100, chunks: 2, sealedBytes: 1000 },
    ];
    const plan = planPacks(usage);
    assert.deepEqual(plan.remove.map((p) => p.name), ['empty']);
    assert.deepEqual(plan.rewrite.map((p) => p.name), ['half']);
    assert.equal(plan.bytesFreed, 1000 + packSize(1, 1000));
  });
});
