import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCairnError } from './errors.ts';
import { chunkId, generateVaultKeys, type KeyFile, keyCheck, newVaultId, parseKeyFile, unwrapKeys, wrapKeys } from './keys.ts';

describe('vault keys', () => {
  it('chunk id is HMAC-SHA256(idKey, data) (known answer)', () => {
    const keys = { encKey: Buffer.alloc(32, 1), idKey: Buffer.alloc(32, 2), chunkerKey: Buffer.alloc(32, 3) };
    assert.equal(
      chunkId(keys, Buffer.from('cairn')).toString('hex'),
      'f93ecd9c1099643ccccbf7346405d81eb4a52047a1e07876933974f74301c1c7',
    );
  });

  it('generates three distinct 32-byte keys', () => {
    const k = generateVaultKeys();
    for (const key of [k.encKey, k.idKey, k.chunkerKey]) assert.equal(key.length, 32);
    assert.notDeepEqual(k.encKey, k.idKey);
  });

  it('wraps and unwraps; a wrong passphrase or an altered file is E_BAD_PASSPHRASE', async () => {
    const keys = generateVaultKeys();
    const file = await wrapKeys(keys, 'correct horse');
    assert.equal(file.kdf.name, 'argon2id');
    assert.equal(file.kdf.memoryKiB, 64 * 1024);
    assert.equal(file.kdf.passes, 3);
    const stored: KeyFile = parseKeyFile(JSON.parse(JSON.stringify(file)));
    const back = await unwrapKeys(stored, 'correct horse');
    assert.deepEqual(back, keys);

    const badPass = (e: unknown) => isCairnError(e, 'E_BAD_PASSPHRASE');
    await assert.rejects(unwrapKeys(stored, 'wrong horse'), badPass);
    const sealed = Buffer.from(stored.sealed, 'base64');
    sealed[5]! ^= 1;
    await assert.rejects(
      unwrapKeys({ ...stored, sealed: sealed.toString('base64') }, 'correct horse'),
      badPass,
    );
    // Weaker KDF settings than the ones sealed with: the AAD binds them.
    await assert.rejects(
      unwrapKeys({ ...stored, kdf: { ...stored.kdf, passes: 1 } }, 'correct horse'),
      badPass,
    );
  });

  it('parseKeyFile refuses malformed files with E_BAD_REQUEST', () => {
    const file: KeyFile = {
      version: 1,
      kdf: {
        name: 'argon2id',
        memoryKiB: 65536,
        passes: 3,
        parallelism: 1,
        salt: Buffer.alloc(16, 7).toString('base64'),
      },
      nonce: Buffer.alloc(12, 8).toString('base64'),
      sealed: Buffer.alloc(112, 9).toString('base64'),
    };
    assert.deepEqual(parseKeyFile(file), file);
    const bad = (e: unknown) => isCairnError(e, 'E_BAD_REQUEST');
    for (const v of [
      null,
      'string',
      { ...file, version: 2 },
      { ...file, kdf: { ...file.kdf, name: 'scrypt' } },
      { ...file, kdf: { ...file.kdf, memoryKiB: 1 << 30 } },
      { ...file, kdf: { ...file.kdf, passes: 0 } },
      { ...file, kdf: { ...file.kdf, salt: 'AAAA' } },
      { ...file, nonce: 'not base64!' },
      { ...file, sealed: file.sealed.slice(0, -4) },
    ])
      assert.throws(() => parseKeyFile(v), bad);
  });

  it('a key-check value is HMAC-SHA256(idKey, "cairn key check v1") (known answer), names the keys and rides in the key file', async () => {
    const keys = { encKey: Buffer.alloc(32, 1), idKey: Buffer.alloc(32, 2), chunkerKey: Buffer.alloc(32, 3) };
    const { createHmac } = await import('node:crypto');
    assert.equal(keyCheck(keys), createHmac('sha256', Buffer.alloc(32, 2)).update('cairn key check v1').digest('hex'));
    assert.match(keyCheck(keys), /^[0-9a-f]{64}$/);
    // independent of the other two keys: it reveals nothing of them, and differs between vaults
    assert.equal(keyCheck({ ...keys, encKey: Buffer.alloc(32, 9) }), keyCheck(keys));
    assert.notEqual(keyCheck(generateVaultKeys()), keyCheck(keys));
    const id = newVaultId();
    assert.match(id, /^[0-9a-f]{32}$/);
    const file = await wrapKeys(keys, 'pw', id);
    assert.equal(file.check, keyCheck(keys));
    assert.equal(file.vaultId, id);
    assert.deepEqual(parseKeyFile(JSON.parse(JSON.stringify(file))), file);
    assert.deepEqual(await unwrapKeys(file, 'pw'), keys);
    // a check value naming other keys: the file was altered outside its seal
    await assert.rejects(unwrapKeys({ ...file, check: keyCheck(generateVaultKeys()) }, 'pw'), (e) => isCairnError(e, 'E_CORRUPT') && /key-check value does not match/.test((e as Error).message));
    for (const bad of [{ check: 'C'.repeat(64) }, { check: 'c'.repeat(63) }, { vaultId: 7 }, { vaultId: 'z'.repeat(32) }])
      assert.throws(() => parseKeyFile({ ...file, ...bad }), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  });
});
