import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlainBuffers, POOLED_MIN } from './plain-buffers.ts';

describe('plain buffers', () => {
  it('lends a buffer given back again for a plaintext it fits, but not for one under half its size', () => {
    const pool = new PlainBuffers(16 << 20);
    const a = pool.take(1_000_000);
    assert.ok(a.length >= 1_000_000);
    assert.equal(a.length % (128 * 1024), 0); // sized in steps
    const bytes = a.buffer;
    pool.give(a.subarray(10, 20)); // any view of it brings the whole buffer back
    assert.equal(pool.held, bytes.byteLength);
    assert.notEqual(pool.take(400_000).buffer, bytes); // too large for it: a new one
    const again = pool.take(900_000);
    assert.equal(again.buffer, bytes);
    assert.equal(pool.held, 0);
  });

  it('gives small plaintexts buffers of their own and never keeps them', () => {
    const pool = new PlainBuffers(16 << 20);
    const small = pool.take(POOLED_MIN - 1);
    assert.equal(small.length, POOLED_MIN - 1);
    pool.give(small);
    assert.equal(pool.held, 0);
    assert.equal(small.length, 0); // freed at once
  });

  it('keeps at most the bytes it is told, freeing the smallest first, and a buffer given twice once', () => {
    const pool = new PlainBuffers(3 << 20);
    const [one, two, other] = [1 << 20, 2 << 20, 2 << 20].map((n) => pool.take(n));
    pool.give(two!);
    pool.give(two!);
    assert.equal(pool.held, 2 << 20);
    pool.give(one!);
    assert.equal(pool.held, 3 << 20);
    pool.give(other!); // 5 MiB free: the 1 MiB buffer goes, then the first 2 MiB one
    assert.equal(pool.held, 2 << 20);
    assert.equal(one!.length, 0);
    assert.equal(two!.length, 0);
    assert.equal(other!.length, 2 << 20);
  });
});
