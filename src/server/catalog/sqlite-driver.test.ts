import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { numberedPlaceholders } from './driver.ts';
import { SqliteDriver } from './sqlite-driver.ts';

let dir: string;
let db: SqliteDriver;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-driver-'));
  db = new SqliteDriver(path.join(dir, 'catalog.db'));
  await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v BIGINT, b BLOB)');
});
afterEach(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('opens in WAL with foreign keys on', async () => {
  assert.deepEqual(await db.query('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
  assert.deepEqual(await db.query('PRAGMA foreign_keys'), [{ foreign_keys: 1 }]);
  assert.deepEqual(await db.query('PRAGMA synchronous'), [{ synchronous: 2 }]);
});

test('integers come back as numbers when safe and as bigints when not; bytes round-trip', async () => {
  const big = 1_700_000_000_123_456_789n;
  const r = await db.run('INSERT INTO t (v, b) VALUES (?, ?)', [big, Buffer.from([0, 255, 1])]);
  assert.deepEqual(r, { changes: 1, lastId: 1 });
  await db.run('INSERT INTO t (v) VALUES (?)', [42]);
  const rows = await db.query<{ id: number; v: number | bigint; b: Uint8Array | null }>('SELECT * FROM t ORDER BY id');
  assert.equal(rows[0]!.v, big);
  assert.equal(rows[1]!.v, 42);
  assert.equal(rows[0]!.id, 1);
  assert.deepEqual([...rows[0]!.b!], [0, 255, 1]);
});

test('a transaction that throws leaves nothing behind; one that resolves commits', async () => {
  await assert.rejects(
    db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (v) VALUES (1)');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(await db.query('SELECT COUNT(*) AS n FROM t'), [{ n: 0 }]);
  const result = await db.transaction(async (tx) => {
    await tx.run('INSERT INTO t (v) VALUES (2)');
    await tx.transaction(async (inner) => {
      await inner.run('INSERT INTO t (v) VALUES (3)');
      throw new Error('inner');
    }).catch(() => undefined);
    return 'done';
  });
  assert.equal(result, 'done');
  assert.deepEqual(await db.query('SELECT v FROM t'), [{ v: 2 }], 'the savepoint rolled back alone');
});

test('statements from other callers wait for an open transaction instead of joining it', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const tx = db.transaction(async (t) => {
    await t.run('INSERT INTO t (v) VALUES (1)');
    await gate;
    throw new Error('rolled back');
  });
  const outside = db.run('INSERT INTO t (v) VALUES (99)');
  release();
  await assert.rejects(tx, /rolled back/);
  await outside;
  assert.deepEqual(await db.query('SELECT v FROM t'), [{ v: 99 }]);
});

test('a transaction handle used after its end is refused', async () => {
  let kept: Parameters<Parameters<SqliteDriver['transaction']>[0]>[0] | undefined;
  await db.transaction(async (tx) => {
    kept = tx;
  });
  await assert.rejects(kept!.run('INSERT INTO t (v) VALUES (1)'), { code: 'E_INTERNAL' });
});

test('? placeholders become $n for PostgreSQL, quoted text untouched', () => {
  assert.equal(
    numberedPlaceholders(`SELECT a FROM t WHERE b = ? AND c = '?' AND "d?" IN (?, ?)`),
    `SELECT a FROM t WHERE b = $1 AND c = '?' AND "d?" IN ($2, $3)`,
  );
});

test('the catalog, its WAL and its index are 0600 whatever the umask, and a 0644 one is narrowed', async () => {
  const file = path.join(dir, 'umask.db');
  fs.writeFileSync(`${file}-wal`, ''); // an older start's leftovers, made under a loose umask
  fs.chmodSync(`${file}-wal`, 0o644);
  const script = `
    const { SqliteDriver } = await import(${JSON.stringify(path.resolve(import.meta.dirname, 'sqlite-driver.ts'))});
    const fs = await import('node:fs');
    const db = new SqliteDriver(${JSON.stringify(file)});
    await db.run('CREATE TABLE t (v TEXT)');
    await db.run("INSERT INTO t VALUES ('x')");
    const modes = Object.fromEntries(['', '-wal', '-shm'].map((s) => [s, fs.statSync(${JSON.stringify(file)} + s).mode & 0o777]));
    await db.close();
    process.stdout.write(JSON.stringify(modes));`;
  // the umask is the process's own: a shell sets it for the child that opens the catalog
  const out = execFileSync('sh', ['-c', `umask 000 && exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { '': 0o600, '-wal': 0o600, '-shm': 0o600 });
  // a catalog an older version left world-readable is narrowed at the next open
  fs.chmodSync(file, 0o644);
  const again = new SqliteDriver(file);
  await again.close();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});
