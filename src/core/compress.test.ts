import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { constants, zstdCompressSync } from 'node:zlib';
import { CairnError } from './errors.ts';
import { compressIfWorth, decompress, FLAG_RAW, FLAG_ZSTD, frameContentSize, type OutputBuffers } from './compress.ts';

const text = (n: number) => Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(n / 45)).slice(0, n));

describe('compress', () => {
  it('in a worker thread, compresses chunk after chunk with one kept context into one kept output, each a whole frame that says its size', async () => {
    const worker = new Worker(new URL('./compress.test-worker.ts', import.meta.url));
    try {
      const random = randomBytes(300_000);
      // the largest first: the kept output grows to the largest chunk seen, then stays
      const chunks = [text(2 * 1024 * 1024), text(524_288), text(70_000), random, text(100), Buffer.concat([randomBytes(20_000), text(400_000)]), text(524_288)];
      worker.postMessage(chunks);
      const [results] = (await once(worker, 'message')) as [{ flag: number; bytes: Uint8Array; borrowed: boolean; buffer: number; isInput: boolean }[]];
      results.forEach((r, i) => {
        assert.deepEqual(decompress(r.flag, r.bytes), chunks[i], `chunk ${i} round-trips`);
        if (r.flag === FLAG_ZSTD) {
          assert.equal(frameContentSize(r.bytes), chunks[i]!.length, `chunk ${i}: the frame says its size`);
          assert.ok(r.borrowed, `chunk ${i}: in the thread's kept output`);
        }
      });
      assert.equal(results[3]!.flag, FLAG_RAW, 'random data is stored raw');
      const compressed = results.filter((r) => r.flag === FLAG_ZSTD);
      assert.ok(compressed.length >= 5);
      assert.ok(compressed.every((r) => r.buffer === compressed[0]!.buffer), 'every compressed chunk lay in the same kept buffer');
      // the same sizes as the one-shot path (same level, same parameters)
      for (const [i, r] of results.entries()) if (r.flag === FLAG_ZSTD) assert.equal(r.bytes.length, compressIfWorth(chunks[i]!).bytes.length, `chunk ${i}`);
    } finally {
      await worker.terminate();
    }
  });

  it('round-trips text and tree-sized payloads of every header width, and skips random data', () => {
    for (const size of [1, 200, 300, 70_000, 1 << 20, 3 * (1 << 20) + 7]) {
      const plain = text(size);
      const packed = compressIfWorth(plain);
      assert.equal(packed.flag, size > 200 ? FLAG_ZSTD : packed.flag);
      if (packed.flag === FLAG_ZSTD) assert.equal(frameContentSize(packed.bytes), size);
      assert.ok(decompress(packed.flag, packed.bytes).equals(plain), `size ${size}`);
    }
    const random = randomBytes(200_000);
    assert.equal(compressIfWorth(random).flag, FLAG_RAW);
  });

  it('compresses a chunk that starts and ends random around a compressible run (the probe is spread)', () => {
    for (const run of [Buffer.alloc(1 << 20), text(1 << 20)]) {
      const chunk = Buffer.concat([randomBytes(700_000), run, randomBytes(300_000)]);
      const packed = compressIfWorth(chunk);
      assert.equal(packed.flag, FLAG_ZSTD);
      assert.ok(packed.bytes.length < 1_050_000, `${packed.bytes.length} bytes`);
      assert.ok(decompress(packed.flag, packed.bytes).equals(chunk));
    }
  });

  it('reads no size from what is not a zstd frame, or from a frame that does not say', () => {
    assert.equal(frameContentSize(Buffer.from('not a frame at all')), undefined);
    assert.equal(frameContentSize(Buffer.alloc(3)), undefined);
    // a streamed frame (no pledged size) carries no content size, and still decompresses
    const streamed = zstdCompressSync(text(5000), { params: { [constants.ZSTD_c_contentSizeFlag]: 0 } });
    assert.equal(frameContentSize(streamed), undefined);
    assert.ok(decompress(FLAG_ZSTD, streamed).equals(text(5000)));
  });

  it('refuses a frame declaring more than the caller allows before decompressing, and a damaged one', () => {
    const packed = compressIfWorth(text(100_000)).bytes;
    assert.throws(() => decompress(FLAG_ZSTD, packed, 50_000), (e: unknown) => e instanceof CairnError && e.code === 'E_CORRUPT' && /larger than 50000/.test(e.message));
    const damaged = Buffer.from(packed);
    damaged[damaged.length - 5]! ^= 0xff;
    assert.throws(() => decompress(FLAG_ZSTD, damaged), (e: unknown) => e instanceof CairnError && e.code === 'E_CORRUPT');
    assert.throws(() => decompress(7, packed), /unknown compression flag 7/);
  });

  it('decodes frame after frame into the buffers it is lent, and gives back what a bad frame was lent', () => {
    const lent: Buffer[] = [];
    const given: Buffer[] = [];
    const output: OutputBuffers = {
      take: (length) => {
        const b = Buffer.alloc(length + 100, 0xee);
        lent.push(b);
        return b;
      },
      give: (b) => given.push(b),
    };
    const decodesInto = (plain: Buffer) => {
      const packed = compressIfWorth(plain);
      assert.equal(packed.flag, FLAG_ZSTD);
      const out = decompress(FLAG_ZSTD, packed.bytes, undefined, output);
      assert.ok(out.equals(plain), `${plain.length} bytes`);
      // the lent buffer itself, not a copy: the thread's kept context decoded into it
      assert.equal(out.buffer, lent.at(-1)!.buffer);
    };
    for (const size of [300, 70_000, 1 << 20, 3 * (1 << 20) + 7, 5000]) decodesInto(text(size));

    const packed = compressIfWorth(text(100_000)).bytes;
    const damaged = Buffer.from(packed);
    damaged[damaged.length - 5]! ^= 0xff;
    // a frame that declares one byte more than it holds
    const lying = Buffer.from(packed);
    const view = new DataView(lying.buffer, lying.byteOffset);
    const at = 5 + ((lying[4]! >> 5) & 1 ? 0 : 1);
    assert.equal(view.getUint32(at, true), 100_000);
    view.setUint32(at, 100_001, true);
    for (const bad of [damaged, lying]) {
      const before = lent.length;
      assert.throws(() => decompress(FLAG_ZSTD, bad, undefined, output), (e: unknown) => e instanceof CairnError && e.code === 'E_CORRUPT');
      assert.equal(lent.length, before + 1);
      assert.equal(given.at(-1), lent.at(-1));
      decodesInto(text(200_000)); // the next frame decodes as before
    }
  });
});
