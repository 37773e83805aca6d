import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { CairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';
import type { LoadTrees } from '../tree-store.ts';
import { siblingTrees, TreeCache } from './subtree-loader.ts';

const id = (name: string) => createHash('sha256').update(name).digest();
const node = (name: string, type: TreeNode['type'], subtree?: Buffer[]): TreeNode => ({
  name: Buffer.from(name),
  type,
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtimeNs: 0n,
  ctimeNs: 0n,
  size: 0,
  inode: 0n,
  nlink: 1,
  ...(subtree ? { subtree } : {}),
});

/**
 * A snapshot of directories `root` → d0..d{width-1} → each with `width` subdirectories and a
 * file; the trees a storage server would answer (tree `bad`, when named, fails its check), and
 * every request's tree names.
 */
function snapshot(width: number, bad?: string) {
  const trees = new Map<string, { name: string; nodes: TreeNode[] }>();
  const add = (name: string, nodes: TreeNode[]) => {
    trees.set(id(name).toString('hex'), { name, nodes });
    return [id(name)];
  };
  const top: TreeNode[] = [];
  for (let i = 0; i < width; i++) {
    const inner: TreeNode[] = [node('f', 'file')];
    for (let j = 0; j < width; j++) inner.push(node(`e${j}`, 'dir', add(`d${i}/e${j}`, [node('g', 'file')])));
    top.push(node(`d${i}`, 'dir', add(`d${i}`, inner)));
  }
  const root = add('/', top);
  const requests: string[][] = [];
  const load: LoadTrees = async (asked) => {
    const names = asked.map((ids) => trees.get(ids[0]!.toString('hex'))!.name);
    requests.push(names);
    if (bad !== undefined && names.includes(bad)) throw new CairnError('E_CORRUPT', `tree ${bad} failed its check`);
    return asked.map((ids) => trees.get(ids[0]!.toString('hex'))!.nodes);
  };
  return { root, load, requests, count: trees.size };
}

/** Walks depth-first as the restore and its pretreatment do (siblingTrees), naming each directory reached and each that failed. */
async function walk(load: LoadTrees, root: Buffer[]): Promise<{ seen: string[]; failed: string[] }> {
  const seen: string[] = [];
  const failed: string[] = [];
  const visit = async (path: string, tree: Promise<TreeNode[]>) => {
    let nodes: TreeNode[];
    try {
      nodes = await tree;
    } catch {
      failed.push(path);
      return;
    }
    seen.push(path);
    const dirs = nodes.filter((n) => n.type === 'dir');
    const subtrees = siblingTrees(dirs.map((d) => d.subtree!), load);
    for (let i = 0; i < dirs.length; i++) await visit(`${path === '/' ? '' : path}/${dirs[i]!.name.toString()}`, subtrees.get(i));
  };
  await visit('/', load([root]).then(([t]) => t!));
  return { seen, failed };
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe('TreeCache', () => {
  it("loads every directory's subdirectories as soon as its tree arrives, before the walk reaches them", async () => {
    const s = snapshot(3);
    const cache = new TreeCache(s.load);
    await cache.walk(true)([s.root]);
    await settle();
    // the root's request, then its three subdirectories, then the nine below them in one request
    // (in walk order): all without the walk asking
    assert.deepEqual(s.requests, [['/'], ['d0', 'd1', 'd2'], ['d0/e0', 'd0/e1', 'd0/e2', 'd1/e0', 'd1/e1', 'd1/e2', 'd2/e0', 'd2/e1', 'd2/e2']]);
  });

  it('serves the second walk the trees the first one went through, and loads each tree once', async () => {
    const s = snapshot(3);
    const cache = new TreeCache(s.load);
    const first = await walk(cache.walk(true), s.root);
    assert.equal(first.seen.length, s.count);
    assert.equal(s.requests.flat().length, s.count);
    s.requests.length = 0;
    const second = await walk(cache.walk(false), s.root);
    assert.deepEqual(second.seen, first.seen);
    assert.deepEqual(s.requests, []);
    assert.deepEqual(cache.held, { ahead: 0, kept: 0 }); // the second walk took them all
  });

  it('keeps no more than its bound for the second walk, which loads the rest again', async () => {
    const s = snapshot(3);
    // the first walk keeps '/' (3 entries), d0 (4) and d0/e0 (1): 8 of at most 8; the next would pass the bound
    const cache = new TreeCache(s.load, { limits: { ahead: 100, kept: 8 } });
    await walk(cache.walk(true), s.root);
    assert.equal(cache.held.kept, 8);
    s.requests.length = 0;
    const second = await walk(cache.walk(false), s.root);
    assert.equal(second.seen.length, s.count);
    const again = s.requests.flat().sort();
    assert.deepEqual(again, ['d0/e1', 'd0/e2', 'd1', 'd1/e0', 'd1/e1', 'd1/e2', 'd2', 'd2/e0', 'd2/e1', 'd2/e2']);
  });

  it('loads nothing ahead when told not to (an --include walks a small part)', async () => {
    const s = snapshot(3);
    const cache = new TreeCache(s.load, { prefetch: false });
    await cache.walk(true)([s.root]);
    await settle();
    assert.deepEqual(s.requests, [['/']]);
  });

  it('a tree that fails its check fails its own directory only, and is not kept', async () => {
    const s = snapshot(3, 'd1/e2');
    const cache = new TreeCache(s.load);
    const first = await walk(cache.walk(true), s.root);
    assert.deepEqual(first.failed, ['/d1/e2']);
    assert.equal(first.seen.length, s.count - 1);
    s.requests.length = 0;
    const second = await walk(cache.walk(false), s.root);
    assert.deepEqual(second.failed, ['/d1/e2']);
    // asked again; its siblings too (a failed group is loaded again one by one, siblingTrees), nothing else
    assert.deepEqual([...new Set(s.requests.flat())].sort(), ['d1/e0', 'd1/e1', 'd1/e2']);
  });
});
