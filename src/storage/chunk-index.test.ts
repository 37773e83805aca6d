import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CairnError } from '../core/errors.ts';
import type { PackEntry } from '../core/pack.ts';
import { ChunkIndex, INDEX_CACHE_KIB } from './chunk-index.ts';

function entries(n: number): PackEntry[] {
  return Array.from({ length: n }, (_, i) => ({ type: 0, id: randomBytes(32), offset: 49 + i * 100, length: 59 }));
}

describe('ChunkIndex', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-index-'));

  it('answers missing in request order, once each, across batches', () => {
    const index = new ChunkIndex(join(dir, 'a.sqlite'));
    const stored = entries(1200);
    index.addPack('aa'.repeat(32), 1000, stored);
    const unknown = Array.from({ length: 700 }, () => randomBytes(32));
    const ask = [stored[0]!.id, unknown[0]!, ...stored.map((e) => e.id), ...unknown, unknown[0]!];
    assert.deepEqual(index.missing(ask), unknown);
    index.close();
  });

  it('keeps up to 64 MiB of index pages in memory, on the connection the gc index shares', () => {
    const index = new ChunkIndex(join(dir, 'cache.sqlite'));
    assert.equal(INDEX_CACHE_KIB, 64 * 1024);
    assert.deepEqual({ ...(index.db.prepare('PRAGMA cache_size').get() as object) }, { cache_size: -INDEX_CACHE_KIB });
    index.close();
  });

  it('truncates its WAL on request, the rows staying', () => {
    const path = join(dir, 'wal.sqlite');
    const index = new ChunkIndex(path);
    for (let i = 0; i < 20; i++) index.addPack(randomBytes(32).toString('hex'), 1000, entries(200));
    assert.ok(statSync(`${path}-wal`).size > 1_000_000, 'the WAL grew');
    // a listing still open (a scrub between two packs) keeps the WAL: the call neither waits nor throws
    const listing = index.packNames()[Symbol.iterator]();
    listing.next();
    const started = Date.now();
    index.truncateWal();
    assert.ok(Date.now() - started < 1000);
    assert.ok(statSync(`${path}-wal`).size > 1_000_000);
    listing.return?.(undefined);
    index.truncateWal();
    assert.equal(statSync(`${path}-wal`).size, 0);
    index.close();
    const reopened = new ChunkIndex(path);
    assert.deepEqual(reopened.counts(), { packs: 20, chunks: 4000 });
    reopened.close();
  });

  it('keeps the first copy of a chunk and survives reopening', () => {
    const path = join(dir, 'b.sqlite');
    const index = new ChunkIndex(path);
    const first = entries(3);
    index.addPack('11'.repeat(32), 500, first);
    const again = first.map((e) => ({ ...e, offset: e.offset + 7 }));
    index.addPack('22'.repeat(32), 600, again);
    index.addPack('22'.repeat(32), 600, again); // re-adding the same pack changes nothing
    index.close();

    const reopened = new ChunkIndex(path);
    assert.deepEqual(reopened.counts(), { packs: 2, chunks: 3 });
    const [loc] = reopened.locate([first[1]!.id]);
    assert.deepEqual(loc, { pack: '11'.repeat(32), offset: first[1]!.offset, length: 59, type: 0 });
    assert.ok(reopened.hasPack('22'.repeat(32)));
    assert.ok(!reopened.hasPack('33'.repeat(32)));
    assert.deepEqual([...reopened.packNames()].sort(), ['11'.repeat(32), '22'.repeat(32)]);
    reopened.close();
  });

  it('locate names the first unknown id', () => {
    const index = new ChunkIndex(join(dir, 'c.sqlite'));
    const known = entries(2);
    index.addPack('cc'.repeat(32), 300, known);
    const unknown = randomBytes(32);
    assert.throws(
      () => index.locate([known[0]!.id, unknown, randomBytes(32)]),
      (e: unknown) => e instanceof CairnError && e.code === 'E_NOT_FOUND' && e.message.includes(unknown.toString('hex')),
    );
    index.close();
  });
});
