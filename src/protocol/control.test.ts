import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressData } from './control.ts';

test('a progress event keeps only known fields with values of their type', () => {
  assert.deepEqual(
    progressData({
      phase: 'uploading',
      bytesSent: 10,
      bytesScanned: -1,
      filesRead: Number.NaN,
      rateBytesPerSec: '5',
      etaSeconds: null,
      currentPath: `/${'x'.repeat(5000)}`,
      owner: 'someone else',
      files: 2,
    }),
    { bytesSent: 10, files: 2, etaSeconds: null, phase: 'uploading', currentPath: `/${'x'.repeat(4095)}` },
  );
  assert.deepEqual(progressData({ phase: 'dancing', etaSeconds: -3 }), {});
  assert.deepEqual(progressData('not an object'), {});
  assert.deepEqual(progressData(null), {});
});
