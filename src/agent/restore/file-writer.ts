// Puts restored entries in place atomically. A regular file is written under a fresh temporary
// name in its own directory (O_EXCL | O_NOFOLLOW, so a planted symlink is never followed), with
// positional writes; all-zero chunks and every 4 KiB block of zeros aligned in the file are not
// written at all so holes stay holes (the file is new, so what is not written reads as zeros),
// and the file is truncated to its recorded size at the end. Only a complete file gets its
// metadata and is renamed over the final name; when something is there already it is fsynced
// first (a crash never leaves an existing file replaced by one whose data is not on disk), else
// the run's one syncfs per file system makes it durable (dir-sync.ts) before the run succeeds.
// A failed one is closed and its temporary name removed (symlinks, hard links and special files
// are placed the same way: entry-placing.ts). Every name is addressed in its directory's
// held-open descriptor (dir-handles.ts), never by a path.
//
// Small writes and metadata calls on a descriptor are synchronous (a few microseconds each,
// cheaper than a trip through libuv's pool); what touches a directory (create, symlink, link,
// rename: up to a millisecond each on a busy file system) and large writes go to the pool, so
// they run in parallel and overlap with decryption. Large writes' bytes count in a WriteBudget.
import fs from 'node:fs';
import { promisify } from 'node:util';
import { CairnError } from '../../core/errors.ts';
import type { BufferLease } from '../../core/free-owned.ts';
import type { TreeNode } from '../../core/tree.ts';
import { type DirHandle, inDir } from './dir-handles.ts';
import { removeTemp } from './entry-placing.ts';
import { applyFdMetadata } from './metadata.ts';
import { displayPath, tempName } from './path-guard.ts';

const fsync = promisify(fs.fsync);

const CREATE_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
/** Writes up to this size are made synchronously. */
const SYNC_WRITE_MAX = 64 * 1024;
/** Zero blocks of this size, aligned in the file, are left as holes. */
const HOLE_BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);

/** The calls that make a restored file durable and visible (a unit test watches their order). */
export type FileOps = {
  fsync: (fd: number) => Promise<void>;
  rename: (from: Buffer, to: Buffer) => Promise<void>;
};

const realOps: FileOps = {
  // in libuv's pool: files finishing together are flushed in parallel, overlapping other writes
  fsync: (fd) => fsync(fd),
  rename: (from, to) => fs.promises.rename(from, to),
};

/**
 * One chunk as it reaches a file: its bytes, a hole (`data` null), or why it could not be had.
 * `lease`: frees `data`'s buffer once no write needs it; a writer holds it while it keeps `data`.
 */
export type ChunkContent = { data: Buffer | null; length: number; lease?: BufferLease } | { error: unknown };

/** Bytes handed to asynchronous writes and not yet written; the restorer waits when it grows. */
export class WriteBudget {
  bytes = 0;
  /** bytes of chunks that arrived before their file's earlier chunks, held until those come */
  held = 0;
  private waiters: (() => void)[] = [];
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  take(n: number): void {
    this.bytes += n;
  }

