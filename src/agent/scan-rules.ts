// Which entries a walk over the file system keeps: the one place the backup's walk
// (backup/tree-walker.ts) and the estimate's (run-estimate.ts) ask, so the two cannot count
// different things. The rules, in the order they apply to a listed directory:
//   - --exclude-caches: a directory holding a valid CACHEDIR.TAG (a regular file starting with
//     the 43-byte signature of https://bford.info/cachedir/) keeps that tag and nothing else;
//   - the job's exclude globs (run-backup.ts excludeMatcher);
//   - --max-file-size: a regular file larger than it is left out, and counted with the first
//     MAX_LISTED_SKIPS paths, for the run log.
// And --one-file-system: a directory on another device than its path's root (a mount point) is
// kept with its own metadata but is not entered, so it is stored empty.
import { closeSync, openSync, readSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { type DirEntry, displayPath } from './scan.ts';

export type ScanSettings = {
  /** true for entries to leave out (the job's exclude globs) */
  exclude?: (path: Buffer, name: Buffer) => boolean;
  oneFileSystem?: boolean;
  excludeCaches?: boolean;
  /** bytes; larger regular files are left out */
  maxFileSize?: number;
};

/** Paths of files left out for their size that are named (the rest are counted). */
export const MAX_LISTED_SKIPS = 100;

const CACHEDIR_TAG = Buffer.from('CACHEDIR.TAG');
const CACHEDIR_SIGNATURE = Buffer.from('Signature: 8a477f597d28d172789f06886806bc55');

/** True when `entry` is a regular file whose first 43 bytes are the cache directory signature. */
export function isCacheDirTag(entry: DirEntry): boolean {
  if (!entry.stat.isFile() || entry.stat.size < BigInt(CACHEDIR_SIGNATURE.length)) return false;
  const head = Buffer.alloc(CACHEDIR_SIGNATURE.length);
  let fd: number | undefined;
  try {
    fd = openSync(entry.path, 'r');
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(CACHEDIR_SIGNATURE);
  } catch {
    return false; // unreadable: not a tag; the walk meets the file and reports it if it cannot read it
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class ScanRules {
  readonly #settings: ScanSettings;
  /** regular files left out for their size: how many, and the first MAX_LISTED_SKIPS paths */
  readonly largeSkipped: { count: number; paths: string[] } = { count: 0, paths: [] };

  constructor(settings: ScanSettings = {}) {
    this.#settings = settings;
  }

  get maxFileSize(): number | undefined {
    return this.#settings.maxFileSize;
  }

  /** The entries of a listed directory that the walk keeps (in their order). */
  keep(listed: DirEntry[]): DirEntry[] {
    const { exclude, excludeCaches } = this.#settings;
    let entries = listed;
    if (excludeCaches) {
      const tag = listed.find((e) => e.name.equals(CACHEDIR_TAG));
      if (tag && isCacheDirTag(tag)) entries = [tag];
    }
    if (exclude) entries = entries.filter((e) => !exclude(e.path, e.name));
    return entries.filter((e) => this.admits(e));
  }

  /** False for a regular file larger than --max-file-size (counted as skipped). */
  admits(entry: DirEntry): boolean {
    const max = this.#settings.maxFileSize;
    if (max === undefined || !entry.stat.isFile() || entry.stat.size <= BigInt(max)) return true;
    if (this.largeSkipped.paths.length < MAX_LISTED_SKIPS) this.largeSkipped.paths.push(displayPath(entry.path));
    this.largeSkipped.count++;
    return false;
  }

  /** Whether the walk goes into a directory (`stat`) below a path root on device `rootDev`. */
  enters(stat: BigIntStats, rootDev: bigint): boolean {
    return !this.#settings.oneFileSystem || stat.dev === rootDev;
  }
}
