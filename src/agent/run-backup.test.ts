import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { backupProgress, checkBackupParams } from './run-backup.ts';
import { checkEstimateParams } from './run-estimate.ts';

const valid = {
  run: 3,
  job: 'home',
  level: 'full',
  paths: ['/home'],
  excludes: [],
  storage: { name: 's1', url: 'https://s1.example:7443' },
  vault: 'v',
  grant: 'g.sig',
  keys: 'ak1.x',
  forceRead: false,
};
const { run: _run, ...estimate } = valid;
const settings = { bwlimit: 5 * 1024 * 1024, oneFileSystem: true, excludeCaches: false, maxFileSize: 1, previousBytes: 0 };

test('the backup settings pass through the backup and the estimate checks', () => {
  assert.deepEqual(checkBackupParams({ ...valid, ...settings }), { ...valid, ...settings });
  assert.deepEqual(checkEstimateParams({ ...estimate, ...settings }), { ...estimate, ...settings });
  assert.deepEqual(checkBackupParams(valid), valid, 'each setting is optional');
});

test('a malformed backup setting is refused with E_BAD_REQUEST naming the field', () => {
  const bad: [string, unknown, RegExp][] = [
    ['bwlimit', 0, /bwlimit: must be at least 1/],
    ['bwlimit', 1.5, /bwlimit: must be an integer/],
    ['bwlimit', '5M', /bwlimit: must be an integer/],
    ['maxFileSize', -1, /maxFileSize: must be at least 1/],
    ['maxFileSize', 2 ** 60, /maxFileSize: must be an integer/],
    ['oneFileSystem', 'yes', /oneFileSystem: must be true or false/],
    ['excludeCaches', 1, /excludeCaches: must be true or false/],
    ['previousBytes', -1, /previousBytes: must be at least 0/],
  ];
  for (const [field, value, message] of bad) {
    for (const [check, params] of [
      [checkBackupParams, valid],
      [checkEstimateParams, estimate],
    ] as const) {
      assert.throws(
        () => check({ ...params, [field]: value }),
        (e) => isCairnError(e, 'E_BAD_REQUEST') && message.test(e.message),
        `${field} = ${JSON.stringify(value)}`,
      );
    }
  }
});

test("a backup's progress names its counters as the run shows them, and each phase measures its own work", () => {
  const p = { files: 3, dirs: 1, bytes: 300, filesChanged: 2, bytesRead: 200, bytesNew: 150, bytesSent: 100, currentPath: '/a/b' };
  const [data, work] = backupProgress({ ...p, phase: 'reading' }, 1000);
  assert.deepEqual(data, { files: 3, dirs: 1, bytes: 300, filesChanged: 2, bytesRead: 200, bytesNew: 150, bytesSent: 100, filesScanned: 3, bytesScanned: 300, filesRead: 2, currentPath: '/a/b' });
  assert.deepEqual(work, { done: 300, total: 1000 }, 'the walk, against the previous snapshot');
  assert.deepEqual(backupProgress({ ...p, phase: 'scanning' })[1], { done: 300, total: undefined }, 'a first backup: no total');
  assert.deepEqual(backupProgress({ ...p, phase: 'uploading' }, 1000)[1], { done: 100, total: 150 }, 'the upload, against what was sealed');
  assert.equal(backupProgress({ ...p, phase: 'finishing' }, 1000)[1], undefined);
});
