import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RingRegions } from './ring-regions.ts';

describe('ring regions', () => {
  it('a shrunk newest region gives its rest back at once', () => {
    const ring = new RingRegions(1024);
    const a = ring.take(600);
    assert.equal(ring.take(600), -1, 'no room beside 600 bytes out');
    ring.shrink(a, 100);
    assert.equal(ring.outBytes, 100);
    const b = ring.take(600);
    assert.ok(b >= a + 100 && b + 600 <= 1024, 'placed in the room given back');
  });

  it('a shrunk older region gives its rest back only when it is freed', () => {
    const ring = new RingRegions(1024);
    const a = ring.take(400);
    const b = ring.take(400);
    ring.shrink(a, 10);
    assert.equal(ring.outBytes, 410);
    assert.equal(ring.take(300), -1, 'the hole behind the newest region is not reused while the older one is out');
    ring.free(a);
    const c = ring.take(300);
    assert.ok(c >= 0 && (c + 300 <= b || c >= b + 400), 'placed in the freed room, clear of the region still out');
  });

  it('a region shrunk to nothing still never shares its start with the next', () => {
    const ring = new RingRegions(1024);
    const a = ring.take(200);
    ring.shrink(a, 0);
    const b = ring.take(200);
    assert.notEqual(b, a);
    ring.free(a);
    assert.equal(ring.outBytes, 200, 'freeing the empty region left the next one out');
  });

  it('places a region in room at the start rather than in memory never written, and uses written room after the newest first', () => {
    const ring = new RingRegions(4096);
    const a = ring.take(300);
    ring.take(300);
    ring.free(a);
    assert.equal(ring.take(200), 0, 'the start, not past everything written so far');

    const r = new RingRegions(4096);
    const x = r.take(300);
    const y = r.take(600);
    r.shrink(y, 100); // written up to y + 600 once; the newest now ends at y + 100
    r.free(x);
    const z = r.take(200);
    assert.ok(z > y, 'after the newest: that room was written before');
  });
});
