import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from './rate-limiter.ts';

/** A limiter whose clock the test moves. */
function clocked(rate: number): { limiter: RateLimiter; advance: (ms: number) => void } {
  let now = 0;
  return { limiter: new RateLimiter(rate, { now: () => now }), advance: (ms) => (now += ms) };
}

test('a full bucket lets one second of the rate through at once, then the rate paces', () => {
  const { limiter, advance } = clocked(1000);
  assert.equal(limiter.reserve(600), 0);
  assert.equal(limiter.reserve(400), 0);
  assert.equal(limiter.reserve(500), 500, 'the next 500 bytes wait half a second');
  advance(500);
  assert.equal(limiter.reserve(1000), 1000, 'nothing was left over: a whole second');
});

test('an idle spell refills the bucket to one second of the rate, never more', () => {
  const { limiter, advance } = clocked(1000);
  limiter.reserve(1000);
  advance(60_000);
  assert.equal(limiter.reserve(1000), 0);
  assert.equal(limiter.reserve(1), 1, 'a minute idle buys no more than the burst');
});

test('waiting takers are served in the order they asked, each a slice later', () => {
  const { limiter } = clocked(1000);
  limiter.reserve(1000);
  assert.deepEqual([limiter.reserve(100), limiter.reserve(100), limiter.reserve(100)], [100, 200, 300]);
});

test('a take larger than the bucket is refused; slices fit the bucket', async () => {
  const limiter = new RateLimiter(100);
  assert.equal(limiter.sliceBytes, 100);
  await assert.rejects(limiter.take(101), /exceeds the bucket/);
  assert.equal(new RateLimiter(10 * 1024 * 1024).sliceBytes, 64 * 1024);
  assert.throws(() => new RateLimiter(0), /whole number of bytes per second/);
});

test('takes over the burst pace the bytes at the rate on the real clock', async () => {
  const limiter = new RateLimiter(100_000); // 100 kB/s, 100 kB burst
  const start = performance.now();
  for (let i = 0; i < 15; i++) await limiter.take(10_000); // 150 kB: 50 kB over the burst
  const ms = performance.now() - start;
  assert.ok(ms >= 490 && ms < 1500, `${ms} ms`);
});

test('an abort ends a wait at once with its reason', async () => {
  const controller = new AbortController();
  const limiter = new RateLimiter(1000, { signal: controller.signal });
  await limiter.take(1000);
  const start = performance.now();
  const waiting = limiter.take(1000); // a second's wait
  setTimeout(() => controller.abort(new Error('canceled by test')), 50);
  await assert.rejects(waiting, /canceled by test/);
  assert.ok(performance.now() - start < 500);
  await assert.rejects(limiter.take(1), /canceled by test/, 'and refuses takes after it');
});
