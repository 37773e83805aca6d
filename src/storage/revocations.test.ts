import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { storageControlHandlers } from './control-handlers.ts';
import { REVOKED_FILE, Revocations } from './revocations.ts';
import { VaultStore } from './vault-store.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const badRequest = (message: RegExp) => (e: unknown) => isCairnError(e, 'E_BAD_REQUEST') && message.test(e.message);

describe('revoked agent certificates on a storage server', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-revoked-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses bad revoke calls and stores nothing', async () => {
    const revoked = await Revocations.load(dir);
    const revoke = storageControlHandlers(new VaultStore(dir), { revoked, log: () => {} }).revoke!;
    await assert.rejects(revoke(null), badRequest(/revoke: params must be an object/));
    await assert.rejects(revoke({ fingerprints: 'x' }), badRequest(/fingerprints must be an array/));
    await assert.rejects(revoke({ fingerprints: [A.toUpperCase()] }), badRequest(/64 lowercase hex digits/));
    await assert.rejects(revoke({ fingerprints: [A, 7] }), badRequest(/64 lowercase hex digits/));
    await assert.rejects(revoke({ fingerprints: [A], full: 'yes' }), badRequest(/full must be true or false/));
    await assert.rejects(revoke({ fingerprints: [A], other: 1 }), badRequest(/unexpected field other/));
    await assert.rejects(revoke({ fingerprints: new Array(100_001).fill(A) }), badRequest(/at most 100000/));
    assert.equal(existsSync(join(dir, REVOKED_FILE)), false);
    assert.equal(revoked.has(A), false);
    assert.equal(revoked.received, false);
    // a standalone storage server takes no grants: nothing to revoke
    await assert.rejects(storageControlHandlers(new VaultStore(dir)).revoke!({ fingerprints: [A] }), badRequest(/takes no grants/));
  });

  it('adds, counts as received only the full list, keeps it 0600 across a restart, and a full list never takes one back', async () => {
    const revoked = await Revocations.load(dir);
    const revoke = storageControlHandlers(new VaultStore(dir), { revoked, log: () => {} }).revoke!;
    assert.deepEqual(await revoke({ fingerprints: [A] }), { revoked: 1 });
    assert.equal(revoked.has(A), true);
    assert.equal(revoked.received, false, 'one removal is not the full list');
    assert.deepEqual(await revoke({ fingerprints: [B], full: true }), { revoked: 2 });
    assert.equal(revoked.received, true);
    assert.equal(statSync(join(dir, REVOKED_FILE)).mode & 0o777, 0o600);
    const again = await Revocations.load(dir);
    assert.equal(again.has(A) && again.has(B), true);
    assert.equal(again.received, false, 'a restart waits for the list again');
  });

  it('refuses to start on a damaged list, naming the file', async () => {
    writeFileSync(join(dir, REVOKED_FILE), '{not json');
    await assert.rejects(Revocations.load(dir), badRequest(/revoked.json is not JSON/));
    writeFileSync(join(dir, REVOKED_FILE), JSON.stringify({ fingerprints: ['nope'] }));
    await assert.rejects(Revocations.load(dir), badRequest(/64 lowercase hex digits/));
    assert.equal(readFileSync(join(dir, REVOKED_FILE), 'utf8'), JSON.stringify({ fingerprints: ['nope'] }));
  });
});
