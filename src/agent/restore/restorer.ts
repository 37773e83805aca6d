// Restore: the backup pipeline backwards. The main thread walks the snapshot's trees depth-first
// (one directory's entries in memory at a time), makes directories, symlinks, hard links and
// special files as it goes, and groups the regular files' chunk ids into batches (blob-fetcher.ts).
// Worker threads fetch the batches over connections of their own and authenticate, decompress
// and check each blob against its id where it arrives (chunk-fetchers.ts, fetch-worker.ts); the
// plaintexts come back and are written at their offsets (file-writer.ts). A file is renamed into
// place only when every chunk checked out; otherwise it is listed in `damaged` and the rest goes
// on. A directory gets its mode and times once everything inside it is done (so deepest first);
// that is counted per directory, so memory follows the pipeline's depth, not the snapshot's
// size. Extended attributes are set in batches (xattr-writer.ts) once an entry is in place; its
// directory waits for them like for a child.
// An entry that finds something already at its path follows the conflict policy (conflicts.ts);
// hard links wait for their first name to be in place (hardlinks.ts). Nothing is written by a
// path from the target down: every call names an entry in its directory's held-open descriptor
// (dir-handles.ts), so a directory swapped for a symlink mid-restore redirects nothing.
import { CairnError, isCairnError } from '../../core/errors.ts';
import { testCount } from '../../core/test-settings.ts';
import type { TreeNode } from '../../core/tree.ts';
import { watchHeap } from '../gc-nudge.ts';
import { type LoadTrees, treeLoader } from '../tree-store.ts';
import { batchChunks, type ChunkUse, RESTORE_BATCH_LIMITS } from './blob-fetcher.ts';
import { ChunkFetchers, defaultRestoreWorkers } from './chunk-fetchers.ts';
import { ConflictResolver, type Look } from './conflicts.ts';
import { DIR_FDS, DirCache, type DirHandle, inode, lastName, type Placed } from './dir-handles.ts';
import { FsSyncs } from './dir-sync.ts';
import { writeSymlink } from './entry-placing.ts';
import { type ChunkContent, FileWriter, WriteBudget } from './file-writer.ts';
import { HardLinks } from './hardlinks.ts';
import { applyInodeMetadata, runningAsRoot } from './metadata.ts';
import { childPath, displayPath, ensureTarget, targetRoot } from './path-guard.ts';
import { SpecialFileMaker } from './special-files.ts';
import { siblingTrees } from './subtree-loader.ts';
import { swapHook } from './swap-hook.ts';
import { type IncludeFilter, includeFilter, wantedEntries } from './include-filter.ts';
import type { RestoreOptions, RestoreResult } from './restore-options.ts';
import { XattrWriter } from './xattr-writer.ts';

/** Bytes of plaintext handed to asynchronous writes and not yet written. */
const WRITING_BYTES = 16 * 1024 * 1024;
const PROGRESS_EVERY_MS = 250;

/** `original`: the path the file would have without a conflict (`writer.path` may be a renamed one). */
type FileJob = { writer: FileWriter; dir: DirState; original: Buffer };

/** The directory itself, as an entry of its own held-open descriptor (for its xattrs). */
const SELF = Buffer.from('.');

/**
 * A directory whose metadata waits for its contents: `pending` counts unfinished children + the
 * walk. `fresh`: made by this restore, so nothing inside can conflict. `keep`: its metadata is
 * left alone, being an existing directory only on the way to an --include path (a restore of
 * /srv/a to / must not give / or /srv the snapshot's modes and times).
 */
type DirState = { handle: DirHandle; node: TreeNode | undefined; parent: DirState | undefined; pending: number; fresh: boolean; keep?: boolean };

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  return new Restorer(opts).run();
}

