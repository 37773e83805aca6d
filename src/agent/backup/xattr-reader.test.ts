import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { ScanWarning } from '../scan.ts';
import { readXattrs } from './xattr-reader.ts';

const hasGetfattr = spawnSync('getfattr', ['--version']).status === 0;

it('without getfattr, backs up without attributes and says so once', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const warnings: ScanWarning[] = [];
    const map = await readXattrs(['/tmp', '/var/tmp'], warnings);
    assert.equal(map.size, 0);
    assert.deepEqual(warnings, [
      { path: '/tmp', reason: 'xattrs not captured: getfattr not installed (Debian package attr)' },
    ]);
  } finally {
    process.env.PATH = saved;
  }
});

it('maps each path that has attributes, root included, by its bytes', { skip: !hasGetfattr }, async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-xattr-reader-'));
  try {
    fs.writeFileSync(join(dir, 'f'), '');
    fs.writeFileSync(join(dir, 'none'), '');
    if (spawnSync('setfattr', ['-n', 'user.root', '-v', 'r', dir]).status !== 0) return t.skip('no user xattrs here');
    assert.equal(spawnSync('setfattr', ['-n', 'user.f', '-v', '0x00ff', join(dir, 'f')]).status, 0);
    const warnings: ScanWarning[] = [];
    const map = await readXattrs([`${dir}/`], warnings);
    assert.deepEqual(warnings, []);
    assert.deepEqual([...map.keys()].sort(), [dir, join(dir, 'f')]);
    assert.deepEqual(map.get(join(dir, 'f')), [{ name: Buffer.from('user.f'), value: Buffer.from([0, 0xff]) }]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
