// The agent's side of an `estimate` call: how many files and bytes a backup of these paths
// would read, storing nothing and reading no file's content (but the head of a CACHEDIR.TAG).
// The walk goes as a backup's does (backup/tree-walker.ts: the same path plan, scan order, and
// hard links read once; the same ScanRules for exclude globs, caches, file size and one file
// system) and compares each file with the reference snapshot's node by the same rule
// (scan.ts unchangedSince), loading the reference trees along the way (ReferenceTrees). The
// grant it is given is read-only: the storage server refuses any write made with it.
import { unwrapForAgent } from '../core/agent-keys.ts';
import { isCairnError } from '../core/errors.ts';
import { testDuration } from '../core/test-settings.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TreeNode } from '../core/tree.ts';
import { checkBody, type Schema } from '../protocol/api-schema.ts';
import type { EstimateParams, EstimateResult } from '../protocol/control.ts';
import { ReferenceTrees } from './backup/reference-trees.ts';
import { backupParamsSchema, excludeMatcher } from './run-backup.ts';
import { ScanRules, type ScanSettings } from './scan-rules.ts';
import type { RunContext } from './run-context.ts';
import { type DirEntry, joinPath, listDirectory, lstatPath, nodeTypeOf, type PathPlan, planPaths, type ScanWarning, unchangedSince } from './scan.ts';
import { loadSnapshot } from './snapshots.ts';
import { treeLoader } from './tree-store.ts';

// a backup's params without its run: an estimate is no run
const { run: _run, ...estimateFields } = backupParamsSchema.properties;
const estimateParamsSchema: Schema = {
  ...backupParamsSchema,
  properties: estimateFields,
  required: (backupParamsSchema.required ?? []).filter((f) => f !== 'run'),
};

/** `params` as EstimateParams, or E_BAD_REQUEST naming the first bad field. */
export function checkEstimateParams(params: unknown): EstimateParams {
  return checkBody<EstimateParams>(estimateParamsSchema, params);
}

export type EstimateWalkOptions = ScanSettings & {
  /** absolute paths, as a job lists them */
  paths: string[];
  /** the reference snapshot's root tree ids, and where its trees come from; none: every file counts */
  reference?: { tree: Buffer[]; trees: ReferenceTrees };
  forceRead: boolean;
  signal?: AbortSignal;
};

export type EstimateWalkResult = EstimateResult & { warnings: ScanWarning[] };

/** Subdirectory trees of the reference asked for in one request (as the backup's walk does). */
const PREFETCH_WINDOW = 64;

