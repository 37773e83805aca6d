import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { BLOB_DATA } from '../../core/blob.ts';
import { ENTRY_HEADER_SIZE, writeEntryHeader } from '../../core/pack.ts';
import { parsePack } from '../../core/pack-verifier.ts';
import { PackUploader } from './pack-uploader.ts';

function sealedLike(size: number): Buffer {
  const b = randomBytes(size);
  b[0] = 1; // a sealed blob starts with its version byte
  return b;
}

test('fills packs to the target, uploads them, flush sends the rest', async () => {
  const uploaded: { bytes: Buffer }[] = [];
  const up = new PackUploader(
    async (buffers, size) => {
      const bytes = Buffer.concat(buffers);
      assert.equal(bytes.length, size);
      uploaded.push({ bytes });
    },
    { targetSize: 10_000 },
  );
  for (let i = 0; i < 25; i++) up.add(BLOB_DATA, randomBytes(32), sealedLike(1000));
  await up.flush();
  assert.equal(uploaded.length, 3);
  assert.equal(up.packs, 3);
  assert.equal(up.bytesNew, 25_000);
  let blobs = 0;
  for (const p of uploaded) {
    blobs += parsePack(p.bytes).length;
  }
  assert.equal(blobs, 25);
});

test('a pack also closes at its blob limit, however small the blobs', async () => {
  const counts: number[] = [];
  const up = new PackUploader(async (buffers) => void counts.push(parsePack(Buffer.concat(buffers)).length), { maxBlobs: 100 });
  for (let i = 0; i < 250; i++) up.add(BLOB_DATA, randomBytes(32), sealedLike(100));
  await up.flush();
  assert.deepEqual(counts, [100, 100, 50]);
});

test('waitForRoom holds producers while uploads are slow; a failure surfaces', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let calls = 0;
  const up = new PackUploader(
    async () => {
      calls++;
      await gate;
      if (calls === 2) throw new Error('disk full');
    },
    { targetSize: 100, maxInFlight: 2 },
  );
  up.add(BLOB_DATA, randomBytes(32), sealedLike(200));
  up.add(BLOB_DATA, randomBytes(32), sealedLike(200));
  let roomy = false;
  const room = up.waitForRoom().then(
    () => {
      roomy = true;
    },
    () => {
      roomy = true;
    },
  );
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(roomy, false, 'two packs in flight: no room');
  release();
  await room;
  await assert.rejects(up.flush(), /disk full/);
});

test("an uploaded pack's slabs and own buffers are freed at once, a failed upload's are not", async () => {
  const sent: { b: Buffer; length: number }[][] = [];
  let fail = false;
  const up = new PackUploader(
    async (buffers) => {
      sent.push(buffers.map((b) => ({ b, length: b.length })));
      if (fail) throw new Error('storage server away');
    },
    { targetSize: 300_000 },
  );
  const large = Buffer.allocUnsafeSlow(200_000).fill(1); // a sealed blob that is its whole buffer
  for (let i = 0; i < 100; i++) up.add(BLOB_DATA, randomBytes(32), sealedLike(100));
  up.add(BLOB_DATA, randomBytes(32), large);
  await up.flush();
  assert.equal(sent.length, 1);
  assert.equal(large.buffer.byteLength, 0, 'the large blob was freed');
  // the tiny blobs' region of a slab (a view of it: freed with the slab)
  assert.ok(sent[0]!.some(({ b, length }) => length > 100 * 100 && length < 200_000 && b.buffer.byteLength === 0), 'the slab holding the tiny blobs was freed');

  fail = true;
  const kept = Buffer.allocUnsafeSlow(200_000).fill(2);
  up.add(BLOB_DATA, randomBytes(32), kept);
  await assert.rejects(up.flush(), /away/);
  assert.equal(kept.length, 200_000, 'not freed: the pack was not stored');
});

test('a pack pins what its entries lie in until it is stored; a failed one keeps it pinned', async () => {
  const holder = (name: string, log: string[]) => ({ retain: () => log.push(`+${name}`), release: () => log.push(`-${name}`) });
  const entry = (size: number) => {
    const b = Buffer.alloc(ENTRY_HEADER_SIZE + size);
    writeEntryHeader(b, 0, BLOB_DATA, randomBytes(32), size);
    return b;
  };
  const log: string[] = [];
  let fail = false;
  const up = new PackUploader(
    async () => {
      log.push('upload');
      if (fail) throw new Error('storage server away');
    },
    { targetSize: 1000 },
  );
  const a = holder('a', log);
  const b = holder('b', log);
  up.addEntry(entry(400), a);
  up.addEntry(entry(400), a); // the same holder twice in one pack: pinned once
  up.addEntry(entry(400), b); // the pack is full
  up.addEntry(entry(100), b); // the next pack pins b again
  await up.flush();
  assert.deepEqual([...log].sort(), ['+a', '+b', '+b', '-a', '-b', '-b', 'upload', 'upload'], 'each pack pins each holder once and unpins it when stored');
  assert.ok(log.indexOf('-a') > log.indexOf('upload'), 'unpinned only after an upload');
  assert.equal(up.bytesNew, 1300);
  fail = true;
  log.length = 0;
  up.addEntry(entry(100), a);
  await assert.rejects(up.flush(), /away/);
  assert.deepEqual(log, ['+a', 'upload'], 'not unpinned: a request may still read it');
});
