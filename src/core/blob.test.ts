import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BLOB_DATA, BLOB_SNAPSHOT, BLOB_TREE, openBlob, SEAL_OVERHEAD, sealBlob, sealBlobParts } from './blob.ts';
import { compressIfWorth, decompress } from './compress.ts';
import { isCairnError } from './errors.ts';
import { chunkId, generateVaultKeys } from './keys.ts';

const fixedKeys = {
  encKey: Buffer.alloc(32, 1),
  idKey: Buffer.alloc(32, 2),
  chunkerKey: Buffer.alloc(32, 3),
};
const corrupt = (e: unknown) => isCairnError(e, 'E_CORRUPT');
const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20000));

describe('compression', () => {
  it('stores random data raw and compresses text', () => {
    const random = randomBytes(1 << 20);
    const r = compressIfWorth(random);
    assert.equal(r.flag, 0);
    assert.equal(r.bytes, random); // returned as is, not copied
    const t = compressIfWorth(text);
    assert.equal(t.flag, 1);
    assert.ok(t.bytes.length < text.length / 10);
    assert.deepEqual(decompress(t.flag, t.bytes), text);
    assert.equal(compressIfWorth(Buffer.alloc(0)).flag, 0);
    assert.equal(compressIfWorth(Buffer.from('ab')).flag, 0); // zstd would grow it
  });

  it('refuses output above the limit and unknown flags', () => {
    const t = compressIfWorth(text);
    assert.throws(() => decompress(t.flag, t.bytes, 1000), corrupt);
    assert.throws(() => decompress(7, t.bytes), corrupt);
    assert.throws(() => decompress(1, Buffer.from('not zstd at all')), corrupt);
  });
});

describe('sealed blobs', () => {
  it('opens the known-answer vector (format is stable)', () => {
    const id = chunkId(fixedKeys, Buffer.from('hello, cairn'));
    const sealed = Buffer.from(
      '011bbf25ce5c9b02b9371be3d852cae5619ca1cc6a2a8e44d4b453aa05ed4335184e25c600f51083b5d8b5c429002b779824d178f9027bcce90c',
      'hex',
    );
    assert.equal(openBlob(fixedKeys, BLOB_DATA, id, sealed).toString(), 'hello, cairn');
  });

  it('seals in three parts that joined open: header with the flag, the payload unsplit, the tag', () => {
    const keys = generateVaultKeys();
    for (const plain of [Buffer.alloc(0), randomBytes(100), randomBytes(300_000), text]) {
      const id = chunkId(keys, plain);
      const [head, body, tag] = sealBlobParts(keys, BLOB_DATA, id, plain);
      assert.equal(head.length + tag.length, SEAL_OVERHEAD);
      assert.equal(tag.length, 16);
      assert.equal(body.length, compressIfWorth(plain).bytes.length);
      assert.deepEqual(openBlob(keys, BLOB_DATA, id, Buffer.concat([head, body, tag])), plain);
      // a part out of place fails authentication
      if (body.length > 0) assert.throws(() => openBlob(keys, BLOB_DATA, id, Buffer.concat([head, tag, body])), corrupt);
    }
  });

  it('round-trips data, tree and snapshot blobs, compressed or not', () => {
    const keys = generateVaultKeys();
    for (const plain of [Buffer.alloc(0), randomBytes(100), randomBytes(300_000), text]) {
      const id = chunkId(keys, plain);
      for (const type of [BLOB_DATA, BLOB_TREE] as const) {
        const sealed = sealBlob(keys, type, id, plain);
        assert.ok(sealed.length <= plain.length + SEAL_OVERHEAD);
        assert.deepEqual(openBlob(keys, type, id, sealed), plain);
      }
    }
    const name = randomBytes(32);
    const record = Buffer.from('{"snapshot":true}');
    assert.deepEqual(
      openBlob(keys, BLOB_SNAPSHOT, name, sealBlob(keys, BLOB_SNAPSHOT, name, record)),
      record,
    );
  });

  it('refuses tampering, wrong keys, wrong id or type, and truncation with E_CORRUPT', () => {
    const keys = generateVaultKeys();
    const plain = text.subarray(0, 100_000);
    const id = chunkId(keys, plain);
    const sealed = sealBlob(keys, BLOB_DATA, id, plain);
    for (const at of [0, 1, 20, 40, sealed.length >> 1, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x10;
      assert.throws(() => openBlob(keys, BLOB_DATA, id, bad), corrupt, `flip at ${at}`);
    }
    assert.throws(() => openBlob(generateVaultKeys(), BLOB_DATA, id, sealed), corrupt);
    assert.throws(() => openBlob(keys, BLOB_TREE, id, sealed), corrupt);
    assert.throws(() => openBlob(keys, BLOB_DATA, randomBytes(32), sealed), corrupt);
    for (const len of [0, 10, SEAL_OVERHEAD - 1, sealed.length - 1])
      assert.throws(
        () => openBlob(keys, BLOB_DATA, id, sealed.subarray(0, len)),
        corrupt,
        `truncated to ${len}`,
      );
  });

  it('refuses a blob that authenticates but whose content is not its id', () => {
    // Sealed honestly under the right keys but with the id of other content: the HMAC check catches it.
    const keys = generateVaultKeys();
    const wrongId = chunkId(keys, Buffer.from('other content'));
    const sealed = sealBlob(keys, BLOB_DATA, wrongId, Buffer.from('content'));
    assert.throws(() => openBlob(keys, BLOB_DATA, wrongId, sealed), corrupt);
  });

  it('is not deterministic: salt and nonce are fresh each time', () => {
    const keys = generateVaultKeys();
    const id = chunkId(keys, text);
    assert.notDeepEqual(sealBlob(keys, BLOB_DATA, id, text), sealBlob(keys, BLOB_DATA, id, text));
  });
});
