import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { ChunkIndex } from './chunk-index.ts';
import { GcIndex } from './gc-index.ts';

const dir = mkdtempSync(join(tmpdir(), 'cairn-gc-index-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const id = (n: number) => Buffer.alloc(32, n);

describe('GcIndex vouches', () => {
  it('keeps the vouches of an index from before runs under one run, seen at the latest of them', () => {
    const path = join(dir, 'old.sqlite');
    const old = new DatabaseSync(path);
    old.exec('CREATE TABLE vouched (id BLOB PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID');
    old.prepare('INSERT INTO vouched (id, at) VALUES (?, ?), (?, ?)').run(id(1), 1000, id(2), 5000);
    old.close();
    const index = new ChunkIndex(path);
    try {
      const gc = new GcIndex(index.db);
      assert.deepEqual(gc.vouchingRuns().map((r) => ({ ...r })), [{ run: 'vouched-before-upgrade', seen: 5000, ids: 2 }]);
      assert.equal(index.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'vouched'").get(), undefined);
    } finally {
      index.close();
    }
  });

  it("a sweep counts a run's latest request even when it was not written yet, and drops only silent runs", () => {
    const index = new ChunkIndex(join(dir, 'new.sqlite'));
    try {
      const gc = new GcIndex(index.db);
      gc.vouch('talking', [id(1)], 1000);
      gc.vouch('silent', [id(2)], 1000);
      gc.seen('talking', 20_000); // within a minute of the last write: kept in memory only
      assert.equal(gc.vouchingRuns().find((r) => r.run === 'talking')?.seen, 1000);
      gc.beginMark();
      gc.sweep('delete', 10_000);
      gc.endMark();
      assert.deepEqual(gc.vouchingRuns().map((r) => ({ ...r })), [{ run: 'talking', seen: 20_000, ids: 1 }]);
      gc.release('talking');
      assert.deepEqual(gc.vouchingRuns(), []);
    } finally {
      index.close();
    }
  });
});
