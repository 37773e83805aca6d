import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OutputBuffers } from '../../core/compress.ts';
import { PlainRing } from './plain-ring.ts';

/** A fallback that counts what it hands out and takes back. */
function counting(): OutputBuffers & { taken: number; given: number } {
  const f = {
    taken: 0,
    given: 0,
    take: (length: number) => {
      f.taken++;
      return Buffer.alloc(length);
    },
    give: () => {
      f.given++;
    },
  };
  return f;
}

describe('plaintext ring', () => {
  it('hands out regions of the shared memory that never overlap one still in use', () => {
    const ring = new PlainRing(new SharedArrayBuffer(1024), counting());
    const a = ring.take(300);
    const b = ring.take(300);
    const c = ring.take(300);
    assert.ok(ring.holds(a) && ring.holds(b) && ring.holds(c));
    assert.equal(a.buffer, ring.shared);
    const spans = [a, b, c].map((v) => [v.byteOffset, v.byteOffset + v.length]).sort((x, y) => x[0]! - y[0]!);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0]! >= spans[i - 1]![1]!, 'regions overlap');
    assert.equal(ring.outBytes, 900);
  });

  it('goes round once the oldest regions are freed, in any order, and never over one still out', () => {
    const fallback = counting();
    const ring = new PlainRing(new SharedArrayBuffer(1024), fallback);
    const a = ring.take(300);
    const b = ring.take(300);
    const c = ring.take(300);
    // full: 124 bytes left at the end, and the start is still a's
    const d = ring.take(200);
    assert.ok(!ring.holds(d), 'no room: from the fallback');
    assert.equal(fallback.taken, 1);
    // b freed first: a still holds the start, so nothing fits there yet
    ring.free(b.byteOffset);
    assert.ok(!ring.holds(ring.take(200)));
    ring.free(a.byteOffset); // a and b free: the start is room again
    const e = ring.take(500);
    assert.ok(ring.holds(e));
    assert.equal(e.byteOffset, 0);
    assert.ok(e.byteOffset + e.length <= c.byteOffset, 'the wrapped region stops short of c');
    // between e's end and c's start there are only ~100 bytes
    assert.ok(!ring.holds(ring.take(150)));
    ring.give(c);
    ring.give(e);
    assert.equal(ring.outBytes, 0);
    // empty: a region as large as the ring fits from the start
    const whole = ring.take(1024);
    assert.ok(ring.holds(whole));
    assert.equal(whole.byteOffset, 0);
  });

  it('gives back to the fallback what came from it, and ignores an offset it does not know', () => {
    const fallback = counting();
    const ring = new PlainRing(new SharedArrayBuffer(256), fallback);
    const big = ring.take(1000); // larger than the ring
    assert.ok(!ring.holds(big));
    ring.give(big);
    assert.equal(fallback.given, 1);
    const a = ring.take(100);
    ring.free(a.byteOffset + 1); // not a region's start: nothing happens
    assert.equal(ring.outBytes, 100);
    ring.free(a.byteOffset);
    ring.free(a.byteOffset); // twice: no harm
    assert.equal(ring.outBytes, 0);
  });

  it('keeps every region intact across many rounds of out-of-order frees', () => {
    const ring = new PlainRing(new SharedArrayBuffer(64 * 1024), counting());
    const out: { view: Buffer; fill: number }[] = [];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const view = ring.take(1 + random(9000));
      const fill = i & 0xff;
      view.fill(fill);
      out.push({ view, fill });
      // free a random one of the three oldest, so frees come out of order
      if (out.length > 6) {
        const [gone] = out.splice(random(3), 1);
        assert.ok(gone!.view.every((x) => x === gone!.fill), `region ${gone!.view.byteOffset} was overwritten`);
        ring.give(gone!.view);
      }
    }
    for (const { view, fill } of out) assert.ok(view.every((x) => x === fill));
  });
});
