import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferLease, freeOwned, ScratchBuffer, spansItsBuffer } from './free-owned.ts';

describe('freeing buffers early', () => {
  it('frees an owned buffer at once, through any of its views', () => {
    const whole = Buffer.from(new ArrayBuffer(100_000));
    const view = whole.subarray(10, 20);
    freeOwned(view);
    assert.equal(whole.buffer.byteLength, 0);
    assert.equal(whole.buffer.detached, true);
    freeOwned(whole); // twice: nothing happens
  });

  it("never frees Node's shared pool, a SharedArrayBuffer, or a buffer of a pool slab's size", () => {
    const pooled = Buffer.from('small, from the pool');
    const neighbour = Buffer.from('its neighbour in the same slab');
    assert.equal(pooled.buffer, neighbour.buffer); // the premise: both live in the pool
    freeOwned(pooled);
    assert.equal(neighbour.toString(), 'its neighbour in the same slab');
    const shared = new Uint8Array(new SharedArrayBuffer(100_000));
    freeOwned(shared);
    assert.equal(shared.length, 100_000);
    const small = new Uint8Array(Buffer.poolSize);
    freeOwned(small);
    assert.equal(small.length, Buffer.poolSize);
  });

  it('a lease frees its buffer only when the last hold is released', () => {
    const b = new Uint8Array(new ArrayBuffer(50_000));
    const lease = new BufferLease(b);
    lease.hold();
    lease.hold();
    lease.release();
    lease.release();
    assert.equal(b.length, 50_000);
    lease.release(); // the maker's hold
    assert.equal(b.length, 0);
  });

  it('a lease hands its buffer on instead of freeing it when told where to', () => {
    const b = new Uint8Array(new ArrayBuffer(50_000));
    const handed: Uint8Array[] = [];
    const lease = new BufferLease(b, (buffer) => handed.push(buffer));
    lease.hold();
    lease.release();
    assert.equal(handed.length, 0);
    lease.release();
    assert.deepEqual(handed, [b]);
    assert.equal(b.length, 50_000); // handed on, not freed
  });

  it('tells a view that is its whole buffer from a part of one', () => {
    const b = Buffer.from(new ArrayBuffer(64));
    assert.equal(spansItsBuffer(b), true);
    assert.equal(spansItsBuffer(b.subarray(1)), false);
    assert.equal(spansItsBuffer(Buffer.from('pooled')), false);
  });

  it('keeps one scratch buffer, grown as needed, and hands out its own buffer above the kept size', () => {
    const scratch = new ScratchBuffer(1 << 20);
    const a = scratch.get(1000);
    assert.ok(a.length >= 1000 && scratch.holds(a));
    assert.equal(scratch.get(500).buffer, a.buffer, 'a smaller request reuses it');
    const b = scratch.get(300_000);
    assert.ok(b.length >= 300_000 && scratch.holds(b) && !scratch.holds(a), 'grown: a new kept buffer');
    const big = scratch.get(2 << 20);
    assert.equal(big.length, 2 << 20);
    assert.ok(!scratch.holds(big), 'above the kept size: the caller’s own');
    assert.equal(scratch.get(10).buffer, b.buffer);
  });
});
