import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TreeNode } from '../core/tree.ts';
import { IndexSpool, indexEntry, removeStaleSpools } from './index-spool.ts';

const work = fs.mkdtempSync(join(tmpdir(), 'cairn-spool-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function node(name: Buffer, i: number): TreeNode {
  return {
    name,
    type: i % 2 ? 'file' : 'dir',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtimeNs: 1_700_000_000_123_456_789n + BigInt(i),
    ctimeNs: 0n,
    size: i * 10,
    inode: BigInt(i),
    nlink: 1,
  };
}

describe('index spool', () => {
  it('gives back every entry in order, in batches of the size asked, with exact name bytes', async () => {
    const spool = new IndexSpool(join(work, 'tmp'));
    const latin = Buffer.from([0x66, 0xe9, 0xff]); // not UTF-8
    const dirs = [Buffer.from('/'), Buffer.concat([Buffer.from('/src/'), latin])];
    const total = 12_345;
    for (let i = 0; i < total; i += 5) {
      const nodes = [0, 1, 2, 3, 4].map((k) => node(Buffer.concat([latin, Buffer.from(String(i + k))]), i + k));
      spool.add(dirs[(i / 5) % 2]!, nodes);
    }
    assert.equal(spool.count, total);
    const sizes: number[] = [];
    let seen = 0;
    await spool.replay(async (entries) => {
      sizes.push(entries.length);
      for (const e of entries) {
        const i = seen++;
        assert.deepEqual(Buffer.from(e.name, 'base64'), Buffer.concat([latin, Buffer.from(String(i))]));
        assert.deepEqual(Buffer.from(e.dir, 'base64'), dirs[Math.floor(i / 5) % 2]);
        assert.equal(e.mtimeNs, (1_700_000_000_123_456_789n + BigInt(i)).toString());
        assert.equal(e.size, i * 10);
        assert.equal(e.type, i % 2 ? 'file' : 'dir');
      }
    }, 1000);
    assert.equal(seen, total);
    assert.deepEqual(sizes, [...Array(12).fill(1000), 345]);
    assert.ok(fs.existsSync(spool.path));
    spool.discard();
    assert.equal(fs.existsSync(spool.path), false);
    spool.discard(); // twice is fine
  });

  it('an empty spool sends nothing', async () => {
    const spool = new IndexSpool(join(work, 'tmp'));
    let calls = 0;
    await spool.replay(async () => {
      calls++;
    });
    assert.equal(calls, 0);
    spool.discard();
  });

  it('a failing send stops the replay with its error', async () => {
    const spool = new IndexSpool(join(work, 'tmp'));
    spool.add(Buffer.from('/'), [node(Buffer.from('a'), 1), node(Buffer.from('b'), 2)]);
    await assert.rejects(
      spool.replay(async () => {
        throw new Error('server gone');
      }, 1),
      /server gone/,
    );
    spool.discard();
  });

  it('wire form: base64 of the bytes, mtime as a decimal string, mode, owner and a symlink\'s target bytes', () => {
    const e = indexEntry(Buffer.from('/a b'), node(Buffer.from('x'), 3));
    assert.deepEqual(e, { dir: 'L2EgYg==', name: 'eA==', type: 'file', size: 30, mtimeNs: '1700000000123456792', mode: 0o644, uid: 0, gid: 0 });
    const link = indexEntry(Buffer.from('/'), { ...node(Buffer.from('l'), 2), type: 'symlink', mode: 0o777, uid: 1000, gid: 100, target: Buffer.from([0x2e, 0xff]) });
    assert.deepEqual(link, { dir: 'Lw==', name: 'bA==', type: 'symlink', size: 20, mtimeNs: '1700000000123456791', mode: 0o777, uid: 1000, gid: 100, target: 'Lv8=' });
  });

  it('removes spool files a crashed run left behind, and nothing else', () => {
    const dir = join(work, 'stale');
    const left = new IndexSpool(dir);
    left.add(Buffer.from('/'), [node(Buffer.from('a'), 1)]);
    fs.writeFileSync(join(dir, 'other'), 'x');
    removeStaleSpools(dir);
    assert.deepEqual(fs.readdirSync(dir), ['other']);
    removeStaleSpools(join(work, 'missing')); // no folder: no error
  });
});
