import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BLOB_DATA, BLOB_TREE, openBlob, sealBlob, sealBlobInto, sealBlobParts } from './blob.ts';
import { isCairnError } from './errors.ts';
import { chunkId, generateVaultKeys } from './keys.ts';
import { ENTRY_HEADER_SIZE, PACK_FOOTER_SIZE, PackBuilder, packIndexLength, parsePackTail, writeEntryHeader } from './pack.ts';
import { PackVerifier, parsePack } from './pack-verifier.ts';

const corrupt = (e: unknown) => isCairnError(e, 'E_CORRUPT');
const keys = generateVaultKeys();

function samplePack(count: number) {
  const builder = new PackBuilder();
  for (let i = 0; i < count; i++) {
    const plain = i % 2 ? randomBytes(1000 + i * 7919) : Buffer.alloc(5000 + i, i);
    const id = chunkId(keys, plain);
    builder.add(
      i % 3 === 0 ? BLOB_TREE : BLOB_DATA,
      id,
      sealBlob(keys, i % 3 === 0 ? BLOB_TREE : BLOB_DATA, id, plain),
    );
  }
  const sizeBefore = builder.size;
  const done = builder.finish();
  return { ...done, bytes: Buffer.concat(done.buffers), sizeBefore };
}

describe('packs', () => {
  it('matches the known-answer pack name for a fixed sealed blob', () => {
    const fixedKeys = {
      encKey: Buffer.alloc(32, 1),
      idKey: Buffer.alloc(32, 2),
      chunkerKey: Buffer.alloc(32, 3),
    };
    const id = chunkId(fixedKeys, Buffer.from('hello, cairn'));
    const sealed = Buffer.from(
      '011bbf25ce5c9b02b9371be3d852cae5619ca1cc6a2a8e44d4b453aa05ed4335184e25c600f51083b5d8b5c429002b779824d178f9027bcce90c',
      'hex',
    );
    const builder = new PackBuilder();
    builder.add(BLOB_DATA, id, sealed);
    const { name, size, buffers } = builder.finish();
    assert.equal(name, '8a95e95fef448c69f32dafd221245a60b93cc89ce47fe5c9e3d7ca7f95f67af2');
    assert.equal(size, 168);
    const bytes = Buffer.concat(buffers);
    assert.equal(bytes.subarray(0, 8).toString(), 'CAIRNPK1');
    assert.equal(bytes.subarray(8, 12).toString(), 'BLOB');
    assert.equal(bytes.subarray(-8).toString(), 'CPKEND01');
  });

  it('takes whole entries by reference, as one buffer where they lie back to back, named as if added blob by blob', () => {
    const shared = Buffer.from(new SharedArrayBuffer(100_000));
    const plains = [randomBytes(3000), Buffer.alloc(20_000, 5), randomBytes(30_000)];
    const byParts = new PackBuilder();
    const byEntry = new PackBuilder();
    let at = 0;
    plains.forEach((plain, i) => {
      const id = chunkId(keys, plain);
      const n = sealBlobInto(keys, BLOB_DATA, id, plain, shared, at + ENTRY_HEADER_SIZE);
      writeEntryHeader(shared, at, BLOB_DATA, id, n);
      byEntry.addEntry(shared.subarray(at, at + ENTRY_HEADER_SIZE + n));
      byParts.add(BLOB_DATA, id, shared.subarray(at + ENTRY_HEADER_SIZE, at + ENTRY_HEADER_SIZE + n));
      at += ENTRY_HEADER_SIZE + n;
      if (i === 0) {
        // a blob added the other way between them ends the run
        const tree = Buffer.from('a tree');
        const treeId = chunkId(keys, tree);
        const sealed = sealBlob(keys, BLOB_TREE, treeId, tree);
        byEntry.add(BLOB_TREE, treeId, sealed);
        byParts.add(BLOB_TREE, treeId, sealed);
      }
    });
    const a = byParts.finish();
    const b = byEntry.finish();
    assert.equal(b.name, a.name);
    assert.ok(Buffer.concat(b.buffers).equals(Buffer.concat(a.buffers)));
    const inShared = b.buffers.filter((x) => x.buffer === shared.buffer);
    assert.equal(inShared.length, 2, 'the first entry, then the two that follow it as one');
    assert.equal(inShared[1]!.length, at - inShared[0]!.length);
    const entries = parsePack(Buffer.concat(b.buffers));
    assert.deepEqual(
      entries.filter((e) => e.type === BLOB_DATA).map((e) => openBlob(keys, BLOB_DATA, e.id, Buffer.concat(b.buffers).subarray(e.offset, e.offset + e.length))),
      plains,
    );
    assert.throws(() => new PackBuilder().addEntry(randomBytes(100)), /not a whole pack entry/);
  });

  it('builds, names by SHA-256, and parses back to the same entries', () => {
    const p = samplePack(12);
    assert.equal(p.bytes.length, p.size);
    assert.ok(p.sizeBefore < p.size);
    assert.equal(p.name, createHash('sha256').update(p.bytes).digest('hex'));
    const entries = parsePack(p.bytes);
    assert.deepEqual(entries, p.entries);
    for (const e of entries) openBlob(keys, e.type, e.id, p.bytes.subarray(e.offset, e.offset + e.length));
    assert.equal(p.entries[0]!.offset, 8 + ENTRY_HEADER_SIZE);
  });

  it('a blob given in parts is stored as the joined blob', () => {
    const plains = [randomBytes(5000), Buffer.alloc(0), Buffer.from('x'.repeat(70_000))];
    const whole = new PackBuilder();
    const inParts = new PackBuilder();
    for (const plain of plains) {
      const id = chunkId(keys, plain);
      const parts = sealBlobParts(keys, BLOB_DATA, id, plain);
      whole.add(BLOB_DATA, id, Buffer.concat(parts));
      inParts.add(BLOB_DATA, id, parts);
    }
    const a = whole.finish();
    const b = inParts.finish();
    assert.equal(b.name, a.name);
    assert.equal(b.size, a.size);
    assert.deepEqual(Buffer.concat(b.buffers), Buffer.concat(a.buffers));
    const bytes = Buffer.concat(b.buffers);
    parsePack(bytes).forEach((e, i) => {
      const sealed = bytes.subarray(e.offset, e.offset + e.length);
      assert.deepEqual(openBlob(keys, BLOB_DATA, e.id, sealed), plains[i]);
    });
  });

  it('copies small blobs into its slabs and keeps large ones by reference, in order', () => {
    const b = new PackBuilder();
    const given: { id: Buffer; sealed: Buffer; plain: Buffer }[] = [];
    for (let i = 0; i < 5000; i++) {
      // a large blob now and then between thousands of tiny ones
      const plain = i % 1000 === 500 ? randomBytes(100_000) : Buffer.from(`tiny file ${i}`);
      const id = chunkId(keys, plain);
      const sealed = sealBlob(keys, BLOB_DATA, id, plain);
      b.add(BLOB_DATA, id, sealed);
      given.push({ id, sealed, plain });
    }
    const expected = Buffer.concat(given.map((g) => g.sealed));
    for (const g of given) if (g.sealed.length < 1000) g.sealed.fill(0); // copied: the caller may reuse them
    const built = b.finish();
    const large = given.filter((g) => g.sealed.length > 1000);
    assert.equal(large.length, 5);
    for (const g of large) assert.ok(built.buffers.includes(g.sealed), 'a large blob is kept by reference');
    // 5,000 blobs in a handful of buffers: the pack magic, slab regions, the large blobs, the tail
    assert.ok(built.buffers.length <= 20, `${built.buffers.length} buffers`);
    const bytes = Buffer.concat(built.buffers);
    assert.equal(bytes.length, built.size);
    assert.equal(built.name, createHash('sha256').update(bytes).digest('hex'));
    const entries = parsePack(bytes);
    assert.deepEqual(entries, built.entries);
    assert.deepEqual(Buffer.concat(entries.map((e) => bytes.subarray(e.offset, e.offset + e.length))), expected);
    entries.forEach((e, i) => assert.deepEqual(openBlob(keys, BLOB_DATA, e.id, bytes.subarray(e.offset, e.offset + e.length)), given[i]!.plain));
  });

  it('an empty pack is valid', () => {
    const b = new PackBuilder();
    const { buffers, entries } = b.finish();
    assert.deepEqual(parsePack(Buffer.concat(buffers)), []);
    assert.deepEqual(entries, []);
  });

  it('verifies a pack streamed in arbitrary pieces', () => {
    const p = samplePack(7);
    for (const piece of [1, 3, 41, 4096, p.bytes.length]) {
      const v = new PackVerifier();
      for (let at = 0; at < p.bytes.length; at += piece) v.update(p.bytes.subarray(at, at + piece));
      const r = v.end();
      assert.equal(r.name, p.name);
      assert.equal(r.size, p.size);
      assert.deepEqual(r.entries, p.entries);
    }
  });

  it('reads the index from the tail alone', () => {
    const p = samplePack(5);
    const indexLength = packIndexLength(p.bytes.subarray(-PACK_FOOTER_SIZE));
    const tail = p.bytes.subarray(p.bytes.length - PACK_FOOTER_SIZE - indexLength);
    assert.deepEqual(parsePackTail(tail, p.size), p.entries);
    assert.deepEqual(parsePackTail(p.bytes, p.size), p.entries);
    assert.throws(() => parsePackTail(tail, p.size + 1), corrupt);
    assert.throws(() => parsePackTail(tail.subarray(1), p.size), corrupt);
  });

  it('refuses every truncation with E_CORRUPT', () => {
    const p = samplePack(3);
    const cuts = [
      0,
      4,
      8,
      12,
      49,
      p.entries[0]!.offset + 10,
      p.size - 100,
      p.size - 13,
      p.size - 12,
      p.size - 1,
    ];
    for (const len of cuts) {
      assert.throws(() => parsePack(p.bytes.subarray(0, len)), corrupt, `truncated to ${len}`);
      assert.throws(() => new PackVerifier().update(p.bytes.subarray(0, len)).end(), corrupt);
    }
    assert.throws(() => parsePack(Buffer.concat([p.bytes, Buffer.from([0])])), corrupt, 'trailing byte');
  });

  it('refuses a bit flip in any structural byte with E_CORRUPT; the name catches the rest', () => {
    const p = samplePack(3);
    const first = p.entries[0]!;
    const indexStart = p.size - PACK_FOOTER_SIZE - packIndexLength(p.bytes);
    const structural = [
      0,
      7, // magic
      8,
      11, // entry tag
      12, // type
      13,
      44, // id
      45,
      48, // length
      first.offset, // sealed version byte
      indexStart,
      indexStart + 7, // index tag and count
      indexStart + 8,
      indexStart + 9,
      indexStart + 45,
      indexStart + 49, // index record
      p.size - 12,
      p.size - 9,
      p.size - 1, // footer
    ];
    for (const at of structural) {
      const bad = Buffer.from(p.bytes);
      bad[at]! ^= 0x01;
      assert.throws(() => parsePack(bad), corrupt, `flip at ${at}`);
    }
    const inside = Buffer.from(p.bytes);
    const second = p.entries[1]!;
    inside[second.offset + (second.length >> 1)]! ^= 0x01;
    assert.notEqual(new PackVerifier().update(inside).end().name, p.name);
  });

  it('refuses streams larger than the limit', () => {
    const p = samplePack(2);
    assert.throws(
      () => new PackVerifier({ maxSize: p.size - 1 }).update(p.bytes),
      (e) => isCairnError(e, 'E_TOO_LARGE'),
    );
  });
});
