import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { DedupBatcher } from './dedup-batcher.ts';

test('coalesces questions of one turn into one request and answers each caller', async () => {
  const stored = new Set<string>();
  const requests: number[] = [];
  const batcher = new DedupBatcher(async (ids) => {
    requests.push(ids.length);
    await new Promise((r) => setTimeout(r, 5));
    return ids.filter((id) => !stored.has(id.toString('hex')));
  });
  const known = randomBytes(32);
  stored.add(known.toString('hex'));
  const a = [randomBytes(32), known];
  const b = [known, randomBytes(32), randomBytes(32)];
  const [ra, rb] = await Promise.all([batcher.missing(a), batcher.missing(b)]);
  assert.deepEqual(ra, [true, false]);
  assert.deepEqual(rb, [false, true, true]);
  assert.deepEqual(requests, [5]);
});

test('questions asked while requests are in flight leave together', async () => {
  const requests: number[] = [];
  const batcher = new DedupBatcher(
    async (ids) => {
      requests.push(ids.length);
      await new Promise((r) => setTimeout(r, 10));
      return [];
    },
    { maxInFlight: 1 },
  );
  const first = batcher.missing([randomBytes(32)]);
  await new Promise((r) => setImmediate(r));
  const later = [1, 2, 3].map(() => batcher.missing([randomBytes(32), randomBytes(32)]));
  await Promise.all([first, ...later]);
  assert.deepEqual(requests, [1, 6]);
});

test('a failed request rejects its callers', async () => {
  const batcher = new DedupBatcher(async () => {
    throw new Error('down');
  });
  await assert.rejects(batcher.missing([randomBytes(32)]), /down/);
});
