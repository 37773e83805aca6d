// The agent's side of a catalog rebuild (`rebuild`, as Bacula's bscan): with a read-only grant
// and the vault's keys wrapped to this agent, it lists the vault's snapshot records, asks the
// backup server which ones its catalog lacks (`snapshotFound`), and for each of those walks the
// snapshot's trees into an index spool on disk, then streams the index to the server
// (`rebuildIndex`, the last batch marked). Only the index leaves the agent: names, types, sizes
// and times, never keys or content. A snapshot whose record or trees cannot be read is skipped
// with a warning; the server takes back any snapshot whose index did not end.
import { CairnError, isCairnError } from '../core/errors.ts';
import type { VaultKeys } from '../core/keys.ts';
import type { SnapshotRecord } from '../core/snapshot.ts';
import type { TreeNode } from '../core/tree.ts';
import { checkBody, type Schema } from '../protocol/api-schema.ts';
import type {
  RebuildGrantParams,
  RebuildIndexParams,
  RebuildParams,
  RebuildResult,
  RenewGrantResult,
  SnapshotFoundParams,
  SnapshotFoundResult,
  Warning,
} from '../protocol/control.ts';
import { IndexSpool } from './index-spool.ts';
import { siblingTrees } from './restore/subtree-loader.ts';
import { grantSchema, runIdSchema, storageRefSchema, vaultNameSchema, wrappedKeysSchema } from './run-backup.ts';
import { type RunContext, withVaultAccess } from './run-context.ts';
import { loadSnapshot } from './snapshots.ts';
import type { StorageClient } from './storage-client.ts';
import { type LoadTrees, treeLoader } from './tree-store.ts';

const rebuildParamsSchema: Schema = {
  type: 'object',
  properties: { storage: storageRefSchema, vault: vaultNameSchema, grant: grantSchema, keys: wrappedKeysSchema, rebuild: runIdSchema },
  required: ['storage', 'vault', 'grant', 'keys', 'rebuild'],
};

/** `params` as RebuildParams, or E_BAD_REQUEST naming the first bad field. */
export function checkRebuildParams(params: unknown): RebuildParams {
  return checkBody<RebuildParams>(rebuildParamsSchema, params);
}

/** Damage that skips one snapshot; anything else (the link, the storage server gone) ends the rebuild. */
function isDamage(e: unknown): e is CairnError {
  return isCairnError(e, 'E_CORRUPT') || isCairnError(e, 'E_NOT_FOUND');
}

/** Child `name` of the directory `dir` (absolute path bytes; '/' is the root). */
function childPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f ? Buffer.concat([dir, name]) : Buffer.concat([dir, Buffer.from('/'), name]);
}

/**
 * Every directory of the tree `nodes` (at `dir`) into the spool, depth first; subdirectory trees
 * are fetched a sibling group at a time, so memory stays bounded by the tree's depth.
 */
async function indexTree(load: LoadTrees, dir: Buffer, nodes: TreeNode[], spool: IndexSpool, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  spool.add(dir, nodes);
  const subdirs = nodes.filter((n) => n.type === 'dir' && n.subtree !== undefined && n.subtree.length > 0);
  const trees = siblingTrees(
    subdirs.map((n) => n.subtree!),
    load,
  );
  for (const [i, sub] of subdirs.entries()) await indexTree(load, childPath(dir, sub.name), await trees.get(i), spool, signal);
}

/** The snapshot's whole file index, walked into a new spool (discarded on failure). */
async function spoolIndex(client: StorageClient, vault: string, keys: VaultKeys, record: SnapshotRecord, ctx: RunContext): Promise<IndexSpool> {
  const load = treeLoader(client, vault, keys);
  const spool = new IndexSpool(ctx.tmpDir);
  try {
    const root = await load([record.tree.map((id) => Buffer.from(id, 'hex'))]);
    await indexTree(load, Buffer.from('/'), root[0]!, spool, ctx.signal);
    return spool;
  } catch (e) {
    spool.discard();
    throw e;
  }
}

/** Sends the spool's entries for `snapshot`; the last call says so (an empty index still ends). */
async function sendIndex(ctx: RunContext, rebuild: number, snapshot: string, spool: IndexSpool): Promise<void> {
  let held: RebuildIndexParams['entries'] | undefined;
  await spool.replay(async (entries) => {
    if (held) await ctx.call('rebuildIndex', { run: rebuild, snapshot, entries: held, last: false } satisfies RebuildIndexParams);
    held = entries;
  });
  await ctx.call('rebuildIndex', { run: rebuild, snapshot, entries: held ?? [], last: true } satisfies RebuildIndexParams);
}

export async function runRebuild(params: RebuildParams, ctx: RunContext): Promise<RebuildResult> {
  const { rebuild, vault } = params;
  const renew = async () => ((await ctx.call('rebuildGrant', { rebuild } satisfies RebuildGrantParams)) as RenewGrantResult).grant;
  return withVaultAccess(params, ctx, renew, async (keys, client) => {
    const warnings: Warning[] = [];
    let snapshots = 0;
    let files = 0;
    const ids = await client.listSnapshots(vault);
    const records: SnapshotRecord[] = [];
    for (const id of ids) {
      ctx.signal?.throwIfAborted();
      try {
        records.push(await loadSnapshot(client, vault, keys, id));
      } catch (e) {
        if (!isDamage(e)) throw e;
        warnings.push({ path: '', reason: `snapshot ${id}: record unreadable (${e.message}): skipped` });
      }
    }
    // oldest first, as they were made: a rebuild cut short keeps the history's beginning
    records.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
    for (const record of records) {
      ctx.signal?.throwIfAborted();
      const found: SnapshotFoundParams = { rebuild, snapshot: record.id, time: record.time, host: record.host, paths: record.paths, counters: record.summary };
      const answer = (await ctx.call('snapshotFound', found)) as SnapshotFoundResult;
      if (answer?.known !== false) continue;
      let spool: IndexSpool;
      try {
        spool = await spoolIndex(client, vault, keys, record, ctx);
      } catch (e) {
        if (!isDamage(e)) throw e;
        // the server drops the row it made for this snapshot when the next one is announced
        warnings.push({ path: '', reason: `snapshot ${record.id}: trees unreadable (${e.message}): skipped` });
        continue;
      }
      try {
        await sendIndex(ctx, rebuild, record.id, spool);
      } finally {
        spool.discard();
      }
      snapshots++;
      files += record.summary.files;
    }
    return { snapshots, files, warnings };
  });
}
