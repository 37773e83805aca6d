import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Access, allows, ROLES } from './roles.ts';

test('the roles matrix', () => {
  const levels: Access[] = ['public', 'read', 'operate', 'admin', 'audit'];
  const expected: Record<string, string> = {
    admin: 'public read operate admin audit',
    operator: 'public read operate',
    user: 'public read operate',
    auditor: 'public read audit',
  };
  for (const role of ROLES) {
    assert.equal(levels.filter((a) => allows(role, a)).join(' '), expected[role], role);
  }
});
