import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TreeNode } from '../../core/tree.ts';
import { DirCache, type DirHandle } from './dir-handles.ts';
import { HardLinks } from './hardlinks.ts';

type Dir = { pending: number };

const cache = new DirCache();
const held: DirHandle[] = [];
/** `base` held open as the restorer holds its directories; a name in it as a Placed and its path. */
function placing(base: string) {
  const dir = cache.root(Buffer.from(base));
  held.push(dir);
  return (name: string) => [{ dir, name: Buffer.from(name) }, Buffer.from(join(base, name))] as const;
}

const root = fs.mkdtempSync(join(tmpdir(), 'cairn-links-'));
after(() => {
  for (const h of held) cache.close(h);
  assert.equal(cache.openCount, 0);
  fs.rmSync(root, { recursive: true, force: true });
});

function node(type: 'file' | 'hardlink', name: string, target?: string): TreeNode {
  return {
    name: Buffer.from(name),
    type,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtimeNs: 0n,
    ctimeNs: 0n,
    size: 0,
    inode: 1n,
    nlink: 2,
    target: target === undefined ? undefined : Buffer.from(target),
  };
}

/** A restorer stand-in that really makes the links and records what it was told. */
function host(base: string) {
  const told: string[] = [];
  const made: Promise<void>[] = [];
  const show = (p: Buffer) => p.toString().slice(base.length) || '/';
  const links = new HardLinks<Dir>(
    {
      settle: (dir, path, make) => {
        dir.pending++;
        made.push(make().then(() => void told.push(`linked ${show(path)}`)));
      },
      release: (dir) => void dir.pending--,
      damaged: (path, e) => void told.push(`damaged ${show(path)}: ${(e as Error).message}`),
      warn: (path, reason) => void told.push(`warning ${show(path)}: ${reason}`),
      show,
    },
    Buffer.from(base),
  );
  return { links, told, settled: () => Promise.all(made) };
}

describe('HardLinks', () => {
  it('links a later name at once when the first is in place, or once it is', async () => {
    const base = fs.mkdtempSync(join(root, 'a-'));
    fs.writeFileSync(join(base, 'first'), 'data');
    const dir: Dir = { pending: 1 };
    const at = placing(base);
    const { links, told, settled } = host(base);
    links.place(dir, ...at('early'), node('hardlink', 'early', 'first'));
    assert.equal(dir.pending, 2, 'a waiting link holds its directory open');
    links.firstDone(Buffer.from(join(base, 'first')), at('first')[0]);
    links.place(dir, ...at('late'), node('hardlink', 'late', 'first'));
    await settled();
    assert.deepEqual(told.sort(), ['linked /early', 'linked /late']);
    const inode = fs.statSync(join(base, 'first')).ino;
    assert.equal(fs.statSync(join(base, 'early')).ino, inode);
    assert.equal(fs.statSync(join(base, 'late')).ino, inode);
  });

  it('reports later names of a first name kept (skip), damaged, never restored, or not given', async () => {
    const base = fs.mkdtempSync(join(root, 'b-'));
    const dir: Dir = { pending: 1 };
    const at = placing(base);
    const { links, told } = host(base);
    links.skipped(Buffer.from(join(base, 'kept')), node('file', 'kept'));
    links.place(dir, ...at('k2'), node('hardlink', 'k2', 'kept'));
    links.place(dir, ...at('d2'), node('hardlink', 'd2', 'broken'));
    links.place(dir, ...at('n2'), node('hardlink', 'n2', 'never'));
    links.place(dir, ...at('x2'), node('hardlink', 'x2'));
    assert.equal(dir.pending, 3, 'two links wait');
    links.firstFailed(Buffer.from(join(base, 'broken')), Buffer.from(join(base, 'broken')));
    links.failWaiting();
    assert.equal(dir.pending, 1, 'every waiting link released its directory');
    assert.deepEqual(told, [
      'warning /k2: hard link not restored: its first name /kept was kept as it was (skip)',
      'damaged /x2: hard link without a target',
      'damaged /d2: hard link not restored: its first name /broken is damaged',
      'damaged /n2: hard link not restored: its first name /never was not restored',
    ]);
    assert.deepEqual(fs.readdirSync(base), [], 'nothing was linked');
  });
});
