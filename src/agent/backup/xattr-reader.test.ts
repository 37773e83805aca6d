import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { ScanWarning } from '../scan.ts';
import { XattrReader } from './xattr-reader.ts';

const hasGetfattr = spawnSync('getfattr', ['--version']).status === 0;

/** Runs `body` with PATH set to `path` (the reader's shell looks getfattr up on it). */
async function withPath<T>(path: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = path;
  try {
    return await body();
  } finally {
    process.env.PATH = saved;
  }
}

it('without getfattr, backs up without attributes and says so once', async () => {
  const bin = fs.mkdtempSync(join(tmpdir(), 'cairn-xattr-path-'));
  try {
    const warnings: ScanWarning[] = [];
    const reader = new XattrReader(warnings);
    await withPath(bin, async () => {
      assert.equal((await reader.read(Buffer.from('/tmp'), [Buffer.from('/tmp/a')])).size, 0);
      assert.equal((await reader.read(Buffer.from('/var/tmp'), [Buffer.from('/var/tmp/b')])).size, 0);
    });
    reader.close();
    assert.deepEqual(warnings, [
      { path: '/tmp', reason: 'xattrs not captured: getfattr not installed (Debian package attr)' },
    ]);
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
});

it('maps each given path that has attributes by its bytes, odd names included', { skip: !hasGetfattr }, async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-xattr-reader-'));
  try {
    const odd = Buffer.from(`${dir}/odd\n\xff name's`, 'latin1');
    fs.writeFileSync(join(dir, 'f'), '');
    fs.writeFileSync(join(dir, 'none'), '');
    fs.writeFileSync(join(dir, 'not asked'), '');
    fs.writeFileSync(odd, '');
    if (spawnSync('setfattr', ['-n', 'user.f', '-v', '0x00ff', join(dir, 'f')]).status !== 0) return t.skip('no user xattrs here');
    // find hands setfattr the raw name bytes (Node's argv is UTF-8)
    for (const name of ['odd*', 'not asked'])
      assert.equal(spawnSync('find', [dir, '-name', name, '-exec', 'setfattr', '-n', 'user.o', '-v', 'x', '{}', '+']).status, 0);
    const warnings: ScanWarning[] = [];
    const paths = [Buffer.from(join(dir, 'f')), Buffer.from(join(dir, 'none')), odd, Buffer.from(join(dir, 'gone'))];
    const reader = new XattrReader(warnings);
    const map = await reader.read(Buffer.from(dir), paths);
    reader.close();
    assert.deepEqual(warnings, [], 'a path gone since the listing is the walk to report');
    assert.deepEqual([...map.keys()].sort(), [join(dir, 'f'), odd.toString('latin1')].sort());
    assert.deepEqual(map.get(join(dir, 'f')), [{ name: Buffer.from('user.f'), value: Buffer.from([0, 0xff]) }]);
    assert.deepEqual(map.get(odd.toString('latin1')), [{ name: Buffer.from('user.o'), value: Buffer.from('x') }]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('a directory too large for one argument list is read in several getfattr commands, every name read', { skip: !hasGetfattr }, async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-xattr-reader-'));
  try {
    fs.writeFileSync(join(dir, 'last'), '');
    if (spawnSync('setfattr', ['-n', 'user.last', '-v', 'y', join(dir, 'last')]).status !== 0) return t.skip('no user xattrs here');
    // 4,000 names of 200 bytes (800 KB, over ARGV_BYTES), gone since the listing, then a real one
    const paths = Array.from({ length: 4000 }, (_, i) => Buffer.from(join(dir, `${i}`.padStart(200 - dir.length, 'g'))));
    paths.push(Buffer.from(join(dir, 'last')));
    const warnings: ScanWarning[] = [];
    const reader = new XattrReader(warnings);
    const map = await reader.read(Buffer.from(dir), paths);
    reader.close();
    assert.deepEqual(warnings, []);
    assert.deepEqual([...map.keys()], [join(dir, 'last')]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
