import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { includeFilter } from './include-filter.ts';

const key = (s: string) => Buffer.from(s).toString('latin1');

test('include paths become a tree of the names on the way', () => {
  const f = includeFilter(['/home/ann/docs', '/home/ann/docs/x', '/etc/hostname', '/home/bob/'])!;
  const home = f.children.get(key('home'))!;
  assert.equal(home.whole, false);
  const ann = home.children.get(key('ann'))!;
  assert.equal(ann.children.get(key('docs'))!.whole, true);
  assert.equal(ann.children.get(key('docs'))!.children.size, 0, 'a path inside another adds nothing');
  assert.equal(home.children.get(key('bob'))!.whole, true);
  assert.equal(f.children.get(key('etc'))!.children.get(key('hostname'))!.whole, true);
  assert.equal(f.children.get(key('héllo')), undefined);
});

test("'/' takes everything; relative paths and '..' are refused", () => {
  assert.equal(includeFilter(['/']), undefined);
  assert.equal(includeFilter(['/a', '/']), undefined);
  assert.throws(() => includeFilter(['a/b']), (e) => isCairnError(e, 'E_USAGE'));
  assert.throws(() => includeFilter(['/a/../b']), (e) => isCairnError(e, 'E_USAGE'));
  const f = includeFilter(['/tmp/héllo'])!;
  assert.ok(f.children.get(key('tmp'))!.children.has(key('héllo')), 'UTF-8 bytes as latin1 keys');
});
