import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { CairnError } from '../core/errors.ts';
import { standaloneAuthorizer } from './authorize.ts';

const withHeader = (authorization?: string) => ({ headers: { authorization } }) as unknown as IncomingMessage;
const unauthorized = (message: RegExp) => (e: unknown) =>
  e instanceof CairnError && e.code === 'E_UNAUTHORIZED' && message.test(e.message);

describe('standaloneAuthorizer', () => {
  const key = 'ab'.repeat(32);
  const authorize = standaloneAuthorizer(key);

  it('lets the access key through for every op', () => {
    for (const op of ['read', 'write', 'admin'] as const) authorize(withHeader(`Bearer ${key}`), { op, vault: 'v' });
  });

  it('refuses a missing, malformed, wrong or differently sized key', () => {
    assert.throws(() => authorize(withHeader(), { op: 'read' }), unauthorized(/missing/));
    assert.throws(() => authorize(withHeader(`Basic ${key}`), { op: 'read' }), unauthorized(/missing/));
    assert.throws(() => authorize(withHeader(`Bearer ${'cd'.repeat(32)}`), { op: 'read' }), unauthorized(/wrong/));
    assert.throws(() => authorize(withHeader(`Bearer ${key}0`), { op: 'read' }), unauthorized(/wrong/));
  });
});
