import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { TreeNode } from '../core/tree.ts';
import { ReferenceTrees } from './backup/reference-trees.ts';
import { excludeMatcher } from './run-backup.ts';
import { estimateRead } from './run-estimate.ts';
import { lstatPath, nodeFromStat, unchangedSince } from './scan.ts';

const dir = mkdtempSync(join(tmpdir(), 'cairn-estimate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The trees a backup of `root` would have stored, as the reference a later walk compares with:
 * every file with its metadata of now (and an empty chunk list), trees held in memory by id.
 */
function referenceOf(root: string): { tree: Buffer[]; trees: ReferenceTrees; loads: () => number } {
  const stored = new Map<string, TreeNode[]>();
  const store = (nodes: TreeNode[]) => {
    const id = randomBytes(32);
    stored.set(id.toString('hex'), nodes);
    return [id];
  };
  const treeOf = (d: string): Buffer[] =>
    store(
      readdirSync(d)
        .sort()
        .map((name) => {
          const p = join(d, name);
          const node = nodeFromStat(Buffer.from(name), lstatPath(Buffer.from(p))!);
          if (node.type === 'dir') node.subtree = treeOf(p);
          if (node.type === 'file') node.chunks = [];
          return node;
        }),
    );
  // the components from '/' down to `root`, each tree holding only the next one
  let ids = treeOf(root);
  const parts = root.split('/').filter(Boolean);
  for (let i = parts.length; i >= 1; i--) {
    const at = `/${parts.slice(0, i).join('/')}`;
    ids = store([{ ...nodeFromStat(Buffer.from(parts[i - 1]!), lstatPath(Buffer.from(at))!), subtree: ids }]);
  }
  let loads = 0;
  const trees = new ReferenceTrees(async (wanted) => {
    loads++;
    return wanted.map((w) => stored.get(w[0]!.toString('hex'))!);
  });
  return { tree: ids, trees, loads: () => loads };
}

test('counts every file once (hard links once, excludes left out) when reading everything', async () => {
  const root = join(dir, 'all');
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(join(root, 'b', 'sub'), { recursive: true });
  writeFileSync(join(root, 'a', 'one'), 'x'.repeat(10));
  writeFileSync(join(root, 'a', 'two'), 'x'.repeat(20));
  writeFileSync(join(root, 'b', 'sub', 'three'), 'x'.repeat(30));
  writeFileSync(join(root, 'b', 'skip.tmp'), 'x'.repeat(1000));
  linkSync(join(root, 'a', 'two'), join(root, 'b', 'two-again'));
  const r = await estimateRead({ paths: [root], forceRead: true, exclude: excludeMatcher(['*.tmp']) });
  assert.deepEqual({ files: r.files, bytes: r.bytes, warnings: r.warnings }, { files: 3, bytes: 60, warnings: [] });
  // with a reference of this very moment, forceRead still counts all
  const ref = referenceOf(root);
  const again = await estimateRead({ paths: [root], reference: ref, forceRead: true, exclude: excludeMatcher(['*.tmp']) });
  assert.equal(again.files, 3);
});

test('counts only files new or changed since the reference', async () => {
  const root = join(dir, 'changes');
  mkdirSync(join(root, 'd', 'deep'), { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(join(root, 'd', `f${i}`), 'y'.repeat(100 + i));
  writeFileSync(join(root, 'd', 'deep', 'g'), 'z'.repeat(7));
  const ref = referenceOf(root);
  const none = await estimateRead({ paths: [root], reference: ref, forceRead: false });
  assert.deepEqual([none.files, none.bytes], [0, 0]);
  assert.ok(ref.loads() > 0, 'the reference trees were read');

  writeFileSync(join(root, 'd', 'f0'), 'changed content'); // size and times
  chmodSync(join(root, 'd', 'f1'), 0o600); // mode (and ctime)
  writeFileSync(join(root, 'd', 'deep', 'new'), 'n'.repeat(50)); // new
  rmSync(join(root, 'd', 'f4')); // deleted: nothing to read
  const some = await estimateRead({ paths: [root], reference: ref, forceRead: false });
  assert.deepEqual([some.files, some.bytes], [3, 15 + 101 + 50]);
});

test('asked for a path below a directory, only that path is walked', async () => {
  const root = join(dir, 'planned');
  mkdirSync(join(root, 'in'), { recursive: true });
  mkdirSync(join(root, 'out'), { recursive: true });
  writeFileSync(join(root, 'in', 'x'), 'x'.repeat(5));
  writeFileSync(join(root, 'out', 'y'), 'y'.repeat(9));
  const r = await estimateRead({ paths: [join(root, 'in'), join(root, 'missing')], forceRead: true });
  assert.deepEqual([r.files, r.bytes], [1, 5]);
});

test('change is size, mtime, ctime, inode, mode or owner', () => {
  const p = join(dir, 'meta');
  writeFileSync(p, 'content');
  const stat = lstatPath(Buffer.from(p))!;
  const ref = { ...nodeFromStat(Buffer.from('meta'), stat), chunks: [] };
  assert.equal(unchangedSince(ref, stat), true);
  assert.equal(unchangedSince({ ...ref, mtimeNs: ref.mtimeNs + 1n }, stat), false);
  assert.equal(unchangedSince({ ...ref, ctimeNs: ref.ctimeNs + 1n }, stat), false);
  assert.equal(unchangedSince({ ...ref, uid: ref.uid + 1 }, stat), false);
  assert.equal(unchangedSince({ ...ref, gid: ref.gid + 1 }, stat), false);
  assert.equal(unchangedSince({ ...ref, size: ref.size + 1 }, stat), false);
  assert.equal(unchangedSince({ ...ref, inode: ref.inode + 1n }, stat), false);
  assert.equal(unchangedSince({ ...ref, mode: ref.mode ^ 0o100 }, stat), false);
});
