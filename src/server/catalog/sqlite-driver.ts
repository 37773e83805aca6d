// The catalog's SQLite driver over node:sqlite's DatabaseSync: WAL so readers never wait for the
// writer, synchronous=FULL so a committed row survives a power cut, foreign keys enforced, and a
// busy timeout for the rare second process. DatabaseSync is synchronous, so the async contract of
// CatalogDriver is kept with a queue: while a transaction is open (across its awaits), statements
// from other callers wait their turn instead of landing inside it.
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { CairnError } from '../../core/errors.ts';
import { type CatalogDriver, type Row, type RunResult, SQLITE_DIALECT, type SqlParams, type SqlValue } from './driver.ts';

/** Prepared statements kept per connection; catalog SQL is a fixed set of texts, so this rarely evicts. */
const STATEMENT_CACHE = 256;

export class SqliteDriver implements CatalogDriver {
  readonly dialect = SQLITE_DIALECT;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  /** Settles when the current holder (a statement or a whole transaction) is done. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    try {
      const onDisk = path !== ':memory:' && path !== '';
      if (onDisk) ownerOnly(path, true);
      this.#db = new DatabaseSync(path);
      this.#db.exec(
        'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;',
      );
      // SQLite gives the WAL and its index the database file's mode; a chmod covers ones an older start left
      if (onDisk) for (const side of [`${path}-wal`, `${path}-shm`]) ownerOnly(side, false);
    } catch (e) {
      throw new CairnError('E_UNAVAILABLE', `cannot open the catalog ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  query<T = Row>(sql: string, params: SqlParams = []): Promise<T[]> {
    return this.#exclusive(async () => this.#all<T>(sql, params));
  }

  run(sql: string, params: SqlParams = []): Promise<RunResult> {
    return this.#exclusive(async () => this.#run(sql, params));
  }

  transaction<T>(fn: (tx: CatalogDriver) => Promise<T>): Promise<T> {
    // IMMEDIATE takes the write lock at once, so two processes cannot both read then fail to upgrade.
    return this.#exclusive(() => this.#inTransaction(fn, 'BEGIN IMMEDIATE', 'COMMIT', 'ROLLBACK', 0));
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
    if (this.#db.isOpen) this.#db.close();
  }

  async #inTransaction<T>(
    fn: (tx: CatalogDriver) => Promise<T>,
    begin: string,
    commit: string,
    rollback: string,
    depth: number,
  ): Promise<T> {
    let open = true;
    const check = () => {
      if (!open) throw new CairnError('E_INTERNAL', 'a catalog statement used a transaction that had already ended');
    };
    const tx: CatalogDriver = {
      dialect: this.dialect,
      query: async <R = Row>(sql: string, params: SqlParams = []) => (check(), this.#all<R>(sql, params)),
      run: async (sql: string, params: SqlParams = []) => (check(), this.#run(sql, params)),
      transaction: <R>(inner: (t: CatalogDriver) => Promise<R>) => {
        check();
        const sp = `sp${depth + 1}`;
        return this.#inTransaction(inner, `SAVEPOINT ${sp}`, `RELEASE ${sp}`, `ROLLBACK TO ${sp}; RELEASE ${sp}`, depth + 1);
      },
      close: () => Promise.reject(new CairnError('E_INTERNAL', 'close the catalog, not a transaction')),
    };
    this.#db.exec(begin);
    try {
      const result = await fn(tx);
      this.#db.exec(commit);
      return result;
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec(rollback);
      throw e;
    } finally {
      open = false;
    }
  }

  /** Runs `work` once everything queued before it has finished, whatever their outcome. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work, work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #statement(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (st) return st;
    if (!this.#db.isOpen) throw new CairnError('E_UNAVAILABLE', 'the catalog is closed');
    st = this.#db.prepare(sql);
    // Read integers as bigint so a nanosecond time is never rounded; #normalize turns the safe ones back.
    st.setReadBigInts(true);
    if (this.#statements.size >= STATEMENT_CACHE) {
      const oldest = this.#statements.keys().next().value!;
      this.#statements.delete(oldest);
    }
    this.#statements.set(sql, st);
    return st;
  }

  #all<T>(sql: string, params: SqlParams): T[] {
    const rows = this.#statement(sql).all(...params) as Record<string, SqlValue>[];
    return rows.map(plainRow) as T[];
  }

  #run(sql: string, params: SqlParams): RunResult {
    let r: ReturnType<StatementSync['run']>;
    try {
      r = this.#statement(sql).run(...params);
    } catch (e) {
      // two callers racing for one name: the loser hears a conflict, not an internal error
      if (/UNIQUE constraint failed/.test((e as Error).message))
        throw new CairnError('E_CONFLICT', `already exists (${(e as Error).message.replace(/^.*UNIQUE constraint failed: /, '')})`, { cause: e });
      throw e;
    }
    const lastId = Number(r.lastInsertRowid);
    return { changes: Number(r.changes), lastId: lastId === 0 ? null : lastId };
  }
}

/**
 * The catalog holds password hashes and wrapped keys: owner-only whatever the umask. The file is
 * made 0600 before SQLite opens it (a umask can only take bits away from 0600), and one an older
 * version made is narrowed.
 */
function ownerOnly(file: string, create: boolean): void {
  if (create) closeSync(openSync(file, 'a', 0o600));
  else if (!existsSync(file)) return;
  chmodSync(file, 0o600);
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** node:sqlite rows have a null prototype and bigint integers; callers get plain objects, as from pg. */
function plainRow(row: Record<string, SqlValue>): Row {
  const out: Row = {};
  for (const key in row) {
    const v = row[key]!;
    out[key] = typeof v === 'bigint' && v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
  }
  return out;
}
