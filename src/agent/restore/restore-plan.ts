// A restore's checks before writing (the "pretreatment" of a run, and all of a dry run): can the
// target be made and written to, and which entries would meet something already there and what
// the conflict policy would do with each. Walks the snapshot's trees like the restorer (one
// directory's entries in memory at a time, sibling trees fetched in groups) and lstat's the
// targets; writes nothing. Inside directories that do not exist yet nothing is looked at.
import fs from 'node:fs';
import path from 'node:path';
import { isCairnError } from '../../core/errors.ts';
import type { VaultKeys } from '../../core/keys.ts';
import type { SnapshotRecord } from '../../core/snapshot.ts';
import type { TreeNode } from '../../core/tree.ts';
import type { StorageClient } from '../storage-client.ts';
import { loadTrees } from '../tree-store.ts';
import { type Conflict, type ConflictPolicy, ConflictResolver } from './conflicts.ts';
import { type IncludeFilter, includeFilter } from './include-filter.ts';
import { childPath, displayPath, targetRoot } from './path-guard.ts';
import { siblingTrees } from './subtree-loader.ts';

export type RestorePlanOptions = {
  client: StorageClient;
  vault: string;
  keys: VaultKeys;
  snapshot: SnapshotRecord;
  target: string;
  include?: string[];
  conflict: ConflictPolicy;
  startedAt?: Date;
  signal?: AbortSignal;
};

export type RestorePlan = {
  target: string;
  conflicts: Conflict[];
  ok: boolean;
  problems: string[];
  /** what the restore would write: entries other than directories, and the files' bytes */
  files: number;
  bytes: number;
  /** how many conflicts beyond the listed ones, as a sentence */
  unlisted?: string;
};

/** Problems with the target itself: it must be a directory, or creatable in a writable one. */
export function targetProblems(target: string): string[] {
  let at = path.resolve(target);
  for (;;) {
    const st = fs.statSync(at, { throwIfNoEntry: false });
    if (st) {
      if (!st.isDirectory())
        return [at === path.resolve(target) ? `${at} is not a directory` : `${at} is not a directory: ${target} cannot be made`];
      try {
        fs.accessSync(at, fs.constants.W_OK | fs.constants.X_OK);
        return [];
      } catch {
        return [`${at} is not writable by this agent`];
      }
    }
    const parent = path.dirname(at);
    if (parent === at) return [`no part of ${target} exists`];
    at = parent;
  }
}

export async function planRestore(o: RestorePlanOptions): Promise<RestorePlan> {
  const root = targetRoot(o.target);
  const show = (p: Buffer) => (root.length === 1 ? displayPath(p) : displayPath(p.subarray(root.length)) || '/');
  const conflicts = new ConflictResolver(o.conflict, o.startedAt ?? new Date(), show);
  const problems = targetProblems(o.target);
  const plan: RestorePlan = { target: o.target, conflicts: [], ok: false, problems, files: 0, bytes: 0 };
  const load = (trees: Buffer[][]) => loadTrees(o.client, o.vault, o.keys, trees);
  const filter = o.include?.length ? includeFilter(o.include) : undefined;
  const rootFresh = !fs.existsSync(root);

  const walk = async (dir: Buffer, fresh: boolean, tree: Promise<TreeNode[]>, sub: IncludeFilter | undefined) => {
    let nodes: TreeNode[];
    try {
      nodes = await tree;
    } catch (e) {
      if (!isCairnError(e, 'E_CORRUPT') && !isCairnError(e, 'E_NOT_FOUND')) throw e;
      problems.push(`${show(dir)}: directory unreadable in the snapshot (${e.message})`);
      return;
    }
    const wanted: { node: TreeNode; sub: IncludeFilter | undefined }[] = [];
    for (const node of nodes) {
      if (!sub) wanted.push({ node, sub: undefined });
      else {
        const child = sub.children.get(node.name.toString('latin1'));
        if (child && (child.whole || node.type === 'dir')) wanted.push({ node, sub: child.whole ? undefined : child });
      }
    }
    const subdirs = wanted.filter((w) => w.node.type === 'dir');
    const trees = siblingTrees(subdirs.map((w) => w.node.subtree ?? []), load);
    let subdirIndex = 0;
    for (const w of wanted) {
      o.signal?.throwIfAborted();
      const isDir = w.node.type === 'dir';
      const subtree = isDir ? trees.get(subdirIndex++) : undefined;
      subtree?.catch(() => undefined); // awaited below unless the directory is skipped
      let original: Buffer;
      let placed: Buffer | undefined;
      try {
        original = childPath(dir, w.node.name);
        placed = isDir ? conflicts.placeDir(original, fresh) : conflicts.place(original, fresh);
      } catch (e) {
        problems.push(`${show(Buffer.concat([dir, Buffer.from('/'), w.node.name]))}: ${(e as Error).message}`);
        continue;
      }
      if (placed === undefined) continue;
      if (!subtree) {
        if (w.node.type !== 'socket') plan.files++;
        if (w.node.type === 'file') plan.bytes += w.node.size;
        continue;
      }
      const st = fresh ? undefined : fs.lstatSync(placed, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) {
        problems.push(`${show(placed)} exists and is not a directory: nothing below it can be restored`);
        continue;
      }
      await walk(placed, fresh || !st, subtree, w.sub);
    }
  };

  const treeIds = o.snapshot.tree.map((hex) => Buffer.from(hex, 'hex'));
  await walk(root, rootFresh, load([treeIds]).then(([t]) => t!), filter);
  plan.conflicts = conflicts.listed;
  plan.unlisted = conflicts.unlisted();
  plan.ok = problems.length === 0;
  return plan;
}
