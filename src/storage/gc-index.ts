// The garbage collector's statements on a vault's index (chunk-index.ts owns the connection):
// vouches (ids a running backup was told it may reuse, or uploaded, each kept for the run that
// needs it until that run commits its snapshot or falls silent), the mark (a temporary table of
// the ids the remaining snapshots reference, on disk when large, so it need not fit in memory),
// the sweep of unreferenced, unvouched rows, pack usage for the pack decisions, pack rewrites and
// retirements, and an append-only server's plan (gc_plan: the ids a marking listed, the only ones
// a confirmed gc may drop). Every change is one synchronous transaction, so no request's lookup
// ever lands inside one (node:sqlite is synchronous: a request's lookup and vouch run in one
// tick, before or after a sweep, never during it).
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { BlobType } from '../core/blob.ts';
import type { PackEntry } from '../core/pack.ts';

const BATCH = 500;
/**
 * A run's last request is written at most this often (each write is an fsync); the sweep writes
 * the latest first, so only a restart loses up to this much of a run's silence.
 */
const SEEN_WRITE_EVERY = 60_000;
/** The run that owns the vouches of an index from before vouches had runs: released once idle. */
const UPGRADED_RUN = 'vouched-before-upgrade';

export type PackUsage = { name: string; size: number; chunks: number; sealedBytes: number };
export type SweepMode = 'delete' | 'plan' | 'planned';

