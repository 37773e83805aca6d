// Directories held open for a restore, so that no write can be redirected. A path check followed
// by a separate use is a race: a user who can write inside the target swaps a checked directory
// for a symlink in between and root's writes, chmods and renames land wherever it points. So the
// restorer never names a path from the target down: every create, rename, link and metadata
// change names `/proc/self/fd/N/<name>`, where N is a descriptor of the directory opened with
// O_DIRECTORY | O_NOFOLLOW from its own held-open parent (the target root first). The kernel
// resolves /proc/self/fd/N to the directory N holds, whatever has happened to its path since;
// only the last name is looked up, and every call on it either does not follow a symlink there
// (create with O_EXCL | O_NOFOLLOW, rename, link, mkdir, symlink, lchown, lutimes) or goes
// through a descriptor opened with O_NOFOLLOW. Worker threads and libuv's pool share the
// process's descriptors, so they use the same paths.
//
// A restore touches more directories than a process may hold open: at most `limit` descriptors
// stay open (least recently used closed first). A closed one is reopened by walking down from the
// nearest open ancestor, name by name with O_NOFOLLOW, and must still be the same directory
// (device and inode); one that became a symlink, moved or was replaced is E_UNSAFE_PATH for the
// entries in it, and the rest goes on. A descriptor in use (pinned) is never closed, so its
// number cannot be reused under a call in flight; the bound may be passed while every open one
// is in use. close() closes everything at the end of a run, a failed or canceled one too.
import fs from 'node:fs';
import { CairnError } from '../../core/errors.ts';
import { childPath, displayPath } from './path-guard.ts';

/** Descriptors of directories kept open at most (the pinned ones may pass it for a moment). */
export const DIR_FDS = 256;

/**
 * Linux's O_PATH (Node does not export it): a descriptor that names an inode without opening it;
 * paths below it resolve (no read permission needed), metadata goes through /proc/self/fd/N.
 */
const O_PATH = 0o10000000;
const OPEN_DIR = O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/** `/proc/self/fd/<fd>/` by descriptor number (a few hundred at most): made once, not per file. */
const prefixes: Buffer[] = [];

/** `/proc/self/fd/<fd>/<name>`: `name` in the directory `fd` holds, wherever that is now. */
export function inDir(fd: number, name: Buffer): Buffer {
  const prefix = (prefixes[fd] ??= Buffer.from(`/proc/self/fd/${fd}/`));
  return Buffer.concat([prefix, name], prefix.length + name.length);
}

/** The last name of a path. */
export function lastName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(0x2f) + 1);
}

/** An entry's place: a name in a directory held open ('.' for the directory itself). */
export type Placed = { dir: DirHandle; name: Buffer };

/** One directory of the target; `path` is for messages and bookkeeping only, never for a call. */
export class DirHandle {
  readonly path: Buffer;
  readonly parent: DirHandle | undefined;
  readonly name: Buffer;
  readonly #cache: DirCache;
  fd = -1;
  pins = 0;
  dev = 0;
  ino = 0;

  constructor(cache: DirCache, path: Buffer, parent: DirHandle | undefined, name: Buffer) {
    this.#cache = cache;
    this.path = path;
    this.parent = parent;
    this.name = name;
  }

