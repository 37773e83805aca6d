// Which parts of a snapshot a restore takes: the --include paths as a tree of name components
// from '/' down. A node marked `whole` is restored with everything below it; the others are the
// directories on the way, created (with their metadata) only to hold what was asked for.
import { CairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';

export type IncludeFilter = { whole: boolean; children: Map<string, IncludeFilter> };

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
    if (child && (child.whole || node.type === 'dir')) wanted.push({ node, sub: child.whole ? undefined : child });
  }
  return wanted;
}
