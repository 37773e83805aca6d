// Makes the restore durable before a run reports success: one syncfs(2) per file system the
// restore wrote to, at the end, instead of an fsync per file and per directory (each one an ext4
// journal commit: 1.71× the wall time of no flush on 2,047 files). syncfs flushes every dirty
// inode of the file system, the restored files' data and the directories' entries included.
// Node has no binding for it; coreutils' `sync -f PATH` calls it on PATH's file system. Each file
// system gets one small shell for the restore (shell-syncs.ts), holding the directory as its
// descriptor 3 (opened here for reading: the held descriptor is O_PATH), which runs
// `sync -f /proc/self/fd/3` for each flush, so no path from the target down is followed.
// The writes overlap the restore: every EARLY_FLUSH_BYTES restored, a flush of the file systems
// noted so far starts in the background (the kernel itself would start writing back only at its
// dirty limits or after 30 s), so the final one finds little left: on the 1 GiB set it took
// ~1.0 s of a 5.2 s restore alone; with a flush every 256 MiB 80-150 ms, every 32 MiB 5-30 ms
// (and the restore's CPU ~5% lower: less dirty page cache at once; 16 MiB was slower again).
// syncfs reports a write error once per open file, so an early flush's failure is kept and fails
// the final flush().
import fs from 'node:fs';
import { CairnError } from '../../core/errors.ts';
import { type DirHandle, inDir } from './dir-handles.ts';
import { displayPath } from './path-guard.ts';
import { ShellSyncs, type SyncFs } from './shell-syncs.ts';

export type { SyncFs } from './shell-syncs.ts';

const SELF = Buffer.from('.');
const OPEN_READ = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/** Bytes restored between two background flushes. */
export const EARLY_FLUSH_BYTES = 32 * 1024 * 1024;

export class FsSyncs {
  /** st_dev → a directory of that file system opened for reading, and its path for messages */
  private readonly byDev = new Map<number, { fd: number; path: Buffer }>();
  /** file systems seen only in directories that could not be opened (swapped, removed): why */
  private readonly unopened = new Map<number, CairnError>();
  private readonly sync: SyncFs;
  /** the flushing shells, when no SyncFs was given */
  private readonly shells: ShellSyncs | undefined;
  private readonly earlyEvery: number;
  private sinceEarly = 0;
  /** the background flush running, if any (one at a time) */
  private early: Promise<void> | undefined;
  private earlyFailure: CairnError | undefined;

  constructor(sync?: SyncFs, earlyEvery = EARLY_FLUSH_BYTES) {
    this.shells = sync ? undefined : new ShellSyncs();
    this.sync = sync ?? this.shells!.sync;
    this.earlyEvery = earlyEvery;
  }

  /** `bytes` more were restored: past EARLY_FLUSH_BYTES, what is noted so far is flushed in the background. */
  restored(bytes: number): void {
    this.sinceEarly += bytes;
    if (this.sinceEarly < this.earlyEvery || this.early || this.byDev.size === 0) return;
    this.sinceEarly = 0;
    const all = [...this.byDev.values()];
    this.early = Promise.all(
      all.map(({ fd, path }) =>
        this.sync(fd).catch((e: unknown) => {
          this.earlyFailure ??= flushError(path, e);
        }),
      ),
    ).then(() => {
      this.early = undefined;
    });
  }

  /** The file systems noted so far (for tests). */
  get count(): number {
    return this.byDev.size;
  }

  /**
   * Notes the file system of `dir`, a directory the restore wrote into (its st_dev recorded when
   * it was opened); call it before its recorded mode is applied (that may forbid opening it).
   * A directory that cannot be opened (its own entries are reported damaged) leaves its file
   * system to the next directory of it; flush() fails only if none could be opened.
   */
  note(dir: DirHandle): void {
    if (this.byDev.has(dir.dev)) return;
    try {
      const fd = dir.hold((held) => fs.openSync(inDir(held, SELF), OPEN_READ));
      this.byDev.set(dir.dev, { fd, path: dir.path });
      this.unopened.delete(dir.dev);
    } catch (e) {
      if (!this.unopened.has(dir.dev)) this.unopened.set(dir.dev, flushError(dir.path, e));
    }
  }

  /** One syncfs per noted file system, in parallel; throws when any fails (the run must not succeed). */
  async flush(): Promise<void> {
    await this.early;
    if (this.earlyFailure) throw this.earlyFailure;
    const all = [...this.byDev.values()];
    const results = await Promise.allSettled(all.map(({ fd }) => this.sync(fd)));
    for (const failure of this.unopened.values()) throw failure;
    results.forEach((r, i) => {
      if (r.status === 'rejected') throw flushError(all[i]!.path, r.reason);
    });
  }

  /** Closes the descriptors held for flush() (each once; a flushing shell holds its own copy) and lets the shells end. */
  close(): void {
    for (const { fd } of this.byDev.values()) fs.closeSync(fd);
    this.byDev.clear();
    this.shells?.close();
  }
}

function flushError(path: Buffer, e: unknown): CairnError {
  const why = (e as NodeJS.ErrnoException)?.code ?? (e instanceof Error ? e.message : String(e));
  return new CairnError('E_INTERNAL', `the restored files under ${displayPath(path)} could not be flushed to disk: ${why}`, {
    cause: e,
  });
}
