import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { checkBackupParams } from './run-backup.ts';
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
const settings = { bwlimit: 5 * 1024 * 1024, oneFileSystem: true, excludeCaches: false, maxFileSize: 1 };

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