class Restorer {
  private readonly opts: RestoreOptions;
  private readonly asRoot = runningAsRoot;
  private readonly root: Buffer;
  private readonly result: RestoreResult = { files: 0, dirs: 0, bytes: 0, damaged: [], conflicts: [], conflictCounts: { renamed: 0, skipped: 0, overwritten: 0 }, warnings: [] };
  private readonly conflicts: ConflictResolver;
  private readonly budget = new WriteBudget(WRITING_BYTES);
  private readonly specials: SpecialFileMaker;
  private readonly xattrs = new XattrWriter(runningAsRoot);
  private readonly fetchers: ChunkFetchers<FileJob>;
  /** Async work (file completions, special files) not yet settled. */
  private readonly unsettled = new Set<Promise<void>>();
  /** Files being written: abandoned (temporary names removed) if the restore fails as a whole. */
  private readonly active = new Set<FileWriter>();
  private readonly links: HardLinks<DirState>;
  private readonly dirs = new DirCache(testCount('RESTORE_DIR_FDS', DIR_FDS));
  private readonly swap = swapHook();
  /** the file systems written to, each flushed once before the run succeeds */
  private readonly fsSyncs: FsSyncs;
  private readonly loadTrees: LoadTrees;
  private allDone: () => void = () => undefined;
  private lastProgress = 0;

  constructor(opts: RestoreOptions) {
    this.opts = opts;
    this.root = targetRoot(opts.target);
    this.fsSyncs = new FsSyncs(opts.syncFs);
    this.loadTrees = opts.loadTrees ?? treeLoader(opts.client, opts.vault, opts.keys);
    this.specials = new SpecialFileMaker(this.asRoot);
    this.conflicts = new ConflictResolver(opts.conflict ?? 'overwrite', opts.startedAt ?? new Date(), (p) =>
      this.originalPath(p),
    );
    this.links = new HardLinks<DirState>(
      {
        settle: (dir, path, make) => this.settleEntry(dir, path, make),
        release: (dir) => this.release(dir),
        damaged: (path, e) => this.damaged(path, e),
        warn: (path, reason) => this.result.warnings.push({ path: this.originalPath(path), reason }),
        show: (path) => this.originalPath(path),
      },
      this.root,
    );
    this.fetchers = new ChunkFetchers({
      client: opts.client,
      vault: opts.vault,
      keys: opts.keys,
      workers: opts.workers ?? defaultRestoreWorkers(),
      early: opts.early,
      budget: this.budget,
      deliver: (uses, content) => this.deliver(uses, content),
    });
  }

  async run(): Promise<RestoreResult> {
    ensureTarget(this.root);
    const rootDir: DirState = { handle: this.dirs.root(this.root), node: undefined, parent: undefined, pending: 1, fresh: false };
    const done = new Promise<void>((resolve) => {
      this.allDone = resolve;
    });
    const filter = this.opts.include ? includeFilter(this.opts.include) : undefined;
    const treeIds = this.opts.snapshot.tree.map((hex) => Buffer.from(hex, 'hex'));
    const unwatchHeap = watchHeap();
    try {
      const files = this.walkRoot(rootDir, treeIds, filter);
      const batches = batchChunks(
        files,
        (job) => ({ ids: job.writer.node.chunks ?? [], size: job.writer.node.size }),
        RESTORE_BATCH_LIMITS,
      );
      await this.fetchers.openAll(batches);
      await this.settle();
      this.links.failWaiting();
      await this.xattrs.drain();
      await done;
      await this.fsSyncs.flush();
    } catch (e) {
      for (const w of this.active) w.abandon();
      throw e;
    } finally {
      unwatchHeap();
      // descriptors still in use by a call in flight (a failed run) close when it settles
      this.dirs.close(rootDir.handle);
      this.fsSyncs.close();
      await this.fetchers.close();
    }
    this.reportProgress(true);
    this.result.conflicts = this.conflicts.listed;
    this.result.conflictCounts = this.conflicts.counts();
    const unlisted = this.conflicts.unlisted();
    if (unlisted) this.result.warnings.push({ path: this.originalPath(this.root), reason: unlisted });
    return this.result;
  }

