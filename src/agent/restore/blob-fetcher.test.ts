import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Batch, batchChunks } from './blob-fetcher.ts';

type File = { name: string; ids: Buffer[]; size: number };

const id = (n: number) => Buffer.alloc(32, n);

async function* files(list: File[]) {
  yield* list;
}

async function collect(list: File[], limits: { maxIds: number; maxBytes: number }) {
  const out: Batch<File>[] = [];
  for await (const b of batchChunks(files(list), (f) => f, limits)) out.push(b);
  return out;
}

test('an id repeated inside a batch is fetched once and used everywhere', async () => {
  const zeros = id(0);
  const [batch, ...more] = await collect(
    [
      { name: 'sparse', ids: [id(1), zeros, zeros, id(2)], size: 4000 },
      { name: 'copy', ids: [id(1)], size: 1000 },
    ],
    { maxIds: 4096, maxBytes: 1 << 30 },
  );
  assert.equal(more.length, 0);
  assert.deepEqual(batch!.ids, [id(1), zeros, id(2)]);
  assert.deepEqual(
    batch!.uses.map((u) => u.map((x) => `${x.file.name}#${x.index}`)),
    [['sparse#0', 'copy#0'], ['sparse#1', 'sparse#2'], ['sparse#3']],
  );
});

test('batches respect the id and byte limits, in walk order', async () => {
  const big = { name: 'big', ids: [1, 2, 3, 4, 5].map(id), size: 5000 };
  const small = { name: 'small', ids: [id(6)], size: 10 };
  const byIds = await collect([big, small], { maxIds: 2, maxBytes: 1 << 30 });
  assert.deepEqual(
    byIds.map((b) => b.ids.map((x) => x[0])),
    [[1, 2], [3, 4], [5, 6]],
  );
  const byBytes = await collect([big, small], { maxIds: 4096, maxBytes: 2500 });
  assert.deepEqual(
    byBytes.map((b) => b.ids.map((x) => x[0])),
    [[1, 2], [3, 4], [5, 6]],
  );
  const oversized = await collect([{ name: 'huge', ids: [id(9)], size: 1e9 }], { maxIds: 10, maxBytes: 10 });
  assert.equal(oversized.length, 1, 'a chunk larger than the byte limit still gets a batch');
});
