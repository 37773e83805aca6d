import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { chunkLengths, type ChunkerParams, DEFAULT_CHUNKER, gearTable } from '../../core/chunker.ts';
import { chunkId, generateVaultKeys } from '../../core/keys.ts';
import { contentDifference, liveChunks } from './live-chunks.ts';

const dir = mkdtempSync(join(tmpdir(), 'cairn-live-chunks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const keys = generateVaultKeys();
const gear = gearTable(keys.chunkerKey);

function randomish(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The ids a whole-buffer chunking gives: what the backup stored. */
function expectedIds(chunker: ChunkerParams, data: Buffer): Buffer[] {
  const ids: Buffer[] = [];
  let at = 0;
  for (const length of chunkLengths(chunker, gear, data)) {
    ids.push(chunkId(keys, data.subarray(at, at + length)));
    at += length;
  }
  return ids;
}

describe('liveChunks', () => {
  for (const [label, chunker, size] of [
    ['default chunker, a file larger than the read buffer', DEFAULT_CHUNKER, 11 * 1024 * 1024 + 17],
    ['tiny chunks, many buffer refills', { min: 64, avg: 256, max: 1024 }, 5 * 1024 * 1024 + 3],
  ] as const) {
    it(`cuts a file as the backup does (${label})`, async () => {
      const data = randomish(size, size);
      const path = join(dir, `f-${size}`);
      writeFileSync(path, data);
      const ids: Buffer[] = [];
      let offset = 0;
      for await (const c of liveChunks(Buffer.from(path), { keys, chunker, gear })) {
        assert.equal(c.offset, offset);
        offset += c.length;
        ids.push(c.id);
      }
      assert.equal(offset, size);
      assert.deepEqual(ids, expectedIds(chunker, data));
    });
  }

  it('names where content differs, and accepts identical content', async () => {
    const data = randomish(3 * 1024 * 1024, 7);
    const path = join(dir, 'changed');
    writeFileSync(path, data);
    const ids = expectedIds(DEFAULT_CHUNKER, data);
    const r = { keys, chunker: DEFAULT_CHUNKER, gear };
    assert.equal(await contentDifference(Buffer.from(path), ids, r), undefined);
    const changed = Buffer.from(data);
    changed[changed.length - 10]! ^= 0xff;
    writeFileSync(path, changed);
    assert.match((await contentDifference(Buffer.from(path), ids, r))!, /content differs from the snapshot from byte \d+ \(chunk \d+ of \d+\)/);
    writeFileSync(path, data.subarray(0, 100_000));
    assert.match((await contentDifference(Buffer.from(path), ids, r))!, /content differs/);
  });
});
