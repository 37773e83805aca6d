import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BLOB_DATA } from '../core/blob.ts';
import { PackBuilder } from '../core/pack.ts';
import { ChunkIndex } from './chunk-index.ts';
import { indexOrphanPacks } from './pack-recovery.ts';

function writePack(packsDir: string, blobs: number): { name: string; ids: Buffer[] } {
  const builder = new PackBuilder();
  const ids = Array.from({ length: blobs }, () => randomBytes(32));
  for (const id of ids) builder.add(BLOB_DATA, id, Buffer.concat([Buffer.of(1), randomBytes(999)])); // sealed-blob version 1
  const { buffers, name } = builder.finish();
  fs.mkdirSync(join(packsDir, name.slice(0, 2)), { recursive: true });
  fs.writeFileSync(join(packsDir, name.slice(0, 2), name), Buffer.concat(buffers));
  return { name, ids };
}

test('a pack left durable but unindexed by a crash is indexed when the vault opens; a damaged one is not', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-recovery-'));
  try {
    const packs = join(dir, 'packs');
    fs.mkdirSync(packs);
    const index = new ChunkIndex(join(dir, 'index.sqlite'));
    const orphan = writePack(packs, 3);
    const damaged = writePack(packs, 2);
    const file = join(packs, damaged.name.slice(0, 2), damaged.name);
    const bytes = fs.readFileSync(file);
    bytes[40] = bytes[40]! ^ 1;
    fs.writeFileSync(file, bytes);

    assert.deepEqual(await indexOrphanPacks(packs, index), [orphan.name]);
    assert.equal(index.hasPack(orphan.name), true);
    assert.equal(index.hasPack(damaged.name), false);
    assert.deepEqual(index.missing(orphan.ids), []);
    assert.equal(index.missing(damaged.ids).length, 2);
    assert.deepEqual(await indexOrphanPacks(packs, index), [], 'a second open finds nothing to do');
    index.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
