import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isCairnError } from './errors.ts';
import {
  decodeRefs,
  decodeSnapshot,
  encodeRefs,
  encodeSnapshot,
  newSnapshotId,
  type SnapshotRecord,
} from './snapshot.ts';

const corrupt = (e: unknown) => isCairnError(e, 'E_CORRUPT');

function sample(): SnapshotRecord {
  return {
    version: 1,
    id: newSnapshotId(),
    time: '2025-01-02T03:04:05.678Z',
    host: 'host-1',
    paths: ['/home', '/etc'],
    tree: [randomBytes(32).toString('hex')],
    parent: newSnapshotId(),
    summary: { files: 10, dirs: 2, bytes: 12345, filesChanged: 3, bytesRead: 100, bytesNew: 50 },
  };
}

describe('snapshot record', () => {
  it('ids are 64 hex and unique', () => {
    const a = newSnapshotId();
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.notEqual(a, newSnapshotId());
  });

  it('round-trips, with and without parent, canonically', () => {
    const rec = sample();
    assert.deepEqual(decodeSnapshot(encodeSnapshot(rec)), rec);
    const { parent: _, ...noParent } = rec;
    assert.deepEqual(decodeSnapshot(encodeSnapshot(noParent)), noParent);
    const reordered = Object.fromEntries(Object.entries(rec).reverse()) as SnapshotRecord;
    assert.deepEqual(encodeSnapshot(reordered), encodeSnapshot(rec));
  });

  it('refuses malformed records with E_CORRUPT', () => {
    const rec = sample() as unknown as Record<string, unknown>;
    for (const v of [
      { ...rec, version: 2 },
      { ...rec, id: 'abc' },
      { ...rec, time: 'yesterday' },
      { ...rec, paths: ['relative/path'] },
      { ...rec, tree: ['zz'] },
      { ...rec, parent: 5 },
      { ...rec, summary: { files: -1 } },
      { ...rec, summary: { ...(rec.summary as object), extra: 1 } },
      { ...rec, extra: true },
      [],
    ])
      assert.throws(
        () => decodeSnapshot(Buffer.from(JSON.stringify(v))),
        corrupt,
        JSON.stringify(v).slice(0, 60),
      );
    assert.throws(() => decodeSnapshot(Buffer.from('{')), corrupt);
  });
});

describe('refs', () => {
  it('sorts, dedups and round-trips', () => {
    const ids = Array.from({ length: 100 }, () => randomBytes(32));
    const refs = encodeRefs([...ids, ids[3]!, ids[50]!]);
    assert.equal(refs.length, 100 * 32);
    const back = decodeRefs(refs);
    assert.deepEqual(back, [...ids].sort(Buffer.compare));
    assert.deepEqual(decodeRefs(encodeRefs([])), []);
  });

  it('refuses a length not a multiple of 32 or an unsorted list', () => {
    const refs = encodeRefs([randomBytes(32), randomBytes(32)]);
    assert.throws(() => decodeRefs(refs.subarray(0, 63)), corrupt);
    assert.throws(() => decodeRefs(Buffer.concat([refs.subarray(32), refs.subarray(0, 32)])), corrupt);
    assert.throws(() => decodeRefs(Buffer.concat([refs.subarray(0, 32), refs.subarray(0, 32)])), corrupt);
  });
});
