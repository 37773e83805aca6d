// Loading the trees of a directory's subdirectories ahead of the depth-first walk: one batched
// request per group of siblings instead of one round trip per directory, with only the current
// group and the next one in memory (so a directory with 100,000 subdirectories stays bounded).
// TreeCache, below, is the loader of a restore's two walks (the pretreatment's, then the restore's).
import type { TreeNode } from '../../core/tree.ts';
import type { LoadTrees } from '../tree-store.ts';

const GROUP = 64;

/** For siblings whose trees are `trees` (chunk id lists), `get(i)` is the decoded tree of sibling i. */
export function siblingTrees(
  trees: Buffer[][],
  load: LoadTrees,
  group = GROUP,
): { get: (i: number) => Promise<TreeNode[]> } {
  const groups = new Map<number, Promise<TreeNode[][]>>();
  const start = (g: number) => {
    if (groups.has(g) || g * group >= trees.length) return;
    const p = load(trees.slice(g * group, (g + 1) * group));
    p.catch(() => undefined); // seen by whoever asks for a tree of this group
    groups.set(g, p);
  };
  return {
    get: async (i: number) => {
      const g = Math.floor(i / group);
      groups.delete(g - 1);
      start(g);
      start(g + 1);
      try {
        const loaded = await groups.get(g)!;
        return loaded[i - g * group]!;
      } catch (e) {
        // one bad tree must not take its siblings with it: load this one alone to see who failed
        const [alone] = await load([trees[i]!]);
        if (alone) return alone;
        throw e;
      }
    },
  };
}

/** Bounds of a TreeCache, in tree entries (a decoded entry is a few hundred bytes). */
export type TreeCacheLimits = {
  /** entries of trees loaded ahead of the walk and not yet walked */
  ahead: number;
  /** entries of trees the first walk went through, kept for the second */
  kept: number;
};

const CACHE_LIMITS: TreeCacheLimits = { ahead: 16_384, kept: 16_384 };
/** Prefetch requests in flight at once. */
const PREFETCHING = 4;

type Cached = { tree: Promise<TreeNode[]>; size: number; kept: boolean };

/**
 * The trees of one snapshot for two depth-first walks of it (a restore's pretreatment, then the
 * restore). A walk that waits for each directory's subdirectories pays a round trip per
 * directory with subdirectories, one after the other; here, as soon as a tree arrives, its
 * subdirectories' trees are asked for too (while fewer than `ahead` entries wait), so the walk
 * finds them loaded. The trees the first walk goes through stay for the second (up to `kept`
 * entries, from the start: the part the second walk needs first); the rest it loads again. Every
 * tree was opened and checked by `load` (tree-store.ts) when it arrived; a tree whose request
 * failed is not kept, so the walk that wants it asks again (siblingTrees: alone).
 */
export class TreeCache {
  readonly #load: LoadTrees;
  readonly #limits: TreeCacheLimits;
  readonly #prefetch: boolean;
  readonly #trees = new Map<string, Cached>();
  #ahead = 0;
  #kept = 0;
  #prefetching = 0;
  /** subdirectory groups waiting to be loaded ahead, and how many trees they name */
  readonly #stack: Buffer[][][] = [];
  #wanted = 0;

  /** `prefetch`: load subdirectories ahead (off when most of the snapshot is not walked, an --include). */
  constructor(load: LoadTrees, o: { prefetch?: boolean; limits?: TreeCacheLimits } = {}) {
    this.#load = load;
    this.#prefetch = o.prefetch ?? true;
    this.#limits = o.limits ?? CACHE_LIMITS;
  }

  /** A loader for one walk; `keep`: the trees it walks stay for the next one (within the bound). */
  walk(keep: boolean): LoadTrees {
    return (trees) => {
      const missing: Buffer[][] = [];
      const out = trees.map((ids) => {
        const key = keyOf(ids);
        const had = this.#take(key);
        if (had) return had;
        missing.push(ids);
        return undefined;
      });
      const loading = missing.length ? this.#fetch(missing) : [];
      let m = 0;
      const all = out.map((had, i) => {
        const tree = had ?? loading[m++]!;
        if (keep) this.#keep(keyOf(trees[i]!), tree);
        return tree;
      });
      return Promise.all(all);
    };
  }

