import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { placeholderVaultConfig } from '../../test/support/storage-fixtures.ts';
import { storageControlHandlers } from './control-handlers.ts';
import { storageFigures } from './figures.ts';
import { VaultStore } from './vault-store.ts';

describe('storage figures', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env.CAIRN_TEST = saved.CAIRN_TEST;
    process.env.CAIRN_TEST_DISK_FREE_BYTES = saved.CAIRN_TEST_DISK_FREE_BYTES;
    if (saved.CAIRN_TEST === undefined) delete process.env.CAIRN_TEST;
    if (saved.CAIRN_TEST_DISK_FREE_BYTES === undefined) delete process.env.CAIRN_TEST_DISK_FREE_BYTES;
  });

  it("counts each vault's indexed packs and their bytes, and the disk's free and total bytes", async () => {
    const store = new VaultStore(mkdtempSync(join(tmpdir(), 'cairn-figures-')));
    await store.init();
    await store.create('empty', placeholderVaultConfig);
    await store.create('photos', placeholderVaultConfig);
    const photos = await store.open('photos');
    photos.index.addPack('ab'.repeat(32), 1000, []);
    photos.index.addPack('cd'.repeat(32), 234, []);
    // a file nobody indexed (a temp leftover, a stray) is not counted: the index says what is stored
    writeFileSync(join(photos.tmpDir, 'stray'), 'x'.repeat(500));
    const f = await storageFigures(store);
    assert.deepEqual(f.vaults, [
      { name: 'empty', bytesStored: 0, packs: 0 },
      { name: 'photos', bytesStored: 1234, packs: 2 },
    ]);
    assert.ok(f.diskTotalBytes > 0 && f.diskFreeBytes <= f.diskTotalBytes, JSON.stringify(f));
    await store.close();
  });

  it('CAIRN_TEST_DISK_FREE_BYTES replaces the free bytes in tests only', async () => {
    const store = new VaultStore(mkdtempSync(join(tmpdir(), 'cairn-figures-')));
    await store.init();
    process.env.CAIRN_TEST_DISK_FREE_BYTES = '4096';
    delete process.env.CAIRN_TEST;
    assert.notEqual((await storageFigures(store)).diskFreeBytes, 4096);
    process.env.CAIRN_TEST = '1';
    assert.equal((await storageFigures(store)).diskFreeBytes, 4096);
    await store.close();
  });

  it('the figures control call takes no params', async () => {
    const store = new VaultStore(mkdtempSync(join(tmpdir(), 'cairn-figures-')));
    await store.init();
    const handlers = storageControlHandlers(store, { log: () => {} });
    assert.deepEqual(((await handlers.figures!({})) as { vaults: unknown[] }).vaults, []);
    await assert.rejects(handlers.figures!({ vault: 'x' }), (e: unknown) => isCairnError(e, 'E_BAD_REQUEST') && /figures: unexpected field vault/.test((e as Error).message));
    await assert.rejects(handlers.figures!([]), (e: unknown) => isCairnError(e, 'E_BAD_REQUEST'));
    await store.close();
  });
});
