import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planSpans } from './pack-reader.ts';

describe('planSpans', () => {
  it('merges blobs that follow each other in one pack, across small gaps only', () => {
    const spans = planSpans(
      [
        { pack: 'a', offset: 100, length: 50 },
        { pack: 'a', offset: 155, length: 50 }, // 5-byte gap: joins
        { pack: 'a', offset: 1000, length: 10 }, // gap of 795 > 100: new span
        { pack: 'b', offset: 1010, length: 10 }, // other pack: new span
      ],
      1 << 20,
      100,
    );
    assert.deepEqual(spans, [
      { pack: 'a', offset: 100, length: 105, first: 0, count: 2 },
      { pack: 'a', offset: 1000, length: 10, first: 2, count: 1 },
      { pack: 'b', offset: 1010, length: 10, first: 3, count: 1 },
    ]);
  });

  it('starts a new span for a blob out of order or beyond the span limit', () => {
    const spans = planSpans(
      [
        { pack: 'a', offset: 500, length: 100 },
        { pack: 'a', offset: 100, length: 100 }, // before the span: new span, so the order is kept
        { pack: 'a', offset: 200, length: 100 },
        { pack: 'a', offset: 300, length: 100 }, // would make the span 300 bytes > 250
      ],
      250,
      0,
    );
    assert.deepEqual(
      spans.map((s) => [s.first, s.count, s.offset, s.length]),
      [
        [0, 1, 500, 100],
        [1, 2, 100, 200],
        [3, 1, 300, 100],
      ],
    );
  });
});
