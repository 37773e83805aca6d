import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
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
});
