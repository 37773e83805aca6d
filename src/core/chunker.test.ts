import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  type ChunkerParams,
  checkChunkerParams,
  chunkLengths,
  cutPoint,
  cutPointReference,
  DEFAULT_CHUNKER,
  gearTable,
} from './chunker.ts';
import { isCairnError } from './errors.ts';

const chunkerKey = Buffer.alloc(32, 3);
/** Deterministic pseudo-random bytes: AES-256-CTR keystream of key 0x04… over zeros. */
function stream(length: number, keyByte = 4): Buffer {
  return createCipheriv('aes-256-ctr', Buffer.alloc(32, keyByte), Buffer.alloc(16)).update(
    Buffer.alloc(length),
  );
}
const SMALL: ChunkerParams = { min: 2048, avg: 8192, max: 32768 };

describe('gear table', () => {
  it('matches the known-answer vector (AES-256-CTR keystream, little-endian int32)', () => {
    const gear = gearTable(chunkerKey);
    assert.equal(gear.length, 256);
    assert.deepEqual(Array.from(gear.subarray(0, 4)), [1653063825, -104043129, 860496058, -22704266]);
    assert.equal(gear[255], 483681542);
  });
  it('differs between keys', () => {
    assert.notDeepEqual(gearTable(Buffer.alloc(32, 1)), gearTable(Buffer.alloc(32, 2)));
  });
});

describe('cut points', () => {
  const gear = gearTable(chunkerKey);
  const data = stream(16 << 20);

  it('match the known-answer chunk lengths for 16 MiB of AES-CTR data', () => {
    assert.deepEqual(
      chunkLengths(DEFAULT_CHUNKER, gear, data),
      [
        1297882, 1964134, 1356347, 1664557, 1170210, 1055786, 1175861, 1183616, 1536479, 1089259, 1290456,
        391216, 1091902, 509511,
      ],
    );
    assert.deepEqual(
      chunkLengths(SMALL, gear, data.subarray(0, 1 << 20)).slice(0, 12),
      [8511, 8569, 10541, 4883, 8151, 10261, 9071, 10364, 8269, 10337, 5606, 9188],
    );
  });

  it('agree with the reference implementation everywhere', () => {
    const params = [SMALL, { min: 64, avg: 256, max: 1024 }, { min: 4000, avg: 16384, max: 50001 }];
    for (const p of params) {
      const sample = data.subarray(0, 2 << 20);
      let start = 0;
      while (start < sample.length) {
        const end = Math.min(sample.length, start + p.max);
        const len = cutPoint(p, gear, sample, start, end);
        assert.equal(
          len,
          cutPointReference(p, gear, sample, start, end),
          `at ${start} with ${JSON.stringify(p)}`,
        );
        start += len;
      }
      // Short tails and windows shorter than max.
      for (const n of [0, 1, p.min - 1, p.min, p.min + 1, p.avg - 1, p.avg + 3, p.max - 1])
        if (n >= 0)
          assert.equal(cutPoint(p, gear, data, 100, 100 + n), cutPointReference(p, gear, data, 100, 100 + n));
    }
  });

  it('respect min and max, and find no cut in zeros before max', () => {
    const lengths = chunkLengths(SMALL, gear, data.subarray(0, 4 << 20));
    for (const l of lengths.slice(0, -1)) assert.ok(l >= SMALL.min && l <= SMALL.max, `length ${l}`);
    const zeros = Buffer.alloc(100_000);
    const z = chunkLengths(SMALL, gear, zeros);
    // A run of one byte value may or may not hit the mask; the lengths are either all max or all equal.
    assert.equal(new Set(z.slice(0, -1)).size, 1);
  });

  it('an inserted byte in the middle of 32 MiB changes at most 2 chunks', () => {
    const big = stream(32 << 20, 9);
    const mid = 16 << 20;
    const edited = Buffer.concat([big.subarray(0, mid), Buffer.from([0x5a]), big.subarray(mid)]);
    const chunks = (buf: Buffer) => {
      const set = new Set<string>();
      let at = 0;
      for (const len of chunkLengths(DEFAULT_CHUNKER, gear, buf)) {
        set.add(buf.subarray(at, at + len).toString('latin1'));
        at += len;
      }
      return set;
    };
    const before = chunks(big);
    const after = chunks(edited);
    const changed = [...after].filter((c) => !before.has(c)).length;
    assert.ok(changed >= 1 && changed <= 2, `${changed} chunks changed`);
  });
});

describe('checkChunkerParams', () => {
  it('accepts the defaults and refuses bad values', () => {
    assert.deepEqual(checkChunkerParams({ ...DEFAULT_CHUNKER }), DEFAULT_CHUNKER);
    for (const bad of [
      null,
      [],
      { min: 256, avg: 1000, max: 4096 },
      { min: 32, avg: 128, max: 4096 },
      { min: 2048, avg: 1024, max: 4096 },
      { min: 256, avg: 1024, max: 1024 },
      { min: 256, avg: 1024, max: 128 << 20 },
      { min: 256.5, avg: 1024, max: 4096 },
      { min: '256', avg: 1024, max: 4096 },
    ])
      assert.throws(
        () => checkChunkerParams(bad),
        (e) => isCairnError(e, 'E_BAD_REQUEST'),
      );
  });
});
