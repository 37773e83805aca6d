// The agent's side of a `restore` call: refuses a target outside the agent's restore roots
// before anything else, opens the vault keys sent wrapped to this agent, loads the snapshot from
// the run's storage server (with the run's grant) and runs the pretreatment (restore-plan.ts:
// target, conflicts, free space, chunks present). A dry run ends there with the report; so does
// a restore whose checks failed (nothing written, the report saying why: the server fails the
// run); otherwise it restores with the data path (restore/restorer.ts) under the run's conflict
// policy, progress going to the server. Both walk the snapshot's trees: one TreeCache
// (subtree-loader.ts) loads them ahead of the pretreatment and keeps the first ones for the restore.
// The restore's first fetching worker is started with the call, so that it boots while the
// pretreatment works (fetch-worker-start.ts).
import { CairnError } from '../core/errors.ts';
import type { VaultKeys } from '../core/keys.ts';
import { absolutePathSchema, checkBody, CONFLICT_POLICIES, type Schema } from '../protocol/api-schema.ts';
import { boundResult, type RestoreParams, type RestorePretreatment, type RestoreResult, type Warning } from '../protocol/control.ts';
import { renewByCall } from './grant-keeper.ts';
import { EarlyFetchWorker } from './restore/fetch-worker-start.ts';
import { planRestore, type RestorePlan } from './restore/restore-plan.ts';
import { restore } from './restore/restorer.ts';
import { TreeCache } from './restore/subtree-loader.ts';
import { checkRestoreTarget } from './restore-roots.ts';
import {
  grantSchema,
  runIdSchema,
  snapshotIdSchema,
  storageRefSchema,
  vaultNameSchema,
  wrappedKeysSchema,
} from './run-backup.ts';
import { type RunContext, withVaultAccess } from './run-context.ts';
import { ProgressSender } from './run-progress.ts';
import { loadSnapshot } from './snapshots.ts';
import type { StorageClient } from './storage-client.ts';
import { treeLoader } from './tree-store.ts';

const restoreParamsSchema: Schema = {
  type: 'object',
  properties: {
    run: runIdSchema,
    snapshot: snapshotIdSchema,
    storage: storageRefSchema,
    vault: vaultNameSchema,
    grant: grantSchema,
    keys: wrappedKeysSchema,
    to: absolutePathSchema,
    include: { type: 'array', items: absolutePathSchema, maxItems: 1000 },
    conflict: { type: 'string', enum: CONFLICT_POLICIES },
    dryRun: { type: 'boolean' },
  },
  required: ['run', 'snapshot', 'storage', 'vault', 'grant', 'keys', 'to', 'include', 'conflict', 'dryRun'],
};

/** `params` as RestoreParams, or E_BAD_REQUEST naming the first bad field. */
export function checkRestoreParams(params: unknown): RestoreParams {
  const p = checkBody<RestoreParams>(restoreParamsSchema, params);
  for (const i of [p.to, ...p.include])
    if (i.split('/').includes('..')) throw new CairnError('E_BAD_REQUEST', `restore paths must not contain '..': ${i}`);
  return p;
}

export type RestoreContext = RunContext & {
  /** the agent's --restore-root folders; empty: anywhere */
  restoreRoots: readonly string[];
};

export async function runRestore(params: RestoreParams, ctx: RestoreContext): Promise<RestoreResult> {
  checkRestoreTarget(params.to, params.include, ctx.restoreRoots);
  return withVaultAccess(params, ctx, renewByCall(ctx.call, params.run), async (keys, client) => {
    // the restore's first fetching worker boots while the pretreatment works (fetch-worker-start.ts)
    const early = params.dryRun ? undefined : new EarlyFetchWorker({ client, vault: params.vault, keys });
    try {
      return await restoreWith(params, ctx, keys, client, early);
    } finally {
      await early?.close();
    }
  });
}

async function restoreWith(
  params: RestoreParams,
  ctx: RestoreContext,
  keys: VaultKeys,
  client: StorageClient,
  early: EarlyFetchWorker | undefined,
): Promise<RestoreResult> {
  const { run, vault, to } = params;
  const progress = new ProgressSender((data) => ctx.event(run, 'progress', data));
  const snapshot = await loadSnapshot(client, vault, keys, params.snapshot);
  const startedAt = new Date();
  const include = params.include.length ? params.include : undefined;
  const warnings: Warning[] = [];
  progress.offer('planning', {}, undefined, true);
  // the plan walks the snapshot's trees first: they load ahead of it and the restore finds them kept
  const trees = new TreeCache(treeLoader(client, vault, keys), { prefetch: include === undefined });
  // what the pretreatment checks is what the restore then does: both get the same options
  const same = { client, vault, keys, snapshot, target: to, include, conflict: params.conflict, startedAt, signal: ctx.signal };
  const plan = await planRestore({ ...same, loadTrees: trees.walk(true) });
  if (plan.unlisted) warnings.push({ path: to, reason: plan.unlisted });
  const pretreatment = pretreatmentReport(plan);
  // a dry run stops here; so does a restore whose checks failed, before anything is written
  if (params.dryRun || !plan.ok) {
    const written = params.dryRun ? { files: plan.files, bytes: plan.bytes } : { files: 0, bytes: 0 };
    return { ...written, damaged: [], warnings, pretreatment };
  }
  const done = await restore({
    ...same,
    workers: ctx.workers,
    early,
    loadTrees: trees.walk(false),
    onProgress: (p) => progress.offer('restoring', p, { done: p.bytes, total: plan.bytes }),
  });
  // written: what is left is the answer to the server
  progress.offer('finishing', { files: done.files, bytes: done.bytes }, undefined, true);
  warnings.push(...done.warnings);
  return boundResult({
    files: done.files,
    bytes: done.bytes,
    damaged: done.damaged,
    warnings,
    // the conflicts the restore met (the same, unless the target changed since the check)
    pretreatment: { ...pretreatment, conflicts: done.conflicts, conflictCounts: done.conflictCounts },
  });
}

/** The run's pretreatment field: the plan's checks, in the order a person reads them. */
export function pretreatmentReport(plan: RestorePlan): RestorePretreatment {
  return {
    target: plan.target,
    agentOnline: true,
    ok: plan.ok,
    problems: plan.problems,
    conflicts: plan.conflicts,
    conflictCounts: plan.conflictCounts,
    plan: {
      files: plan.files,
      bytes: plan.bytes,
      chunks: plan.chunks,
      requests: plan.reads?.requests,
      packs: plan.reads?.packs,
      packReads: plan.reads?.packReads,
      readBytes: plan.reads?.readBytes,
      order: plan.reads?.order,
    },
    missingChunks: plan.missingChunks,
    space: plan.space,
  };
}
