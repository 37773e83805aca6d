import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isCairnError } from '../../core/errors.ts';
import { decodeRefs, encodeRefs } from '../../core/snapshot.ts';
import { SnapshotRefs } from './snapshot-refs.ts';

const joined = (refs: SnapshotRefs) => Buffer.concat([...refs.sorted()]);

test('spilled to sorted runs: membership stays exact, the merge equals encodeRefs, the runs go at close', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-refs-'));
  const refs = new SnapshotRefs({ tmpDir: dir, spillAt: 1000 });
  const ids = Array.from({ length: 25_000 }, () => randomBytes(32));
  // shared prefixes (the run blocks' first ids and the Bloom probes must not confuse them)
  for (let i = 0; i < 500; i++) ids.push(Buffer.concat([ids[i]!.subarray(0, 31), Buffer.from([ids[i]![31]! ^ 1])]));
  for (const id of ids) assert.equal(refs.add(id), true);
  assert.ok(refs.runs >= 25, `${refs.runs} runs`);
  // every id again, spilled long ago or still in memory: never new (no second query or upload)
  for (const id of ids) assert.equal(refs.add(Buffer.from(id)), false);
  const later = Array.from({ length: 2000 }, () => randomBytes(32));
  for (const id of later) assert.equal(refs.add(id), true); // new ones still are
  assert.equal(refs.size, ids.length + later.length);
  const all = joined(refs);
  assert.equal(decodeRefs(all).length, refs.size); // strictly increasing
  assert.deepEqual(all, encodeRefs([...ids, ...later]));
  assert.ok(readdirSync(dir).every((n) => n.startsWith('refs-')));
  refs.close();
  assert.deepEqual(readdirSync(dir), []);
});

test('the merged refs of a spilled set are exactly encodeRefs of its ids, in slices of at most 1 MiB', () => {
  const refs = new SnapshotRefs({ tmpDir: mkdtempSync(join(tmpdir(), 'cairn-refs-')), spillAt: 7_777 });
  const ids = Array.from({ length: 70_000 }, () => randomBytes(32));
  for (const id of ids) refs.add(id);
  const slices = [...refs.sorted()];
  assert.ok(slices.length >= 3 && slices.every((s) => s.length <= 1024 * 1024));
  assert.deepEqual(Buffer.concat(slices), encodeRefs(ids));
  refs.close();
});

test('without a spill nothing touches the disk and the refs equal encodeRefs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-refs-'));
  const refs = new SnapshotRefs({ tmpDir: dir, spillAt: 100_000 });
  const ids = Array.from({ length: 5_000 }, () => randomBytes(32));
  for (const id of ids) refs.add(id);
  assert.deepEqual(joined(refs), encodeRefs(ids));
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(joined(new SnapshotRefs()).length, 0);
});

test('a spill that cannot be written, or a run cut short on disk, fails clearly', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'cairn-refs-')), 'not-a-dir');
  writeFileSync(file, 'x');
  const blocked = new SnapshotRefs({ tmpDir: file, spillAt: 10 });
  assert.throws(
    () => {
      for (let i = 0; i < 10; i++) blocked.add(randomBytes(32));
    },
    (e: unknown) => isCairnError(e) && /temp dir/.test(e.message),
  );
  const dir = mkdtempSync(join(tmpdir(), 'cairn-refs-'));
  const refs = new SnapshotRefs({ tmpDir: dir, spillAt: 100 });
  for (let i = 0; i < 250; i++) refs.add(randomBytes(32));
  truncateSync(join(dir, readdirSync(dir)[0]!), 100);
  assert.throws(() => joined(refs), (e: unknown) => isCairnError(e, 'E_CORRUPT') && /shorter than written/.test(e.message));
  refs.close();
});
