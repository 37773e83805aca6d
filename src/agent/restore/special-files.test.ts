import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';
import { DirCache } from './dir-handles.ts';
import { deviceNumbers, SpecialFileMaker } from './special-files.ts';

const asRoot = process.getuid?.() === 0;

function special(type: TreeNode['type'], mode: number, rdev?: number): TreeNode {
  return { name: Buffer.from('x'), type, mode, uid: 0, gid: 0, mtimeNs: 1_650_000_000_000_000_000n, ctimeNs: 0n, size: 0, inode: 1n, nlink: 1, rdev };
}

test('device numbers split like glibc', () => {
  assert.deepEqual(deviceNumbers(0x0103), { major: 1, minor: 3 });
  assert.deepEqual(deviceNumbers(0x0803), { major: 8, minor: 3 });
  assert.deepEqual(deviceNumbers(0x12310345), { major: 259, minor: 0x12345 }, 'minor above 255');
});

test('FIFOs are made in directories with non-UTF-8 names, many per spawn, with mode and time', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-special-'));
  try {
    const odd = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff, 0x0a, 0x41])]);
    fs.mkdirSync(odd);
    const cache = new DirCache();
    const held = cache.root(odd);
    const maker = new SpecialFileMaker(asRoot);
    const names = [Buffer.from('p1'), Buffer.from([0xfe, 0x09]), Buffer.from('p3')];
    const done = names.map((n) =>
      maker.add({ dir: held, name: n }, Buffer.concat([odd, Buffer.from('/'), n]), special('fifo', 0o640)),
    );
    await maker.flush();
    await Promise.all(done);
    for (const n of names) {
      const st = fs.lstatSync(Buffer.concat([odd, Buffer.from('/'), n]), { bigint: true });
      assert.ok(st.isFIFO());
      assert.equal(Number(st.mode & 0o7777n), 0o640);
      assert.equal(st.mtimeNs, 1_650_000_000_000_000_000n);
    }
    assert.equal(fs.readdirSync(odd).length, 3, 'no temporary names left');
    if (asRoot) {
      const dev = Buffer.concat([odd, Buffer.from('/null')]);
      const p = maker.add({ dir: held, name: Buffer.from('null') }, dev, special('chardev', 0o666, 0x0103));
      await maker.flush();
      await p;
      assert.equal(fs.lstatSync(dev).rdev, 0x0103);
    } else {
      await assert.rejects(
        maker.add({ dir: held, name: Buffer.from('null') }, Buffer.concat([odd, Buffer.from('/null')]), special('chardev', 0o666, 0x0103)),
        (e) => isCairnError(e, 'E_FORBIDDEN'),
      );
    }
    cache.close(held);
    assert.equal(cache.openCount, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
