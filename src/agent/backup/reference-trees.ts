// The reference snapshot's trees, fetched only along the way the scan goes. When the scan enters
// a directory it asks for the trees of the next few subdirectories in one request, and when a
// batch arrives, the subdirectories of those trees are asked for too (while fewer than
// MAX_READY trees wait), so the walk rarely waits a round trip. A prefetched tree is forgotten
// once taken; at most MAX_READY speculative trees are held.
import type { TreeNode } from '../../core/tree.ts';

export type LoadTrees = (trees: Buffer[][]) => Promise<TreeNode[][]>;

const MAX_READY = 512;

export class ReferenceTrees {
  #load: LoadTrees;
  #ready = new Map<string, Promise<TreeNode[]>>();
  requests = 0;

  constructor(load: LoadTrees) {
    this.#load = load;
  }

  /** Starts loading these trees together. */
  prefetch(trees: Buffer[][]): void {
    const fresh = trees.filter((ids) => !this.#ready.has(keyOf(ids)));
    if (fresh.length === 0) return;
    this.requests++;
    const all = this.#load(fresh);
    all.then(
      (loaded) => this.#prefetchBelow(loaded),
      () => undefined, // reported to whoever takes one of them
    );
    fresh.forEach((ids, i) => {
      const one = all.then((r) => r[i]!);
      one.catch(() => undefined); // reported to whoever takes it
      this.#ready.set(keyOf(ids), one);
    });
  }

  #prefetchBelow(loaded: TreeNode[][]): void {
    const room = MAX_READY - this.#ready.size;
    if (room <= 0) return;
    const below: Buffer[][] = [];
    for (const nodes of loaded)
      for (const n of nodes) if (n.type === 'dir' && n.subtree && below.length < room) below.push(n.subtree);
    if (below.length > 0) this.prefetch(below);
  }

  /** The tree named by these chunk ids (from a prefetch when there was one). */
  take(ids: Buffer[]): Promise<TreeNode[]> {
    const key = keyOf(ids);
    const ready = this.#ready.get(key);
    if (ready) {
      this.#ready.delete(key);
      return ready;
    }
    this.requests++;
    return this.#load([ids]).then((r) => r[0]!);
  }
}

function keyOf(ids: Buffer[]): string {
  return ids.map((id) => id.toString('hex')).join('');
}
