import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decodeRefs, encodeRefs } from '../../core/snapshot.ts';
import { ChunkSet } from './chunk-set.ts';

test('keeps each id once, across growth, and answers membership', () => {
  const set = new ChunkSet();
  const ids = Array.from({ length: 20_000 }, () => randomBytes(32));
  for (const id of ids) assert.equal(set.add(id), true);
  for (const id of ids) assert.equal(set.add(Buffer.from(id)), false);
  assert.equal(set.size, ids.length);
  assert.equal(set.has(ids[12_345]!), true);
  assert.equal(set.has(randomBytes(32)), false);
});

test('sortedRefs equals core encodeRefs of the same ids, including shared prefixes', () => {
  const set = new ChunkSet();
  const ids = Array.from({ length: 5_000 }, () => randomBytes(32));
  // ids that share their first bytes land in one bucket and must still come out in order
  for (let i = 0; i < 50; i++) {
    const id = randomBytes(32);
    id[0] = 7;
    id[1] = 9;
    ids.push(id);
  }
  ids.push(Buffer.alloc(32), Buffer.alloc(32, 0xff));
  for (const id of ids) set.add(id);
  const refs = set.sortedRefs();
  assert.deepEqual(refs, encodeRefs(ids));
  assert.equal(decodeRefs(refs).length, ids.length); // decodeRefs insists on strict order
});

test('an empty set gives empty refs', () => {
  assert.equal(new ChunkSet().sortedRefs().length, 0);
});
