import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { checkBackupParams } from './run-backup.ts';
import { checkRestoreParams } from './run-restore.ts';
import { GrantKeeper, grantExpiry } from './grant-keeper.ts';

const grantFor = (exp: number, tag = 'sig') => `${Buffer.from(JSON.stringify({ agent: 'a', exp })).toString('base64url')}.${tag}`;

describe('grant keeper', () => {
  it('reads the expiry from the payload', () => {
    assert.equal(grantExpiry(grantFor(12345)), 12345);
    assert.throws(() => grantExpiry('nonsense.x'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
  });

  it('renews once half the life is gone, not before, and then hands out the new grant', async () => {
    let now = 1_000_000;
    const asked: number[] = [];
    const keeper = new GrantKeeper(grantFor(now + 60_000, 'old'), async () => {
      asked.push(now);
      return grantFor(now + 60_000, 'new');
    }, { now: () => now });
    now += 29_000;
    assert.match(keeper.current(), /\.old$/);
    assert.deepEqual(asked, []);
    now += 2_000; // 31 s of 60 gone
    assert.match(keeper.current(), /\.old$/, 'the old one is still valid meanwhile');
    await keeper.renewNow(); // the renewal current() started
    assert.deepEqual(asked, [1_031_000]);
    assert.match(keeper.current(), /\.new$/);
    keeper.close();
  });

  it('a failed renewal keeps the old grant and is retried later', async () => {
    let now = 0;
    let fail = true;
    const lines: string[] = [];
    const keeper = new GrantKeeper(grantFor(100_000, 'old'), async () => {
      if (fail) throw new Error('server offline');
      return grantFor(now + 100_000, 'new');
    }, { now: () => now, log: (l) => lines.push(l) });
    now = 60_000;
    keeper.current();
    await keeper.renewNow();
    assert.match(keeper.current(), /\.old$/);
    assert.match(lines[0]!, /server offline/);
    fail = false;
    now = 61_000; // before the retry time: no new attempt
    keeper.current();
    assert.match(keeper.current(), /\.old$/);
    now = 75_000;
    keeper.current();
    await keeper.renewNow();
    assert.match(keeper.current(), /\.new$/);
    keeper.close();
  });
});

describe('call params at the boundary', () => {
  const backup = {
    run: 3,
    job: 'j',
    level: 'incremental',
    paths: ['/home'],
    excludes: [],
    storage: { name: 's1', url: 'https://127.0.0.1:1234' },
    vault: 'v',
    grant: 'g.s',
    keys: 'ak1.xyz',
    forceRead: false,
  };
  const restore = {
    run: 4,
    snapshot: 'a'.repeat(64),
    storage: { name: 's1', url: 'https://127.0.0.1:1234' },
    vault: 'v',
    grant: 'g.s',
    keys: 'ak1.xyz',
    to: '/',
    include: [],
    conflict: 'rename',
    dryRun: false,
  };

  it('accepts well-formed params', () => {
    assert.deepEqual(checkBackupParams(backup), backup);
    assert.deepEqual(checkRestoreParams(restore), restore);
  });

  it('refuses malformed ones with E_BAD_REQUEST naming the field', () => {
    const bad = (f: () => unknown, field: RegExp) =>
      assert.throws(f, (e) => isCairnError(e, 'E_BAD_REQUEST') && field.test(e.message));
    bad(() => checkBackupParams({ ...backup, paths: ['relative'] }), /paths\[0\]/);
    bad(() => checkBackupParams({ ...backup, level: 'weekly' }), /level/);
    bad(() => checkBackupParams({ ...backup, extra: 1 }), /extra/);
    bad(() => checkBackupParams({ ...backup, storage: { name: 's1', url: 'http://x' } }), /storage\.url/);
    bad(() => checkBackupParams(null), /body/);
    bad(() => checkRestoreParams({ ...restore, conflict: 'merge' }), /conflict/);
    bad(() => checkRestoreParams({ ...restore, to: '/a/../etc' }), /\.\./);
    bad(() => checkRestoreParams({ ...restore, snapshot: 'zz' }), /snapshot/);
    const { dryRun: _, ...noDryRun } = restore;
    bad(() => checkRestoreParams(noDryRun), /dryRun/);
  });
});
