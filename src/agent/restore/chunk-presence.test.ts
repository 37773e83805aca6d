import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ChunkPresence } from './chunk-presence.ts';

const id = (n: number) => createHash('sha256').update(`chunk ${n}`).digest();

/** A storage server's answer over a set of held ids, recording each batch asked about. */
function holding(held: number[]) {
  const have = new Set(held.map((n) => id(n).toString('hex')));
  const asked: number[] = [];
  const ask = async (ids: Buffer[]) => {
    asked.push(ids.length);
    return ids.filter((i) => !have.has(i.toString('hex')));
  };
  return { ask, asked };
}

describe('ChunkPresence', () => {
  it('asks about each distinct id once, in full batches, and names the first file that needs a missing one', async () => {
    const server = holding([1, 2, 3, 4, 6, 7]);
    const presence = new ChunkPresence(server.ask, 3);
    await presence.add('/a', [id(1), id(2)]);
    await presence.add('/b', [id(2), id(3), id(4)]); // id 2 again: not asked twice
    await presence.add('/c', [id(6), id(5)]); // 5 is missing
    await presence.add('/d', [id(5), id(7), id(8)]); // 5 again (counted once), 8 missing
    const report = await presence.finish();
    assert.deepEqual(server.asked, [3, 3, 2]);
    assert.deepEqual(report, { chunks: 8, missing: 2, firstAffected: '/c' });
  });

  it('reports nothing missing when the server holds everything, and asks nothing for no chunks', async () => {
    const server = holding([1]);
    const presence = new ChunkPresence(server.ask);
    await presence.add('/empty', []);
    assert.deepEqual(await new ChunkPresence(server.ask).finish(), { chunks: 0, missing: 0, firstAffected: undefined });
    await presence.add('/one', [id(1)]);
    assert.deepEqual(await presence.finish(), { chunks: 1, missing: 0, firstAffected: undefined });
    assert.deepEqual(server.asked, [1]);
  });
});
