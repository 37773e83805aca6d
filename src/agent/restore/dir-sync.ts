// Makes the restored directories durable before a run reports success: a renamed-in file is only
// reachable after a crash once its directory's entry is on disk. Each directory is fsynced when
// it completes (all its entries placed), in libuv's pool, so the flushes overlap with the rest of
// the restore instead of running one by one at the end; drain() waits for the last of them.
import fs from 'node:fs';
import { promisify } from 'node:util';
import { type DirHandle, inDir } from './dir-handles.ts';

const fsync = promisify(fs.fsync);

const SELF = Buffer.from('.');
const OPEN_READ = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

export type DirSyncFailure = (path: Buffer, reason: unknown, opening: boolean) => void;

export class DirSyncs {
  private readonly inflight = new Set<Promise<void>>();
  private readonly failed: DirSyncFailure;

  constructor(failed: DirSyncFailure) {
    this.failed = failed;
  }

  /**
   * Opens `dir` for reading (the held descriptor is O_PATH, which fsync refuses), before its
   * recorded mode is applied and may forbid that; -1 when it cannot be opened (reported).
   */
  open(dir: DirHandle): number {
    try {
      return dir.hold((fd) => fs.openSync(inDir(fd, SELF), OPEN_READ));
    } catch (e) {
      this.failed(dir.path, e, true);
      return -1;
    }
  }

  /** Flushes the directory opened by open() (its metadata included) and closes it. */
  sync(fd: number, path: Buffer): void {
    if (fd < 0) return;
    const p = fsync(fd)
      .catch((e: unknown) => this.failed(path, e, false))
      .finally(() => {
        fs.closeSync(fd);
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  /** Resolves once every directory handed to sync() is flushed (or reported). */
  async drain(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }
}
