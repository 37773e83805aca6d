import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isCairnError } from './errors.ts';
import { decodeTree, encodeTree, type TreeNode } from './tree.ts';

const base = {
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  mtimeNs: 1_700_000_000_123_456_789n,
  ctimeNs: -5n,
  inode: 2n ** 60n,
  nlink: 1,
};

function sampleNodes(): TreeNode[] {
  return [
    {
      ...base,
      name: Buffer.from('file.txt'),
      type: 'file',
      size: 3,
      chunks: [randomBytes(32), randomBytes(32)],
    },
    { ...base, name: Buffer.from([0xff, 0xfe, 0x80]), type: 'file', size: 0, chunks: [] }, // not UTF-8
    {
      ...base,
      name: Buffer.from('line\nbreak\ttab'),
      type: 'dir',
      size: 4096,
      mode: 0o7755,
      subtree: [randomBytes(32)],
    },
    { ...base, name: Buffer.from('link'), type: 'symlink', size: 7, target: Buffer.from('../x\n\xff') },
    {
      ...base,
      name: Buffer.from('hard'),
      type: 'hardlink',
      size: 3,
      nlink: 2,
      target: Buffer.from('a/b/file.txt'),
    },
    { ...base, name: Buffer.from('tty'), type: 'chardev', size: 0, rdev: 1025 },
    { ...base, name: Buffer.from('fifo'), type: 'fifo', size: 0 },
    { ...base, name: Buffer.from('x'.repeat(255)), type: 'socket', size: 0 },
    { ...base, name: Buffer.from('.hidden'), type: 'blockdev', size: 0, rdev: 2049 },
  ];
}

const sortedByName = (nodes: TreeNode[]) => [...nodes].sort((a, b) => Buffer.compare(a.name, b.name));

describe('tree encoding', () => {
  it('round-trips every node type, raw names included', () => {
    const nodes = sampleNodes();
    assert.deepEqual(decodeTree(encodeTree(nodes)), sortedByName(nodes));
    assert.deepEqual(decodeTree(encodeTree([])), []);
  });

  it('is canonical: shuffled input gives the same bytes', () => {
    const nodes = sampleNodes();
    const bytes = encodeTree(nodes);
    for (let i = 0; i < 5; i++) {
      const shuffled = [...nodes].sort(() => Math.random() - 0.5);
      assert.deepEqual(encodeTree(shuffled), bytes);
    }
    assert.deepEqual(encodeTree(decodeTree(bytes)), bytes);
  });

  it('refuses unsafe names with E_UNSAFE_PATH, on decode and on encode', () => {
    const unsafe = (e: unknown) => isCairnError(e, 'E_UNSAFE_PATH');
    const ok = encodeTree([{ ...base, name: Buffer.from('a'), type: 'fifo', size: 0 }]).toString();
    for (const name of ['', '.', '..', 'a/b', '/', 'a\0b']) {
      const b64 = Buffer.from(name).toString('base64');
      const forged = ok.replace('"name":"YQ=="', `"name":"${b64}"`);
      assert.throws(() => decodeTree(Buffer.from(forged)), unsafe, JSON.stringify(name));
      assert.throws(() => encodeTree([{ ...base, name: Buffer.from(name), type: 'fifo', size: 0 }]), unsafe);
    }
    const dup = `[${ok.slice(1, -1)},${ok.slice(1, -1)}]`;
    assert.throws(() => decodeTree(Buffer.from(dup)), unsafe);
    const twice = { ...base, name: Buffer.from('a'), type: 'fifo' as const, size: 0 };
    assert.throws(() => encodeTree([twice, twice]), unsafe);
  });

  it('refuses malformed trees with E_CORRUPT', () => {
    const corrupt = (e: unknown) => isCairnError(e, 'E_CORRUPT');
    const good = JSON.parse(encodeTree(sampleNodes()).toString()) as Record<string, unknown>[];
    const file = good.find((n) => n.type === 'file')!;
    const variants: unknown[] = [
      'not json',
      { not: 'an array' },
      [1],
      [{ ...file, type: 'door' }],
      [{ ...file, mode: 0o10000 }],
      [{ ...file, mode: -1 }],
      [{ ...file, uid: 1.5 }],
      [{ ...file, size: '3' }],
      [{ ...file, mtimeNs: 12 }],
      [{ ...file, mtimeNs: '012' }],
      [{ ...file, inode: '-1' }],
      [{ ...file, chunks: ['zz'] }],
      [{ ...file, chunks: undefined }],
      [{ ...file, extra: 1 }],
      [{ ...file, name: 'YQ' }], // not canonical base64
      [...good].reverse(), // not sorted
    ];
    for (const v of variants)
      assert.throws(
        () => decodeTree(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))),
        corrupt,
        JSON.stringify(v).slice(0, 80),
      );
  });
});

