// Scanning the file system for a backup: list one directory (names as raw bytes, lstat with
// nanosecond times), turn an lstat into a tree node's metadata, decide whether a file is
// unchanged since the reference snapshot, and plan the path components from '/' down to each
// path asked for. Paths are Buffers throughout so that names that are not UTF-8 survive.
//
// Calls are synchronous on purpose: a sync lstat costs a few microseconds, an async one goes
// through libuv's thread pool and costs several times more. listDirectory yields to the event
// loop between batches so the pipeline's messages are not held up by a huge directory.
import type { BigIntStats } from 'node:fs';
import { lstatSync, readdirSync } from 'node:fs';
import { CairnError } from '../core/errors.ts';
import type { NodeType, TreeNode } from '../core/tree.ts';

export type ScanWarning = { path: string; reason: string };
/** Where a walk's warnings go: an array, or a run's bounded tally (run-report.ts). */
export type WarningSink = { push(...warnings: ScanWarning[]): unknown };

export type DirEntry = { name: Buffer; path: Buffer; stat: BigIntStats };

const SLASH = 0x2f;
const LSTAT_BATCH = 1024;

/** dir + '/' + name, as bytes ('/' + name at the root). */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length > 0 && dir[dir.length - 1] === SLASH) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, Buffer.of(SLASH), name]);
}

/** A path as text for warnings and progress (invalid UTF-8 shown with replacement characters). */
export function displayPath(path: Buffer): string {
  return path.toString('utf8');
}

export function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'vanished during the backup';
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return 'permission denied';
  return err?.message ?? String(e);
}

export function lstatPath(path: Buffer): BigIntStats | undefined {
  return lstatSync(path, { bigint: true, throwIfNoEntry: false });
}

/**
 * The entries of one directory, sorted by name bytes (scan order is therefore canonical, which
 * decides which of several hard links is stored as the file). Entries that vanish between
 * readdir and lstat, or cannot be examined, become warnings. An unreadable directory yields no
 * entries and a warning: it is stored empty rather than failing the whole backup.
 */
export async function listDirectory(dir: Buffer, warnings: WarningSink): Promise<DirEntry[]> {
  let names: Buffer[];
  try {
    names = readdirSync(dir, { encoding: 'buffer' });
  } catch (e) {
    warnings.push({ path: displayPath(dir), reason: `cannot list directory: ${describeError(e)}` });
    return [];
  }
  names.sort(Buffer.compare);
  const entries: DirEntry[] = [];
  for (let i = 0; i < names.length; i++) {
    if (i > 0 && i % LSTAT_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const name = names[i]!;
    const path = joinPath(dir, name);
    try {
      const stat = lstatPath(path);
      if (stat) entries.push({ name, path, stat });
      else warnings.push({ path: displayPath(path), reason: 'vanished during the backup' });
    } catch (e) {
      warnings.push({ path: displayPath(path), reason: `cannot examine: ${describeError(e)}` });
    }
  }
  return entries;
}

export function nodeTypeOf(stat: BigIntStats): NodeType {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'dir';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isCharacterDevice()) return 'chardev';
  if (stat.isBlockDevice()) return 'blockdev';
  return 'socket';
}

/**
 * The metadata part of a tree node. Sizes are kept for files and symlinks only: a directory's
 * st_size is a file-system detail that would make unchanged trees differ between file systems.
 */
export function nodeFromStat(name: Buffer, stat: BigIntStats, type: NodeType = nodeTypeOf(stat)): TreeNode {
  const node: TreeNode = {
    name,
    type,
    mode: Number(stat.mode & 0o7777n),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
    size: type === 'file' || type === 'symlink' || type === 'hardlink' ? Number(stat.size) : 0,
    inode: stat.ino,
    nlink: Number(stat.nlink),
  };
  if (type === 'chardev' || type === 'blockdev') node.rdev = Number(stat.rdev);
  return node;
}

/**
 * True when a file's content can be taken from the reference snapshot without reading it:
 * same size, mtime, ctime, inode, mode and owner. ctime catches a rewrite that restored the
 * mtime; the inode catches a file replaced by another (e.g. rename over).
 */
export function unchangedSince(ref: TreeNode | undefined, stat: BigIntStats): boolean {
  return (
    ref !== undefined &&
    ref.type === 'file' &&
    ref.chunks !== undefined &&
    ref.size === Number(stat.size) &&
    ref.mtimeNs === stat.mtimeNs &&
    ref.ctimeNs === stat.ctimeNs &&
    ref.inode === stat.ino &&
    ref.mode === Number(stat.mode & 0o7777n) &&
    ref.uid === Number(stat.uid) &&
    ref.gid === Number(stat.gid)
  );
}

/**
 * The paths asked for, as a tree of components under '/'. A node with `whole` set is backed up
 * entirely; the others are the directories on the way, which keep only the children leading to
 * a requested path. A path inside another requested path adds nothing.
 */
export type PathPlan = { name: Buffer; whole: boolean; children: Map<string, PathPlan> };

export function planPaths(paths: string[]): PathPlan {
  const root: PathPlan = { name: Buffer.alloc(0), whole: false, children: new Map() };
  for (const p of paths) {
    if (!p.startsWith('/')) throw new CairnError('E_USAGE', `path must be absolute: ${p}`);
    const parts = p.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) throw new CairnError('E_USAGE', `path must not contain '..': ${p}`);
    let at = root;
    for (const part of parts) {
      if (at.whole) break;
      let next = at.children.get(part);
      if (!next) {
        next = { name: Buffer.from(part), whole: false, children: new Map() };
        at.children.set(part, next);
      }
      at = next;
    }
    at.whole = true;
    at.children.clear();
  }
  return root;
}
