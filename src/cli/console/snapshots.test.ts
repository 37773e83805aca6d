import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modeText } from './snapshots.ts';

test("snapshot ls shows a mode as ls -l does, or the type alone for an entry indexed without one", () => {
  assert.equal(modeText('file', 0o644), '-rw-r--r--');
  assert.equal(modeText('dir', 0o750), 'drwxr-x---');
  assert.equal(modeText('symlink', 0o777), 'lrwxrwxrwx');
  assert.equal(modeText('file', 0o4755), '-rwsr-xr-x');
  assert.equal(modeText('dir', 0o2770), 'drwxrws---');
  assert.equal(modeText('dir', 0o1777), 'drwxrwxrwt');
  assert.equal(modeText('file', 0o7644), '-rwSr-Sr-T');
  assert.equal(modeText('fifo', 0o600), 'prw-------');
  assert.equal(modeText('dir', null), 'd');
  assert.equal(modeText('file', null), '-');
});
