import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Bucket, netScale, percentile, roll, sampleOf, usToMs, windowPercentiles } from './net-buckets.ts';

describe('network buckets', () => {
  it('takes nearest-rank percentiles, null for no samples', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(sorted, 0.5), 50);
    assert.equal(percentile(sorted, 0.99), 99);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([], 0.5), null);
  });

  it('keeps a bucket while the time is inside it and closes it into one sample after', () => {
    const b: Bucket = { start: 60_000, rtts: [300, 100, 200], online: true };
    assert.equal(roll(b, 119_999, 60_000, true).bucket, b);
    assert.equal(roll(b, 119_999, 60_000, true).closed, undefined);
    const { bucket, closed } = roll(b, 185_000, 60_000, false);
    assert.deepEqual(bucket, { start: 180_000, rtts: [], online: false });
    assert.deepEqual(closed, { bucketMs: 60_000, time: 60_000, rttUs: 200, rttP99Us: 300, heartbeats: 3, online: true });
  });

  it('marks a bucket with no heartbeat and no online moment offline, with no RTT', () => {
    assert.deepEqual(sampleOf({ start: 0, rtts: [], online: false }, 60_000), { bucketMs: 60_000, time: 0, rttUs: null, rttP99Us: null, heartbeats: 0, online: false });
  });

  it('takes the window percentiles over every bucket given', () => {
    assert.deepEqual(windowPercentiles([{ start: 0, rtts: [10, 30], online: true }, { start: 1, rtts: [20], online: true }]), { p50: 20, p99: 30 });
    assert.deepEqual(windowPercentiles([]), { p50: null, p99: null });
  });

  it('scales hours and retention from the minute bucket', () => {
    assert.deepEqual(netScale(60_000), { minute: 60_000, hour: 3_600_000, keepMinutes: 86_400_000, keepHours: 30 * 86_400_000 });
    assert.equal(usToMs(1234), 1.234);
    assert.equal(usToMs(null), null);
  });
});
