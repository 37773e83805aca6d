import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { placeholderVaultConfig } from '../../test/support/storage-fixtures.ts';
import { BLOB_DATA } from '../core/blob.ts';
import { PackBuilder } from '../core/pack.ts';
import { missingChunks } from './chunk-lookup.ts';
import { indexOrphanPacks } from './pack-recovery.ts';
import { Vault } from './vault-store.ts';

/** Writes a pack of fresh blobs (or of the given ids, with other bytes) into the vault's packs/. */
function writePack(vault: Vault, blobs: number | Buffer[]): { name: string; ids: Buffer[]; entries: ReturnType<PackBuilder['finish']>['entries']; size: number } {
  const builder = new PackBuilder();
  const ids = typeof blobs === 'number' ? Array.from({ length: blobs }, () => randomBytes(32)) : blobs;
  for (const id of ids) builder.add(BLOB_DATA, id, Buffer.concat([Buffer.of(1), randomBytes(999)])); // sealed-blob version 1
  const { buffers, name, entries, size } = builder.finish();
  fs.mkdirSync(join(vault.packsDir, name.slice(0, 2)), { recursive: true });
  fs.writeFileSync(vault.packPath(name), Buffer.concat(buffers));
  return { name, ids, entries, size };
}

function withVault(run: (vault: Vault) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-recovery-'));
    fs.mkdirSync(join(dir, 'packs'));
    const vault = new Vault('v', dir, placeholderVaultConfig);
    try {
      await run(vault);
    } finally {
      await vault.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'a pack left durable but unindexed by a crash is indexed when the vault opens; a damaged one is not',
  withVault(async (vault) => {
    const { index } = vault;
    const orphan = writePack(vault, 3);
    const damaged = writePack(vault, 2);
    const bytes = fs.readFileSync(vault.packPath(damaged.name));
    bytes[40] = bytes[40]! ^ 1;
    fs.writeFileSync(vault.packPath(damaged.name), bytes);

    assert.deepEqual(await indexOrphanPacks(vault), [orphan.name]);
    assert.equal(index.hasPack(orphan.name), true);
    assert.equal(index.hasPack(damaged.name), false);
    assert.deepEqual(index.missing(orphan.ids), []);
    assert.equal(index.missing(damaged.ids).length, 2);
    assert.deepEqual(await indexOrphanPacks(vault), [], 'a second open finds nothing to do');
  }),
);

test(
  'a recovered pack takes over the chunks of a pack whose file was lost, as its upload would have',
  withVault(async (vault) => {
    const lost = writePack(vault, 3);
    vault.index.addPack(lost.name, lost.size, lost.entries);
    fs.unlinkSync(vault.packPath(lost.name));
    assert.equal((await missingChunks(vault, lost.ids, 'r1')).length, 3);
    // the backup that re-sent them crashed between the pack's rename and its indexing
    const resent = writePack(vault, lost.ids);
    assert.deepEqual(await indexOrphanPacks(vault), [resent.name]);
    assert.deepEqual(await missingChunks(vault, lost.ids, 'r1'), []);
    assert.deepEqual(new Set(vault.index.lookup(lost.ids).map((l) => l?.pack)), new Set([resent.name]));
  }),
);