  /**
   * Runs `use` with this directory's descriptor held (reopened if it was closed); a promise it
   * returns keeps it held until settled. An error in a directory removed meanwhile says so.
   */
  hold<T>(use: (fd: number) => T): T {
    const fd = this.#cache.acquire(this);
    let result: T;
    try {
      result = use(fd);
    } catch (e) {
      const err = this.explain(e);
      this.#cache.release(this);
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (v) => {
          this.#cache.release(this);
          return v;
        },
        (e: unknown) => {
          const err = this.explain(e);
          this.#cache.release(this);
          throw err;
        },
      ) as T;
    }
    this.#cache.release(this);
    return result;
  }

  /** Takes the descriptor for a callback-style call; `release()` once it is done. */
  acquire(): number {
    return this.#cache.acquire(this);
  }

  release(): void {
    this.#cache.release(this);
  }

  /** lstat of `name` in this directory, or undefined when nothing is there. */
  lstat(name: Buffer): fs.Stats | undefined {
    return this.hold((fd) => fs.lstatSync(inDir(fd, name), { throwIfNoEntry: false }));
  }

  /**
   * `name` in this directory made a real directory (0700 while it is filled) and opened: an
   * existing directory is fine; a symlink or anything else there is E_UNSAFE_PATH.
   */
  async child(name: Buffer): Promise<DirHandle> {
    const path = childPath(this.path, name);
    await this.hold(async (fd) => {
      try {
        // asynchronous: making an inode can take a millisecond on a busy file system
        await fs.promises.mkdir(inDir(fd, name), { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    });
    const child = new DirHandle(this.#cache, path, this, name);
    this.#cache.open(child, true);
    return child;
  }

  /** Closes the descriptor when not in use (the directory is complete; a late hard link would reopen it). */
  drop(): void {
    this.#cache.drop(this);
  }

  /** Why a call in this directory failed: ENOENT in a directory removed meanwhile is E_UNSAFE_PATH. */
  explain(e: unknown): unknown {
    if ((e as NodeJS.ErrnoException)?.code !== 'ENOENT') return e;
    return this.removed(e) ?? e;
  }

  /** E_UNSAFE_PATH when the directory held was removed (or replaced by a rename over it) meanwhile. */
  removed(cause?: unknown): CairnError | undefined {
    if (this.fd < 0 || fs.fstatSync(this.fd).nlink > 0) return undefined;
    return new CairnError('E_UNSAFE_PATH', `${displayPath(this.path)} was removed or replaced during the restore`, { cause });
  }
}

export class DirCache {
  readonly limit: number;
  /** open and not in use, least recently used first */
  readonly #idle = new Set<DirHandle>();
  #open = 0;
  #closed = false;

  constructor(limit = DIR_FDS) {
    this.limit = limit;
  }

  /** Descriptors open now (for tests and the leak check). */
  get openCount(): number {
    return this.#open;
  }

  /** The target root, opened once (its own path is the user's, symlinks in it included) and held to the end. */
  root(path: Buffer): DirHandle {
    const root = new DirHandle(this, path, undefined, Buffer.alloc(0));
    this.#make(path, O_PATH | fs.constants.O_DIRECTORY, root, false);
    root.pins = 1; // never closed before close()
    return root;
  }

  acquire(h: DirHandle): number {
    if (h.fd < 0 && this.#closed) throw new CairnError('E_INTERNAL', 'the restore is over: its directories are closed');
    if (h.fd < 0) this.open(h, false);
    this.#idle.delete(h);
    h.pins++;
    return h.fd;
  }

  release(h: DirHandle): void {
    if (--h.pins > 0) return;
    if (this.#closed || this.#open > this.limit) this.#close(h);
    else this.#idle.add(h);
  }

  /**
   * Opens `h` from its parent with O_NOFOLLOW. `first`: just made or found by the walk, so its
   * identity is recorded; otherwise it must still be the directory it was.
   */
  open(h: DirHandle, first: boolean): void {
    const parent = h.parent;
    if (!parent) throw new CairnError('E_INTERNAL', 'the restore target was closed before the end');
    parent.hold((pfd) => this.#make(inDir(pfd, h.name), OPEN_DIR, h, !first));
    if (h.pins === 0) this.#idle.add(h);
  }

  #make(path: Buffer | string, flags: number, h: DirHandle, check: boolean): void {
    if (this.#closed) throw new CairnError('E_INTERNAL', 'the restore is over: its directories are closed');
    while (this.#open >= this.limit && this.#idle.size > 0) this.#close(this.#idle.values().next().value!);
    let fd: number;
    try {
      fd = fs.openSync(path, flags);
    } catch (e) {
      throw unsafe(h, path, e, check);
    }
    const st = fs.fstatSync(fd);
    if (check && (st.dev !== h.dev || st.ino !== h.ino)) {
      fs.closeSync(fd);
      throw new CairnError('E_UNSAFE_PATH', `${displayPath(h.path)} was replaced during the restore: refusing to restore into it`);
    }
    h.dev = st.dev;
    h.ino = st.ino;
    h.fd = fd;
    this.#open++;
  }

  #close(h: DirHandle): void {
    this.#idle.delete(h);
    if (h.fd < 0) return;
    fs.closeSync(h.fd);
    h.fd = -1;
    this.#open--;
  }

  drop(h: DirHandle): void {
    if (h.pins === 0) this.#close(h);
  }

  /** Closes every descriptor: now when idle, when released when in use. No directory opens after. */
  close(root: DirHandle | undefined): void {
    this.#closed = true;
    if (root && root.pins > 0) this.release(root);
    for (const h of [...this.#idle]) this.#close(h);
  }
}

/** A directory that cannot be opened with O_NOFOLLOW: a symlink or file is E_UNSAFE_PATH, saying which. */
function unsafe(h: DirHandle, path: Buffer | string, e: unknown, again: boolean): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  // ENOENT: it was there a moment ago (made, found by the walk, or held before)
  if (code !== 'ENOTDIR' && code !== 'ELOOP' && code !== 'ENOENT') return e;
  if (code === 'ENOENT')
    return new CairnError('E_UNSAFE_PATH', `${displayPath(h.path)} was moved or removed during the restore`, { cause: e });
  const st = fs.lstatSync(path, { throwIfNoEntry: false });
  const what = st?.isSymbolicLink() ? 'a symlink' : 'not a directory';
  return new CairnError(
    'E_UNSAFE_PATH',
    `${displayPath(h.path)} ${again ? 'became' : 'exists and is'} ${what}: refusing to restore through it`,
    { cause: e },
  );
}

/** `/proc/self/fd/<fd>`: chown, chmod and utimes on it reach the inode `fd` holds, an O_PATH one too. */
export function inode(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/**
 * Runs `use` on the inode of the FIFO or device node at `name` in `dirFd` (as inode() names it),
 * through an O_PATH descriptor opened with O_NOFOLLOW (opening the node itself could block or
 * reach a device). Anything else found there (someone swapped it) is E_UNSAFE_PATH.
 */
export function withNodeAt<T>(dirFd: number, name: Buffer, type: 'fifo' | 'chardev' | 'blockdev', use: (path: string) => T): T {
  const fd = fs.openSync(inDir(dirFd, name), O_PATH | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    const ok = type === 'fifo' ? st.isFIFO() : type === 'chardev' ? st.isCharacterDevice() : st.isBlockDevice();
    if (!ok) throw new CairnError('E_UNSAFE_PATH', `${displayPath(name)} was replaced before its metadata was set`);
    return use(inode(fd));
  } finally {
    fs.closeSync(fd);
  }
}
