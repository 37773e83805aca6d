import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { includeFilter, markSeen, unseenIncludes, wantedEntries } from './include-filter.ts';
import type { TreeNode } from '../../core/tree.ts';

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

test('names the --include paths a walk never met in the snapshot', () => {
  const f = includeFilter(['/home/ann/docs', '/home/ann/none', '/etc/hostname', '/srv/data/x'])!;
  const node = (name: string, type: string) => ({ name: Buffer.from(name), type }) as unknown as TreeNode;
  const [home] = wantedEntries([node('home', 'dir'), node('etc', 'dir'), node('srv', 'file')], f);
  assert.deepEqual(unseenIncludes(f), ['/home/ann/docs', '/home/ann/none', '/etc/hostname', '/srv/data/x']);
  const [ann] = wantedEntries([node('ann', 'dir')], home!.sub);
  wantedEntries([node('docs', 'dir'), node('other', 'file')], ann!.sub);
  // /srv is a file in the snapshot: nothing below it is there; /etc was never walked
  assert.deepEqual(unseenIncludes(f), ['/home/ann/none', '/etc/hostname', '/srv/data/x']);
  markSeen(f.children.get(key('etc')));
  assert.deepEqual(unseenIncludes(f), ['/home/ann/none', '/srv/data/x']);
});
