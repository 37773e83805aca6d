import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CairnError } from '../core/errors.ts';
import { placeholderVaultConfig } from '../../test/support/storage-fixtures.ts';
import { VaultStore } from './vault-store.ts';

const config = placeholderVaultConfig;

const isCode = (code: string) => (e: unknown) => e instanceof CairnError && e.code === code;

describe('VaultStore', () => {
  it('creates a vault atomically, once, with its layout', async () => {
    const data = mkdtempSync(join(tmpdir(), 'cairn-vaults-'));
    const store = new VaultStore(data);
    await store.init();
    await store.create('photos', config);
    await assert.rejects(store.create('photos', config), isCode('E_CONFLICT'));
    assert.deepEqual(readdirSync(join(data, 'vaults')), ['photos']); // no staging leftovers
    assert.deepEqual(readdirSync(join(data, 'vaults', 'photos')).sort(), ['packs', 'snapshots', 'tmp', 'vault.json']);
    const vault = await store.open('photos');
    assert.deepEqual(vault.config, config);
    assert.equal(vault.packPath('ab'.repeat(32)), join(data, 'vaults', 'photos', 'packs', 'ab', 'ab'.repeat(32)));
    await store.close();
  });

  it('refuses unknown and malformed vault names', async () => {
    const store = new VaultStore(mkdtempSync(join(tmpdir(), 'cairn-vaults-')));
    await store.init();
    await assert.rejects(store.open('nothing'), isCode('E_NOT_FOUND'));
    await assert.rejects(store.open('../x'), isCode('E_BAD_REQUEST'));
    await assert.rejects(store.create('.hidden', config), isCode('E_BAD_REQUEST'));
    await store.close();
  });

  it('keeps a vault key-check value and id: a replacement may set them once, never change or drop them', async () => {
    const data = mkdtempSync(join(tmpdir(), 'cairn-vaults-'));
    const store = new VaultStore(data);
    await store.init();
    await store.create('old', config); // made before ids and check values
    const file = join(data, 'vaults', 'old', 'vault.json');
    const stamped = { ...config.keyFile, vaultId: 'a'.repeat(32), check: 'c'.repeat(64) };
    await store.replaceKeyFile('old', stamped); // set where absent: taken
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).keyFile, stamped);
    const before = readFileSync(file, 'utf8');
    const rewrapped = { ...stamped, nonce: Buffer.alloc(12, 9).toString('base64') };
    for (const [bad, what] of [
      [{ ...rewrapped, check: 'd'.repeat(64) }, /key-check value \(d{64}\) differs from the vault's \(c{64}\)/],
      [{ ...rewrapped, check: undefined }, /key-check value \(none\) differs/],
      [{ ...rewrapped, vaultId: 'b'.repeat(32) }, /vault id \(b{32}\) differs from the vault's \(a{32}\)/],
    ] as const) {
      await assert.rejects(store.replaceKeyFile('old', bad), (e) => isCode('E_CONFLICT')(e) && what.test((e as Error).message));
      assert.equal(readFileSync(file, 'utf8'), before, 'a refused replacement changed vault.json');
      assert.deepEqual((await store.open('old')).config.keyFile, stamped);
    }
    await store.replaceKeyFile('old', rewrapped); // the same keys re-wrapped: taken
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).keyFile, rewrapped);
    await store.close();
  });
});
