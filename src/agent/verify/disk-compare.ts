// Verify at level `disk` (Bacula's DiskToCatalog): the live file system on this agent against
// the snapshot. Each entry of the snapshot is looked up on disk: missing, another type, or a
// differing mode, owner, size, mtime, symlink target or device number is a difference; a regular
// file of the same size is re-chunked with the vault's chunker and keys and its chunk ids
// compared (live-chunks.ts), so a change that kept size and mtime is still seen. In every
// directory inside the backed-up paths, names on disk the snapshot lacks (and the job's excludes
// do not explain) are listed too. Directory mtimes and inode numbers are not compared: the
// first changes with every entry added or removed (reported on their own), the second with any
// restore. Each entry that differs is one damaged entry with every difference in its reason.
import type { BigIntStats } from 'node:fs';
import { readdirSync, readlinkSync } from 'node:fs';
import type { TreeNode } from '../../core/tree.ts';
import { childPath, hardlinkTargetNames } from '../restore/path-guard.ts';
import { lstatPath, nodeTypeOf } from '../scan.ts';
import { contentDifference, type Rechunker } from './live-chunks.ts';
import { SnapshotWalker, type WalkedEntry } from './snapshot-walk.ts';
import type { VerifyInput } from './verify-tally.ts';

export type DiskInput = VerifyInput & {
  rechunker: Rechunker;
  /** the job's exclude globs (run-backup.ts excludeMatcher): names they match are not "extra" */
  exclude?: (path: Buffer, name: Buffer) => boolean;
};

const ROOT: Buffer = Buffer.from('/');

function reasonOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return 'permission denied';
  return err?.message ?? String(e);
}

/** The backed-up paths as bytes, normalized like the backup's path plan ('/' stays '/'). */
function backupRoots(paths: readonly string[]): Buffer[] {
  return paths.map((p) => Buffer.from(`/${p.split('/').filter((c) => c !== '' && c !== '.').join('/')}`));
}

function isInside(path: Buffer, roots: readonly Buffer[]): boolean {
  return roots.some(
    (r) => r.equals(ROOT) || path.equals(r) || (path.length > r.length && path[r.length] === 0x2f && path.subarray(0, r.length).equals(r)),
  );
}

function timeOf(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** The live path of a hard link's first name (its target is relative to the snapshot's root). */
function firstNamePath(target: Buffer): Buffer {
  let path: Buffer = ROOT;
  for (const name of hardlinkTargetNames(target)) path = childPath(path, name);
  return path;
}

/** How the live entry's metadata differs from the snapshot's node (empty when it does not). */
export function metadataDifferences(path: Buffer, node: TreeNode, st: BigIntStats): string[] {
  const live = nodeTypeOf(st);
  const expected = node.type === 'hardlink' ? 'file' : node.type;
  if (live !== expected) return [`a ${live} on disk, a ${node.type} in the snapshot`];
  if (node.type === 'hardlink') {
    const first = lstatPath(firstNamePath(node.target ?? Buffer.alloc(0)));
    const same = first !== undefined && first.ino === st.ino && first.dev === st.dev;
    return same ? [] : [`no longer the same file as ${(node.target ?? Buffer.alloc(0)).toString('utf8')}`];
  }
  const out: string[] = [];
  const mode = Number(st.mode & 0o7777n);
  if (mode !== node.mode) out.push(`mode (snapshot ${node.mode.toString(8)}, disk ${mode.toString(8)})`);
  if (Number(st.uid) !== node.uid || Number(st.gid) !== node.gid)
    out.push(`owner (snapshot ${node.uid}:${node.gid}, disk ${st.uid}:${st.gid})`);
  if ((node.type === 'file' || node.type === 'symlink') && Number(st.size) !== node.size)
    out.push(`size (snapshot ${node.size}, disk ${st.size})`);
  if (node.type !== 'dir' && st.mtimeNs !== node.mtimeNs)
    out.push(`mtime (snapshot ${timeOf(node.mtimeNs)}, disk ${timeOf(st.mtimeNs)})`);
  if (node.type === 'symlink' && node.target && Number(st.size) === node.size) {
    if (!readlinkSync(path, { encoding: 'buffer' }).equals(node.target)) out.push('symlink target');
  }
  if ((node.type === 'chardev' || node.type === 'blockdev') && node.rdev !== undefined && Number(st.rdev) !== node.rdev)
    out.push(`device number (snapshot ${node.rdev}, disk ${st.rdev})`);
  return out;
}

export async function compareDisk(input: DiskInput): Promise<void> {
  const { tally } = input;
  const roots = backupRoots(input.snapshot.paths);
  const extras = (dir: Buffer, nodes: TreeNode[]) => {
    if (!isInside(dir, roots)) return;
    let names: Buffer[];
    try {
      names = readdirSync(dir, { encoding: 'buffer' });
    } catch (e) {
      tally.damage(dir, `cannot list the directory on disk: ${reasonOf(e)}`);
      return;
    }
    const known = new Set(nodes.map((n) => n.name.toString('latin1')));
    for (const name of names.sort(Buffer.compare)) {
      if (known.has(name.toString('latin1'))) continue;
      const path = childPath(dir, name);
      if (!input.exclude?.(path, name)) tally.damage(path, 'on disk, not in the snapshot');
    }
  };
  const walker = new SnapshotWalker({ ...input, onDamagedTree: (path, reason) => tally.damage(path, reason), onDirectory: extras });
  for await (const entry of walker.entries()) {
    await compareEntry(input, entry, isInside(entry.path, roots));
    if (entry.node.type === 'file' || entry.node.type === 'hardlink') tally.checked(entry.path, entry.node);
  }
  tally.chunks += walker.treeChunks;
}

/** Compares one entry; sets `skip` on a directory not worth walking (gone, or not a directory). */
async function compareEntry(input: DiskInput, entry: WalkedEntry, inside: boolean): Promise<void> {
  const { path, node } = entry;
  const { tally } = input;
  let st: BigIntStats | undefined;
  try {
    st = lstatPath(path);
  } catch (e) {
    entry.skip = true;
    tally.damage(path, `cannot examine on disk: ${reasonOf(e)}`);
    return;
  }
  if (!st) {
    entry.skip = true;
    tally.damage(path, 'missing on disk');
    return;
  }
  if (!inside) {
    // a directory on the way down to the backed-up paths: only its being one matters
    if (!st.isDirectory()) {
      entry.skip = true;
      tally.damage(path, `a ${nodeTypeOf(st)} on disk, a directory in the snapshot`);
    }
    return;
  }
  let differences: string[];
  try {
    differences = metadataDifferences(path, node, st);
  } catch (e) {
    differences = [`cannot examine on disk: ${reasonOf(e)}`];
  }
  if (node.type === 'dir' && !st.isDirectory()) entry.skip = true;
  const sameSize = node.type === 'file' && st.isFile() && Number(st.size) === node.size;
  if (sameSize && (node.chunks ?? []).length > 0) {
    try {
      const content = await contentDifference(path, node.chunks ?? [], input.rechunker, input.signal);
      if (content) differences.push(content);
      tally.chunks += (node.chunks ?? []).length;
    } catch (e) {
      if (input.signal?.aborted) throw e;
      differences.push(`unreadable on disk: ${reasonOf(e)}`);
    }
  }
  if (differences.length > 0) tally.damage(path, `differs on disk: ${differences.join('; ')}`);
}