  /** How many entries are held (tests). */
  get held(): { ahead: number; kept: number } {
    return { ahead: this.#ahead, kept: this.#kept };
  }

  #take(key: string): Promise<TreeNode[]> | undefined {
    const c = this.#trees.get(key);
    if (!c) return undefined;
    this.#trees.delete(key);
    if (c.kept) this.#kept -= c.size;
    else {
      this.#ahead -= c.size;
      this.#pump();
    }
    return c.tree;
  }

  #keep(key: string, tree: Promise<TreeNode[]>): void {
    void tree.then(
      (nodes) => {
        if (this.#trees.has(key) || this.#kept + nodes.length > this.#limits.kept) return;
        this.#trees.set(key, { tree, size: nodes.length, kept: true });
        this.#kept += nodes.length;
      },
      () => undefined, // not kept: the next walk asks again
    );
  }

  /** Loads `trees` in one request; their subdirectories are then asked for ahead. */
  #fetch(trees: Buffer[][]): Promise<TreeNode[]>[] {
    const loaded = this.#load(trees);
    loaded.then((all) => this.#want(all), () => undefined);
    return trees.map((_, i) => loaded.then((all) => all[i]!));
  }

  /**
   * Queues the subdirectories of `trees` (siblings, in walk order) to be loaded ahead. A stack:
   * the last trees to arrive are the deepest, where the depth-first walk goes next; the first of
   * them on top, as the walk takes them in order.
   */
  #want(trees: TreeNode[][]): void {
    if (!this.#prefetch) return;
    for (let t = trees.length - 1; t >= 0; t--) {
      const subdirs = trees[t]!.filter((n) => n.type === 'dir' && n.subtree?.length).map((n) => n.subtree!);
      for (let at = Math.floor((subdirs.length - 1) / GROUP) * GROUP; at >= 0; at -= GROUP) {
        if (this.#wanted >= this.#limits.ahead) break; // more is asked for than may be held: the walk loads the rest
        const group = subdirs.slice(at, at + GROUP);
        this.#stack.push(group);
        this.#wanted += group.length;
      }
    }
    this.#pump();
  }

  /** Sends prefetch requests while fewer than PREFETCHING are out and the bound allows. */
  #pump(): void {
    while (this.#stack.length && this.#prefetching < PREFETCHING && this.#ahead < this.#limits.ahead) {
      // the groups on top together, up to GROUP trees: small directories' subdirectories in one request
      const fresh = new Map<string, Buffer[]>();
      while (this.#stack.length && fresh.size + this.#stack.at(-1)!.length <= GROUP) {
        const group = this.#stack.pop()!;
        this.#wanted -= group.length;
        for (const ids of group) {
          const key = keyOf(ids);
          if (!this.#trees.has(key)) fresh.set(key, ids);
        }
      }
      if (fresh.size === 0) continue;
      const keys = [...fresh.keys()];
      const loaded = this.#fetch([...fresh.values()]);
      keys.forEach((key, i) => {
        loaded[i]!.catch(() => undefined); // seen by the walk that takes it, if it takes it before the drop below
        this.#trees.set(key, { tree: loaded[i]!, size: 0, kept: false });
      });
      this.#prefetching++;
      void Promise.allSettled(loaded).then((results) => {
        this.#prefetching--;
        results.forEach((r, i) => {
          const c = this.#trees.get(keys[i]!);
          if (!c || c.tree !== loaded[i] || c.kept) return; // walked already
          if (r.status === 'rejected') this.#trees.delete(keys[i]!);
          else {
            c.size = r.value.length;
            this.#ahead += c.size;
          }
        });
        this.#pump();
      });
    }
  }
}

function keyOf(ids: readonly Buffer[]): string {
  return ids.length === 1 ? ids[0]!.toString('hex') : ids.map((id) => id.toString('hex')).join(',');
}
