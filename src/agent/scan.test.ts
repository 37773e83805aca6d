import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isCairnError } from '../core/errors.ts';
import { joinPath, listDirectory, lstatPath, nodeFromStat, planPaths, type ScanWarning, unchangedSince } from './scan.ts';

const dir = mkdtempSync(join(tmpdir(), 'cairn-scan-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('lists raw-byte names in byte order with nanosecond stats', async () => {
  const d = Buffer.from(join(dir, 'list'));
  mkdirSync(d);
  const odd = Buffer.from([0x66, 0xff, 0x0a, 0x09]);
  for (const name of [Buffer.from('b'), odd, Buffer.from('a'), Buffer.from('Z')]) writeFileSync(joinPath(d, name), 'x');
  symlinkSync('a', joinPath(d, Buffer.from('link')));
  const warnings: ScanWarning[] = [];
  const entries = await listDirectory(d, warnings);
  assert.deepEqual(
    entries.map((e) => e.name),
    [Buffer.from('Z'), Buffer.from('a'), Buffer.from('b'), odd, Buffer.from('link')],
  );
  assert.equal(typeof entries[0]!.stat.mtimeNs, 'bigint');
  assert.equal(nodeFromStat(entries[4]!.name, entries[4]!.stat).type, 'symlink');
  assert.deepEqual(warnings, []);
  assert.deepEqual(await listDirectory(joinPath(d, Buffer.from('nope')), warnings), []);
  assert.match((warnings as ScanWarning[])[0]!.reason, /cannot list directory/);
});

test('a file is unchanged only when size, times, inode, mode and owner all match', () => {
  const p = join(dir, 'same');
  writeFileSync(p, 'content');
  const stat = lstatPath(Buffer.from(p))!;
  const ref = { ...nodeFromStat(Buffer.from('same'), stat), chunks: [] };
  assert.equal(unchangedSince(ref, stat), true);
  assert.equal(unchangedSince({ ...ref, chunks: undefined }, stat), false);
  assert.equal(unchangedSince({ ...ref, size: 1 }, stat), false);
  assert.equal(unchangedSince({ ...ref, inode: ref.inode + 1n }, stat), false);
  assert.equal(unchangedSince({ ...ref, mode: 0o600 }, stat), false);
  utimesSync(p, 1000, 1000);
  assert.equal(unchangedSince(ref, lstatPath(Buffer.from(p))!), false);
});

test('plans the components on the way to each path; nested paths add nothing', () => {
  const plan = planPaths(['/home/a/docs', '/home/a/docs/sub', '/etc/', '/home/b']);
  assert.equal(plan.whole, false);
  assert.deepEqual([...plan.children.keys()].sort(), ['etc', 'home']);
  const home = plan.children.get('home')!;
  assert.equal(home.whole, false);
  assert.equal(home.children.get('a')!.children.get('docs')!.whole, true);
  assert.equal(home.children.get('a')!.children.get('docs')!.children.size, 0);
  assert.equal(planPaths(['/']).whole, true);
  assert.throws(() => planPaths(['relative/path']), (e) => isCairnError(e, 'E_USAGE'));
  assert.throws(() => planPaths(['/a/../b']), (e) => isCairnError(e, 'E_USAGE'));
});
