// The backup's walk over the file system, depth first, one directory listing per depth level.
// Each entry is compared with the reference snapshot's node of the same name: unchanged files
// take their chunk ids from it; changed ones are handed to FileSaver. A directory's tree is
// stored (TreeSaver) when its last entry is complete, which may be well after the walk moved on
// (files still being read); the walk itself only waits when the pipeline is full. The root
// tree stands for '/': above the requested paths it holds only the components on the way down.
//
// Memory: the walk holds the listing of each directory on the current path (a directory of 50k
// files is held while it is walked: its tree needs every entry) and the nodes of directories
// still waiting for files in flight, which the arena pool bounds. Nothing holds the whole tree:
// a finished directory leaves only its tree ids in its parent's node. Extended attributes are
// read per directory for the entries the walk keeps (XattrReader) while the walk goes on, and set
// on the directory's nodes when it completes.
import { readlinkSync } from 'node:fs';
import type { TreeNode, Xattr } from '../../core/tree.ts';
import {
  type DirEntry,
  describeError,
  displayPath,
  joinPath,
  listDirectory,
  lstatPath,
  nodeFromStat,
  nodeTypeOf,
  type PathPlan,
  unchangedSince,
  type WarningSink,
} from '../scan.ts';
import type { ScanRules } from '../scan-rules.ts';
import type { BlobSealer } from './blob-sealer.ts';
import { HardLinks } from './hard-links.ts';
import type { FileSaver } from './file-saver.ts';
import type { ReferenceTrees } from './reference-trees.ts';
import type { TreeSaver } from './tree-saver.ts';
import { type XattrMap, XattrReader } from './xattr-reader.ts';

export type WalkCounters = { files: number; dirs: number; bytes: number; currentPath: Buffer | undefined };

type TreeDone = (ids: Buffer[]) => void;

/** The reference snapshot's tree for the directory being walked. */
type Reference = { ids: Buffer[]; nodes: TreeNode[]; byName: Map<string, TreeNode> };

/** Subdirectory trees of the reference snapshot asked for in one request. */
const PREFETCH_WINDOW = 64;

/**
 * Collects one directory's nodes as they complete, in scan order (sorted by name), and stores
 * the tree when the last one arrives. Entries that failed (vanished files) leave a hole.
 */
class DirCollector {
  #nodes: (TreeNode | undefined)[] = [];
  #waiting = 1; // the scan of the directory itself
  #onComplete: (nodes: TreeNode[]) => void;

  constructor(onComplete: (nodes: TreeNode[]) => void) {
    this.#onComplete = onComplete;
  }

  add(node: TreeNode): void {
    this.#nodes.push(node);
  }

  /** Reserves the place of an entry that completes later; call the returned function once. */
  later(): (node: TreeNode | undefined) => void {
    const i = this.#nodes.push(undefined) - 1;
    this.#waiting++;
    return (node) => {
      this.#nodes[i] = node;
      this.#settle();
    };
  }

  scanned(): void {
    this.#settle();
  }

  #settle(): void {
    if (--this.#waiting > 0) return;
    const nodes = this.#nodes.filter((n): n is TreeNode => n !== undefined);
    this.#nodes = [];
    this.#onComplete(nodes);
  }
}

export type TreeWalkerDeps = {
  fileSaver: FileSaver;
  treeSaver: TreeSaver;
  sealer: BlobSealer;
  refTrees: ReferenceTrees;
  warnings: WarningSink;
  counters: WalkCounters;
  forceRead: boolean;
  /** true when a worker would idle: then a partial batch of small files is sent at once */
  poolIdle: () => boolean;
  /** told each directory's final nodes once (the file index the backup server keeps) */
  onDirectory?: (dirPath: Buffer, nodes: TreeNode[]) => void;
  /** which entries the walk keeps and enters (exclude globs, caches, file size, one file system) */
  rules: ScanRules;
  /** stops the walk at the next entry (a canceled run); its reason is what the walk throws */
  signal?: AbortSignal;
};

export class TreeWalker {
  #d: TreeWalkerDeps;
  /** first path seen of each multiply-linked file, until its other names are seen */
  #hardlinks: HardLinks;
  #failure: unknown;
  /** extended attributes, read per directory for the entries the walk keeps */
  #xattrs: XattrReader;

