import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type IndexEntry, addEntries, listDir } from './file-index.ts';
import { migrate } from './migrations.ts';
import { SqliteDriver } from './sqlite-driver.ts';
import { seedParts } from '../../../test/support/catalog-seed.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const DIRS = 200;
const PER_DIR = 100;
const dirPath = (d: number) => Buffer.from(`/data/d${d}`);
// Name 0 carries bytes that are not UTF-8; sorting must be by raw bytes.
const nameOf = (i: number) => (i === 0 ? Buffer.from([0x66, 0xff, 0xfe, 0x00, 0x80]) : Buffer.from(`f${String(i).padStart(3, '0')}`));

function* entries(): Generator<IndexEntry> {
  // Interleaved across directories, as a parallel scan might deliver them.
  for (let i = 0; i < PER_DIR; i++) {
    for (let d = 0; d < DIRS; d++) {
      const meta = { mode: 0o640, uid: 1000 + d, gid: 100, target: i === 5 ? Buffer.from([0x2e, 0xff]) : null };
      yield { dir: dirPath(d), name: nameOf(i), type: 'file', size: d * 1000 + i, mtimeNs: 1_700_000_000_123_456_789n + BigInt(i), ...meta };
    }
  }
}

let dir: string;
let db: SqliteDriver;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-files-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await migrate(db);
  const ids = await seedParts(db);
  for (const id of [A, B]) {
    await db.run(
      `INSERT INTO snapshots (id, job_id, agent_id, storage_id, vault_id, level, time, files, bytes) VALUES (?, ?, ?, ?, ?, 'full', 0, 0, 0)`,
      [id, ids.job, ids.agent, ids.storage, ids.vault],
    );
  }
  assert.equal(await addEntries(db, A, entries()), DIRS * PER_DIR);
  async function* other(): AsyncGenerator<IndexEntry> {
    yield { dir: dirPath(7), name: Buffer.from('only-in-b'), type: 'dir', size: 0, mtimeNs: 5 };
  }
  assert.equal(await addEntries(db, B, other()), 1);
});
after(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('each directory is stored once, shared by snapshots', async () => {
  assert.deepEqual(await db.query('SELECT COUNT(*) AS n FROM paths'), [{ n: DIRS }]);
  assert.deepEqual(await db.query('SELECT COUNT(*) AS n FROM files'), [{ n: DIRS * PER_DIR + 1 }]);
});

test('listing one directory returns exactly its entries, sorted by name bytes', async () => {
  const listed = await listDir(db, A, dirPath(7));
  const expected = Array.from({ length: PER_DIR }, (_, i) => nameOf(i)).sort(Buffer.compare);
  assert.deepEqual(listed.map((e) => e.name), expected);
  assert.ok(listed.some((e) => e.name.equals(nameOf(0))), 'the non-UTF-8 name came back byte for byte');
  const f5 = listed.find((e) => e.name.toString() === 'f005')!;
  const meta = { mode: 0o640, uid: 1007, gid: 100, target: Buffer.from([0x2e, 0xff]) };
  assert.deepEqual(f5, { name: Buffer.from('f005'), type: 'file', size: 7005, mtimeNs: 1_700_000_000_123_456_794n, ...meta });
});

test("another snapshot's entries do not leak into a listing", async () => {
  const b = await listDir(db, B, dirPath(7));
  assert.deepEqual(b.map((e) => e.name.toString()), ['only-in-b']);
  assert.equal(b[0]!.mtimeNs, 5n);
  assert.deepEqual([b[0]!.mode, b[0]!.uid, b[0]!.gid, b[0]!.target], [null, null, null, null], 'indexed without metadata (an older agent): null');
  assert.ok(!(await listDir(db, A, dirPath(7))).some((e) => e.name.toString() === 'only-in-b'));
  assert.deepEqual(await listDir(db, B, dirPath(8)), []);
});

test('paging by the last name seen walks the directory without overlap', async () => {
  const first = await listDir(db, A, dirPath(3), { limit: 40 });
  const rest = await listDir(db, A, dirPath(3), { after: first.at(-1)!.name });
  assert.equal(first.length, 40);
  assert.deepEqual([...first, ...rest], await listDir(db, A, dirPath(3)));
});

test('an unknown directory lists empty; an unknown snapshot is E_NOT_FOUND', async () => {
  assert.deepEqual(await listDir(db, A, Buffer.from('/nowhere')), []);
  await assert.rejects(listDir(db, 'c'.repeat(64), dirPath(1)), { code: 'E_NOT_FOUND' });
  await assert.rejects(addEntries(db, 'c'.repeat(64), []), { code: 'E_NOT_FOUND' });
});

test('a batch sent again (its reply lost) adds nothing twice', async () => {
  const entry = (name: string): IndexEntry => ({ dir: Buffer.from('/dup'), name: Buffer.from(name), type: 'file', size: 1, mtimeNs: 1 });
  await addEntries(db, B, [entry('x'), entry('y')]);
  await addEntries(db, B, [entry('x'), entry('y'), entry('x')]);
  assert.deepEqual((await listDir(db, B, Buffer.from('/dup'))).map((e) => e.name.toString()), ['x', 'y']);
});
