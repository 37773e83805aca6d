import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { checkRestoreTarget, isWithin, realPathOf } from './restore-roots.ts';

const work = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cairn-roots-')));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const root = join(work, 'restores');
const outside = join(work, 'elsewhere');
fs.mkdirSync(join(root, 'sub'), { recursive: true });
fs.mkdirSync(outside);
fs.symlinkSync(outside, join(root, 'escape'));
fs.symlinkSync(root, join(work, 'root-link'));

const forbidden = (e: unknown) => isCairnError(e, 'E_FORBIDDEN');

describe('restore roots', () => {
  it('resolves symlinks on the existing part and keeps the missing rest', () => {
    assert.equal(realPathOf(join(root, 'escape', 'new', 'deeper')), join(outside, 'new', 'deeper'));
    assert.equal(realPathOf(join(work, 'root-link', 'x')), join(root, 'x'));
    assert.equal(realPathOf('/'), '/');
  });

  it('compares whole components', () => {
    assert.ok(isWithin('/a/b', '/a'));
    assert.ok(isWithin('/a', '/a'));
    assert.ok(!isWithin('/ab', '/a'));
    assert.ok(isWithin('/anything', '/'));
  });

  it('allows targets inside a root, existing or not', () => {
    checkRestoreTarget(root, [], [root]);
    checkRestoreTarget(join(root, 'sub'), [], [root]);
    checkRestoreTarget(join(root, 'not', 'yet'), ['/home/u'], [root]);
    // a root given through a symlink is compared by its real path
    checkRestoreTarget(join(root, 'sub'), [], [join(work, 'root-link')]);
  });

  it('refuses targets outside every root, through a symlink too', () => {
    assert.throws(() => checkRestoreTarget(outside, [], [root]), forbidden);
    assert.throws(() => checkRestoreTarget(join(root, 'escape'), [], [root]), forbidden);
    assert.throws(() => checkRestoreTarget(join(root, 'escape', 'new'), [], [root]), forbidden);
    assert.throws(() => checkRestoreTarget(`${root}x`, [], [root]), forbidden);
    assert.throws(() => checkRestoreTarget(join(root, 'sub', '..', '..', 'elsewhere'), [], [root]), forbidden);
  });

  it('with include paths, judges where they land: the original place can be allowed for some paths', () => {
    checkRestoreTarget('/', [join(root, 'sub', 'file')], [root]);
    assert.throws(() => checkRestoreTarget('/', [join(root, 'sub'), join(outside, 'x')], [root]), forbidden);
    assert.throws(() => checkRestoreTarget('/', [], [root]), forbidden);
    // an include that climbs through a symlink out of the root
    assert.throws(() => checkRestoreTarget('/', [join(root, 'escape', 'f')], [root]), forbidden);
  });

  it('no roots: every target is allowed', () => {
    checkRestoreTarget(outside, [], []);
  });
});
