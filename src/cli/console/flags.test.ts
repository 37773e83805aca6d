import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CairnError } from '../../core/errors.ts';
import { parseRate, parseSchedule, retentionOf, settingsBody } from './job-flags.ts';
import { restoreRequest } from './restore.ts';
import { absolutePath } from './shared.ts';
import { generatePassphrase } from './vault-keys.ts';

const usage = (e: unknown) => e instanceof CairnError && e.code === 'E_USAGE';

describe('console flags', () => {
  it("parses --schedule 'CRON=LEVEL'", () => {
    assert.deepEqual(parseSchedule('0 3 * * *=full'), { cron: '0 3 * * *', level: 'full' });
    assert.deepEqual(parseSchedule('*/15 * * * 1-5'), { cron: '*/15 * * * 1-5', level: 'incremental' });
    assert.throws(() => parseSchedule('0 3 * * *=weekly'), usage);
    assert.throws(() => parseSchedule('daily=full'), usage);
    for (const bad of ['0 0 3 * * *=full', '@daily=full', '0 3 * *=full'])
      assert.throws(() => parseSchedule(bad), (e: unknown) => usage(e) && /is not a 5-field cron expression/.test((e as Error).message), bad);
    assert.throws(() => parseSchedule('99 3 * * *=full'), (e: unknown) => usage(e) && /not a valid cron expression/.test((e as Error).message));
  });

  it('turns the job settings into API fields; on an edit 0 removes a limit, and only what was given is sent', () => {
    assert.deepEqual(settingsBody({ priority: '10', 'max-runtime': '2h', retries: '0', 'max-file-size': '1G', 'one-file-system': true, bwlimit: '5M' }, false), {
      priority: 10,
      maxRuntimeSeconds: 7200,
      retries: 0,
      maxFileSize: 1024 ** 3,
      oneFileSystem: true,
      bwlimit: 5 * 1024 * 1024,
    });
    assert.deepEqual(settingsBody({ bwlimit: '0', 'max-runtime': '0', 'max-file-size': '0' }, true), { bwlimit: 0, maxRuntimeSeconds: 0, maxFileSize: 0 });
    assert.deepEqual(settingsBody({ schedule: ['0 2 * * *=full'] }, true), { schedule: [{ cron: '0 2 * * *', level: 'full' }] });
    for (const bad of [{ priority: '1001' }, { priority: '-1' }, { 'max-runtime': '-5m' }, { 'max-runtime': '5 minutes' }, { 'max-file-size': 'big' }, { 'max-runtime': '0' }, { bwlimit: '0' }])
      assert.throws(() => settingsBody(bad, false), usage, JSON.stringify(bad));
  });

  it('collects --keep-* into the retention object and refuses non-numbers', () => {
    assert.deepEqual(retentionOf({ 'keep-last': '3', 'keep-daily': '7', 'keep-yearly': '2' }), { last: 3, daily: 7, yearly: 2 });
    assert.deepEqual(retentionOf({}), {});
    assert.throws(() => retentionOf({ 'keep-weekly': 'many' }), usage);
    assert.throws(() => retentionOf({ 'keep-last': '0' }), usage);
  });

  it('reads --bwlimit as bytes per second', () => {
    assert.equal(parseRate('10M'), 10 * 1024 * 1024);
    assert.equal(parseRate('512K/s'), 512 * 1024);
    assert.throws(() => parseRate('fast'), usage);
    assert.throws(() => parseRate('0'), usage);
  });

  it('wants absolute paths', () => {
    assert.equal(absolutePath('/srv/data/', 'path'), '/srv/data');
    assert.equal(absolutePath('/', 'path'), '/');
    assert.throws(() => absolutePath('srv/data', 'path'), (e: unknown) => usage(e) && /--path must be an absolute path/.test((e as Error).message));
  });

  it('builds a restore request from the flags, refusing relative targets and unknown policies', () => {
    assert.deepEqual(restoreRequest('abcd1234', {}), { snapshot: 'abcd1234' });
    assert.deepEqual(
      restoreRequest('abcd1234', { to: '/tmp/r', agent: 'a2', include: ['/home/u/docs'], conflict: 'skip', 'dry-run': true }),
      { snapshot: 'abcd1234', agent: 'a2', to: '/tmp/r', include: ['/home/u/docs'], conflict: 'skip', dryRun: true },
    );
    assert.throws(() => restoreRequest('abcd1234', { to: 'out' }), usage);
    assert.throws(() => restoreRequest('abcd1234', { include: ['docs'] }), usage);
    assert.throws(() => restoreRequest('abcd1234', { conflict: 'merge' }), usage);
  });

  it('generates recovery passphrases of 6 groups of 5 base32 characters, each new', () => {
    const a = generatePassphrase();
    assert.match(a, /^[a-z2-7]{5}(-[a-z2-7]{5}){5}$/);
    assert.notEqual(a, generatePassphrase());
  });
});

describe('job edit flags', () => {
  it('clears lists with --no-*, refuses contradictions and fixed settings, and needs something to change', async () => {
    const { editBody } = await import('./job-edit.ts');
    assert.deepEqual(editBody({ 'no-schedule': true, 'no-exclude': true, 'no-keep': true, 'no-one-file-system': true, pause: true }), {
      schedule: [],
      excludes: [],
      retention: {},
      oneFileSystem: false,
      paused: true,
    });
    assert.deepEqual(editBody({ path: ['/srv/a/', '/srv/b'], resume: true }), { paths: ['/srv/a', '/srv/b'], paused: false });
    for (const bad of [{}, { pause: true, resume: true }, { 'one-file-system': true, 'no-one-file-system': true }, { exclude: ['x'], 'no-exclude': true }, { storage: 's2' }, { path: ['rel'] }])
      assert.throws(() => editBody(bad), usage, JSON.stringify(bad));
  });
});