  constructor(deps: TreeWalkerDeps) {
    this.#d = deps;
    this.#xattrs = new XattrReader(deps.warnings);
    this.#hardlinks = new HardLinks(deps.warnings);
  }

  /** Walks every requested path; resolves when the walk is over, with the root tree's ids to come. */
  async walkRoot(plan: PathPlan, previous: Buffer[] | undefined): Promise<{ tree: Promise<Buffer[]> }> {
    let resolveTree: TreeDone = () => {};
    let rejectTree: (e: unknown) => void = () => {};
    const tree = new Promise<Buffer[]>((res, rej) => {
      resolveTree = res;
      rejectTree = rej;
    });
    tree.catch(() => undefined); // the caller awaits it after the walk; a failure is rethrown there
    const done = (ids: Buffer[]) =>
      this.#failure === undefined ? resolveTree(ids) : rejectTree(this.#failure);
    const root = Buffer.from('/');
    try {
      if (plan.whole) await this.#walkDir(root, previous, done, lstatPath(root)!.dev);
      else await this.#walkPlanned(root, plan, previous, done);
    } finally {
      this.#xattrs.close(); // answers still due arrive before the shell exits
    }
    if (this.#failure !== undefined) rejectTree(this.#failure);
    return { tree };
  }

  async #referenceOf(path: Buffer, ids: Buffer[] | undefined): Promise<Reference | undefined> {
    if (!ids) return undefined;
    try {
      const nodes = await this.#d.refTrees.take(ids);
      return { ids, nodes, byName: new Map(nodes.map((n) => [n.name.toString('latin1'), n])) };
    } catch (e) {
      // A damaged reference costs speed, not correctness: this directory is read in full.
      this.#d.warnings.push({
        path: displayPath(path),
        reason: `reference tree unreadable, reading all: ${String(e)}`,
      });
      return undefined;
    }
  }

  /** `xattrs`: the attributes of the directory's entries, set on its nodes once all are in. */
  #collector(path: Buffer, ref: Reference | undefined, done: TreeDone, xattrs?: Promise<XattrMap>): DirCollector {
    let found: XattrMap | undefined;
    const col = new DirCollector((nodes) => {
      try {
        if (found?.size) {
          for (const n of nodes) {
            const x = found.get(joinPath(path, n.name).toString('latin1'));
            if (x) n.xattrs = x;
          }
        }
        this.#d.onDirectory?.(path, nodes);
        done(this.#d.treeSaver.save(nodes, ref?.ids, ref?.nodes));
      } catch (e) {
        this.#failure ??= e;
        done([]);
      }
    });
    if (xattrs) {
      const fill = col.later(); // an empty place: the directory waits for its attributes too
      xattrs.then(
        (map) => {
          found = map;
          fill(undefined);
        },
        (e: unknown) => {
          this.#failure ??= e;
          fill(undefined);
        },
      );
    }
    return col;
  }

  /**
   * A directory backed up whole, below a path root on device `rootDev`; `enter` false (a mount
   * point under --one-file-system): stored as an empty directory.
   */
  async #walkDir(path: Buffer, previous: Buffer[] | undefined, done: TreeDone, rootDev: bigint, enter = true): Promise<void> {
    this.#d.sealer.throwIfFailed();
    this.#d.signal?.throwIfAborted();
    this.#d.counters.currentPath = path;
    const ref = await this.#referenceOf(path, previous);
    const entries = enter ? this.#d.rules.keep(await listDirectory(path, this.#d.warnings)) : [];
    const xattrs = await this.#xattrs.begin(path, entries.map((e) => e.path));
    const col = this.#collector(path, ref, done, xattrs.done);
    const subdirRefs: Buffer[][] = [];
    if (ref) {
      for (const e of entries) {
        const r = ref.byName.get(e.name.toString('latin1'));
        if (r?.type === 'dir' && r.subtree && e.stat.isDirectory()) subdirRefs.push(r.subtree);
      }
    }
    // Ask for the first window of subdirectory trees now, the next one halfway through.
    this.#d.refTrees.prefetch(subdirRefs.slice(0, PREFETCH_WINDOW));
    let prefetched = PREFETCH_WINDOW;
    let subdirsSeen = 0;
    for (const e of entries) {
      const r = ref?.byName.get(e.name.toString('latin1'));
      if (r?.type === 'dir' && r.subtree && e.stat.isDirectory()) {
        if (subdirsSeen++ >= prefetched - PREFETCH_WINDOW / 2 && prefetched < subdirRefs.length) {
          this.#d.refTrees.prefetch(subdirRefs.slice(prefetched, prefetched + PREFETCH_WINDOW));
          prefetched += PREFETCH_WINDOW;
        }
      }
      await this.#saveEntry(e, r, col, rootDev);
    }
    col.scanned();
    if (this.#d.poolIdle()) await this.#d.fileSaver.flush();
    // Let worker answers, dedup queries and uploads in between directories.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** A directory on the way to requested paths: real metadata, only the planned children. */
  async #walkPlanned(
    path: Buffer,
    plan: PathPlan,
    previous: Buffer[] | undefined,
    done: TreeDone,
  ): Promise<void> {
    const ref = await this.#referenceOf(path, previous);
    const col = this.#collector(path, ref, done);
    const children = [...plan.children.values()].sort((a, b) => Buffer.compare(a.name, b.name));
    for (const child of children) {
      const childPath = joinPath(path, child.name);
      let stat: DirEntry['stat'] | undefined;
      try {
        stat = lstatPath(childPath);
      } catch (e) {
        this.#d.warnings.push({
          path: displayPath(childPath),
          reason: `cannot examine: ${describeError(e)}`,
        });
        continue;
      }
      if (!stat) {
        this.#d.warnings.push({ path: displayPath(childPath), reason: 'does not exist' });
        continue;
      }
      const r = ref?.byName.get(child.name.toString('latin1'));
      const entry = { name: child.name, path: childPath, stat };
      // a path asked for is its own root: its device is the one --one-file-system keeps to
      if (child.whole) {
        if (this.#d.rules.admits(entry)) {
          const xattrs = await this.#xattrs.read(path, [childPath]);
          await this.#saveEntry(entry, r, col, stat.dev, xattrs.get(childPath.toString('latin1')));
        }
      }
      else if (stat.isDirectory()) {
        this.#d.counters.dirs++;
        const node = nodeFromStat(child.name, stat);
        const fill = col.later();
        const sub = r?.type === 'dir' ? r.subtree : undefined;
        await this.#walkPlanned(childPath, child, sub, (ids) => fill({ ...node, subtree: ids }));
      } else {
        this.#d.warnings.push({
          path: displayPath(childPath),
          reason: 'not a directory: paths below it skipped',
        });
      }
    }
    col.scanned();
  }

  async #saveEntry(
    e: DirEntry,
    ref: TreeNode | undefined,
    col: DirCollector,
    rootDev: bigint,
    xattrs?: Xattr[],
  ): Promise<void> {
    this.#d.signal?.throwIfAborted();
    const { counters } = this.#d;
    const type = nodeTypeOf(e.stat);
    const node = nodeFromStat(e.name, e.stat, type);
    if (xattrs) node.xattrs = xattrs; // else set when its directory's attributes are read
    if (type === 'dir') {
      counters.dirs++;
      const fill = col.later();
      const enter = this.#d.rules.enters(e.stat, rootDev);
      const sub = ref?.type === 'dir' && enter ? ref.subtree : undefined;
      const filled = (ids: Buffer[]) => {
        node.subtree = ids;
        fill(node);
      };
      await this.#walkDir(e.path, sub, filled, rootDev, enter);
      return;
    }
    if (type === 'symlink') {
      try {
        node.target = readlinkSync(e.path, { encoding: 'buffer' });
      } catch (err) {
        this.#d.warnings.push({
          path: displayPath(e.path),
          reason: `cannot read link: ${describeError(err)}`,
        });
        return;
      }
      col.add(node);
      return;
    }
    if (type !== 'file') {
      col.add(node);
      return;
    }
    counters.files++;
    if (e.stat.nlink > 1n) {
      const first = this.#hardlinks.see(e.stat, e.path);
      if (first) {
        node.type = 'hardlink';
        node.target = first;
        col.add(node);
        return;
      }
    }
    if (!this.#d.forceRead && unchangedSince(ref, e.stat)) {
      node.chunks = ref!.chunks;
      this.#d.sealer.markPresent(node.chunks!);
      counters.bytes += node.size;
      col.add(node);
      return;
    }
    const fill = col.later();
    await this.#d.fileSaver.save(e.path, e.stat, node, (saved) => {
      if (saved) counters.bytes += saved.size;
      else counters.files--;
      fill(saved);
    });
  }
}
