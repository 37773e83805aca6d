// Loading the trees of a directory's subdirectories ahead of the depth-first walk: one batched
// request per group of siblings instead of one round trip per directory, with only the current
// group and the next one in memory (so a directory with 100,000 subdirectories stays bounded).
import type { TreeNode } from '../../core/tree.ts';

export type LoadTrees = (trees: Buffer[][]) => Promise<TreeNode[][]>;

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
