import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { checkFigures, dedupRatio } from './storage-figures.ts';

test('the dedup ratio is logical over stored to two decimals, null when nothing is stored or it is not known', () => {
  assert.equal(dedupRatio(300, 100), 3);
  assert.equal(dedupRatio(1000, 3000), 0.33);
  assert.equal(dedupRatio(0, 100), 0);
  assert.equal(dedupRatio(500, 0), null);
  assert.equal(dedupRatio(500, null), null);
});

test("a storage server's figures are taken when well formed", () => {
  const good = { diskFreeBytes: 10, diskTotalBytes: 100, vaults: [{ name: 'ann.nas', bytesStored: 5, packs: 1 }] };
  assert.deepEqual(checkFigures(good, 'nas'), good);
});

test('malformed figures are refused naming the storage server, whatever is wrong', () => {
  const bad: unknown[] = [
    null,
    [],
    { diskFreeBytes: -1, diskTotalBytes: 100, vaults: [] },
    { diskFreeBytes: 1.5, diskTotalBytes: 100, vaults: [] },
    { diskFreeBytes: 1, diskTotalBytes: '100', vaults: [] },
    { diskFreeBytes: 1, diskTotalBytes: 100 },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: {} },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [null] },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [{ name: 7, bytesStored: 1, packs: 1 }] },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [{ name: 'v', bytesStored: -2, packs: 1 }] },
    { diskFreeBytes: 1, diskTotalBytes: 100, vaults: [{ name: 'v', bytesStored: 1 }] },
  ];
  for (const v of bad)
    assert.throws(() => checkFigures(v, 'nas'), (e: unknown) => isCairnError(e, 'E_BAD_REQUEST') && /storage nas sent malformed figures/.test((e as Error).message), JSON.stringify(v));
});
