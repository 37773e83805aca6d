// Which parts of a snapshot a restore takes: the --include paths as a tree of name components
// from '/' down. A node marked `whole` is restored with everything below it; the others are the
// directories on the way, created (with their metadata) only to hold what was asked for. A walk
// marks each node it meets in the snapshot, so an --include the snapshot lacks can be named.
import { CairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';

export type IncludeFilter = {
  whole: boolean;
  children: Map<string, IncludeFilter>;
  /** the --include given, on a `whole` node */
  path?: string;
  /** set when a walk met this entry in the snapshot */
  seen?: boolean;
};

/** Keys are the names' bytes as latin1 strings, so they match tree names byte for byte. */
export function includeFilter(paths: string[]): IncludeFilter | undefined {
  const root: IncludeFilter = { whole: false, children: new Map() };
  for (const p of paths) {
    if (!p.startsWith('/')) throw new CairnError('E_USAGE', `include paths must be absolute: ${p}`);
    const parts = p.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) throw new CairnError('E_USAGE', `include paths must not contain '..': ${p}`);
    let at = root;
    for (const part of parts) {
      if (at.whole) break;
      const key = Buffer.from(part).toString('latin1');
      let next = at.children.get(key);
      if (!next) {
        next = { whole: false, children: new Map() };
        at.children.set(key, next);
      }
      at = next;
    }
    if (!at.whole) at.path = p;
    at.whole = true;
    at.children.clear();
  }
  return root.whole ? undefined : root;
}

/**
 * The entries of one directory a restore takes, each with the filter for below it (undefined:
 * everything). Without a filter every entry is taken; with one, an entry named `whole` is taken
 * entirely, and a directory on the way to an included path is taken to be walked.
 */
export function wantedEntries(nodes: TreeNode[], filter: IncludeFilter | undefined): { node: TreeNode; sub: IncludeFilter | undefined }[] {
  if (!filter) return nodes.map((node) => ({ node, sub: undefined }));
  const wanted: { node: TreeNode; sub: IncludeFilter | undefined }[] = [];
  for (const node of nodes) {
    const child = filter.children.get(node.name.toString('latin1'));
    if (child && (child.whole || node.type === 'dir')) {
      child.seen = true;
      wanted.push({ node, sub: child.whole ? undefined : child });
    }
  }
  return wanted;
}

/** Marks every --include below `filter` as met (a walk that does not enter that directory, for another reason). */
export function markSeen(filter: IncludeFilter | undefined): void {
  if (!filter) return;
  filter.seen = true;
  for (const child of filter.children.values()) markSeen(child);
}

/** The --include paths a walk never met: the snapshot lacks them. */
export function unseenIncludes(filter: IncludeFilter | undefined): string[] {
  if (!filter) return [];
  const unseen: string[] = [];
  for (const child of filter.children.values()) {
    if (child.whole && !child.seen) unseen.push(child.path!);
    else unseen.push(...unseenIncludes(child));
  }
  return unseen;
}