  private async settle(): Promise<void> {
    while (this.unsettled.size) await Promise.all([...this.unsettled]);
  }

  private track(p: Promise<void>): void {
    this.unsettled.add(p);
    void p.finally(() => this.unsettled.delete(p));
  }

  private damaged(path: Buffer, e: unknown): void {
    this.result.damaged.push({ path: this.originalPath(path), reason: errorText(e) });
  }

  /** The path as it was in the backup (the restored path without the target prefix). */
  private originalPath(path: Buffer): string {
    if (this.root.length === 1) return displayPath(path);
    return displayPath(path.subarray(this.root.length)) || '/';
  }

  private reportProgress(force = false, current?: Buffer): void {
    const onProgress = this.opts.onProgress;
    if (!onProgress) return;
    const now = performance.now();
    if (!force && now - this.lastProgress < PROGRESS_EVERY_MS) return;
    this.lastProgress = now;
    onProgress({
      files: this.result.files,
      bytes: this.result.bytes,
      currentPath: current ? this.originalPath(current) : undefined,
    });
  }

  // ---- walking ----

  private async *walkRoot(rootDir: DirState, treeIds: Buffer[], filter: IncludeFilter | undefined) {
    yield* this.walk(
      rootDir,
      this.loadTrees([treeIds]).then(([t]) => t!),
      filter,
    );
    await this.specials.flush();
    this.release(rootDir);
  }


  private async *walk(
    dir: DirState,
    tree: Promise<TreeNode[]>,
    filter: IncludeFilter | undefined,
  ): AsyncGenerator<FileJob> {
    let nodes: TreeNode[];
    try {
      nodes = await tree;
    } catch (e) {
      if (
        !isCairnError(e, 'E_CORRUPT') &&
        !isCairnError(e, 'E_UNSAFE_PATH') &&
        !isCairnError(e, 'E_NOT_FOUND')
      )
        throw e;
      this.damaged(dir.handle.path, new CairnError(e.code, `directory not restored: ${e.message}`, { cause: e }));
      return;
    }
    // which entries are wanted, and (for directories) under which filter
    const wanted = wantedEntries(nodes, filter);
    const subdirs = wanted.filter((w) => w.node.type === 'dir');
    const subtrees = siblingTrees(
      subdirs.map((w) => w.node.subtree ?? []),
      this.loadTrees,
    );
    let subdirIndex = 0;
    for (const { node, sub } of wanted) {
      this.opts.signal?.throwIfAborted();
      const subtree = node.type === 'dir' ? subtrees.get(subdirIndex++) : undefined;
      subtree?.catch(() => undefined); // awaited by the walk below, unless the directory is refused
      let original: Buffer;
      let path: Buffer | undefined;
      // what is there already, looked at in the held directory (the name is its path's last)
      const look: Look = (p) => dir.handle.lstat(lastName(p));
      try {
        original = childPath(dir.handle.path, node.name);
        path = subtree ? this.conflicts.placeDir(original, dir.fresh, look) : this.conflicts.place(original, dir.fresh, look);
      } catch (e) {
        this.damaged(childPathForReport(dir.handle.path, node.name), e);
        continue;
      }
      if (path === undefined) {
        this.links.skipped(original, node);
        continue;
      }
      const at: Placed = { dir: dir.handle, name: lastName(path) };
      if (subtree) {
        let fresh: boolean;
        let handle: DirHandle;
        try {
          fresh = dir.fresh || !look(path);
          handle = await dir.handle.child(at.name);
          this.swap?.(handle.path);
        } catch (e) {
          this.damaged(path, e);
          continue;
        }
        const keep = sub !== undefined && !fresh;
        const child: DirState = { handle, node, parent: dir, pending: 1, fresh, keep };
        dir.pending++;
        if (!keep) this.setXattrs(child, { dir: handle, name: SELF }, path, node);
        yield* this.walk(child, subtree, sub);
        this.release(child);
      } else if (node.type === 'file') {
        const job: FileJob = { writer: new FileWriter(dir.handle, at.name, path, node, this.budget, dir.fresh), dir, original };
        dir.pending++;
        this.active.add(job.writer);
        if ((node.chunks ?? []).length === 0) this.finishFile(job);
        else yield job;
      } else {
        this.placeOther(dir, at, path, node);
      }
    }
  }

