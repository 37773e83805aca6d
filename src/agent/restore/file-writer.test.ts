import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CairnError, isCairnError } from '../../core/errors.ts';
import { BufferLease } from '../../core/free-owned.ts';
import type { TreeNode } from '../../core/tree.ts';
import { DirCache, type DirHandle } from './dir-handles.ts';
import { writeHardlink, writeSymlink } from './entry-placing.ts';
import { dataRuns, type FileOps, FileWriter, WriteBudget } from './file-writer.ts';

function fileNode(size: number, chunks: number, mode = 0o640): TreeNode {
  return {
    name: Buffer.from('f'),
    type: 'file',
    mode,
    uid: 0,
    gid: 0,
    mtimeNs: 1_700_000_000_000_000_000n,
    ctimeNs: 0n,
    size,
    inode: 1n,
    nlink: 1,
    chunks: Array.from({ length: chunks }, () => Buffer.alloc(32)),
  };
}

/** A scratch directory, held open as the restorer holds its directories. */
function withDir(fn: (dir: string, held: DirHandle) => Promise<void>) {
  return async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-writer-'));
    const cache = new DirCache();
    const held = cache.root(Buffer.from(dir));
    try {
      await fn(dir, held);
    } finally {
      cache.close(held);
      assert.equal(cache.openCount, 0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

const named = (name: string) => Buffer.from(name);

const MiB = 1024 * 1024;

test(
  'chunks taken out of order land in order; zero chunks stay holes; the file appears only when complete',
  withDir(async (dir, held) => {
    const path = Buffer.from(join(dir, 'sparse'));
    const a = Buffer.alloc(MiB, 0x61);
    const c = Buffer.alloc(100, 0x63);
    const w = new FileWriter(held, named('sparse'), path, fileNode(8 * MiB + 100, 4), new WriteBudget(64 * MiB));
    w.put(2, { data: c.subarray(0, 0), length: 0 });
    w.put(3, { data: c, length: 100 });
    w.put(1, { data: null, length: 7 * MiB - MiB + MiB }); // a 7 MiB hole
    assert.equal(w.complete, false);
    assert.ok(!fs.existsSync(path));
    w.put(0, { data: a, length: MiB });
    assert.equal(w.complete, true);
    await w.finish(false);
    const st = fs.statSync(path);
    assert.equal(st.size, 8 * MiB + 100);
    assert.equal(st.mode & 0o7777, 0o640);
    assert.ok(st.blocks * 512 < 2 * MiB, `${st.blocks * 512} bytes allocated`);
    const back = fs.readFileSync(path);
    assert.ok(back.subarray(0, MiB).equals(a));
    assert.ok(back.subarray(MiB, 8 * MiB).every((b) => b === 0));
    assert.ok(back.subarray(8 * MiB).equals(c));
    assert.deepEqual(fs.readdirSync(dir), ['sparse']);
  }),
);

test(
  "a chunk's buffer is freed once its writes are done, never while one is queued or pending",
  withDir(async (dir, held) => {
    const path = Buffer.from(join(dir, 'leased'));
    const bytes = [Buffer.alloc(MiB, 0x61), Buffer.alloc(MiB, 0x62), Buffer.alloc(20_000, 0x63)];
    // each chunk in a buffer of its own, as the fetching workers hand them over
    const owned = bytes.map((b) => {
      const own = Buffer.from(new ArrayBuffer(b.length));
      b.copy(own);
      return own;
    });
    const leases = owned.map((b) => new BufferLease(b));
    const w = new FileWriter(held, named('leased'), path, fileNode(2 * MiB + 20_000, 3), new WriteBudget(64 * MiB));
    w.put(1, { data: owned[1]!, length: MiB, lease: leases[1] }); // early: held
    w.put(2, { data: owned[2]!, length: 20_000, lease: leases[2] }); // early: held
    w.put(0, { data: owned[0]!, length: MiB, lease: leases[0] }); // the file opens: all three queued
    for (const lease of leases) lease.release(); // the deliverer lets go
    assert.ok(owned.every((b, i) => b.length === bytes[i]!.length), 'a buffer was freed while its write was queued');
    await w.finish(false);
    assert.ok(fs.readFileSync(path).equals(Buffer.concat(bytes)));
    assert.deepEqual(
      owned.map((b) => b.buffer.byteLength),
      [0, 0, 0],
      'every buffer is freed once written',
    );
  }),
);

test(
  'a file ending in a hole is truncated to its size; an empty file is made',
  withDir(async (dir, held) => {
    const tail = new FileWriter(held, named('tail'), Buffer.from(join(dir, 'tail')), fileNode(3 * MiB, 2), new WriteBudget(MiB));
    tail.put(0, { data: Buffer.from('x'), length: 1 });
    tail.put(1, { data: null, length: 3 * MiB - 1 });
    await tail.finish(false);
    assert.equal(fs.statSync(join(dir, 'tail')).size, 3 * MiB);
    const empty = new FileWriter(held, named('empty'), Buffer.from(join(dir, 'empty')), fileNode(0, 0), new WriteBudget(MiB));
    assert.equal(empty.complete, true);
    await empty.finish(false);
    assert.equal(fs.statSync(join(dir, 'empty')).size, 0);
  }),
);

test(
  'a damaged chunk or a wrong size discards the file and its temporary name',
  withDir(async (dir, held) => {
    const damaged = new FileWriter(held, named('damaged'), Buffer.from(join(dir, 'damaged')), fileNode(200_000, 2), new WriteBudget(MiB));
    damaged.put(0, { data: Buffer.alloc(100_000, 1), length: 100_000 });
    damaged.put(1, { error: new CairnError('E_CORRUPT', 'blob failed authentication') });
    await assert.rejects(damaged.finish(false), (e) => isCairnError(e, 'E_CORRUPT'));
    const short = new FileWriter(held, named('short'), Buffer.from(join(dir, 'short')), fileNode(10, 1), new WriteBudget(MiB));
    short.put(0, { data: Buffer.from('abc'), length: 3 });
    await assert.rejects(short.finish(false), (e) => isCairnError(e, 'E_CORRUPT') && /10/.test(e.message));
    assert.deepEqual(fs.readdirSync(dir), []);
  }),
);

test(
  'a symlink planted at the final name is replaced, never written through',
  withDir(async (dir, held) => {
    const victim = join(dir, 'victim');
    fs.writeFileSync(victim, 'keep me');
    fs.symlinkSync(victim, join(dir, 'f'));
    const w = new FileWriter(held, named('f'), Buffer.from(join(dir, 'f')), fileNode(3, 1), new WriteBudget(MiB));
    w.put(0, { data: Buffer.from('new'), length: 3 });
    await w.finish(false);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'keep me');
    assert.ok(fs.lstatSync(join(dir, 'f')).isFile());
    assert.equal(fs.readFileSync(join(dir, 'f'), 'utf8'), 'new');
  }),
);

test(
  'symlinks keep their target bytes; a hard link made twice stays one inode and leaves no temporary name',
  withDir(async (dir, held) => {
    const target = Buffer.from([0x2e, 0x2e, 0x2f, 0xff, 0x0a]);
    const link = Buffer.from(join(dir, 'l'));
    const node = { ...fileNode(0, 0, 0o777), type: 'symlink' as const, target };
    await writeSymlink({ dir: held, name: named('l') }, link, node, false);
    await writeSymlink({ dir: held, name: named('l') }, link, node, false);
    assert.deepEqual(fs.readlinkSync(link, { encoding: 'buffer' }), target);
    fs.writeFileSync(join(dir, 'a'), 'x');
    await writeHardlink({ dir: held, name: named('b') }, { dir: held, name: named('a') });
    await writeHardlink({ dir: held, name: named('b') }, { dir: held, name: named('a') });
    assert.equal(fs.statSync(join(dir, 'a')).ino, fs.statSync(join(dir, 'b')).ino);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['a', 'b', 'l']);
  }),
);

test('dataRuns skips exactly the 4 KiB zero blocks aligned in the file', () => {
  const KiB = 1024;
  const data = Buffer.alloc(20 * KiB, 1);
  data.fill(0, 3 * KiB, 13 * KiB); // zeros at chunk offset 3..13 KiB
  // the chunk starts 1 KiB into the file: file blocks 4..8 and 8..12 KiB are chunk 3..7 and 7..11 KiB
  assert.deepEqual(dataRuns(data, KiB), [[0, 3 * KiB], [11 * KiB, 20 * KiB]]);
  // at offset 0 the aligned zero blocks are 4..8 and 8..12 KiB
  assert.deepEqual(dataRuns(data, 0), [[0, 4 * KiB], [12 * KiB, 20 * KiB]]);
  // a 6 KiB zero run that holds no aligned block is written
  const short = Buffer.alloc(20 * KiB, 1).fill(0, KiB, 7 * KiB);
  assert.deepEqual(dataRuns(short, 0), [[0, 20 * KiB]]);
  assert.deepEqual(dataRuns(Buffer.alloc(8 * KiB), 0), []);
  assert.deepEqual(dataRuns(Buffer.alloc(100, 7), 4095), [[0, 100]]);
});

test(
  'zero runs inside chunks at unaligned offsets come back identical, aligned zero blocks as holes',
  withDir(async (dir, held) => {
    const path = Buffer.from(join(dir, 'runs'));
    const chunks = [3 * MiB + 123, 2 * MiB + 4000, 70_001].map((n, i) => {
      const b = Buffer.alloc(n);
      for (let at = 0; at < n; at += 997) b[at] = i + 1; // sparse marks: no 4 KiB zero block here...
      return b;
    });
    chunks[0]!.fill(0, 5000, 5000 + MiB); // ...but long zero runs at unaligned offsets
    chunks[1]!.fill(0, 1, 2 * MiB);
    chunks[2]!.fill(0, 10, 70_000);
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const w = new FileWriter(held, named('runs'), path, fileNode(size, 3), new WriteBudget(MiB));
    chunks.forEach((c, i) => w.put(i, { data: c, length: c.length }));
    await w.finish(false);
    assert.ok(fs.readFileSync(path).equals(Buffer.concat(chunks)));
    const allocated = fs.statSync(path).blocks * 512;
    assert.ok(allocated < size - 2.5 * MiB, `${allocated} of ${size} bytes allocated`);
  }),
);

test(
  'a file replacing another is fsynced before its rename, a new one is not, a failed one never renamed',
  withDir(async (dir, held) => {
    const calls: string[] = [];
    const ops: FileOps = {
      fsync: async (fd) => {
        calls.push(`fsync ${fs.fstatSync(fd).size}`);
        await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
      },
      rename: async (from, to) => {
        calls.push('rename');
        await fs.promises.rename(from, to);
      },
    };
    fs.writeFileSync(join(dir, 'old'), 'old contents');
    const w = new FileWriter(held, named('old'), Buffer.from(join(dir, 'old')), fileNode(5, 1), new WriteBudget(MiB), false, ops);
    w.put(0, { data: Buffer.from('fresh'), length: 5 });
    await w.finish(false);
    assert.deepEqual(calls, ['fsync 5', 'rename']);
    assert.equal(fs.readFileSync(join(dir, 'old'), 'utf8'), 'fresh');

    calls.length = 0;
    const fresh = new FileWriter(held, named('new'), Buffer.from(join(dir, 'new')), fileNode(3, 1), new WriteBudget(MiB), false, ops);
    fresh.put(0, { data: Buffer.from('new'), length: 3 });
    await fresh.finish(false);
    assert.deepEqual(calls, ['rename'], 'nothing replaced: the run-wide syncfs makes it durable');
    fs.unlinkSync(join(dir, 'new'));

    calls.length = 0;
    const failing: FileOps = { ...ops, fsync: async () => { calls.push('fsync'); throw Object.assign(new Error('EIO'), { code: 'EIO' }); } };
    const bad = new FileWriter(held, named('old'), Buffer.from(join(dir, 'old')), fileNode(3, 1), new WriteBudget(MiB), false, failing);
    bad.put(0, { data: Buffer.from('new'), length: 3 });
    await assert.rejects(bad.finish(false), /EIO/);
    assert.deepEqual(calls, ['fsync']);
    assert.equal(fs.readFileSync(join(dir, 'old'), 'utf8'), 'fresh');
    assert.deepEqual(fs.readdirSync(dir), ['old']);
  }),
);
