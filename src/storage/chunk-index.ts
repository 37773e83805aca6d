// The vault's chunk index in SQLite (node:sqlite, WAL): which pack holds each chunk id and
// where, and which packs exist. It lives on disk, so a vault's index need not fit in memory;
// batched queries keep a 65,536-id `missing` request to a few hundred statements.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { BlobType } from '../core/blob.ts';
import { CairnError } from '../core/errors.ts';
import type { PackEntry } from '../core/pack.ts';

/** SQLite's result code for "database or disk is full". */
const SQLITE_FULL = 13;

/** A node:sqlite error saying the database (its disk) is full. */
export function isSqliteFull(e: unknown): boolean {
  return (e as { errcode?: number } | undefined)?.errcode === SQLITE_FULL;
}

/** Ids per `IN (…)` statement: well under SQLite's parameter limit, big enough to amortize a call. */
const BATCH = 500;
/** How long a statement waits for another connection's lock (the rare second process). */
const BUSY_TIMEOUT_MS = 5000;

export type ChunkLocation = { pack: string; offset: number; length: number; type: BlobType };

/** Index pages SQLite keeps in memory, KiB (docs/performance.md, the storage index at scale). */
export const INDEX_CACHE_KIB = 64 * 1024;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS packs (
  pk      INTEGER PRIMARY KEY,
  name    BLOB NOT NULL UNIQUE,   -- 32-byte SHA-256 of the pack file
  size    INTEGER NOT NULL,
  created INTEGER NOT NULL        -- unix ms
);
CREATE TABLE IF NOT EXISTS chunks (
  id     BLOB PRIMARY KEY,        -- 32-byte chunk id; the first stored copy wins
  pack   INTEGER NOT NULL REFERENCES packs(pk),
  offset INTEGER NOT NULL,        -- of the sealed bytes inside the pack
  length INTEGER NOT NULL,
  type   INTEGER NOT NULL
) WITHOUT ROWID;
-- ids a running backup was told it may reuse, or uploaded, by the run that needs them; garbage
-- collection spares them until that run commits its snapshot or falls silent (gc-index.ts)
CREATE TABLE IF NOT EXISTS vouches (
  id  BLOB NOT NULL,
  run TEXT NOT NULL,              -- the grant's run id, or a synthetic key (gc-index.ts)
  PRIMARY KEY (id, run)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vouches_by_run ON vouches (run);
CREATE TABLE IF NOT EXISTS vouch_runs (
  run  TEXT PRIMARY KEY,
  seen INTEGER NOT NULL           -- unix ms of the run's last request (written at most every minute)
) WITHOUT ROWID;
-- packs whose rows a gc dropped and whose file is still to be unlinked (a crash between the two)
CREATE TABLE IF NOT EXISTS retired_packs (name BLOB PRIMARY KEY) WITHOUT ROWID;
`;

export class ChunkIndex {
  readonly #db: DatabaseSync;
  readonly #byCount = new Map<string, StatementSync>();
  readonly #insertPack: StatementSync;
  readonly #insertChunk: StatementSync;
  readonly #moveChunk: StatementSync;
  readonly #packPk: StatementSync;
  readonly #unretire: StatementSync;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    // FULL: an upload is acknowledged only when its index rows are durable too.
    this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`);
    // Each blob is a random-key insert into `chunks` and `vouches`: past SQLite's default 2 MiB
    // of cached pages every insert reads its leaf back from the file. Up to 64 MiB cached (only a
    // large vault's index fills it): storage CPU for 1M tiny files 45-54 -> 34-37 s.
    this.#db.exec(`PRAGMA cache_size = -${INDEX_CACHE_KIB};`);
    this.#db.exec(SCHEMA);
    this.#insertPack = this.#db.prepare('INSERT OR IGNORE INTO packs (name, size, created) VALUES (?, ?, ?)');
    this.#insertChunk = this.#db.prepare(
      'INSERT OR IGNORE INTO chunks (id, pack, offset, length, type) VALUES (?, ?, ?, ?, ?)',
    );
    this.#moveChunk = this.#db.prepare(
      'INSERT OR REPLACE INTO chunks (id, pack, offset, length, type) VALUES (?, ?, ?, ?, ?)',
    );
    this.#packPk = this.#db.prepare('SELECT pk FROM packs WHERE name = ?');
    this.#unretire = this.#db.prepare('DELETE FROM retired_packs WHERE name = ?');
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** The connection, for the garbage collector's statements (gc-index.ts); nobody else. */
  get db(): DatabaseSync {
    return this.#db;
  }

  hasPack(name: string): boolean {
    return this.#packPk.get(Buffer.from(name, 'hex')) !== undefined;
  }

  /**
   * Records a durable pack and its chunks in one transaction. An id already indexed keeps its
   * first copy, unless it is in `repoint` (its pack file was found lost): it then moves here.
   * `inside` runs in the same transaction (the gc index's vouches for the pack's chunks).
   */
  addPack(name: string, size: number, entries: PackEntry[], repoint?: ReadonlySet<string>, inside?: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const nameBytes = Buffer.from(name, 'hex');
      this.#insertPack.run(nameBytes, size, Date.now());
      this.#unretire.run(nameBytes); // stored again after a gc retired it: keep the new file
      const row = this.#packPk.get(nameBytes) as { pk: number };
      for (const e of entries) {
        const move = repoint?.has(e.id.toString('latin1'));
        (move ? this.#moveChunk : this.#insertChunk).run(e.id, row.pk, e.offset, e.length, e.type);
      }
      inside?.();
      this.#db.exec('COMMIT');
    } catch (e) {
      // a failed COMMIT (a full disk, say) has already rolled back: a second ROLLBACK would hide why
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      if (isSqliteFull(e))
        throw new CairnError('E_NO_SPACE', `indexing pack ${name}: no space left on device (the index cannot grow)`, { cause: e });
      throw new CairnError('E_INTERNAL', `indexing pack ${name}: ${(e as Error).message}`, { cause: e });
    }
  }

  #statement(kind: 'exists' | 'locate', count: number): StatementSync {
    const key = `${kind}:${count}`;
    let st = this.#byCount.get(key);
    if (!st) {
      const marks = Array.from({ length: count }, () => '?').join(',');
      st = this.#db.prepare(
        kind === 'exists'
          ? `SELECT id FROM chunks WHERE id IN (${marks})`
          : `SELECT c.id, p.name, c.offset, c.length, c.type FROM chunks c JOIN packs p ON p.pk = c.pack WHERE c.id IN (${marks})`,
      );
      this.#byCount.set(key, st);
    }
    return st;
  }

  /** The ids the vault does not hold, in request order, each once. */
  missing(ids: readonly Buffer[]): Buffer[] {
    const found = new Set<string>();
    for (let at = 0; at < ids.length; at += BATCH) {
      const batch = ids.slice(at, at + BATCH);
      for (const row of this.#statement('exists', batch.length).all(...batch) as { id: Uint8Array }[])
        found.add(Buffer.from(row.id).toString('hex'));
    }
    const out: Buffer[] = [];
    for (const id of ids) {
      const hex = id.toString('hex');
      if (found.has(hex)) continue;
      found.add(hex); // answer a repeated id once
      out.push(id);
    }
    return out;
  }

  /** Where each id was stored, in request order; undefined for an id the index does not know. */
  lookup(ids: readonly Buffer[]): (ChunkLocation | undefined)[] {
    const byId = new Map<string, ChunkLocation>();
    for (let at = 0; at < ids.length; at += BATCH) {
      const batch = ids.slice(at, at + BATCH);
      const rows = this.#statement('locate', batch.length).all(...batch) as {
        id: Uint8Array;
        name: Uint8Array;
        offset: number;
        length: number;
        type: number;
      }[];
      for (const r of rows)
        byId.set(Buffer.from(r.id).toString('latin1'), {
          pack: Buffer.from(r.name).toString('hex'),
          offset: r.offset,
          length: r.length,
          type: r.type as BlobType,
        });
    }
    return ids.map((id) => byId.get(id.toString('latin1')));
  }

  /** Where each id lives, in request order; E_NOT_FOUND naming the first unknown id. */
  locate(ids: readonly Buffer[]): ChunkLocation[] {
    return this.lookup(ids).map((loc, i) => {
      if (!loc) throw new CairnError('E_NOT_FOUND', `chunk ${ids[i]!.toString('hex')} is not in this vault`);
      return loc;
    });
  }

  /**
   * Copies the WAL into the database and truncates it, when a backup has committed: left to
   * SQLite's autocheckpoint, an idle vault keeps a WAL of up to ~4 MB on disk for good (4.3 MB
   * after the bench's first backup, on an index of 0.3 MB). It never waits: a reader in the way
   * (a scrub's open listing) leaves the WAL as it was, and so does any failure.
   */
  truncateWal(): void {
    try {
      this.#db.exec('PRAGMA busy_timeout = 0; PRAGMA wal_checkpoint(TRUNCATE);');
    } catch {
      // the next commit's autocheckpoint still bounds it
    } finally {
      this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`);
    }
  }

  counts(): { packs: number; chunks: number } {
    const p = this.#db.prepare('SELECT count(*) AS n FROM packs').get() as { n: number };
    const c = this.#db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number };
    return { packs: p.n, chunks: c.n };
  }

  /** Indexed packs and their bytes on disk (storage figures and metrics: one pass over the packs table, no walk of the files). */
  packTotals(): { packs: number; bytes: number } {
    const r = this.#db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM packs').get() as { n: number; bytes: number };
    return { packs: r.n, bytes: r.bytes };
  }

  /** Every indexed pack name (scrub compares them with the files). */
  *packNames(): Iterable<string> {
    for (const r of this.#db.prepare('SELECT name FROM packs').iterate() as Iterable<{ name: Uint8Array }>)
      yield Buffer.from(r.name).toString('hex');
  }
}
