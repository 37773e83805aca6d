import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SEALED_KEPT, SealedBuffers } from './sealed-buffers.ts';

const MiB = 1024 * 1024;

describe('sealed buffers', () => {
  it('lends a buffer given back again to the next blob it fits, the smallest that fits', () => {
    const pool = new SealedBuffers();
    const big = pool.take(3 * MiB + 1);
    const small = pool.take(700_000);
    pool.give(big);
    pool.give(small);
    assert.equal(pool.take(600_000).buffer, small.buffer);
    assert.equal(pool.take(900_000).buffer, big.buffer); // the small one is lent: the big one fits
    assert.notEqual(pool.take(900_000).buffer, big.buffer); // none free: a new one
  });

  it('once the kept buffers are full, a larger one given back takes the place of the smallest', () => {
    const pool = new SealedBuffers();
    const sizes = [600_000, 1_100_000, 1_600_000, 2_100_000, 4 * MiB];
    const lent = sizes.map((n) => pool.take(n));
    for (const b of lent) pool.give(b);
    assert.equal(pool.kept.length, SEALED_KEPT);
    assert.equal(Math.min(...pool.kept), 1.5 * MiB, 'the 1 MiB buffer made way for the 4 MiB one');
    assert.equal(Math.max(...pool.kept), 4 * MiB);
    assert.equal(lent[0]!.buffer.byteLength, 0, 'the buffer that made way is freed at once, not left to the collector');
    assert.ok(lent.slice(1).every((b) => b.buffer.byteLength > 0));
    // and the largest blob now finds a buffer without a new allocation
    assert.equal(pool.take(4 * MiB - 100).buffer, lent[4]!.buffer);
  });

  it('keeps a smaller one out when the kept ones are all larger, and never keeps what it did not lend', () => {
    const pool = new SealedBuffers();
    const lent = [2, 2, 2, 2, 1].map((m) => pool.take(m * MiB));
    for (const b of lent) pool.give(b);
    assert.deepEqual(pool.kept, [2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB]);
    assert.equal(lent[4]!.buffer.byteLength, 0, 'the one kept out is freed at once');
    const read = Buffer.alloc(3 * MiB);
    pool.give(read); // a slice of a read, not one of ours
    assert.deepEqual(pool.kept, [2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB]);
    assert.equal(read.length, 3 * MiB, 'what it did not lend, it neither keeps nor frees');
    const tiny = pool.take(1000); // under the pooled size: a buffer of its own, never kept
    pool.give(tiny);
    assert.equal(pool.kept.length, SEALED_KEPT);
  });
});