export class GcIndex {
  readonly #db: DatabaseSync;
  readonly #vouch: StatementSync;
  readonly #seen: StatementSync;
  readonly #seenAgain: StatementSync;
  #markInsert: StatementSync | undefined;
  /** per run: the last request's time, and the time last written to vouch_runs */
  readonly #lastSeen = new Map<string, { at: number; written: number }>();

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#db.exec('CREATE TABLE IF NOT EXISTS gc_plan (id BLOB PRIMARY KEY) WITHOUT ROWID');
    this.#upgradeVouches();
    this.#vouch = db.prepare('INSERT OR IGNORE INTO vouches (id, run) VALUES (?, ?)');
    this.#seen = db.prepare('INSERT INTO vouch_runs (run, seen) VALUES (?, ?) ON CONFLICT (run) DO UPDATE SET seen = max(seen, excluded.seen)');
    this.#seenAgain = db.prepare('UPDATE vouch_runs SET seen = max(seen, ?) WHERE run = ?'); // a run without vouches has no row
  }

  /** An index written before vouches had runs: its vouches go to one run, seen at the latest of them. */
  #upgradeVouches(): void {
    if (this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vouched'").get() === undefined) return;
    this.#transaction(() => {
      const latest = (this.#db.prepare('SELECT max(at) AS at FROM vouched').get() as { at: number | null }).at;
      if (latest !== null) {
        this.#db.prepare('INSERT OR IGNORE INTO vouches (id, run) SELECT id, ? FROM vouched').run(UPGRADED_RUN);
        this.#db.prepare('INSERT OR REPLACE INTO vouch_runs (run, seen) VALUES (?, ?)').run(UPGRADED_RUN, latest);
      }
      this.#db.exec('DROP TABLE vouched');
    });
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const out = work();
      this.#db.exec('COMMIT');
      return out;
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  /**
   * Records that `ids` were answered present to run `run`, or stored by it, at `at` (ms): a gc
   * spares them until the run commits its snapshot (release) or is idle past the gc's cutoff.
   */
  vouch(run: string, ids: readonly Buffer[], at: number): void {
    if (ids.length === 0) return this.seen(run, at);
    this.#transaction(() => this.vouchInside(run, ids, at))();
  }

  /**
   * vouch's writes inside a transaction the caller holds (a pack's indexing: one commit, so one
   * WAL fsync, for the pack and its vouches); call what it returns once that commits.
   */
  vouchInside(run: string, ids: readonly Buffer[], at: number): () => void {
    for (const id of ids) this.#vouch.run(id, run);
    this.#seen.run(run, at);
    return () => {
      const latest = Math.max(at, this.#lastSeen.get(run)?.at ?? 0);
      this.#lastSeen.set(run, { at: latest, written: at });
    };
  }

  /** Run `run` made a request at `at`: its vouches stay while it keeps talking. */
  seen(run: string, at: number): void {
    const last = this.#lastSeen.get(run);
    if (last && at <= last.at) return;
    const written = last?.written ?? 0;
    if (at - written < SEEN_WRITE_EVERY) return void this.#lastSeen.set(run, { at, written });
    this.#seenAgain.run(at, run);
    this.#lastSeen.set(run, { at, written: at });
  }

  /** Run `run` committed its snapshot: its refs protect what it needed, its vouches go. */
  release(run: string): void {
    this.#transaction(() => {
      this.#db.prepare('DELETE FROM vouches WHERE run = ?').run(run);
      this.#db.prepare('DELETE FROM vouch_runs WHERE run = ?').run(run);
    });
    this.#lastSeen.delete(run);
  }

  /** Runs holding vouches, with their last request as written (tests, diagnostics). */
  vouchingRuns(): { run: string; seen: number; ids: number }[] {
    return this.#db
      .prepare('SELECT r.run AS run, r.seen AS seen, (SELECT count(*) FROM vouches v WHERE v.run = r.run) AS ids FROM vouch_runs r ORDER BY r.run')
      .all() as { run: string; seen: number; ids: number }[];
  }

  /** Writes every run's latest request, then drops the vouches of runs silent since before `idleCutoff`. */
  #dropIdleRuns(idleCutoff: number): void {
    for (const [run, last] of this.#lastSeen) {
      if (last.at > last.written) this.#seenAgain.run(last.at, run);
      if (last.at < idleCutoff) this.#lastSeen.delete(run);
      else last.written = last.at;
    }
    this.#db.prepare('DELETE FROM vouches WHERE run IN (SELECT run FROM vouch_runs WHERE seen < ?)').run(idleCutoff);
    this.#db.prepare('DELETE FROM vouch_runs WHERE seen < ?').run(idleCutoff);
  }

  beginMark(): void {
    this.#db.exec('CREATE TEMP TABLE IF NOT EXISTS live (id BLOB PRIMARY KEY) WITHOUT ROWID; DELETE FROM temp.live;');
    this.#markInsert = this.#db.prepare('INSERT OR IGNORE INTO temp.live (id) VALUES (?)');
  }

  /** Adds referenced ids to the mark. */
  markLive(ids: readonly Buffer[]): void {
    const insert = this.#markInsert!;
    for (let at = 0; at < ids.length; at += BATCH * 8) {
      const batch = ids.slice(at, at + BATCH * 8);
      this.#transaction(() => {
        for (const id of batch) insert.run(id);
      });
    }
  }

  endMark(): void {
    this.#markInsert = undefined;
    this.#db.exec('DROP TABLE IF EXISTS temp.live');
  }

  /**
   * The sweep, one transaction: first the vouches of runs silent since before `idleCutoff` go,
   * then the rows neither marked live nor vouched for. 'delete' drops them; 'plan' (append-only,
   * unconfirmed) only lists them in gc_plan; 'planned' (a confirmed gc) drops those of them the
   * plan listed, then empties the plan.
   */
  sweep(mode: SweepMode, idleCutoff: number): { chunks: number; sealedBytes: number } {
    const where = `NOT EXISTS (SELECT 1 FROM temp.live l WHERE l.id = chunks.id)
      AND NOT EXISTS (SELECT 1 FROM vouches v WHERE v.id = chunks.id)
      ${mode === 'planned' ? 'AND EXISTS (SELECT 1 FROM gc_plan g WHERE g.id = chunks.id)' : ''}`;
    return this.#transaction(() => {
      this.#dropIdleRuns(idleCutoff);
      const r = this.#db.prepare(`SELECT count(*) AS n, coalesce(sum(length), 0) AS b FROM chunks WHERE ${where}`).get() as { n: number; b: number };
      if (mode === 'plan') {
        this.#db.exec('DELETE FROM gc_plan');
        this.#db.prepare(`INSERT INTO gc_plan (id) SELECT id FROM chunks WHERE ${where}`).run();
      } else {
        this.#db.prepare(`DELETE FROM chunks WHERE ${where}`).run();
        if (mode === 'planned') this.#db.exec('DELETE FROM gc_plan');
      }
      return { chunks: r.n, sealedBytes: r.b };
    });
  }

  clearPlan(): void {
    this.#db.exec('DELETE FROM gc_plan');
  }

  /** Each indexed pack with the rows it still serves (leaving out the planned ones when `exceptPlanned`). */
  packUsage(exceptPlanned: boolean): PackUsage[] {
    const skip = exceptPlanned ? 'AND NOT EXISTS (SELECT 1 FROM gc_plan g WHERE g.id = c.id)' : '';
    const rows = this.#db
      .prepare(
        `SELECT p.name AS name, p.size AS size, count(c.id) AS n, coalesce(sum(c.length), 0) AS b
         FROM packs p LEFT JOIN chunks c ON c.pack = p.pk ${skip} GROUP BY p.pk ORDER BY p.name`,
      )
      .all() as { name: Uint8Array; size: number; n: number; b: number }[];
    return rows.map((r) => ({ name: Buffer.from(r.name).toString('hex'), size: r.size, chunks: r.n, sealedBytes: r.b }));
  }

  /** The rows pack `name` still serves, by offset. */
  packRows(name: string): PackEntry[] {
    const rows = this.#db
      .prepare('SELECT c.id AS id, c.offset AS offset, c.length AS length, c.type AS type FROM chunks c JOIN packs p ON p.pk = c.pack WHERE p.name = ? ORDER BY c.offset')
      .all(Buffer.from(name, 'hex')) as { id: Uint8Array; offset: number; length: number; type: number }[];
    return rows.map((r) => ({ id: Buffer.from(r.id), offset: r.offset, length: r.length, type: r.type as BlobType }));
  }

  /** Drops pack `name`'s row when no chunk row names it, and lists it as retired; true when dropped. */
  #retireIfEmpty(nameBytes: Buffer): boolean {
    const gone = this.#db
      .prepare('DELETE FROM packs WHERE name = ? AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.pack = packs.pk)')
      .run(nameBytes);
    if (gone.changes === 0) return false;
    this.#db.prepare('INSERT OR IGNORE INTO retired_packs (name) VALUES (?)').run(nameBytes);
    return true;
  }

  /** Retires an indexed pack that serves no chunk; false when it serves some (or is not indexed). */
  retireEmptyPack(name: string): boolean {
    return this.#transaction(() => this.#retireIfEmpty(Buffer.from(name, 'hex')));
  }

  /**
   * One transaction: the new pack is indexed, the rows still in `old` move to their copies in it,
   * and `old` is retired once it serves nothing. True when `old` was retired.
   */
  replacePack(old: string, name: string, size: number, entries: readonly PackEntry[]): boolean {
    return this.#transaction(() => {
      const nameBytes = Buffer.from(name, 'hex');
      const oldBytes = Buffer.from(old, 'hex');
      this.#db.prepare('INSERT OR IGNORE INTO packs (name, size, created) VALUES (?, ?, ?)').run(nameBytes, size, Date.now());
      this.#db.prepare('DELETE FROM retired_packs WHERE name = ?').run(nameBytes);
      const pk = (this.#db.prepare('SELECT pk FROM packs WHERE name = ?').get(nameBytes) as { pk: number }).pk;
      const oldPk = (this.#db.prepare('SELECT pk FROM packs WHERE name = ?').get(oldBytes) as { pk: number } | undefined)?.pk;
      if (oldPk === undefined) return false;
      const move = this.#db.prepare('UPDATE chunks SET pack = ?, offset = ?, length = ? WHERE id = ? AND pack = ?');
      for (const e of entries) move.run(pk, e.offset, e.length, e.id, oldPk);
      return this.#retireIfEmpty(oldBytes);
    });
  }

  /** Packs retired whose file may still be on disk. */
  retired(): string[] {
    return (this.#db.prepare('SELECT name FROM retired_packs').all() as { name: Uint8Array }[]).map((r) => Buffer.from(r.name).toString('hex'));
  }

  /** The retired pack's file is gone (or it is indexed again): forget it. */
  forgetRetired(name: string): void {
    this.#db.prepare('DELETE FROM retired_packs WHERE name = ?').run(Buffer.from(name, 'hex'));
  }
}
