import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { DirCache } from './dir-handles.ts';
import { XattrWriter } from './xattr-writer.ts';

const hasSetfattr = spawnSync('setfattr', ['--version']).status === 0;
const attr = (name: string, value: string) => ({ name: Buffer.from(name), value: Buffer.from(value) });

it('sets attributes in one batch and reports each failed path with setfattr’s reason', { skip: !hasSetfattr }, async (t) => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-xattr-writer-'));
  try {
    const file = Buffer.from(`${dir}/f: colon\n`);
    fs.writeFileSync(file, '');
    if (spawnSync('setfattr', ['-n', 'user.probe', '-v', '1', dir]).status !== 0) return t.skip('no user xattrs here');
    const cache = new DirCache();
    const held = cache.root(Buffer.from(dir));
    const at = (name: string | Buffer) => ({ dir: held, name: Buffer.from(name) });
    const writer = new XattrWriter(false);
    const results: [string, string | undefined][] = [];
    const done = (label: string) => (failure: string | undefined) => results.push([label, failure]);
    writer.add(at('privileged'), [attr('trusted.x', '1'), attr('security.y', '2')], done('skipped'));
    assert.deepEqual(results, [['skipped', undefined]], 'nothing settable without root: done at once');
    writer.add(at('f: colon\n'), [attr('user.a', 'A'), attr('user.b', '')], done('file'));
    writer.add(at('missing'), [attr('user.a', 'A')], done('missing'));
    await writer.drain();
    assert.deepEqual(results.slice(1, 2), [['file', undefined]]);
    assert.equal(results[2]![0], 'missing');
    assert.match(results[2]![1]!, /^xattrs not restored: No such file or directory/);
    cache.close(held);
    assert.equal(cache.openCount, 0, 'the directory was held only while setfattr ran');
    const dump = spawnSync('getfattr', ['-R', '-d', '-m', '-', '-e', 'base64', '--absolute-names', dir], { encoding: 'latin1' });
    assert.match(dump.stdout, /f: colon\\012\nuser\.a=0sQQ==\nuser\.b=0s\n/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('without setfattr every entry is reported, none left waiting', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const cache = new DirCache();
    const held = cache.root(Buffer.from('/'));
    const writer = new XattrWriter(true);
    const failures: (string | undefined)[] = [];
    writer.add({ dir: held, name: Buffer.from('a') }, [attr('user.a', '1')], (f) => failures.push(f));
    writer.add({ dir: held, name: Buffer.from('b') }, [attr('user.b', '1')], (f) => failures.push(f));
    await writer.drain();
    assert.deepEqual(failures, [
      'xattrs not restored: setfattr not installed (Debian package attr)',
      'xattrs not restored: setfattr not installed (Debian package attr)',
    ]);
    cache.close(held);
  } finally {
    process.env.PATH = saved;
  }
});