  give(n: number): void {
    this.bytes -= n;
    if (this.bytes <= this.limit / 2 && this.waiters.length) for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once the bytes in flight are at most half the limit (at once when under the limit). */
  room(): Promise<void> | undefined {
    if (this.bytes <= this.limit) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export class FileWriter {
  readonly dir: DirHandle;
  /** the final name in `dir` */
  readonly name: Buffer;
  /** for messages and bookkeeping */
  readonly path: Buffer;
  readonly node: TreeNode;
  private readonly tmp: Buffer;
  private readonly budget: WriteBudget;
  private fd = -1;
  /** `dir` held from the create to the rename or the cleanup: both in the very same directory */
  private dirFd = -1;
  private abandoned = false;
  private next = 0;
  private offset = 0;
  private dataEnd = 0;
  private readonly early = new Map<number, ChunkContent>();
  private opening = false;
  private readonly queued: { data: Buffer; position: number; pool: boolean; lease?: BufferLease }[] = [];
  private inflight = 0;
  private idle: (() => void) | undefined;
  private failure: unknown;
  private readonly ops: FileOps;
  /** in a directory this restore made (0700 while filled): nothing can be at the final name */
  private readonly fresh: boolean;

  constructor(dir: DirHandle, name: Buffer, path: Buffer, node: TreeNode, budget: WriteBudget, fresh = false, ops: FileOps = realOps) {
    this.dir = dir;
    this.name = name;
    this.path = path;
    this.node = node;
    this.budget = budget;
    this.tmp = tempName();
    this.ops = ops;
    this.fresh = fresh;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** True once every chunk the tree lists has been taken. */
  get complete(): boolean {
    return this.next >= (this.node.chunks?.length ?? 0);
  }

  /** Records why this file cannot be restored; later chunks are ignored and finish() discards it. */
  fail(reason: unknown): void {
    this.failure ??= reason;
  }

  /** Takes chunk `index` (chunks may arrive out of order; they are applied in order). */
  put(index: number, chunk: ChunkContent): void {
    if (index !== this.next) {
      this.early.set(index, chunk);
      this.budget.held += heldBytes(chunk);
      leaseOf(chunk)?.hold();
      return;
    }
    this.apply(chunk);
    for (;;) {
      const more = this.early.get(this.next);
      if (!more) break;
      this.early.delete(this.next);
      this.budget.held -= heldBytes(more);
      this.apply(more);
      leaseOf(more)?.release();
    }
  }

  private apply(chunk: ChunkContent): void {
    this.next++;
    if ('error' in chunk) {
      this.fail(chunk.error);
      return;
    }
    const position = this.offset;
    this.offset += chunk.length;
    if (chunk.data === null || this.failed) return;
    // the pieces of a large chunk go to the pool even when small: a chunk cut up by zero blocks
    // must not turn one pool write into many on the main thread
    const pool = chunk.data.length > SYNC_WRITE_MAX;
    for (const [start, end] of dataRuns(chunk.data, position)) {
      const data = chunk.data.subarray(start, end);
      this.dataEnd = position + end;
      if (this.fd >= 0) this.write(data, position + start, pool, chunk.lease);
      else {
        chunk.lease?.hold();
        this.queued.push({ data, position: position + start, pool, lease: chunk.lease });
      }
    }
    if (this.fd < 0 && this.queued.length) this.open();
  }

  // Creating an inode can take a millisecond on a busy file system: it goes to libuv's pool so
  // the main thread keeps feeding the workers meanwhile.
  private open(): void {
    if (this.opening) return;
    this.opening = true;
    this.inflight++;
    try {
      this.dirFd = this.dir.acquire();
    } catch (e) {
      this.fail(e);
      this.settle();
      return;
    }
    fs.open(inDir(this.dirFd, this.tmp), CREATE_FLAGS, 0o600, (e, fd) => {
      if (e) this.fail(this.dir.explain(e));
      else this.fd = fd;
      const queued = this.queued.splice(0);
      for (const q of queued) {
        if (!e) this.write(q.data, q.position, q.pool, q.lease);
        q.lease?.release();
      }
      this.settle();
    });
  }

  private write(data: Buffer, position: number, pool: boolean, lease: BufferLease | undefined): void {
    if (this.failed) return;
    if (pool) this.writeAsync(data, position, lease);
    else {
      try {
        writeAllSync(this.fd, data, position);
      } catch (e) {
        this.fail(e);
      }
    }
  }

  private writeAsync(data: Buffer, position: number, lease: BufferLease | undefined): void {
    this.inflight++;
    this.budget.take(data.length);
    lease?.hold();
    const done = (e: unknown) => {
      this.budget.give(data.length);
      lease?.release(); // may free data: last
      if (e) this.fail(e);
      this.settle();
    };
    const step = (at: number) => {
      fs.write(this.fd, data, at, data.length - at, position + at, (e, written) => {
        if (e) return done(e);
        if (at + written < data.length) step(at + written);
        else done(undefined);
      });
    };
    step(0);
  }

  private settle(): void {
    if (--this.inflight > 0) return;
    if (this.abandoned) this.cleanUp();
    this.idle?.();
  }

  private settled(): Promise<void> | undefined {
    if (this.inflight === 0) return undefined;
    return new Promise((resolve) => {
      this.idle = resolve;
    });
  }

  /**
   * Drops the file after the restore as a whole failed: closes it, removes the temporary name and
   * lets its directory go, now or once the calls in flight are done.
   */
  abandon(): void {
    this.fail(new CairnError('E_INTERNAL', 'restore abandoned'));
    this.abandoned = true;
    if (this.inflight === 0) this.cleanUp();
  }

  /** Closes the file, removes its temporary name and releases the directory (each once). */
  private cleanUp(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    if (this.dirFd < 0) return;
    try {
      removeTemp(this.dirFd, this.tmp);
    } finally {
      this.dirFd = -1;
      this.dir.release();
    }
  }

  /** Completes the file: size check, holes at the end, owner/mode/times, fsync when replacing, rename into place. */
  async finish(asRoot: boolean): Promise<void> {
    if (!this.opening && !this.failed) this.open();
    await this.settled();
    if (!this.failed && this.offset !== this.node.size)
      this.fail(
        new CairnError(
          'E_CORRUPT',
          `chunks add up to ${this.offset} bytes, the tree records ${this.node.size}`,
        ),
      );
    if (!this.failed) {
      try {
        if (this.dataEnd < this.node.size) fs.ftruncateSync(this.fd, this.node.size);
        applyFdMetadata(this.fd, this.node, asRoot);
        this.inflight++; // an abandon meanwhile closes the file and lets the directory go only once these are done
        try {
          if (!this.fresh && fs.lstatSync(inDir(this.dirFd, this.name), { throwIfNoEntry: false })) await this.ops.fsync(this.fd);
          const fd = this.fd;
          this.fd = -1;
          fs.closeSync(fd);
          await this.ops.rename(inDir(this.dirFd, this.tmp), inDir(this.dirFd, this.name));
        } finally {
          this.settle();
        }
        if (this.dirFd >= 0) {
          this.dirFd = -1;
          this.dir.release();
        }
        return;
      } catch (e) {
        this.fail(this.dir.explain(e));
      }
    }
    try {
      this.cleanUp();
    } catch {
      // the failure below says why the file is not there
    }
    throw reasonError(this.failure, this.path);
  }
}

function leaseOf(chunk: ChunkContent): BufferLease | undefined {
  return 'lease' in chunk ? chunk.lease : undefined;
}

function heldBytes(chunk: ChunkContent): number {
  return 'data' in chunk && chunk.data ? chunk.data.length : 0;
}

/**
 * The parts of `data` (at file offset `position`) to write, as [start, end) pairs: all of it but
 * the 4 KiB blocks aligned in the file that are all zeros. A block of data differs from zeros in
 * its first or last byte almost always, so the scan costs little where there is nothing to skip.
 */
export function dataRuns(data: Buffer, position: number): [number, number][] {
  const runs: [number, number][] = [];
  let start = 0;
  let at = (HOLE_BLOCK - (position % HOLE_BLOCK)) % HOLE_BLOCK;
  for (; at + HOLE_BLOCK <= data.length; at += HOLE_BLOCK) {
    // a byte read rules out most data blocks; the rest are compared in place, nothing allocated
    if (data[at] !== 0 || data[at + HOLE_BLOCK - 1] !== 0) continue;
    if (ZERO_BLOCK.compare(data, at, at + HOLE_BLOCK) !== 0) continue;
    if (at > start) runs.push([start, at]);
    start = at + HOLE_BLOCK;
  }
  if (start < data.length) runs.push([start, data.length]);
  return runs;
}

function writeAllSync(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, position + done);
}

export function reasonError(reason: unknown, path: Buffer): CairnError {
  if (reason instanceof CairnError) return reason;
  const err = reason as NodeJS.ErrnoException;
  return new CairnError(
    'E_INTERNAL',
    `${displayPath(path)}: ${err?.code ?? err?.message ?? String(reason)}`,
    {
      cause: reason,
    },
  );
}
