import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BLOB_DATA, BLOB_SNAPSHOT, BLOB_TREE, checkBlobId, openBlob, openBlobUnchecked, SEAL_OVERHEAD, sealBlob, sealBlobInto, sealBlobParts } from './blob.ts';
import { compressIfWorth, decompress, type OutputBuffers } from './compress.ts';
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

  it('seals into a given buffer at an offset what sealing in parts makes, and refuses one without room for the worst case', () => {
    const keys = generateVaultKeys();
    const out = Buffer.from(new SharedArrayBuffer(1_000_000)).fill(7);
    for (const plain of [Buffer.alloc(0), randomBytes(100), randomBytes(300_000), text]) {
      const id = chunkId(keys, plain);
      const n = sealBlobInto(keys, BLOB_DATA, id, plain, out, 5);
      assert.equal(n, compressIfWorth(plain).bytes.length + SEAL_OVERHEAD);
      assert.equal(out[4], 7, 'nothing written before the offset');
      assert.deepEqual(openBlob(keys, BLOB_DATA, id, out.subarray(5, 5 + n)), plain);
    }
    const plain = randomBytes(1000);
    assert.throws(() => sealBlobInto(keys, BLOB_DATA, chunkId(keys, plain), plain, Buffer.alloc(1000 + SEAL_OVERHEAD - 1), 0), /no room/);
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
    assert.throws(() => openBlob(keys, BLOB_DATA, wrongId, sealed), /does not match its id/);
    // opened without that last step (a restore's worker), the check is the caller's and refuses the same
    const payload = openBlobUnchecked(keys, BLOB_DATA, wrongId, sealed);
    assert.deepEqual(payload, Buffer.from('content'));
    assert.throws(() => checkBlobId(keys, wrongId, payload), /does not match its id/);
    checkBlobId(keys, chunkId(keys, payload), payload);
    // authentication is not skipped: a flipped byte is refused before anything is returned
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    assert.throws(() => openBlobUnchecked(keys, BLOB_DATA, wrongId, flipped), /failed authentication/);
  });

  it('opens across cipher pieces into buffers it is lent, and gives back what a refused blob was lent', () => {
    const keys = generateVaultKeys();
    const lent: Buffer[] = [];
    const given: Uint8Array[] = [];
    const output: OutputBuffers = {
      take: (length) => {
        lent.push(Buffer.alloc(length + 10));
        return lent.at(-1)!;
      },
      give: (b) => given.push(b),
    };
    // around the 32 KiB cipher piece (the flag byte shifts the payload by one), raw and compressed
    for (const plain of [randomBytes(1), randomBytes(32_767), randomBytes(32_768), randomBytes(32_769), randomBytes(300_000), text]) {
      const id = chunkId(keys, plain);
      const sealed = sealBlob(keys, BLOB_DATA, id, plain);
      const opened = openBlob(keys, BLOB_DATA, id, sealed, output);
      assert.deepEqual(opened, plain);
      assert.equal(opened.buffer, lent.at(-1)!.buffer, `${plain.length} bytes in the lent buffer`);
      assert.deepEqual(openBlob(keys, BLOB_DATA, id, sealed), plain); // and without one
    }
    assert.equal(given.length, 0);
    // raw: the plaintext is deciphered into a lent buffer, which a failed tag gives back
    const raw = randomBytes(100_000);
    const rawId = chunkId(keys, raw);
    const bad = sealBlob(keys, BLOB_DATA, rawId, raw);
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => openBlob(keys, BLOB_DATA, rawId, bad, output), corrupt);
    assert.equal(given.at(-1)!.buffer, lent.at(-1)!.buffer);
    // compressed, authentic, but not what its id says: its lent plaintext buffer comes back too
    const wrongId = chunkId(keys, Buffer.from('other content'));
    const given0 = given.length;
    assert.throws(() => openBlob(keys, BLOB_DATA, wrongId, sealBlob(keys, BLOB_DATA, wrongId, text), output), corrupt);
    assert.equal(given.length, given0 + 1);
    assert.equal(given.at(-1)!.buffer, lent.at(-1)!.buffer);
  });

  it('is not deterministic: salt and nonce are fresh each time', () => {
    const keys = generateVaultKeys();
    const id = chunkId(keys, text);
    assert.notDeepEqual(sealBlob(keys, BLOB_DATA, id, text), sealBlob(keys, BLOB_DATA, id, text));
  });
});