  /** Symlinks, hard links and special files: everything that carries no data. */
  private placeOther(dir: DirState, at: Placed, path: Buffer, node: TreeNode): void {
    if (node.type === 'symlink')
      this.settleEntry(dir, path, () => writeSymlink(at, path, node, this.asRoot), { at, node });
    else if (node.type === 'hardlink') this.links.place(dir, at, path, node);
    else if (node.type === 'fifo' || node.type === 'chardev' || node.type === 'blockdev')
      this.settleEntry(dir, path, () => this.specials.add(at, path, node), { at, node });
    // sockets are not restored: a socket is only meaningful to the process that listened on it
  }

  /** Runs the asynchronous making of one entry of `dir`; the directory completes after it (and its xattrs). */
  private settleEntry(dir: DirState, path: Buffer, make: () => Promise<void>, entry?: { at: Placed; node: TreeNode }): void {
    dir.pending++;
    const done = (async () => {
      try {
        await make();
        this.result.files++;
        if (entry) this.setXattrs(dir, entry.at, path, entry.node);
      } catch (e) {
        this.damaged(path, e);
      }
      this.release(dir);
    })();
    this.track(done);
  }

  /** Queues `node`'s extended attributes for the entry `at` (`path`); `dir` completes only after they are set. */
  private setXattrs(dir: DirState, at: Placed, path: Buffer, node: TreeNode): void {
    if (!node.xattrs?.length) return;
    dir.pending++;
    this.xattrs.add(at, node.xattrs, (failure) => {
      if (failure) this.damaged(path, failure);
      this.release(dir);
    });
  }

  /** One child of `dir` is complete; the last one completes the directory (then its parent). */
  private release(dir: DirState): void {
    if (--dir.pending > 0) return;
    this.fsSyncs.note(dir.handle);
    if (!dir.node) {
      this.allDone();
      return;
    }
    const node = dir.node;
    try {
      if (!dir.keep) dir.handle.hold((fd) => applyInodeMetadata(inode(fd), node, this.asRoot));
      this.result.dirs++;
    } catch (e) {
      this.damaged(dir.handle.path, e);
    }
    dir.handle.drop(); // complete: its slot goes to directories still being filled
    if (dir.parent) this.release(dir.parent);
  }

  // ---- data ----

  private deliver(uses: ChunkUse<FileJob>[], content: ChunkContent): void {
    for (const { file, index } of uses) {
      file.writer.put(index, content);
      if (file.writer.complete) this.finishFile(file);
    }
  }

  private finishFile(job: FileJob): void {
    const { writer, dir } = job;
    const p = writer.finish(this.asRoot).then(
      () => {
        this.result.files++;
        this.result.bytes += writer.node.size;
        this.fsSyncs.restored(writer.node.size);
        const at: Placed = { dir: writer.dir, name: writer.name };
        this.setXattrs(dir, at, writer.path, writer.node);
        if (writer.node.nlink > 1) this.links.firstDone(job.original, at);
        this.reportProgress(false, writer.path);
      },
      (e: unknown) => {
        this.damaged(writer.path, e);
        this.links.firstFailed(job.original, writer.path);
      },
    );
    this.track(
      p.finally(() => {
        this.active.delete(writer);
        this.release(dir);
      }),
    );
  }
}

function errorText(e: unknown): string {
  return isCairnError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

/** For reporting a refused name: shows it even though it cannot be joined safely. */
function childPathForReport(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), name]);
}
