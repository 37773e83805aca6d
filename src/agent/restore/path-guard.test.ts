import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { checkEntryName, childPath, hardlinkTargetNames, targetRoot } from './path-guard.ts';

const unsafe = (e: unknown) => isCairnError(e, 'E_UNSAFE_PATH');

test('names that could leave their directory are refused', () => {
  for (const bad of ['', '.', '..', 'a/b', '/', 'nul\0byte']) assert.throws(() => checkEntryName(Buffer.from(bad)), unsafe, bad);
  for (const good of ['...', '.hidden', 'new\nline', 'x'.repeat(255)]) checkEntryName(Buffer.from(good));
  checkEntryName(Buffer.from([0xff, 0xfe]));
});

test('paths are joined as bytes, from the root or a target', () => {
  assert.equal(childPath(Buffer.from('/'), Buffer.from('etc')).toString(), '/etc');
  assert.deepEqual(childPath(Buffer.from('/dst'), Buffer.from([0xff])), Buffer.from([0x2f, 0x64, 0x73, 0x74, 0x2f, 0xff]));
  assert.throws(() => childPath(Buffer.from('/dst'), Buffer.from('..')), unsafe);
  assert.equal(targetRoot('/').toString(), '/');
  assert.equal(targetRoot('/a/b//').toString(), '/a/b');
});

test('hard link targets are split into checked names', () => {
  assert.deepEqual(
    hardlinkTargetNames(Buffer.from('tmp/src/a')).map((b) => b.toString()),
    ['tmp', 'src', 'a'],
  );
  assert.deepEqual(
    hardlinkTargetNames(Buffer.from('/x')).map((b) => b.toString()),
    ['x'],
  );
  for (const bad of ['', '/', 'a/../b', 'a//b', 'a/./b', '..'])
    assert.throws(() => hardlinkTargetNames(Buffer.from(bad)), unsafe, bad);
});
