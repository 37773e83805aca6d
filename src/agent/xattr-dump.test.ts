import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { escapeDumpName, formatXattrDump, parseXattrDump, unescapeDumpName } from './xattr-dump.ts';

const hasAttrTools = spawnSync('getfattr', ['--version']).status === 0;
const latin1 = (s: string) => Buffer.from(s, 'latin1');

describe('getfattr dump format', () => {
  it('parses escaped paths and names, base64, hex, quoted and empty values', () => {
    const text = [
      '# file: /t/n\\012l',
      'user.nl\\012name=0sdg==',
      '',
      '# file: /t/b c',
      'user.sp ace=0sAP8B',
      'user.hex=0x00ff',
      'user.q="a\\134b"',
      'user.empty',
      '',
      '# file: /t/x\xff',
      'user.e=0s',
      '',
      '# file: /t/none',
      '',
    ].join('\n');
    const map = parseXattrDump(text);
    assert.deepEqual([...map.keys()].sort(), ['/t/b c', '/t/n\nl', '/t/x\xff']);
    assert.deepEqual(map.get('/t/n\nl'), [{ name: latin1('user.nl\nname'), value: Buffer.from('v') }]);
    assert.deepEqual(map.get('/t/b c'), [
      { name: latin1('user.empty'), value: Buffer.alloc(0) },
      { name: latin1('user.hex'), value: Buffer.from([0, 0xff]) },
      { name: latin1('user.q'), value: Buffer.from('a\\b') },
      { name: latin1('user.sp ace'), value: Buffer.from([0, 0xff, 1]) },
    ]);
    assert.deepEqual(map.get('/t/x\xff'), [{ name: latin1('user.e'), value: Buffer.alloc(0) }]);
  });

  it('escapes what it unescapes', () => {
    const raw = latin1('a\nb\\c=d\x7f\xff e');
    assert.equal(escapeDumpName(raw), 'a\\012b\\134c\\075d\\177\xff e');
    assert.deepEqual(unescapeDumpName(escapeDumpName(raw)), raw);
    const attrs = [
      { name: latin1('user.a'), value: Buffer.from([0, 1]) },
      { name: latin1('user.b'), value: Buffer.alloc(0) },
    ];
    const dump = formatXattrDump(latin1('/p\n'), attrs);
    assert.equal(dump, '# file: /p\\012\nuser.a=0sAAE=\nuser.b\n\n');
    assert.deepEqual(parseXattrDump(dump).get('/p\n'), attrs);
  });

  it('reads what the real getfattr prints, and setfattr --restore takes what we write', { skip: !hasAttrTools }, () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'cairn-xattr-'));
    try {
      const names = ['with space', 'new\nline', latin1('x\xffy'), 'back\\slash'];
      const value = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x3d]);
      const paths = names.map((n) => Buffer.concat([Buffer.from(`${dir}/`), typeof n === 'string' ? Buffer.from(n) : n]));
      for (const p of paths) fs.writeFileSync(p, '');
      // find hands the raw name bytes to setfattr (Node's argv would turn them into UTF-8)
      const set = (name: string) =>
        spawnSync('find', [dir, '-type', 'f', '-exec', 'setfattr', '-n', name, '-v', `0s${value.toString('base64')}`, '{}', '+']);
      if (set('user.probe').status !== 0) return; // this file system has no user xattrs
      assert.equal(set('user.a b\nc').status, 0);
      const out = spawnSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', dir]);
      const map = parseXattrDump(out.stdout.toString('latin1'));
      const expected = [{ name: Buffer.from('user.a b\nc'), value }];
      expected.push({ name: Buffer.from('user.probe'), value });
      for (const p of paths) assert.deepEqual(map.get(p.toString('latin1')), expected, p.toString());

      // and back: a dump we format sets the same bytes on another file
      const copy = Buffer.from(`${dir}/copy\n\xff`, 'latin1');
      fs.writeFileSync(copy, '');
      const attrs = [expected[0]!, { name: latin1('user.=eq'), value: Buffer.alloc(0) }];
      const restored = spawnSync('setfattr', ['-h', '--restore=-'], { input: Buffer.from(formatXattrDump(copy, attrs), 'latin1') });
      assert.equal(restored.status, 0, restored.stderr.toString());
      const again = spawnSync('getfattr', ['-R', '-d', '-m', '-', '-e', 'base64', '--absolute-names', dir]);
      const got = parseXattrDump(again.stdout.toString('latin1')).get(copy.toString('latin1'));
      assert.deepEqual(got, [...attrs].sort((a, b) => Buffer.compare(a.name, b.name)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
