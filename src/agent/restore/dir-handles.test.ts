import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { DirCache, type DirHandle, inDir } from './dir-handles.ts';

const unsafe = (e: unknown) => isCairnError(e, 'E_UNSAFE_PATH');
const name = (n: string) => Buffer.from(n);
const ownFds = () => fs.readdirSync('/proc/self/fd').length;

describe('directories held open', () => {
  let base: string;
  let target: string;
  let outside: string;
  let fdsBefore: number;

  beforeEach(() => {
    fdsBefore = ownFds();
    base = fs.mkdtempSync(join(tmpdir(), 'cairn-dirs-'));
    target = join(base, 'target');
    outside = join(base, 'outside');
    fs.mkdirSync(target);
    fs.mkdirSync(outside);
  });

  afterEach(() => {
    fs.rmSync(base, { recursive: true, force: true });
    assert.equal(ownFds(), fdsBefore, 'no descriptor left open');
  });

  it('makes or accepts a directory and refuses a symlink or file in its place', async () => {
    const cache = new DirCache();
    const root = cache.root(Buffer.from(target));
    const made = await root.child(name('made'));
    assert.equal(made.path.toString(), join(target, 'made'));
    assert.ok(fs.lstatSync(join(target, 'made')).isDirectory());
    await root.child(name('made'));
    fs.symlinkSync(outside, join(target, 'link'));
    await assert.rejects(root.child(name('link')), (e) => unsafe(e) && /link exists and is a symlink/.test((e as Error).message));
    fs.writeFileSync(join(target, 'file'), '');
    await assert.rejects(root.child(name('file')), (e) => unsafe(e) && /not a directory/.test((e as Error).message));
    assert.deepEqual(fs.readdirSync(outside), []);
    cache.close(root);
    assert.equal(cache.openCount, 0);
  });

  it('a write through a held directory lands in it after the directory was swapped for a symlink; a path-based one would not', async () => {
    const cache = new DirCache();
    const root = cache.root(Buffer.from(target));
    const d = await root.child(name('d'));
    // the attack, between opening the directory and writing into it
    fs.renameSync(join(target, 'd'), join(target, 'd.moved'));
    fs.symlinkSync(outside, join(target, 'd'));
    d.hold((fd) => fs.writeFileSync(inDir(fd, name('held')), 'x', { flag: 'wx' }));
    assert.deepEqual(fs.readdirSync(join(target, 'd.moved')), ['held']);
    assert.deepEqual(fs.readdirSync(outside), []);
    // what a check-then-use restore did: the same write by path goes outside (the race test's premise)
    fs.writeFileSync(join(d.path.toString(), 'by-path'), 'x');
    assert.deepEqual(fs.readdirSync(outside), ['by-path']);
    cache.close(root);
  });

  it('keeps at most `limit` descriptors, reopens a closed one from its parent, and refuses one that became a symlink or another directory', async () => {
    const cache = new DirCache(3);
    const root = cache.root(Buffer.from(target));
    const a = await root.child(name('a'));
    const b = await a.child(name('b'));
    const c = await root.child(name('c'));
    const e = await root.child(name('e'));
    assert.ok(cache.openCount <= 3, `${cache.openCount} open`);
    assert.equal(a.fd, -1, 'the least recently used was closed');
    // b reopens by walking from the root through a, name by name
    b.hold((fd) => fs.writeFileSync(inDir(fd, name('f')), 'x'));
    assert.ok(fs.existsSync(join(target, 'a', 'b', 'f')));
    assert.ok(cache.openCount <= 3);

    // c is closed, then swapped for a symlink: reopening it refuses, naming it
    for (const h of [a, b, e]) h.hold(() => undefined);
    assert.equal(c.fd, -1);
    fs.renameSync(join(target, 'c'), join(target, 'c.moved'));
    fs.symlinkSync(outside, join(target, 'c'));
    assert.throws(() => c.hold(() => undefined), (err) => unsafe(err) && /c became a symlink/.test((err as Error).message));
    // e is closed, then replaced by another real directory: not the one it was
    for (const h of [a, b]) h.hold(() => undefined);
    fs.renameSync(join(target, 'e'), join(target, 'e.moved'));
    fs.mkdirSync(join(target, 'e'));
    assert.throws(() => e.hold(() => undefined), (err) => unsafe(err) && /was replaced/.test((err as Error).message));
    assert.deepEqual(fs.readdirSync(outside), []);
    cache.close(root);
    assert.equal(cache.openCount, 0);
  });

  it('never closes a descriptor in use: a pinned one passes the bound, and close() waits for it', async () => {
    const cache = new DirCache(2);
    const root = cache.root(Buffer.from(target));
    const a = await root.child(name('a'));
    const b = await root.child(name('b'));
    let release!: () => void;
    const inUse = a.hold((fd) => new Promise<number>((resolve) => (release = () => resolve(fd))));
    const fdOfA = a.fd;
    b.hold(() => undefined);
    assert.equal(a.fd, fdOfA, 'a is in use: not closed for b');
    cache.close(root);
    assert.equal(cache.openCount, 1, 'a stays open until its call settles');
    assert.throws(() => b.hold(() => undefined), /directories are closed/);
    release();
    assert.equal(await inUse, fdOfA);
    assert.equal(cache.openCount, 0);
  });

  it('an error in a directory removed meanwhile says so', async () => {
    const cache = new DirCache();
    const root = cache.root(Buffer.from(target));
    const gone: DirHandle = await root.child(name('gone'));
    fs.rmdirSync(join(target, 'gone'));
    assert.throws(
      () => gone.hold((fd) => fs.writeFileSync(inDir(fd, name('f')), 'x')),
      (e) => unsafe(e) && /gone was removed or replaced/.test((e as Error).message),
    );
    cache.close(root);
  });
});
