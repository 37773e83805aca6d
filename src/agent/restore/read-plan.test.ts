import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ChunkPlace } from '../../protocol/data-plane.ts';
import { ReadPlanner } from './read-plan.ts';

const id = (n: number) => createHash('sha256').update(`chunk ${n}`).digest();
const packName = (letter: string) => letter.repeat(64);

/** What a storage server's `locate` answers over `held` (chunk n → pack letter), recording each request's size. */
function holding(held: Record<number, string>) {
  const byId = new Map<string, ChunkPlace>();
  for (const [n, letter] of Object.entries(held))
    byId.set(id(Number(n)).toString('hex'), { pack: packName(letter), offset: 100 * Number(n), length: 10 * Number(n) });
  const asked: number[] = [];
  const locate = async (ids: Buffer[]) => {
    asked.push(ids.length);
    return ids.map((i) => byId.get(i.toString('hex')));
  };
  return { locate, asked };
}

describe('ReadPlanner', () => {
  it("groups chunks as the restorer will, counts each request's packs in pack order, and names the first file with a missing chunk", async () => {
    const server = holding({ 1: 'b', 2: 'a', 3: 'b', 4: 'a', 6: 'c', 7: 'c' });
    const planner = new ReadPlanner(server.locate, { maxIds: 3, maxBytes: Infinity }, 6);
    await planner.add('/a', [id(1), id(2)], 30);
    await planner.add('/b', [id(2), id(3), id(4)], 90); // 2 again in the same request: asked once
    await planner.add('/empty', [], 0);
    await planner.add('/c', [id(6), id(5)], 20); // 5 is missing
    await planner.add('/d', [id(5), id(7), id(8)], 30); // 5 again, in the same request; 8 missing
    const plan = await planner.finish();
    // requests [1,2,3] [4,6,5] [7,8]; the first two located together, the third alone
    assert.deepEqual(server.asked, [6, 2]);
    assert.deepEqual(plan, {
      chunks: 8,
      missing: 2,
      firstAffected: '/c',
      requests: 3,
      packs: 3,
      packReads: 5, // a, b | a, c | c
      readBytes: 10 + 20 + 30 + 40 + 60 + 70,
      order: [
        { pack: packName('a'), chunks: 2, bytes: 20 + 40 },
        { pack: packName('b'), chunks: 2, bytes: 10 + 30 },
        { pack: packName('c'), chunks: 2, bytes: 60 + 70 },
      ],
    });
  });

  it('asks nothing for no chunks, and reads each pack once when every request stays in its packs', async () => {
    const empty = holding({});
    assert.deepEqual(await new ReadPlanner(empty.locate).finish(), {
      chunks: 0,
      missing: 0,
      requests: 0,
      packs: 0,
      packReads: 0,
      readBytes: 0,
      order: [],
    });
    assert.deepEqual(empty.asked, []);
    const server = holding({ 1: 'a', 2: 'a', 3: 'b' });
    const planner = new ReadPlanner(server.locate);
    await planner.add('/x', [id(1), id(2), id(1), id(3)], 40);
    const plan = await planner.finish();
    assert.equal(plan.packReads, plan.packs);
    assert.equal(plan.readBytes, 10 + 20 + 30);
    assert.deepEqual(server.asked, [3]);
  });
});
