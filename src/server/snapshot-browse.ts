// Browsing a snapshot from the catalog's file index, without its agent: one directory's listing,
// a page at a time. Paging is keyset paging on the name bytes (`after`), which the files table's
// primary key (snapshot, directory, name) answers as one index range per page, however deep.
import { CairnError } from '../core/errors.ts';
import type { LsEntryJson } from '../protocol/api-types.ts';
import type { Caller } from './auth/accounts.ts';
import type { CatalogDriver } from './catalog/driver.ts';
import { type ListedEntry, listDir } from './catalog/file-index.ts';
import { snapshotRow } from './snapshots.ts';

/** Entries of one `ls` page unless asked otherwise, and the most one page holds. */
export const LS_PAGE = { default: 1000, max: 10_000 };

/** Shows bytes as text: valid UTF-8 as is, anything else with \xNN escapes (and the exact bytes in base64 beside it). */
export function displayBytes(b: Buffer): { text: string; exact: boolean } {
  const text = b.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(b)) return { text, exact: true };
  let out = '';
  for (let i = 0; i < b.length; ) {
    const n = utf8Length(b, i);
    if (n > 0) {
      out += b.subarray(i, i + n).toString('utf8');
      i += n;
    } else {
      out += `\\x${b[i]!.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return { text: out, exact: false };
}

function utf8Length(b: Buffer, i: number): number {
  const c = b[i]!;
  const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
  if (n === 0 || i + n > b.length) return 0;
  const piece = b.subarray(i, i + n);
  return Buffer.from(piece.toString('utf8'), 'utf8').equals(piece) ? n : 0;
}

/** A path's text, and its exact bytes in base64 under `bytesKey` when they are not UTF-8 (the API's one convention). */
export function bytesFields<K extends string>(b: Buffer, bytesKey: K): { text: string; extra: Partial<Record<K, string>> } {
  const shown = displayBytes(b);
  return { text: shown.text, extra: (shown.exact ? {} : { [bytesKey]: b.toString('base64') }) as Partial<Record<K, string>> };
}

export type LsPage = {
  entries: LsEntryJson[];
  /** the last name of this page when more follow: the next page's `after` */
  nextAfter?: Buffer;
};

/** One page of directory `dir` of a snapshot: entries named after `after` (byte order), at most `limit`. */
export async function lsSnapshot(db: CatalogDriver, idOrPrefix: string, dir: Buffer, caller: Caller, page: { after?: Buffer; limit: number }): Promise<LsPage> {
  const row = await snapshotRow(db, idOrPrefix, caller);
  const clean = dir.length > 1 && dir[dir.length - 1] === 0x2f ? dir.subarray(0, dir.length - 1) : dir;
  // one more than asked tells whether the page was cut, so a listing of exactly `limit` ends without a next page
  const found = await listDir(db, row.id, clean, { after: page.after, limit: page.limit + 1 });
  if (found.length === 0 && clean.length > 1 && !(await isDirectory(db, row.id, clean)))
    throw new CairnError('E_NOT_FOUND', `snapshot ${row.id.slice(0, 12)} has no directory ${displayBytes(clean).text}`);
  const cut = found.length > page.limit;
  const entries = cut ? found.slice(0, page.limit) : found;
  return { entries: entries.map((e) => lsEntry(clean, e)), ...(cut ? { nextAfter: entries.at(-1)!.name } : {}) };
}

function lsEntry(dir: Buffer, e: ListedEntry): LsEntryJson {
  const full = Buffer.concat([dir, dir.length === 1 ? Buffer.alloc(0) : Buffer.from('/'), e.name]);
  const name = bytesFields(e.name, 'nameBytes');
  const path = bytesFields(full, 'pathBytes');
  const target = e.target === null ? undefined : bytesFields(e.target, 'targetBytes');
  return {
    name: name.text,
    path: path.text,
    type: e.type,
    size: e.size,
    mtime: new Date(Number(e.mtimeNs / 1_000_000n)).toISOString(),
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    target: target?.text ?? null,
    ...name.extra,
    ...path.extra,
    ...target?.extra,
  };
}

/** An empty listing is either an empty directory or none at all: its parent's entry tells. */
async function isDirectory(db: CatalogDriver, snapshotId: string, dir: Buffer): Promise<boolean> {
  const cut = dir.lastIndexOf(0x2f);
  const parent = cut === 0 ? Buffer.from('/') : dir.subarray(0, cut);
  const name = dir.subarray(cut + 1);
  const rows = await db.query<{ type: string }>(
    `SELECT f.type FROM files f WHERE f.snapshot_pk = (SELECT pk FROM snapshots WHERE id = ?)
       AND f.path_id = (SELECT id FROM paths WHERE path = ?) AND f.name = ?`,
    [snapshotId, parent, name],
  );
  return rows[0]?.type === 'dir';
}
