// The per-snapshot file index in the catalog, so consoles can browse a snapshot without its agent.
// Normalised as Bacula does: a directory's path is stored once in `paths` and shared by every
// snapshot; each entry is (snapshot, directory id, name). Paths and names are exact bytes (a
// file name need not be UTF-8). Entries go in by batched transactions with a bounded cache of
// directory ids, so indexing a million-file snapshot holds a few thousand entries in memory.
import { CairnError } from '../../core/errors.ts';
import type { CatalogDriver, SqlValue } from './driver.ts';

export type IndexEntry = {
  /** The directory's absolute path, exact bytes, no trailing slash except for the root '/'. */
  dir: Uint8Array;
  name: Uint8Array;
  type: string;
  size: number;
  mtimeNs: bigint | number;
  /** permission bits, owner ids and a symlink's target bytes; null (or absent) from agents before issue 12 */
  mode?: number | null;
  uid?: number | null;
  gid?: number | null;
  target?: Uint8Array | null;
};

export type ListedEntry = { name: Buffer; type: string; size: number; mtimeNs: bigint; mode: number | null; uid: number | null; gid: number | null; target: Buffer | null };

/** Entries per transaction: big enough to amortise the commit's fsync, small enough to stay brief. */
const BATCH = 5000;
/** Rows per INSERT statement (10 parameters each, far under both databases' parameter limits). */
const ROWS_PER_INSERT = 100;
/** Directory ids remembered while indexing; a scan visits a directory's entries together, so this rarely misses. */
const PATH_CACHE = 4096;

const FILE_COLUMNS = 'INSERT INTO files (snapshot_pk, path_id, name, type, size, mtime_ns, mode, uid, gid, target) VALUES ';
const ONE_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
const WIDTH = 10;
// a batch the agent re-sends after a lost reply adds nothing twice
const INSERT_ONE = `${FILE_COLUMNS}${ONE_ROW} ON CONFLICT DO NOTHING`;
const INSERT_MANY = `${FILE_COLUMNS}${Array.from({ length: ROWS_PER_INSERT }, () => ONE_ROW).join(', ')} ON CONFLICT DO NOTHING`;

/** Adds a snapshot's entries to the index; returns how many were added. The snapshot row must exist. */
export async function addEntries(
  driver: CatalogDriver,
  snapshotId: string,
  entries: AsyncIterable<IndexEntry> | Iterable<IndexEntry>,
): Promise<number> {
  const snapshotPk = await snapshotKey(driver, snapshotId);
  // The cache lives for one call only: ids created in a batch that rolled back must not be reused.
  const pathIds = new Map<string, number>();
  let batch: IndexEntry[] = [];
  let added = 0;
  const flush = async () => {
    const rows = batch;
    batch = [];
    await driver.transaction(async (tx) => {
      const params: SqlValue[] = [];
      for (const e of rows) {
        params.push(snapshotPk, await pathId(tx, pathIds, e.dir), e.name, e.type, e.size, BigInt(e.mtimeNs), e.mode ?? null, e.uid ?? null, e.gid ?? null, e.target ?? null);
      }
      let i = 0;
      for (; i + ROWS_PER_INSERT <= rows.length; i += ROWS_PER_INSERT) {
        await tx.run(INSERT_MANY, params.slice(i * WIDTH, (i + ROWS_PER_INSERT) * WIDTH));
      }
      for (; i < rows.length; i++) await tx.run(INSERT_ONE, params.slice(i * WIDTH, (i + 1) * WIDTH));
    });
    added += rows.length;
  };
  try {
    for await (const e of entries) {
      batch.push(e);
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length > 0) await flush();
  } catch (e) {
    if (e instanceof CairnError) throw e;
    throw new CairnError('E_INTERNAL', `indexing the files of snapshot ${snapshotId}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return added;
}

export type ListOptions = {
  /** Keyset paging: only names sorting after this one (byte order). */
  after?: Uint8Array;
  limit?: number;
};

/** One directory of a snapshot, sorted by name bytes; empty when the snapshot has no such directory. */
export async function listDir(
  driver: CatalogDriver,
  snapshotId: string,
  dir: Uint8Array,
  options: ListOptions = {},
): Promise<ListedEntry[]> {
  const snapshotPk = await snapshotKey(driver, snapshotId);
  const found = await driver.query<{ id: number }>('SELECT id FROM paths WHERE path = ?', [dir]);
  const dirId = found[0]?.id;
  if (dirId === undefined) return [];
  const { sql, params } = listDirQuery(snapshotPk, dirId, options);
  type Row = { name: Uint8Array; type: string; size: number | bigint; mtime_ns: number | bigint; mode: Num; uid: Num; gid: Num; target: Uint8Array | null };
  type Num = number | bigint | null;
  const rows = await driver.query<Row>(sql, params);
  const orNull = (n: Num) => (n === null ? null : Number(n));
  const bytes = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return rows.map((r) => ({
    name: bytes(r.name),
    type: r.type,
    size: Number(r.size),
    mtimeNs: BigInt(r.mtime_ns),
    mode: orNull(r.mode),
    uid: orNull(r.uid),
    gid: orNull(r.gid),
    target: r.target === null ? null : bytes(r.target),
  }));
}

/** The statement listDir runs: one range of the primary key (snapshot, directory, name), so a page costs its own rows only. */
export function listDirQuery(snapshotPk: number, dirId: number, options: ListOptions): { sql: string; params: SqlValue[] } {
  const params: SqlValue[] = [snapshotPk, dirId];
  let sql = 'SELECT name, type, size, mtime_ns, mode, uid, gid, target FROM files WHERE snapshot_pk = ? AND path_id = ?';
  if (options.after) {
    sql += ' AND name > ?';
    params.push(options.after);
  }
  sql += ' ORDER BY name';
  if (options.limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(options.limit);
  }
  return { sql, params };
}

async function snapshotKey(driver: CatalogDriver, snapshotId: string): Promise<number> {
  const rows = await driver.query<{ pk: number }>('SELECT pk FROM snapshots WHERE id = ?', [snapshotId]);
  const pk = rows[0]?.pk;
  if (pk === undefined) throw new CairnError('E_NOT_FOUND', `no snapshot ${snapshotId} in the catalog`);
  return pk;
}

async function pathId(tx: CatalogDriver, cache: Map<string, number>, dir: Uint8Array): Promise<number> {
  const key = Buffer.from(dir.buffer, dir.byteOffset, dir.byteLength).toString('latin1'); // one char per byte: exact
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  await tx.run('INSERT INTO paths (path) VALUES (?) ON CONFLICT (path) DO NOTHING', [dir]);
  const rows = await tx.query<{ id: number }>('SELECT id FROM paths WHERE path = ?', [dir]);
  const id = rows[0]!.id;
  if (cache.size >= PATH_CACHE) cache.delete(cache.keys().next().value!);
  cache.set(key, id);
  return id;
}
