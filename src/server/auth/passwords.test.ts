import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { hashPassword, verifyPassword } from './passwords.ts';

test('a hash is a self-describing argon2id string with OWASP parameters and a fresh salt', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.match(a, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(a, b, 'each hash has its own salt');
});

test('verify accepts the password and refuses any other', async () => {
  const stored = await hashPassword('correct horse');
  assert.equal(await verifyPassword('correct horse', stored), true);
  assert.equal(await verifyPassword('correct hors', stored), false);
  assert.equal(await verifyPassword('', stored), false);
});

test('passwords shorter than 8 characters are refused when hashing', async () => {
  await assert.rejects(hashPassword('short7!'), (e) => isCairnError(e, 'E_BAD_REQUEST') && /at least 8/.test(e.message));
  await assert.rejects(hashPassword('éééé'), (e) => isCairnError(e, 'E_BAD_REQUEST'));
});

test('a malformed or hostile stored hash is an internal error, not a match', async () => {
  await assert.rejects(verifyPassword('whatever1', 'plain'), (e) => isCairnError(e, 'E_INTERNAL'));
  const stored = await hashPassword('whatever1');
  const bomb = stored.replace('m=19456', 'm=99999999');
  await assert.rejects(verifyPassword('whatever1', bomb), (e) => isCairnError(e, 'E_INTERNAL'));
});
