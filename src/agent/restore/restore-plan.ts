// A restore's pretreatment (SPEC.md "Restore subsystem"): every check made before a byte is
// written, the whole of a dry run and the first step of a real restore. Walks the snapshot's
// trees like the restorer (one directory's entries in memory at a time, sibling trees fetched in
// groups), writing nothing, and finds: whether the target can be made and written to; which
// entries would meet something already there and what the conflict policy does with each; what
// would be written (entries, bytes, distinct chunks); whether each filesystem written to has room
// (free-space.ts); whether the storage server holds every chunk, and the reads ordered by pack
// that the restore will make (read-plan.ts, located as the walk goes); whether every --include is
// in the snapshot. Inside directories that do not exist yet nothing is looked at.
import fs from 'node:fs';
import path from 'node:path';
import { isCairnError } from '../../core/errors.ts';
import type { TreeNode } from '../../core/tree.ts';
import { treeLoader } from '../tree-store.ts';
import { type Conflict, type ConflictCounts, type ConflictPolicy, ConflictResolver } from './conflicts.ts';
import { nearestExisting, type SpaceOnFilesystem, SpaceNeeds, spaceProblems } from './free-space.ts';
import { type IncludeFilter, includeFilter, markSeen, unseenIncludes, wantedEntries } from './include-filter.ts';
import { childPath, displayPath, targetRoot } from './path-guard.ts';
import { type ReadPlan, ReadPlanner } from './read-plan.ts';
import type { RestoreOptions } from './restore-options.ts';
import { siblingTrees } from './subtree-loader.ts';

/** What the restore itself is given, less what only writing needs; the policy must be named. */
export type RestorePlanOptions = Pick<RestoreOptions, 'client' | 'vault' | 'keys' | 'snapshot' | 'target' | 'include' | 'startedAt' | 'signal' | 'loadTrees'> & {
  conflict: ConflictPolicy;
};

export type RestorePlan = {
  target: string;
  ok: boolean;
  /** every check that failed, one sentence each; any one stops a real restore */
  problems: string[];
  conflicts: Conflict[];
  /** how many existing entries the policy would rename, skip or overwrite (all, listed or not) */
  conflictCounts: ConflictCounts;
  /** what the restore would write: entries other than directories, the files' bytes, distinct chunks to read */
  files: number;
  bytes: number;
  chunks: number;
  /** chunks the storage server does not hold */
  missingChunks: number;
  /** the restore's reads: requests, packs in the order read, bytes */
  reads?: ReadPlan;
  /** each filesystem written to: what the files take there and what is free */
  space: SpaceOnFilesystem[];
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
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EROFS') return [`${at} is on a read-only filesystem`];
        return [`${at} is not writable by this agent`];
      }
    }
    const parent = path.dirname(at);
    if (parent === at) return [`no part of ${target} exists`];
    at = parent;
  }
}

/** Where the walk is: a directory (as it will be restored), and the filesystem it is on. */
type Place = { dir: Buffer; fresh: boolean; dev: number; devAt: Buffer };

export async function planRestore(o: RestorePlanOptions): Promise<RestorePlan> {
  const root = targetRoot(o.target);
  const show = (p: Buffer) => (root.length === 1 ? displayPath(p) : displayPath(p.subarray(root.length)) || '/');
  const conflicts = new ConflictResolver(o.conflict, o.startedAt ?? new Date(), show);
  const problems = targetProblems(o.target);
  const space = new SpaceNeeds();
  const reads = new ReadPlanner((ids) => o.client.locate(o.vault, ids));
  const plan: RestorePlan = {
    target: o.target,
    ok: false,
    problems,
    conflicts: [],
    conflictCounts: conflicts.counts(),
    files: 0,
    bytes: 0,
    chunks: 0,
    missingChunks: 0,
    space: [],
  };
  const load = o.loadTrees ?? treeLoader(o.client, o.vault, o.keys);
  const filter = o.include?.length ? includeFilter(o.include) : undefined;

  const walk = async (at: Place, tree: Promise<TreeNode[]>, sub: IncludeFilter | undefined) => {
    let nodes: TreeNode[];
    try {
      nodes = await tree;
    } catch (e) {
      if (!isCairnError(e, 'E_CORRUPT') && !isCairnError(e, 'E_NOT_FOUND')) throw e;
      problems.push(`${show(at.dir)}: directory unreadable in the snapshot (${e.message})`);
      markSeen(sub); // said already: not also "not in the snapshot"
      return;
    }
    const wanted = wantedEntries(nodes, sub);
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
        original = childPath(at.dir, w.node.name);
        placed = isDir ? conflicts.placeDir(original, at.fresh) : conflicts.place(original, at.fresh);
      } catch (e) {
        problems.push(`${show(Buffer.concat([at.dir, Buffer.from('/'), w.node.name]))}: ${(e as Error).message}`);
        markSeen(w.sub);
        continue;
      }
      // kept as it is (skip): what was asked below it is in the snapshot, just not restored
      if (placed === undefined) {
        markSeen(w.sub);
        continue;
      }
      if (!subtree) {
        if (w.node.type !== 'socket') plan.files++;
        if (w.node.type === 'file') {
          plan.bytes += w.node.size;
          space.add(at.dev, at.devAt, w.node.size);
          await reads.add(show(original), w.node.chunks ?? [], w.node.size);
        }
        continue;
      }
      const st = at.fresh ? undefined : fs.lstatSync(placed, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) {
        const what = st.isSymbolicLink() ? 'a symlink (a restore never writes through one)' : 'not a directory';
        problems.push(`${show(placed)} exists and is ${what}: nothing below it can be restored`);
        markSeen(w.sub);
        continue;
      }
      const place: Place = st ? { dir: placed, fresh: false, dev: st.dev, devAt: placed } : { ...at, dir: placed, fresh: true };
      await walk(place, subtree, w.sub);
    }
  };

  const base = nearestExisting(o.target);
  // an unusable target is reported as such: nothing in it is compared with the snapshot, nor its room
  const targetUsable = problems.length === 0;
  const rootFresh = !targetUsable || !fs.existsSync(root);
  const treeIds = o.snapshot.tree.map((hex) => Buffer.from(hex, 'hex'));
  await walk(
    { dir: root, fresh: rootFresh, dev: base.dev, devAt: Buffer.from(base.at) },
    load([treeIds]).then(([t]) => t!),
    filter,
  );
  for (const lacking of unseenIncludes(filter)) problems.push(`--include ${lacking}: not in the snapshot`);
  const chunks = await reads.finish();
  plan.chunks = chunks.chunks;
  plan.missingChunks = chunks.missing;
  plan.reads = chunks;
  if (chunks.missing > 0)
    problems.push(
      `${chunks.missing} chunk${chunks.missing === 1 ? '' : 's'} missing from the storage server; first affected file: ${chunks.firstAffected ?? '(unknown)'}`,
    );
  plan.space = space.report();
  if (targetUsable) problems.push(...spaceProblems(plan.space));
  plan.conflicts = conflicts.listed;
  plan.conflictCounts = conflicts.counts();
  plan.unlisted = conflicts.unlisted();
  plan.ok = problems.length === 0;
  return plan;
}