/** Files (and their bytes) a backup of `paths` would read: new or changed ones, or all when forceRead. */
export async function estimateRead(o: EstimateWalkOptions): Promise<EstimateWalkResult> {
  const warnings: ScanWarning[] = [];
  const total = { files: 0, bytes: 0 };
  const hardlinks = new Set<string>();
  const trees = o.reference?.trees;
  const rules = new ScanRules(o);

  const referenceOf = async (ids: Buffer[] | undefined): Promise<Map<string, TreeNode> | undefined> => {
    if (!ids || !trees) return undefined;
    try {
      return new Map((await trees.take(ids)).map((n) => [n.name.toString('latin1'), n]));
    } catch {
      return undefined; // the backup reads such a directory in full (with a warning): so count it so
    }
  };
  const subtreeOf = (r: TreeNode | undefined) => (r?.type === 'dir' ? r.subtree : undefined);

  const entry = async (e: DirEntry, r: TreeNode | undefined, rootDev: bigint): Promise<void> => {
    o.signal?.throwIfAborted();
    const type = nodeTypeOf(e.stat);
    if (type === 'dir') return rules.enters(e.stat, rootDev) ? walkDir(e.path, subtreeOf(r), rootDev) : undefined;
    if (type !== 'file') return;
    if (e.stat.nlink > 1n) {
      const key = `${e.stat.dev}:${e.stat.ino}`;
      if (hardlinks.has(key)) return; // a further link of a file met already: never read
      hardlinks.add(key);
    }
    if (!o.forceRead && unchangedSince(r, e.stat)) return;
    total.files++;
    total.bytes += Number(e.stat.size);
  };

  const walkDir = async (dir: Buffer, refIds: Buffer[] | undefined, rootDev: bigint): Promise<void> => {
    const ref = await referenceOf(refIds);
    const entries = rules.keep(await listDirectory(dir, warnings));
    const refs = entries.map((e) => (e.stat.isDirectory() ? subtreeOf(ref?.get(e.name.toString('latin1'))) : undefined));
    const subdirRefs = refs.filter((r): r is Buffer[] => r !== undefined);
    // the first window now, each next one when the walk is halfway through the one before
    trees?.prefetch(subdirRefs.slice(0, PREFETCH_WINDOW));
    let seen = 0;
    for (const [i, e] of entries.entries()) {
      if (refs[i] !== undefined && seen++ % PREFETCH_WINDOW === PREFETCH_WINDOW / 2) {
        const next = (Math.floor(seen / PREFETCH_WINDOW) + 1) * PREFETCH_WINDOW;
        trees?.prefetch(subdirRefs.slice(next, next + PREFETCH_WINDOW));
      }
      await entry(e, ref?.get(e.name.toString('latin1')), rootDev);
    }
    // the walk is synchronous file-system work: let the control channel's heartbeats through
    await new Promise<void>((resolve) => setImmediate(resolve));
  };

  const walkPlanned = async (dir: Buffer, plan: PathPlan, refIds: Buffer[] | undefined): Promise<void> => {
    const ref = await referenceOf(refIds);
    const children = [...plan.children.values()].sort((a, b) => Buffer.compare(a.name, b.name));
    for (const child of children) {
      const childPath = joinPath(dir, child.name);
      let stat: DirEntry['stat'] | undefined;
      try {
        stat = lstatPath(childPath);
      } catch {
        continue; // the backup warns and skips it too
      }
      if (!stat) continue;
      const r = ref?.get(child.name.toString('latin1'));
      const e = { name: child.name, path: childPath, stat };
      if (child.whole) {
        if (rules.admits(e)) await entry(e, r, stat.dev); // a path asked for is its own root
      }
      else if (stat.isDirectory()) await walkPlanned(childPath, child, subtreeOf(r));
    }
  };

  const plan = planPaths(o.paths);
  const root = Buffer.from('/');
  const tree = o.reference?.tree;
  if (plan.whole) await walkDir(root, tree, lstatPath(root)!.dev);
  else await walkPlanned(root, plan, tree);
  return { ...total, warnings };
}

/** The `estimate` call: loads the reference snapshot when one is needed, then walks. */
export async function runEstimate(params: EstimateParams, ctx: RunContext): Promise<EstimateResult> {
  // tests hold an estimate in flight (one per agent, cancel) with CAIRN_TEST_ESTIMATE_DELAY_MS
  const delay = testDuration('ESTIMATE_DELAY', 0);
  if (delay > 0) await sleep(delay, undefined, { signal: ctx.signal }).catch((e: unknown) => Promise.reject(ctx.signal?.reason ?? e));
  const settings: ScanSettings = {
    exclude: excludeMatcher(params.excludes),
    oneFileSystem: params.oneFileSystem,
    excludeCaches: params.excludeCaches,
    maxFileSize: params.maxFileSize,
  };
  if (params.forceRead || params.parent === undefined) {
    const r = await estimateRead({ ...settings, paths: params.paths, forceRead: true, signal: ctx.signal });
    return { files: r.files, bytes: r.bytes };
  }
  const keys = unwrapForAgent(params.keys, ctx.agentKeyPem);
  const client = ctx.storageClient(params.storage, () => params.grant);
  try {
    let reference: EstimateWalkOptions['reference'];
    try {
      const parent = await loadSnapshot(client, params.vault, keys, params.parent);
      const trees = new ReferenceTrees(treeLoader(client, params.vault, keys));
      reference = { tree: parent.tree.map((h) => Buffer.from(h, 'hex')), trees };
    } catch (e) {
      // as the backup does: an unreadable reference means every file is read
      if (!isCairnError(e, 'E_NOT_FOUND') && !isCairnError(e, 'E_CORRUPT')) throw e;
    }
    const r = await estimateRead({ ...settings, paths: params.paths, reference, forceRead: false, signal: ctx.signal });
    return { files: r.files, bytes: r.bytes };
  } finally {
    client.close();
  }
}
