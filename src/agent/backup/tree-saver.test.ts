import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gearTable } from '../../core/chunker.ts';
import { chunkId, generateVaultKeys } from '../../core/keys.ts';
import { decodeTree, encodeTree, type TreeNode } from '../../core/tree.ts';
import { chunkTree, sameNodes } from './tree-saver.ts';

const keys = generateVaultKeys();

function fileNode(name: string): TreeNode {
  return {
    name: Buffer.from(name),
    type: 'file',
    mode: 0o644,
    uid: 1,
    gid: 2,
    mtimeNs: 1_700_000_000_123_456_789n,
    ctimeNs: 1_700_000_000_123_456_789n,
    size: 10,
    inode: 42n,
    nlink: 1,
    chunks: [randomBytes(32)],
  };
}

test('a big directory is chunked like data; the pieces join back to the encoding', () => {
  const nodes = Array.from({ length: 3000 }, (_, i) => fileNode(`file-${String(i).padStart(5, '0')}`));
  const bytes = encodeTree(nodes);
  const chunker = { min: 4096, avg: 16384, max: 65536 };
  const { ids, pieces } = chunkTree(keys, chunker, gearTable(keys.chunkerKey), bytes);
  assert.ok(ids.length > 3);
  assert.ok(Buffer.concat(pieces).equals(bytes));
  pieces.forEach((p, i) => assert.ok(chunkId(keys, p).equals(ids[i]!)));
  assert.equal(decodeTree(Buffer.concat(pieces)).length, 3000);
});

test('sameNodes: equal only when every encoded field is equal', () => {
  const a = [fileNode('a'), fileNode('b')];
  const decoded = decodeTree(encodeTree(a));
  assert.equal(sameNodes(a, decoded), true, 'a decoded tree equals its nodes');
  for (const change of [
    { mtimeNs: 1n },
    { mode: 0o600 },
    { nlink: 2 },
    { chunks: [randomBytes(32)] },
    { name: Buffer.from('c') },
    { target: Buffer.from('x') },
    { xattrs: [{ name: Buffer.from('user.a'), value: Buffer.from('1') }] },
  ] as Partial<TreeNode>[]) {
    assert.equal(sameNodes([a[0]!, { ...a[1]!, ...change }], decoded), false, JSON.stringify(Object.keys(change)));
  }
  assert.equal(sameNodes(a.slice(0, 1), decoded), false);
  const withXattrs = [{ ...a[0]!, xattrs: [{ name: Buffer.from('user.a'), value: Buffer.from('1') }] }];
  const decodedXattrs = decodeTree(encodeTree(withXattrs));
  assert.equal(sameNodes(withXattrs, decodedXattrs), true);
  const changed = [{ ...a[0]!, xattrs: [{ name: Buffer.from('user.a'), value: Buffer.from('2') }] }];
  assert.equal(sameNodes(changed, decodedXattrs), false);
  assert.equal(sameNodes([{ ...a[0]!, xattrs: [] }], decodeTree(encodeTree(a.slice(0, 1)))), true);
});