describe('tree encoding with extended attributes', () => {
  const attrs = [
    { name: Buffer.from('user.z'), value: Buffer.from([0, 1, 2, 0xff]) },
    { name: Buffer.from('security.selinux'), value: Buffer.from('system_u:object_r:tmp_t:s0\0') },
    { name: Buffer.from('user.a b\n\xff', 'latin1'), value: Buffer.alloc(0) },
  ];
  const withXattrs = (): TreeNode[] => [
    { ...base, name: Buffer.from('f'), type: 'file', size: 0, chunks: [], xattrs: attrs },
    { ...base, name: Buffer.from('d'), type: 'dir', size: 0, subtree: [], xattrs: [attrs[0]!] },
  ];

  it('round-trips them sorted by name bytes, canonically', () => {
    const bytes = encodeTree(withXattrs());
    const decoded = decodeTree(bytes);
    const sortedAttrs = [...attrs].sort((a, b) => Buffer.compare(a.name, b.name));
    assert.deepEqual(decoded[1]!.xattrs, sortedAttrs);
    assert.deepEqual(decoded[0]!.xattrs, [attrs[0]]);
    assert.deepEqual(encodeTree(decoded), bytes);
  });

  it('leaves the field out when there are none, so older trees keep their bytes', () => {
    const plain = sampleNodes();
    const empty = plain.map((n) => ({ ...n, xattrs: [] }));
    assert.deepEqual(encodeTree(empty), encodeTree(plain));
    assert.doesNotMatch(encodeTree(empty).toString(), /xattrs/);
  });

  it('refuses malformed, unsorted, repeated or oversized attributes', () => {
    const corrupt = (e: unknown) => isCairnError(e, 'E_CORRUPT');
    const good = JSON.parse(encodeTree(withXattrs()).toString()) as Record<string, unknown>[];
    const file = good.find((n) => n.type === 'file')!;
    const pairs = file.xattrs as string[][];
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const variants: unknown[] = [
      [{ ...file, xattrs: [] }],
      [{ ...file, xattrs: 'x' }],
      [{ ...file, xattrs: [[b64('user.a')]] }],
      [{ ...file, xattrs: [[b64('user.a'), 'YQ']] }],
      [{ ...file, xattrs: [['', b64('v')]] }],
      [{ ...file, xattrs: [[b64('user.a\0b'), b64('v')]] }],
      [{ ...file, xattrs: [...pairs].reverse() }],
      [{ ...file, xattrs: [pairs[0], pairs[0]] }],
      [{ ...file, xattrs: [[b64('user.big'), Buffer.alloc(64 * 1024).toString('base64')]] }],
    ];
    for (const v of variants)
      assert.throws(() => decodeTree(Buffer.from(JSON.stringify(v))), corrupt, JSON.stringify(v).slice(0, 80));
    const big = { name: Buffer.from('user.big'), value: Buffer.alloc(64 * 1024) };
    assert.throws(
      () => encodeTree([{ ...base, name: Buffer.from('f'), type: 'fifo', size: 0, xattrs: [big] }]),
      (e: unknown) => isCairnError(e, 'E_TOO_LARGE'),
    );
  });
});
